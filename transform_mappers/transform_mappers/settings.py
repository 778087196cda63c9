"""The mapper's settings: declared once (`CONFIG_SCHEMA`), read once into `MapperSettings`.

Invariant: a setting's type, default and allowed values are written only in `CONFIG_SCHEMA`; the SDK fills the
defaults in and refuses other values before `MapperSettings` is built, and the defaults of `FunctionSettings` and
`PayloadOptions` (used alone by tests and the bench) are read from it, so no default is restated in code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import singer_sdk.typing as th

#: What a deleted Salesforce record becomes (setting `deleted_record_action`, template option `__on_delete__`).
DELETE_ACTIONS = ("ignore", "inactivate", "delete")

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property("mapping_label", th.StringType, default="netsuite-mapper",
                description="Name of this mapping in error messages (Meltano does not pass the mapping name)."),
    th.Property("payloads", th.ObjectType(additional_properties=th.ObjectType()), default={},
                description="Per output stream (NetSuite record type), the payload template: nested "
                            "objects/lists whose string leaves are expressions."),
    th.Property("subsidiary_id", th.StringType,
                description="NetSuite internal id of the subsidiary; `config[\"subsidiary_id\"]` in templates."),
    th.Property("currency_id", th.StringType,
                description="NetSuite internal id of the currency; `config[\"currency_id\"]` in templates."),
    th.Property("service_item_id", th.StringType,
                description="NetSuite internal id of the item a won opportunity without products is sold as "
                            "(one line for its Amount); `config[\"service_item_id\"]` in templates."),
    th.Property("on_unwin", th.StringType, default="close", allowed_values=["close", "report", "ignore"],
                description="What an opportunity no longer won does to its sales order (the target acts on it): "
                            "close its lines if nothing is fulfilled or billed, report it, or ignore it; "
                            "`config[\"on_unwin\"]` in templates."),
    th.Property("default_phone_region", th.StringType, default="US",
                description="ISO-2 region for phone numbers written without a country code."),
    th.Property("phone_format", th.StringType, default="international",
                allowed_values=["international", "e164"],
                description="How phone() formats numbers: international (keeps extensions) or E.164."),
    th.Property("picklists", th.ObjectType(additional_properties=th.ObjectType()), default={},
                description="Named value maps for picklist(value, name); `__default__` catches other values."),
    th.Property("deleted_record_action", th.StringType, default="inactivate", allowed_values=list(DELETE_ACTIONS),
                description="What a deleted Salesforce record becomes: ignore (dropped), inactivate (upsert "
                            "with isInactive true) or delete (`_sdc_action: delete`). Templates may override "
                            "it with `__on_delete__`."),
    th.Property("deleted_field", th.StringType, default="IsDeleted",
                description="Input field that marks a deleted record."),
    th.Property("field_lengths", th.ObjectType(additional_properties=th.IntegerType(minimum=1)), default={},
                description="Maximum lengths of NetSuite text fields, by output path "
                            "(`addressbook.items[].addressbookaddress.addr1`) or field name (`companyName`); "
                            "longer values are cut."),
    th.Property("subsidiary_routing", th.ObjectType(
        th.Property("rules", th.ArrayType(th.ObjectType(additional_properties=True))),
        th.Property("default", th.StringType),
    ), description="OneWorld: which subsidiary each record belongs to, as ordered rules `{when: {Field: value}, "
                   "subsidiary: <name, id or {field: F}>, also: [...]}` with a `default` (null: dead-letter "
                   "records no rule matches); `route_subsidiary(record)` and `additional_subsidiaries(record)` in "
                   "templates. Unset: every record gets subsidiary_id."),
).to_dict()

#: Each setting's default, as the schema declares it.
DEFAULTS: Mapping[str, Any] = {name: spec["default"] for name, spec in CONFIG_SCHEMA["properties"].items()
                               if "default" in spec}


@dataclass(frozen=True)
class MapperSettings:
    """The settings the mapper reads, typed (from the SDK's validated config: defaults filled in)."""

    mapping_label: str
    payloads: Mapping[str, Mapping[str, Any]]
    default_phone_region: str
    phone_format: str
    picklists: Mapping[str, Mapping[str, Any]]
    deleted_record_action: str
    deleted_field: str
    field_lengths: Mapping[str, int]
    subsidiary_routing: Mapping[str, Any] | None
    config: Mapping[str, Any]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MapperSettings:
        """Read the validated config once; `config` is kept whole for templates' `config[...]`."""
        return cls(
            mapping_label=str(config["mapping_label"]),
            payloads=config["payloads"],
            default_phone_region=str(config["default_phone_region"]),
            phone_format=str(config["phone_format"]),
            picklists=config["picklists"],
            deleted_record_action=str(config["deleted_record_action"]),
            deleted_field=str(config["deleted_field"]),
            field_lengths=config["field_lengths"],
            subsidiary_routing=config.get("subsidiary_routing"),
            config=dict(config),
        )
