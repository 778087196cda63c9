"""Subsidiary routing: which NetSuite subsidiary a Salesforce record belongs to (setting `subsidiary_routing`).

A OneWorld account holds several subsidiaries; each customer has one primary subsidiary, and may be shared with
others (NetSuite's `customerSubsidiaryRelationship`). The rule is data, in meltano.yml:

    subsidiary_routing:
      rules:                                    # the first rule whose `when` holds decides
      - when: {Subsidiary__c: Global}           # a custom field's value (case and spaces ignored)
        subsidiary: US Inc.                     # a subsidiary name (looked up in NetSuite) or an internal id ("3")
        also: [UK Ltd, Japan KK]                # additional subsidiaries of the customer (never removed)
      - when: {Subsidiary__c: "*"}              # "*": any non-blank value
        subsidiary: {field: Subsidiary__c}      # the subsidiary that field names
      - when: {BillingCountry: [GB, IE]}        # countries compare by ISO code: "UK", "United Kingdom" match GB
        subsidiary: UK Ltd
      default: US Inc.                          # no rule holds (a blank or unknown country); null: dead letter

Expressions call `route_subsidiary(record)` (the primary subsidiary) and `additional_subsidiaries(record)`.
Invariants:
- The rule is checked once, at start-up: a malformed rule stops the mapper with one line naming it.
- A record no rule matches goes to `default`; with `default: null` (or no default and no `subsidiary_id`) it is
  flagged (the target dead-letters it naming the fields the rules read), never routed by a guess.
- Without `subsidiary_routing` every record gets `subsidiary_id`, as before (single-subsidiary accounts).
- A name becomes the lookup marker `{"type": "subsidiary", "by": "name", "value": ...}` the target resolves; a
  value of digits only is an internal id `{"id": ...}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transform_mappers.functions import FunctionSpec, MappingValueError, iso_country, lookup

ANY = "*"
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_RULE_KEYS = frozenset({"when", "subsidiary", "also"})
_SETTING_KEYS = frozenset({"rules", "default"})


class RoutingConfigError(ValueError):
    """A `subsidiary_routing` setting that cannot be applied (reported as one line at start-up)."""


def _text(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def _country(value: str) -> str | None:
    try:
        return iso_country(value)
    except MappingValueError:
        return None


@dataclass(frozen=True)
class Target:
    """A subsidiary as a rule names it: a literal name or id, or the value of a record field."""

    literal: str | None = None
    field: str | None = None

    def values(self, record: Mapping[str, Any]) -> list[str]:
        """The names/ids this target stands for in `record` (a field may list several, `;`-separated)."""
        if self.literal is not None:
            return [self.literal]
        raw = record.get(self.field or "")
        if raw is None:
            return []
        return [" ".join(part.split()) for part in str(raw).split(";") if part.strip()]


def as_reference(value: str) -> dict[str, str] | None:
    """A subsidiary name or internal id → `{"id"}` (digits) or the lookup marker by name."""
    return {"id": value} if value.isdigit() else lookup("subsidiary", value, by="name")


@dataclass(frozen=True)
class Rule:
    when: tuple[tuple[str, Any], ...]
    subsidiary: Target
    also: tuple[Target, ...]

    def holds(self, record: Mapping[str, Any]) -> bool:
        return all(_matches(record.get(field), expected) for field, expected in self.when)


def _matches(actual: Any, expected: Any) -> bool:
    """Case- and space-insensitive equality; booleans by truth; country names by ISO code; "*" any non-blank."""
    if isinstance(expected, bool):
        return actual is not None and bool(actual) is expected
    if expected == ANY:
        return _text(actual) != ""
    text = _text(actual)
    if not text:
        return False
    options = expected if isinstance(expected, list) else [expected]
    if any(_text(option) == text for option in options):
        return True
    code = _country(str(actual))
    return code is not None and any(_country(str(option)) == code for option in options)


def _target(value: Any, where: str) -> Target:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return Target(literal=" ".join(str(value).split()))
    if isinstance(value, Mapping) and set(value) == {"field"} and isinstance(value["field"], str) \
            and _FIELD.fullmatch(value["field"]):
        return Target(field=value["field"])
    msg = f"subsidiary_routing {where}: expected a subsidiary name, an internal id or {{field: <Field>}}, got {value!r}"
    raise RoutingConfigError(msg)


def _condition(field: Any, expected: Any, where: str) -> tuple[str, Any]:
    if not isinstance(field, str) or not _FIELD.fullmatch(field):
        msg = f"subsidiary_routing {where}: {field!r} is not a field name"
        raise RoutingConfigError(msg)
    plain = (str, int, float, bool)
    if isinstance(expected, plain) or (isinstance(expected, list) and expected
                                       and all(isinstance(v, plain) for v in expected)):
        return field, expected
    msg = f"subsidiary_routing {where}.{field}: expected \"*\", a value, a list of values or true/false"
    raise RoutingConfigError(msg)


@dataclass(frozen=True)
class SubsidiaryRouting:
    """The checked rule, or none (every record gets `fallback`, the `subsidiary_id` setting)."""

    rules: tuple[Rule, ...]
    default: str | None
    configured: bool

    @classmethod
    def from_settings(cls, setting: Mapping[str, Any] | None, subsidiary_id: str | None) -> SubsidiaryRouting:
        fallback = str(subsidiary_id).strip() if subsidiary_id not in (None, "") else None
        if not setting:
            return cls((), fallback, configured=False)
        unknown = set(setting) - _SETTING_KEYS
        if unknown:
            msg = f"subsidiary_routing: unknown key(s) {', '.join(sorted(unknown))} (allowed: rules, default)"
            raise RoutingConfigError(msg)
        raw_rules = setting.get("rules") or []
        if not isinstance(raw_rules, list):
            msg = "subsidiary_routing.rules must be a list of {when, subsidiary[, also]}"
            raise RoutingConfigError(msg)
        rules = []
        for index, raw in enumerate(raw_rules):
            where = f"rules[{index}]"
            if not isinstance(raw, Mapping) or not raw.get("when") or "subsidiary" not in raw \
                    or not isinstance(raw["when"], Mapping) or set(raw) - _RULE_KEYS:
                msg = (f"subsidiary_routing {where}: expected {{when: {{Field: value}}, subsidiary: ..., also: [...]}}"
                       f" (a non-empty `when`), got {raw!r}")
                raise RoutingConfigError(msg)
            also = raw.get("also") or []
            also_list = [also] if isinstance(also, Mapping) else also
            if not isinstance(also_list, list):
                msg = f"subsidiary_routing {where}.also: expected a list of subsidiaries or {{field: <Field>}}"
                raise RoutingConfigError(msg)
            rules.append(Rule(
                when=tuple(_condition(f, v, f"{where}.when") for f, v in raw["when"].items()),
                subsidiary=_target(raw["subsidiary"], f"{where}.subsidiary"),
                also=tuple(_target(a, f"{where}.also") for a in also_list),
            ))
        default = setting.get("default", fallback)
        if default is not None:
            default = _target(default, "default").literal
        return cls(tuple(rules), default, configured=True)

    @property
    def fixed_id(self) -> str | None:
        """The id every record gets when no rule is configured (the mapper marks it `const` for the target)."""
        return self.default if not self.configured and self.default and self.default.isdigit() else None

    def _rule(self, record: Mapping[str, Any]) -> tuple[Rule | None, str | None]:
        for rule in self.rules:
            if rule.holds(record):
                names = rule.subsidiary.values(record)
                if names:
                    return rule, names[0]
        return None, self.default

    def primary(self, record: Mapping[str, Any] | None) -> dict[str, str] | None:
        """The record's subsidiary: `{"id"}` or a lookup marker by name."""
        record = record or {}
        _, name = self._rule(record)
        if name is None:
            fields = sorted({field for rule in self.rules for field, _ in rule.when})
            seen = ", ".join(f"{field} {record.get(field)!r}" for field in fields)
            msg = f"no subsidiary_routing rule matches ({seen}) and the rule has no default"
            raise MappingValueError(msg)
        return as_reference(name)

    def additional(self, record: Mapping[str, Any] | None) -> list[dict[str, str]]:
        """The other subsidiaries the matching rule shares the customer with (never the primary one)."""
        record = record or {}
        rule, primary = self._rule(record)
        if rule is None:
            return []
        names = dict.fromkeys(name for target in rule.also for name in target.values(record)
                              if _text(name) != _text(primary))
        return [ref for name in names if (ref := as_reference(name)) is not None]


def subsidiary_of(record_type: str, external_id: Any, default: Any = None) -> dict[str, Any] | None:
    """The subsidiary of the parent record (`subsidiary_of("customer", AccountId)`): a contact or an order follows
    its customer. The target reads the parent's subsidiary from NetSuite (or from its own write of the parent) and
    parks the record until the parent is there (docs/interfaces.md). A blank parent id gives `default` (a name or
    an internal id, e.g. `config["subsidiary_id"]` for a contact without an Account), else None."""
    text = " ".join(str(external_id).split()) if external_id is not None else ""
    if not text:
        fallback = " ".join(str(default).split()) if default is not None else ""
        return as_reference(fallback) if fallback else None
    if not isinstance(record_type, str) or not _FIELD.fullmatch(record_type):
        msg = f"subsidiary_of record type must be a plain name, got {record_type!r}"
        raise MappingValueError(msg)
    return {"subsidiaryOf": {"externalId": text, "type": record_type}}


def _subsidiary_schema(fixed_id: str | None = None) -> dict[str, Any]:
    id_schema: dict[str, Any] = {"type": "string"}
    if fixed_id is not None:
        id_schema["const"] = fixed_id
    return {"type": ["object", "null"], "properties": {
        "id": id_schema, "type": {"type": "string"}, "by": {"type": "string"}, "value": {"type": "string"},
        "subsidiaryOf": {"type": "object", "properties": {"externalId": {"type": "string"},
                                                          "type": {"type": "string"}}}}}


def routing_functions(routing: SubsidiaryRouting) -> dict[str, FunctionSpec]:
    """The mapping functions of subsidiary routing, bound to the checked rule."""
    return {
        "route_subsidiary": FunctionSpec(routing.primary, _subsidiary_schema(routing.fixed_id)),
        "additional_subsidiaries": FunctionSpec(
            routing.additional, {"type": ["array", "null"], "items": _subsidiary_schema()}),
        "subsidiary_of": FunctionSpec(subsidiary_of, _subsidiary_schema()),
    }
