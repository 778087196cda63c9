"""Org metadata that changes under a client: wide objects, deleted (or hidden) fields, retyped fields.

Real orgs are not the 50-field objects of `schema.py`: Accounts carry 500-800 fields, admins delete a custom
field or take away its field-level security, and change a Number field to Text. This module keeps those
changes as one small document, `{"wide": {Object: total fields}, "deleted": {Object: [field]}, "retyped":
{Object: {field: type}}}`, persisted in the store's `meta` table, and applies it by rebuilding
`schema.OBJECTS` in place, so describe, SOQL checks, REST and Bulk all see the same org at once.

Invariants:
- `wide` is part of the seed (the `account_fields` volume): extra fields get their own SQLite columns and
  deterministic values; a reset brings the standard shape back.
- A deleted field disappears from describe and SOQL (`INVALID_FIELD No such column`, as for a field the
  integration user can no longer read) but keeps its column: restoring it brings its data back, like
  Salesforce's undelete of a custom field.
- `CurrencyIsoCode` exists only in a multi-currency org (the `currencies` volume), as in Salesforce, where
  enabling multi-currency adds it to every record; the Account's `Subsidiary__c` only with the `subsidiaries` volume.
- A retype keeps the stored values and changes how they are described and written: Number → Text answers
  `"12"`, Text → Number is refused unless every stored value is a number (Salesforce refuses it too).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from sandbox.salesforce.data import Volumes
from sandbox.salesforce.describe import SCHEMA_LAST_MODIFIED
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.schema import (
    CURRENCY_FIELD,
    NUMBER_TYPES,
    OBJECTS,
    OBJECTS_LOWER,
    SUBSIDIARY_FIELD,
    Field,
    SObject,
)
from sandbox.salesforce.store import Store, quote

META_KEY = "metadata"
#: The declared objects, before any change.
BASE: dict[str, SObject] = dict(OBJECTS)
#: Types a field may be retyped to (the conversions Salesforce allows without losing data).
RETYPE_TYPES = frozenset({"string", "textarea", "picklist", "double", "currency", "percent", "int"})
_TEXTUAL = frozenset({"string", "textarea", "picklist"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def wide_field_name(number: int) -> str:
    """`Wide_Field_0001__c`: 18 characters, about the average custom field name of a real org."""
    return f"Wide_Field_{number:04d}__c"


def _wide_fields(base: SObject, total: int) -> list[Field]:
    return [Field(wide_field_name(n), "string", f"Wide Field {n}", 255) for n in range(1, total - len(base.fields) + 1)]


class Metadata:
    """The current changes, their persistence, and the admin operations on them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.doc: dict[str, Any] = {"wide": {}, "deleted": {}, "retyped": {}}

    @property
    def changed_at(self) -> dt.datetime:
        """When describe bodies last changed (their Last-Modified header): the declared schema's date, or later."""
        stamp = self.doc.get("changed_at")
        return dt.datetime.fromisoformat(stamp) if stamp else SCHEMA_LAST_MODIFIED

    # -- lifecycle -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """After a restart: the changes saved with the data."""
        saved = self.store.meta(META_KEY)
        if saved:
            self.doc = json.loads(saved)
        self._apply()

    def seed(self, volumes: Volumes) -> None:
        """Regenerate the org: standard shape plus `account_fields`, no deleted or retyped field."""
        self.doc = {"wide": {"Account": volumes.account_fields} if volumes.account_fields else {},
                    "deleted": {}, "retyped": {}, "multi_currency": volumes.currencies > 0,
                    "multi_subsidiary": volumes.subsidiaries > 0}
        if volumes.account_fields:
            self.doc["changed_at"] = _now().isoformat()
        self._apply()
        self.store.seed(volumes)
        with self.store.write() as conn:
            self._fill_wide(conn)
            Store.set_meta(conn, META_KEY, json.dumps(self.doc))

    def _fill_wide(self, conn: Any) -> None:
        """Deterministic values for the extra fields, in one pass: text, about one in seven null, CSV-hostile."""
        for name, total in self.doc["wide"].items():
            extra = _wide_fields(self._org_shape(name), int(total))
            if not extra:
                continue
            sets = ", ".join(
                f"{quote(f.name)} = CASE WHEN (rid + {n}) % 7 = 0 THEN NULL "
                f"WHEN (rid + {n}) % 11 = 0 THEN 'w{n}, \"q\" ' || rid ELSE 'w{n}-' || rid END"
                for n, f in enumerate(extra, start=1))
            conn.execute(f"UPDATE {quote(name)} SET {sets}")

    def _org_shape(self, name: str) -> SObject:
        """A declared object as this org has it: without CurrencyIsoCode unless the org is multi-currency, without
        Subsidiary__c unless it has subsidiaries."""
        base = BASE[name]
        absent = {CURRENCY_FIELD} - ({CURRENCY_FIELD} if self.doc.get("multi_currency") else set())
        if not self.doc.get("multi_subsidiary"):
            absent.add(SUBSIDIARY_FIELD)
        return dataclasses.replace(base, fields=tuple(f for f in base.fields if f.name not in absent))

    def _apply(self) -> None:
        """Rebuild `schema.OBJECTS` (in place: every module holds the same dict) from BASE and the changes."""
        for name in BASE:
            base = self._org_shape(name)
            fields = list(base.fields) + _wide_fields(base, int(self.doc["wide"].get(name, 0)))
            deleted = set(self.doc["deleted"].get(name, []))
            retyped = self.doc["retyped"].get(name, {})
            shaped = tuple(
                dataclasses.replace(f, type=retyped[f.name], picklist=()) if f.name in retyped else f
                for f in fields if f.name not in deleted
            )
            OBJECTS[name] = dataclasses.replace(base, fields=shaped)
        OBJECTS_LOWER.clear()
        OBJECTS_LOWER.update({name.lower(): obj for name, obj in OBJECTS.items()})

    def _save(self) -> None:
        self.doc["changed_at"] = _now().isoformat()
        with self.store.write() as conn:
            Store.set_meta(conn, META_KEY, json.dumps(self.doc))
        self._apply()

    # -- admin -----------------------------------------------------------------------------------------------
    def public(self) -> dict[str, Any]:
        return {**self.doc, "fields": {name: len(obj.fields) for name, obj in OBJECTS.items()}}

    def change(self, object_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply `{"delete": [...], "restore": [...], "retype": {field: type}, "unretype": [...]}` to one object."""
        unknown = sorted(set(payload) - {"delete", "restore", "retype", "unretype"})
        if unknown:
            raise ValueError(f"unknown metadata change(s) {', '.join(unknown)}; known: delete, restore, retype, "
                             "unretype")
        base = BASE.get(object_name) or next((o for o in BASE.values() if o.name.lower() == object_name.lower()),
                                             None)
        if base is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        base = self._org_shape(base.name)
        declared = {f.name: f for f in base.fields}
        declared.update({f.name: f for f in _wide_fields(base, int(self.doc["wide"].get(base.name, 0)))})
        deleted = list(self.doc["deleted"].get(base.name, []))
        retyped = dict(self.doc["retyped"].get(base.name, {}))
        for name in payload.get("delete", []):
            field = self._declared(declared, name, base.name)
            if field.name in ("Id", "IsDeleted", "SystemModstamp") or field.compound or field.is_compound:
                raise ValueError(f"{base.name}.{field.name} cannot be deleted (system or address field)")
            if field.name not in deleted:
                deleted.append(field.name)
        for name in payload.get("restore", []):
            field = self._declared(declared, name, base.name)
            deleted = [d for d in deleted if d != field.name]
        for name, kind in (payload.get("retype") or {}).items():
            field = self._declared(declared, name, base.name)
            if kind not in RETYPE_TYPES or field.type not in RETYPE_TYPES or not field.stored:
                raise ValueError(f"{base.name}.{field.name} ({field.type}) cannot become {kind}; retypable types: "
                                 f"{', '.join(sorted(RETYPE_TYPES))}")
            if kind in NUMBER_TYPES and field.type in _TEXTUAL:
                self._check_numeric(base.name, field.name)
            retyped[field.name] = kind
        for name in payload.get("unretype", []):
            retyped.pop(self._declared(declared, name, base.name).name, None)
        self.doc["deleted"][base.name] = deleted
        self.doc["retyped"][base.name] = retyped
        self._save()
        return self.public()

    @staticmethod
    def _declared(declared: dict[str, Field], name: str, object_name: str) -> Field:
        found = declared.get(name) or next((f for n, f in declared.items() if n.lower() == str(name).lower()), None)
        if found is None:
            raise ValueError(f"{object_name} has no field {name!r}")
        return found

    def _check_numeric(self, object_name: str, field_name: str) -> None:
        column = quote(field_name)
        bad = self.store.conn().execute(
            f"SELECT {column} FROM {quote(object_name)} WHERE {column} IS NOT NULL "
            f"AND CAST({column} AS REAL) || '' != {column} AND CAST({column} AS INTEGER) || '' != {column} LIMIT 1"
        ).fetchone()
        if bad is not None:
            raise ValueError(f"{object_name}.{field_name} holds {bad[0]!r}, which is not a number: retype refused")

