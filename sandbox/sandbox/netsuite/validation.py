"""Validation of writes, with NetSuite's error codes, wording and `o:errorPath`s.

- unknown fields are accepted with an `X-NetSuite-PropertyValidation` warning per occurrence, or refused when
  the client sent `X-NetSuite-PropertyNameValidation: Error`;
- shapes, field lengths, addressbook country (ISO-2) and US/CA state codes → 400 `INVALID_CONTENT`/`USER_ERROR`;
- references to records this sandbox stores must exist → 400 `INVALID_CONTENT` with the JSON path;
- required fields on the record as it would be saved → 400 `USER_ERROR` "Please enter value(s) for: ...".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pycountry

from sandbox.netsuite.errors import NetSuiteError, invalid_value, user_error
from sandbox.netsuite.records import (
    ADDRESS_FIELDS,
    ADDRESS_LENGTHS,
    STORED_TARGETS,
    RecordType,
    Sublist,
    is_custom_field,
)

Lookup = Callable[[str, str], Any]
#: A customer's internal id → the subsidiaries it is shared with beyond its primary one (its
#: customerSubsidiaryRelationship records).
Shared = Callable[[str], set[str]]

_STATES = {
    country: {sub.code.split("-", 1)[1] for sub in pycountry.subdivisions.get(country_code=country)}
    for country in ("US", "CA")
}
# US territories and military "states" NetSuite lists alongside the states.
_STATES["US"] |= {"AA", "AE", "AP", "PR", "GU", "VI", "AS", "MP", "DC"}


def unknown_field_warning(name: str) -> str:
    return f"Unknown field name {name}. The field does not exist on this record instance."


class Validator:
    """Checks one write of one record type; collects unknown-field warnings along the way."""

    def __init__(self, rtype: RecordType, lookup: Lookup, *, strict_names: bool, shared: Shared | None = None) -> None:
        self.rtype = rtype
        self.lookup = lookup
        self.shared = shared
        self.strict_names = strict_names
        self.warnings: list[str] = []

    def _unknown(self, name: str, path: str) -> None:
        if self.strict_names:
            raise NetSuiteError(400, "INVALID_CONTENT", unknown_field_warning(name), path=path)
        self.warnings.append(unknown_field_warning(name))

    def check_changes(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Check the request body on its own (plus reference existence); returns it without unknown fields,
        which NetSuite reports but does not save."""
        rtype = self.rtype
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in rtype.fields and not is_custom_field(name):
                self._unknown(name, name)
                continue
            if value is not None:
                if name in rtype.sublists:
                    value = self._check_sublist(name, rtype.sublists[name], value)
                elif name in rtype.references:
                    self._check_reference(rtype.references[name], value, name, name)
                elif name in rtype.subrecords:
                    value = self._check_address(value, name)
                elif name in rtype.lengths:
                    self._check_length(name, value, name, rtype.lengths[name])
                if name == "country" and rtype.name == "subsidiary":
                    self._check_country(value, name)
            clean[name] = value
        return clean

    def _check_length(self, name: str, value: Any, path: str, limit: int) -> None:
        if not isinstance(value, str):
            raise invalid_value(value, name, path)
        if len(value) > limit:
            raise user_error(
                f"The field {name} contained more than the maximum number ( {limit} ) of characters allowed.",
                path=path,
            )

    def _check_reference(self, target: str, value: Any, name: str, path: str) -> None:
        if not isinstance(value, dict) or "id" not in value:
            raise invalid_value(value, name, path)
        ref_id = str(value["id"])
        if target in STORED_TARGETS and self.lookup(target, ref_id) is None:
            raise invalid_value(ref_id, name, path)

    def _check_sublist(self, name: str, sublist: Sublist, value: Any) -> dict[str, Any]:
        # `{"items": null}` is a documented request shape: no lines (what it does depends on `replace`, as for []).
        if not isinstance(value, dict) or not isinstance(value.get("items") or [], list):
            raise NetSuiteError(400, "INVALID_CONTENT",
                                f"Error while accessing resource: Invalid value for the sublist {name}. "
                                'Provide the sublist as {"items": [...]}.', path=name)
        lines = []
        for i, line in enumerate(value.get("items") or []):
            base = f"{name}.items[{i}]"
            if not isinstance(line, dict):
                raise invalid_value(line, name, base)
            clean: dict[str, Any] = {}
            for field_name, field_value in line.items():
                path = f"{base}.{field_name}"
                if field_name not in sublist.fields and not is_custom_field(field_name):
                    self._unknown(field_name, path)
                    continue
                if field_value is None:
                    pass
                elif field_name in sublist.references:
                    self._check_reference(sublist.references[field_name], field_value, field_name, path)
                elif field_name in sublist.subrecords:
                    field_value = self._check_address(field_value, path)
                elif sublist.key_fields and field_name in ("quantity", "price"):
                    number = field_value.get("value") if field_name == "quantity" and isinstance(
                        field_value, dict) else field_value
                    if isinstance(number, bool) or not isinstance(number, (int, float)):
                        raise invalid_value(field_value, field_name, path)  # a price row: {"value": n}, n
                elif _wrong_type(field_name, field_value):
                    raise invalid_value(field_value, field_name, path)
                clean[field_name] = field_value
            lines.append(clean)
        return {"items": lines}

    def _check_country(self, country: Any, path: str) -> None:
        if not isinstance(country, str) or len(country) != 2 or pycountry.countries.get(alpha_2=country) is None:
            raise invalid_value(country, "country", path)

    def _check_address(self, address: Any, path: str) -> dict[str, Any]:
        if not isinstance(address, dict):
            raise invalid_value(address, path.rsplit(".", 1)[-1], path)
        clean: dict[str, Any] = {}
        for name, value in address.items():
            if name not in ADDRESS_FIELDS and not is_custom_field(name):
                self._unknown(name, f"{path}.{name}")
                continue
            if value is None:
                continue  # an address is written whole: a null field is an empty one
            if name in ADDRESS_LENGTHS:
                self._check_length(name, value, f"{path}.{name}", ADDRESS_LENGTHS[name])
            clean[name] = value
        country = address.get("country")
        if country is not None:
            self._check_country(country, f"{path}.country")
        state = address.get("state")
        if state is not None and country in _STATES and state not in _STATES[country]:
            raise invalid_value(state, "state", f"{path}.state")
        return clean

    def check_record(self, record: dict[str, Any]) -> None:
        """Mandatory fields of the record as it would be saved (after merging a PATCH/PUT)."""
        missing = _missing_fields(self.rtype, record)
        if missing:
            raise user_error(f"Please enter value(s) for: {', '.join(missing)}.")
        if self.rtype.name in ("salesOrder", "estimate") and not record.get("item"):
            raise user_error("You must enter at least one line item for this transaction.")
        if self.rtype.name in ("salesOrder", "estimate"):
            self._check_transaction_currency(record)
            self._check_subsidiary(record, "entity")
        if self.rtype.name == "contact":
            self._check_subsidiary(record, "company")

    def _check_subsidiary(self, record: dict[str, Any], field: str) -> None:
        """OneWorld: a contact or a transaction belongs to a subsidiary its customer is assigned to (the primary
        one, or a secondary one of a multi-subsidiary customer); NetSuite refuses any other with this wording (the
        one it gives for a reference not available to a subsidiary: "Invalid item reference key 1009 for subsidiary
        1.", quoted by Celigo's NetSuite error guide; the REST code USER_ERROR is assumed, not recorded)."""
        subsidiary, parent = record.get("subsidiary"), record.get(field)
        if not isinstance(subsidiary, dict) or not isinstance(parent, dict):
            return
        found = self.lookup("customer", str(parent.get("id")))
        if found is None or not isinstance(found[1].get("subsidiary"), dict):
            return
        allowed = {str(found[1]["subsidiary"].get("id"))}
        if self.shared is not None:
            allowed |= self.shared(str(parent.get("id")))
        if str(subsidiary.get("id")) not in allowed:
            raise user_error(f"Invalid {field} reference key {parent.get('id')} for subsidiary {subsidiary.get('id')}.",
                             path=field)

    def _check_transaction_currency(self, record: dict[str, Any]) -> None:
        """A transaction's currency must be one of its customer's currencies (the Currencies sublist, which always
        holds the primary currency; a customer without one has its subsidiary's base currency), as NetSuite
        refuses it otherwise ("Invalid currency reference key ... for entity ...")."""
        currency, entity = record.get("currency"), record.get("entity")
        if not isinstance(currency, dict) or not isinstance(entity, dict):
            return
        found = self.lookup("customer", str(entity.get("id")))
        if found is None:
            return
        customer = found[1]
        allowed = {str((line.get("currency") or {}).get("id")) for line in customer.get("currencyList") or []}
        primary = customer.get("currency")
        if primary is None and isinstance(customer.get("subsidiary"), dict):
            subsidiary = self.lookup("subsidiary", str(customer["subsidiary"]["id"]))
            primary = (subsidiary[1] if subsidiary else {}).get("currency")
        if isinstance(primary, dict):
            allowed.add(str(primary.get("id")))
        if str(currency.get("id")) not in allowed:
            raise user_error(f"Invalid currency reference key {currency.get('id')} for entity {entity.get('id')}.",
                             path="currency")


def _wrong_type(name: str, value: Any) -> bool:
    """Line fields whose JSON type NetSuite checks: numbers for amounts, booleans for flags."""
    if name in ("quantity", "rate", "amount"):
        return isinstance(value, bool) or not isinstance(value, (int, float))
    if name in ("defaultBilling", "defaultShipping", "isResidential"):
        return not isinstance(value, bool)
    return False


def _missing_fields(rtype: RecordType, record: dict[str, Any]) -> list[str]:
    def absent(name: str) -> bool:
        value = record.get(name)
        return value is None or value == "" or value == {}

    missing: list[str] = []
    if rtype.name == "customer":
        if record.get("isPerson"):
            missing += [label for name, label in (("firstName", "First Name"), ("lastName", "Last Name"))
                        if absent(name)]
        elif absent("companyName"):
            missing.append("Company Name")
        if absent("subsidiary"):
            missing.append("Subsidiary")
    elif rtype.name == "contact":
        if absent("firstName") and absent("lastName"):
            missing.append("Name")
        if absent("subsidiary") and absent("company"):
            missing.append("Subsidiary")
    elif rtype.family == "item":
        if absent("itemId"):
            missing.append("Item Name/Number")
    elif rtype.name in ("salesOrder", "estimate"):
        if absent("entity"):
            missing.append("Customer")
    elif rtype.name == "subsidiary" and absent("name"):
        missing.append("Name")
    elif rtype.name == "customerSubsidiaryRelationship":
        missing += [label for name, label in (("entity", "Customer"), ("subsidiary", "Subsidiary")) if absent(name)]
    return missing
