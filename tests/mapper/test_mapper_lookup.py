"""`lookup(record_type, value, by=...)`: the typed marker the target resolves, its default for a blank value, its
schema (a setting as default stays a fixed id), and `currency_precision` for the order-total check."""

from __future__ import annotations

from typing import Any

import pytest
from transform_mappers.expressions import Scope
from transform_mappers.functions import FunctionSettings, MappingValueError, build_functions, currency_precision, lookup
from transform_mappers.payloads import Payload, PayloadOptions

FUNCTIONS = build_functions(FunctionSettings())
CONFIG = {"currency_id": "1"}
GLOBALS = {**{name: spec.fn for name, spec in FUNCTIONS.items()}, "config": CONFIG}
FIELDS = {"Id": {"type": ["string"]}, "CurrencyIsoCode": {"type": ["string", "null"]},
          "Owner": {"type": ["object", "null"], "properties": {"Email": {"type": ["string", "null"]}}},
          "PaymentTerms__c": {"type": ["string", "null"]}}


def payload(template: dict[str, Any], fields: dict[str, Any] = FIELDS) -> Payload:
    return Payload("salesOrder", template, Scope("Opportunity", fields, FUNCTIONS, CONFIG), GLOBALS,
                   PayloadOptions())


def test_lookup_emits_the_marker_with_the_value_trimmed_and_spaces_collapsed() -> None:
    assert lookup("currency", " eur ", by="symbol") == {"type": "currency", "by": "symbol", "value": "eur"}
    assert lookup("term", "Net   30") == {"type": "term", "by": "name", "value": "Net 30"}


@pytest.mark.parametrize("value", [None, "", "   "])
def test_lookup_of_a_blank_value_is_null_or_the_default_id(value: str | None) -> None:
    assert lookup("currency", value, by="symbol") is None
    assert lookup("currency", value, by="symbol", default="1") == {"id": "1"}


@pytest.mark.parametrize(("record_type", "by"), [("currency; DROP", "symbol"), ("term", "name)"), ("", "name")])
def test_lookup_refuses_names_that_are_not_plain(record_type: str, by: str) -> None:
    with pytest.raises(MappingValueError, match="plain name"):
        lookup(record_type, "x", by=by)


def test_lookups_in_a_template_and_their_schema() -> None:
    mapped = payload({
        "externalId": "Id",
        "currency": 'lookup("currency", CurrencyIsoCode, by="symbol", default=config["currency_id"])',
        "salesRep": 'lookup("employee", Owner["Email"], by="email")',
        "terms": "lookup(\"term\", PaymentTerms__c)",
    })
    record = {"Id": "006A", "CurrencyIsoCode": "EUR", "Owner": {"Email": "Ann@Example.com"},
              "PaymentTerms__c": "Net 30"}
    out = mapped.map(record)
    assert out["currency"] == {"type": "currency", "by": "symbol", "value": "EUR"}
    assert out["salesRep"] == {"type": "employee", "by": "email", "value": "Ann@Example.com"}
    assert out["terms"] == {"type": "term", "by": "name", "value": "Net 30"}
    single = mapped.map({"Id": "006B", "CurrencyIsoCode": None, "Owner": None, "PaymentTerms__c": None})
    assert single["currency"] == {"id": "1"}
    assert single["salesRep"] is None and single["terms"] is None
    currency = mapped.schema["properties"]["currency"]
    assert currency["properties"]["id"] == {"type": "string", "const": "1"}  # the fallback is a fixed id
    assert "const" not in mapped.schema["properties"]["terms"]["properties"]["id"]


def test_single_currency_org_reads_the_field_only_if_the_stream_has_it() -> None:
    fields = {"Id": {"type": ["string"]}}
    mapped = payload({"externalId": "Id", "currency": 'lookup("currency", record.get("CurrencyIsoCode"), '
                                                      'by="symbol", default=config["currency_id"])'}, fields)
    assert mapped.map({"Id": "006C"})["currency"] == {"id": "1"}
    assert mapped.map({"Id": "006D", "CurrencyIsoCode": "GBP"})["currency"]["value"] == "GBP"


@pytest.mark.parametrize(("code", "places"), [("USD", 2), ("eur", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3),
                                              (None, None), ("", None)])
def test_currency_precision(code: str | None, places: int | None) -> None:
    assert currency_precision(code) == places


def test_currency_precision_refuses_what_is_no_iso_code() -> None:
    with pytest.raises(MappingValueError, match="'Euro'"):
        currency_precision("Euro")


def test_an_object_with_its_own_condition_is_left_out_not_emptied() -> None:
    mapped = payload({"externalId": "Id", "currencyList": {
        "__if__": 'record.get("CurrencyIsoCode")',
        "items": [{"currency": 'lookup("currency", record.get("CurrencyIsoCode"), by="symbol")'}]}})
    assert mapped.map({"Id": "001A", "CurrencyIsoCode": None}) == {"externalId": "001A", "isInactive": False}
    assert mapped.map({"Id": "001B", "CurrencyIsoCode": "EUR"})["currencyList"] == {
        "items": [{"currency": {"type": "currency", "by": "symbol", "value": "EUR"}}]}
    assert "currencyList" in mapped.schema["properties"]
