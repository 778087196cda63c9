"""Payload templates in process: sublists from input arrays, conditions, typed leaves, lengths, error paths, explicit
nulls for emptied fields, and the active state that brings an undeleted record back."""

from __future__ import annotations

from typing import Any

import pytest
from transform_mappers.expressions import Scope
from transform_mappers.functions import FunctionSettings, build_functions
from transform_mappers.payloads import Payload, PayloadOptions, TemplateError

FUNCTIONS = build_functions(FunctionSettings())
GLOBALS = {**{name: spec.fn for name, spec in FUNCTIONS.items()}, "config": {"subsidiary_id": "3"}}
LINE = {"type": "object", "properties": {"Sku": {"type": ["string", "null"]}, "Qty": {"type": ["number", "null"]},
                                         "Country": {"type": ["string", "null"]}}}
FIELDS = {"Id": {"type": ["string"]}, "Name": {"type": ["string", "null"]}, "IsDeleted": {"type": ["boolean"]},
          "Lines": {"type": ["array", "null"], "items": LINE}}


def payload(template: dict[str, Any], **options: Any) -> Payload:
    scope = Scope("Order__c", FIELDS, FUNCTIONS, GLOBALS["config"])
    return Payload("order", template, scope, GLOBALS, PayloadOptions(**options))


TEMPLATE = {
    "externalId": "Id",
    "title": "Name",
    "flags": {"fixed": True, "empty": {"nothing": "None"}},
    "lines": {"items": [
        {"__if__": "Name == 'with header'", "sku": "'HEADER'", "qty": 0},
        {"__each__": "Lines", "__as__": "ln", "__if__": "ln['Qty']",
         "sku": "ln['Sku']", "qty": "ln['Qty']", "country": "iso_country(ln['Country'])"},
    ]},
    "typed": {"__expr__": "Name", "__schema__": {"type": ["string", "null"], "format": "email"}},
}


def test_sublist_from_an_input_array_with_conditions() -> None:
    record = {"Id": "a1", "Name": "with header", "Lines": [
        {"Sku": "A", "Qty": 2, "Country": "USA"}, {"Sku": "skip", "Qty": 0}, {"Sku": "B", "Qty": 1.5}]}
    assert payload(TEMPLATE).map(record) == {
        "externalId": "a1", "title": "with header", "flags": {"fixed": True, "empty": None},
        "lines": {"items": [{"sku": "HEADER", "qty": 0}, {"sku": "A", "qty": 2, "country": "US"},
                            {"sku": "B", "qty": 1.5}]},
        "typed": "with header",
        "isInactive": False,
    }


def test_failure_path_names_the_line_index_and_keeps_the_rest() -> None:
    record = {"Id": "a1", "Name": "x", "Lines": [{"Sku": "A", "Qty": 1, "Country": "US"},
                                                  {"Sku": "B", "Qty": 1, "Country": "Atlantis"}]}
    out = payload(TEMPLATE).map(record)
    assert out["lines"]["items"] == [{"sku": "A", "qty": 1, "country": "US"}, {"sku": "B", "qty": 1}]
    assert out["_sdc_mapping_error"].startswith(
        "order.lines.items[1].country: cannot resolve country 'Atlantis' to an ISO code")


def test_schema_types_sublists_and_declared_leaves() -> None:
    schema = payload(TEMPLATE, field_lengths={"lines.items[].sku": 3, "title": 5}).schema["properties"]
    line = schema["lines"]["properties"]["items"]["items"]["properties"]
    assert line["qty"] == {"type": ["number", "null"]}  # integer constant merged with the lines' numbers
    assert line["country"] == {"type": ["string", "null"]}  # only in generated lines: still typed
    assert line["sku"]["maxLength"] == 3
    assert schema["title"]["maxLength"] == 5
    assert schema["typed"] == {"type": ["string", "null"], "format": "email"}
    assert schema["flags"]["properties"]["fixed"] == {"type": "boolean"}


def test_field_lengths_cut_text_by_path_and_name() -> None:
    out = payload(TEMPLATE, field_lengths={"lines.items[].sku": 3, "title": 5}).map(
        {"Id": "a1", "Name": "  Long title  ", "Lines": [{"Sku": "ABCDEF", "Qty": 1}]})
    assert out["title"] == "Long"  # trimmed, cut to 5, trailing space dropped
    assert out["lines"]["items"] == [{"sku": "ABC", "qty": 1}]


@pytest.mark.parametrize(("template", "message"), [
    ({"externalId": "Id", "lines": [{"__each__": "Lines", "__as__": "__x__", "a": "1"}]}, "__as__ must be"),
    ({"externalId": "Id", "__key_properties__": "externalId"}, "must be a list"),
    ({"title": "Name"}, "key property 'externalId' is not a top-level field"),
    ({"externalId": "Id", "x": {"__expr__": "Name", "__type__": "string"}}, "unexpected '__type__'"),
    ({"externalId": "Id", "__on_delete__": "archive"}, "is not one of"),
    ({"externalId": "Id", "x": {"y": "Lines[0]['Skuu']"}}, "x.y: expression"),
])
def test_template_errors(template: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("[", r"\[")):
        payload(template)


CLEARING = {
    "externalId": "Id",
    "title": "Name",
    "country": "iso_country(Name)",
    "owner": 'ref("customer", coalesce(Name))',
    "address": {"city": "Name", "zip": "'12345'"},
    "nothing": {"city": "Name", "zip": "None"},
    "lines": {"items": [{"sku": "Name", "qty": 1, "sub": {"a": "Name"}}]},
}


def test_emptied_fields_are_sent_as_null_outside_sublists() -> None:
    """Salesforce says "empty": the body carries null (NetSuite empties the field); a line omits it (it is new)."""
    out = payload(CLEARING, deleted_record_action="ignore").map({"Id": "a1", "Name": "  ", "IsDeleted": False})
    assert out == {
        "externalId": "a1",
        "title": None,
        "country": None,
        "owner": None,
        "address": {"city": None, "zip": "12345"},  # a subrecord field emptied, the others kept
        "nothing": None,  # every leaf null: the whole reference/subrecord is emptied
        "lines": {"items": [{"qty": 1}]},
    }


def test_a_leaf_that_fails_is_left_out_never_sent_as_null() -> None:
    """A value we could not compute must not clear NetSuite's: the failed leaf is absent, the record flagged."""
    out = payload(CLEARING, deleted_record_action="ignore").map({"Id": "a1", "Name": "Atlantis", "IsDeleted": False})
    assert "country" not in out
    partly = payload({"externalId": "Id", "address": {"country": "iso_country(Name)", "zip": "None"}})
    assert partly.map({"Id": "a1", "Name": "Atlantis", "IsDeleted": False})["address"] == {"zip": None}
    assert out["title"] == "Atlantis"
    assert out["_sdc_mapping_error"].startswith("order.country: cannot resolve country 'Atlantis'")


def test_failed_key_of_a_delete_is_flagged_as_null() -> None:
    out = payload({"externalId": "iso_country(Id)"}, deleted_record_action="delete").map(
        {"Id": "nowhere", "IsDeleted": True})
    assert out["externalId"] is None
    assert out["_sdc_action"] == "delete"
    assert "key property is null" in out["_sdc_mapping_error"]


@pytest.mark.parametrize(("template", "deleted", "expected"), [
    ({"externalId": "Id"}, False, False),  # an undeleted record comes back active
    ({"externalId": "Id"}, True, True),
    ({"externalId": "Id", "isInactive": "Name == 'retired'"}, False, False),
    ({"externalId": "Id", "isInactive": "Name == 'retired'"}, True, True),  # deletion wins over the template
    ({"externalId": "Id", "isInactive": "True if Name == 'retired' else None"}, False, False),  # null: active
])
def test_inactivating_types_always_carry_the_active_state(template: dict, deleted: bool, expected: bool) -> None:
    record = {"Id": "a1", "Name": "kept", "IsDeleted": deleted}
    assert payload(template).map(record)["isInactive"] is expected
    if "isInactive" in template:  # the template's own value otherwise
        assert payload(template).map({**record, "Name": "retired"})["isInactive"] is True


@pytest.mark.parametrize("action", ["ignore", "delete"])
def test_other_delete_actions_leave_the_active_state_alone(action: str) -> None:
    """A record type that is never inactivated (a sales order) is never sent an `isInactive` it may not have."""
    out = payload({"externalId": "Id", "title": "Name"}, deleted_record_action=action).map(
        {"Id": "a1", "Name": "x", "IsDeleted": False})
    assert out == {"externalId": "a1", "title": "x"}
