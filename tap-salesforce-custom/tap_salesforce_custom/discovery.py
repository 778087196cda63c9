"""Describe → JSON Schema, replication-key choice, and the field facts a sync needs from a schema alone.

A sync given a catalog must make no describe calls, so everything the query builder needs (compound
fields, base64 fields, datetime fields) is read back from the catalog's JSON Schema, which this module
writes in a recognisable way.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

#: Replication keys in order of preference; the first one that exists and is `filterable` wins.
REPLICATION_KEYS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
#: Sub-fields of compound fields, as REST returns them inside the compound object.
ADDRESS_PARTS: dict[str, dict[str, t.Any]] = {
    "street": {"type": ["string", "null"]},
    "city": {"type": ["string", "null"]},
    "state": {"type": ["string", "null"]},
    "stateCode": {"type": ["string", "null"]},
    "postalCode": {"type": ["string", "null"]},
    "country": {"type": ["string", "null"]},
    "countryCode": {"type": ["string", "null"]},
    "latitude": {"type": ["number", "null"]},
    "longitude": {"type": ["number", "null"]},
    "geocodeAccuracy": {"type": ["string", "null"]},
}
LOCATION_PARTS = {"latitude": {"type": ["number", "null"]}, "longitude": {"type": ["number", "null"]}}
_STRING_TYPES = frozenset(
    {"id", "string", "textarea", "picklist", "multipicklist", "combobox", "reference", "email", "phone", "url",
     "encryptedstring"}
)
_ANY_JSON = ["string", "number", "integer", "boolean", "object", "array", "null"]


@dataclass(frozen=True)
class LineItems:
    """Child rows a parent object is read with (as one array property), never as a stream of their own."""

    object_name: str  # the line object, e.g. OpportunityLineItem
    parent_key: str  # its reference to the parent, e.g. OpportunityId
    property: str  # the parent's property holding the complete current list, e.g. OpportunityLineItems


#: Parents read with their line items: an opportunity with its products, a quote with its quote lines, a product
#: with its standard price book entries (its base price, one entry per currency in a multi-currency org).
LINE_ITEMS = {
    "Opportunity": LineItems("OpportunityLineItem", "OpportunityId", "OpportunityLineItems"),
    "Quote": LineItems("QuoteLineItem", "QuoteId", "QuoteLineItems"),
    "Product2": LineItems("PricebookEntry", "Product2Id", "StandardPricebookEntries"),
}
LINE_ITEMS_PROPERTY = LINE_ITEMS["Opportunity"].property
LINE_ITEM_PROPERTIES = frozenset(lines.property for lines in LINE_ITEMS.values())
#: Marks a formula or roll-up field (`calculated` in describe): its value changes without SystemModstamp moving.
CALCULATED_KEY = "x-sf-calculated"
CALCULATED_DESCRIPTION = ("Salesforce formula/roll-up field (calculated): a change of its value does not move "
                          "SystemModstamp, so incremental reads do not see it.")


def field_schema(field: dict[str, t.Any]) -> dict[str, t.Any]:
    """JSON Schema of one describe field; everything nullable except non-nillable, non-formula fields."""
    sf_type = field.get("type")
    nullable = bool(field.get("nillable")) or bool(field.get("calculated"))

    def typed(json_type: str, **extra: t.Any) -> dict[str, t.Any]:
        return {"type": [json_type, "null"] if nullable else [json_type], **extra}

    if sf_type in _STRING_TYPES:
        return typed("string")
    if sf_type == "boolean":
        return typed("boolean")
    if sf_type in {"int", "long"}:
        return typed("integer")
    if sf_type in {"double", "currency", "percent"}:
        return typed("number")
    if sf_type == "datetime":
        return typed("string", format="date-time")
    if sf_type == "date":
        return typed("string", format="date")
    if sf_type == "time":
        return typed("string", format="time")
    if sf_type == "base64":
        # REST returns the blob's relative URL, not its content; Bulk cannot select base64 at all.
        return {"type": ["string", "null"], "contentEncoding": "base64"}
    if sf_type == "address":
        return {"type": ["object", "null"], "properties": dict(ADDRESS_PARTS)}
    if sf_type == "location":
        return {"type": ["object", "null"], "properties": dict(LOCATION_PARTS)}
    # anyType (a value of any primitive type), json and complexvalue (structured values): no fixed shape.
    return {"type": _ANY_JSON}


def replication_key(fields: list[dict[str, t.Any]]) -> str | None:
    """The preferred filterable timestamp field, or None for a full-table stream."""
    by_name = {f["name"]: f for f in fields}
    for name in REPLICATION_KEYS:
        field = by_name.get(name)
        if field and field.get("filterable") and field.get("type") == "datetime":
            return name
    return None


def property_schema(field: dict[str, t.Any]) -> dict[str, t.Any]:
    """`field_schema` plus the formula mark: `x-sf-calculated: true` and a description saying what it means.

    The description carries the mark through a catalog round trip (the SDK keeps only standard JSON Schema
    keys when it reads a catalog); `mark_calculated` puts `x-sf-calculated` back from it.
    """
    schema = field_schema(field)
    if field.get("calculated"):
        schema["description"] = CALCULATED_DESCRIPTION
        schema[CALCULATED_KEY] = True
    return schema


def mark_calculated(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """Restore `x-sf-calculated` on every property (nested line items included) a catalog describes as a formula."""
    for prop in (schema.get("properties") or {}).values():
        if prop.get("description") == CALCULATED_DESCRIPTION:
            prop[CALCULATED_KEY] = True
        if isinstance(prop.get("items"), dict):
            mark_calculated(prop["items"])
    return schema


def schema_drift(object_name: str, properties: dict[str, t.Any], describe: dict[str, t.Any]) -> tuple[
        list[str], dict[str, t.Any]]:
    """`(one line per added, removed or retyped field, the catalog's properties reconciled with describe)`.

    Removed fields leave the properties, retyped ones take their new schema; added fields are only reported
    (the catalog did not select them).
    """
    current = {f["name"]: property_schema(f) for f in describe["fields"]}
    lines = [f"{object_name}: field {name} added in Salesforce (not in the catalog; discover to select it)"
             for name in current if name not in properties]
    reconciled: dict[str, t.Any] = {}
    for name, schema in properties.items():
        if name in LINE_ITEM_PROPERTIES:
            reconciled[name] = schema
        elif name not in current:
            lines.append(f"{object_name}: field {name} removed in Salesforce or no longer readable by this user; "
                         "read without it")
        elif _shape(current[name]) != _shape(schema):
            lines.append(f"{object_name}: field {name} retyped in Salesforce: {_shape(schema)} -> "
                         f"{_shape(current[name])}")
            reconciled[name] = current[name]
        else:
            reconciled[name] = schema
    return lines, reconciled


def _shape(schema: dict[str, t.Any]) -> str:
    types = [x for x in schema.get("type") or [] if x != "null"]
    return "/".join(types) + (f" ({schema['format']})" if schema.get("format") else "")


def object_schema(describe: dict[str, t.Any], line_items: dict[str, t.Any] | None = None,
                  lines_property: str = LINE_ITEMS_PROPERTY) -> dict[str, t.Any]:
    """The stream schema of one object; a parent in `LINE_ITEMS` gets its lines property (Opportunity:
    `OpportunityLineItems`, Quote: `QuoteLineItems`) when its lines are readable."""
    properties = {f["name"]: property_schema(f) for f in describe["fields"]}
    if line_items is not None:
        properties[lines_property] = {"type": ["array", "null"], "items": line_items}
    return {"type": "object", "properties": properties}


def compound_components(name: str, schema: dict[str, t.Any], all_fields: t.Iterable[str]) -> dict[str, str]:
    """`{component field: key in the compound object}` of a compound field, by Salesforce naming rules.

    `BillingAddress` → `BillingStreet`, `BillingStateCode`, ...; custom `Site__c` → `Site__Street__s`,
    `Site__Latitude__s`, ...; the plain `Address` of Lead/Contact-like objects → `Street`, `City`, ...
    """
    present = set(all_fields)
    components = {}
    for key in schema.get("properties") or {}:
        part = key[0].upper() + key[1:]
        if name.endswith("__c"):
            candidate = f"{name[:-3]}__{part}__s"
        elif name.endswith("Address"):
            candidate = f"{name[: -len('Address')]}{part}"
        else:
            candidate = f"{name}{part}"
        if candidate in present:
            components[candidate] = key
    return components


def is_compound(schema: dict[str, t.Any]) -> bool:
    """Address/location compound fields are the only object-typed fields this tap writes."""
    types = schema.get("type")
    return isinstance(types, list) and "object" in types and "properties" in schema and len(types) <= 2


def parent_first(describes: dict[str, dict[str, t.Any]],
                 line_items: dict[str, dict[str, t.Any]] | None = None) -> list[str]:
    """Object names ordered so that every object comes after the objects its reference fields point to.

    A sync reads streams in this order, so a parent (Account, Product2) reaches the target before the children
    that reference it (Contact, Opportunity and, through its embedded lines, Product2). Only references between
    the given objects count; self-references are ignored; a cycle is broken in the given order (Quote before
    Opportunity, as the default `objects` lists them: an opportunity's synced quote refers back to it).
    `line_items` maps a parent to the describe of the lines it is read with.
    """
    names = list(describes)
    parents: dict[str, set[str]] = {}
    for name, describe in describes.items():
        fields = list(describe["fields"])
        if line_items and name in line_items:
            fields += line_items[name]["fields"]
        parents[name] = {
            target for field in fields if field.get("type") == "reference"
            for target in field.get("referenceTo") or [] if target in describes and target != name
        }
    ancestors = {name: _ancestors(name, parents) for name in names}

    def in_cycle_with(a: str, b: str) -> bool:
        return b in ancestors[a] and a in ancestors[b]

    ordered: list[str] = []
    while len(ordered) < len(names):
        placed = set(ordered)
        ready = [n for n in names if n not in placed and parents[n] <= placed]
        if not ready:  # only cycles left that nothing else blocks: take the first member in the given order
            ready = [n for n in names if n not in placed
                     and all(p in placed or in_cycle_with(n, p) for p in parents[n])]
        ordered.append(ready[0])
    return ordered


def _ancestors(name: str, parents: dict[str, set[str]]) -> set[str]:
    """Every object `name` refers to, directly or through others."""
    seen: set[str] = set()
    todo = list(parents[name])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(parents[current])
    return seen
