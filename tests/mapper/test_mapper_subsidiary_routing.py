"""Issue 25 item 3: the `subsidiary_routing` rule (transform_mappers/routing.py), alone and through the mapper CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transform_mappers.functions import MappingValueError
from transform_mappers.routing import RoutingConfigError, SubsidiaryRouting, subsidiary_of

RULE = {
    "rules": [
        {"when": {"Subsidiary__c": "Global"}, "subsidiary": "Parent Company", "also": ["UK Ltd", "Japan KK"]},
        {"when": {"Subsidiary__c": "*"}, "subsidiary": {"field": "Subsidiary__c"}},
        {"when": {"BillingCountry": ["GB", "IE"]}, "subsidiary": "UK Ltd"},
        {"when": {"BillingCountry": "JP"}, "subsidiary": "6"},
    ],
    "default": "Parent Company",
}


def name(value: str) -> dict:
    return {"type": "subsidiary", "by": "name", "value": value}


@pytest.mark.parametrize(("record", "expected"), [
    ({"BillingCountry": "United Kingdom"}, name("UK Ltd")),
    ({"BillingCountry": "UK"}, name("UK Ltd")),
    ({"BillingCountry": " great  britain "}, name("UK Ltd")),
    ({"BillingCountry": "Ireland"}, name("UK Ltd")),
    ({"BillingCountry": "日本"}, {"id": "6"}),               # an internal id in the rule
    ({"BillingCountry": "U.S.A."}, name("Parent Company")),  # no rule: the default
    ({"BillingCountry": ""}, name("Parent Company")),
    ({"BillingCountry": None}, name("Parent Company")),
    ({"BillingCountry": "Narnia"}, name("Parent Company")),  # not a country: no rule holds
    ({"Subsidiary__c": "uk  ltd ", "BillingCountry": "Japan"}, name("uk ltd")),  # the field first, spaces folded
    ({"Subsidiary__c": "GLOBAL", "BillingCountry": "Japan"}, name("Parent Company")),  # case folded
    ({"Subsidiary__c": "  ", "BillingCountry": "Japan"}, {"id": "6"}),  # a blank field does not match "*"
])
def test_the_first_rule_that_holds_decides(record: dict, expected: dict) -> None:
    assert SubsidiaryRouting.from_settings(RULE, "1").primary(record) == expected


def test_additional_subsidiaries_come_from_the_matching_rule_only() -> None:
    routing = SubsidiaryRouting.from_settings(RULE, "1")
    assert routing.additional({"Subsidiary__c": "Global"}) == [name("UK Ltd"), name("Japan KK")]
    assert routing.additional({"BillingCountry": "UK"}) == []
    assert routing.additional({}) == []
    # the primary is never listed again, and a field may list several (a multi-select picklist)
    shared = SubsidiaryRouting.from_settings({"rules": [
        {"when": {"Region__c": "*"}, "subsidiary": "UK Ltd", "also": [{"field": "Region__c"}]}]}, None)
    assert shared.additional({"Region__c": "UK Ltd;Japan KK; 4"}) == [name("Japan KK"), {"id": "4"}]


def test_without_a_default_a_record_no_rule_matches_is_flagged_naming_the_fields() -> None:
    routing = SubsidiaryRouting.from_settings({**RULE, "default": None}, "1")
    with pytest.raises(MappingValueError, match=r"no subsidiary_routing rule matches \(BillingCountry 'Narnia', "
                                                r"Subsidiary__c None\)"):
        routing.primary({"BillingCountry": "Narnia"})


def test_no_rule_keeps_subsidiary_id_as_a_fixed_id() -> None:
    routing = SubsidiaryRouting.from_settings(None, "1")
    assert routing.primary({"BillingCountry": "Japan"}) == {"id": "1"}
    assert routing.fixed_id == "1"  # the SCHEMA marks it const: the target checks it exists at start-up
    assert SubsidiaryRouting.from_settings(RULE, "1").fixed_id is None
    # a rule without `default` falls back to subsidiary_id
    assert SubsidiaryRouting.from_settings({"rules": RULE["rules"]}, "3").primary({}) == {"id": "3"}


@pytest.mark.parametrize(("setting", "message"), [
    ({"rules": [{"when": {}, "subsidiary": "X"}]}, "a non-empty `when`"),
    ({"rules": [{"when": {"Country": "GB"}}]}, "rules[0]"),
    ({"rules": [{"when": {"Country": {"a": 1}}, "subsidiary": "X"}]}, "rules[0].when.Country"),
    ({"rules": [{"when": {"Country": "GB"}, "subsidiary": {"expr": "x"}}]}, "rules[0].subsidiary"),
    ({"rules": [{"when": {"Country": "GB"}, "subsidiary": "X", "also": "Y"}]}, "rules[0].also"),
    ({"rules": [], "fallback": "1"}, "unknown key(s) fallback"),
])
def test_a_malformed_rule_is_refused_naming_it(setting: dict, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(
            "[", r"\[").replace("]", r"\]")):
        SubsidiaryRouting.from_settings(setting, "1")


def test_subsidiary_of_names_the_parent_or_falls_back() -> None:
    assert subsidiary_of("customer", "001A") == {"subsidiaryOf": {"externalId": "001A", "type": "customer"}}
    assert subsidiary_of("customer", None, default="1") == {"id": "1"}
    assert subsidiary_of("customer", " ", default="UK Ltd") == name("UK Ltd")
    assert subsidiary_of("customer", None) is None


def _account_schema(*extra: str) -> dict:
    """The golden Accounts' SCHEMA (every field the shipped mapping names), plus `extra` text fields."""
    schema = json.loads((Path(__file__).with_name("golden") / "accounts.in.jsonl").read_text().splitlines()[0])
    schema["schema"]["properties"].update({field: {"type": ["string", "null"]} for field in extra})
    return schema


def test_the_shipped_mapping_routes_customers_and_flags_an_unrouted_one(mapper, mapping_config) -> None:
    config = {**mapping_config, "subsidiary_routing": {**RULE, "default": None}}
    accounts = [{"Id": "001A", "Name": "A", "BillingCountry": "UK", "Subsidiary__c": None},
                {"Id": "001B", "Name": "B", "BillingCountry": "Japan", "Subsidiary__c": "Global"},
                {"Id": "001C", "Name": "C", "BillingCountry": "Narnia", "Subsidiary__c": None}]
    run = mapper(config, [_account_schema("Subsidiary__c"),
                          *({"type": "RECORD", "stream": "Account", "record": {**a, "IsDeleted": False}}
                            for a in accounts)])
    assert run.returncode == 0, run.stderr
    a, b, c = run.records("customer")
    assert a["subsidiary"] == name("UK Ltd") and "_sdc_subsidiaries" not in a
    assert b["subsidiary"] == name("Parent Company")
    assert b["_sdc_subsidiaries"] == {"additional": [name("UK Ltd"), name("Japan KK")]}
    assert "no subsidiary_routing rule matches" in c["_sdc_mapping_error"]
    # per-record subsidiaries are not fixed ids: the target does not check them at start-up
    assert "const" not in run.schema("customer")["schema"]["properties"]["subsidiary"]["properties"]["id"]


def test_a_malformed_rule_stops_the_mapper_with_one_line(mapper, mapping_config) -> None:
    config = {**mapping_config, "subsidiary_routing": {"rules": [{"when": {}, "subsidiary": "X"}]}}
    run = mapper(config, [_account_schema()])
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert "subsidiary_routing rules[0]" in lines[-1] and "Traceback" not in run.stderr
