"""Unit tests of the domain functions expressions call (countries, states, phones, dates, picklists, ...)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from transform_mappers.functions import (
    FunctionSettings,
    MappingValueError,
    build_functions,
    coalesce,
    iso_country,
    line,
    negate,
    ns_date,
    number,
    ref,
    state_code,
    truncate,
)


@pytest.mark.parametrize(("value", "code"), [
    ("United States", "US"), ("USA", "US"), ("U.S.", "US"), ("u.s.a.", "US"), ("United States of America", "US"),
    ("us", "US"), ("Deutschland", "DE"), ("Germany", "DE"), ("DEU", "DE"), ("UK", "GB"), ("U.K.", "GB"),
    ("Great Britain", "GB"), ("England", "GB"), ("  united kingdom ", "GB"), ("the Netherlands", "NL"),
    ("Holland", "NL"), ("Côte d'Ivoire", "CI"), ("Russia", "RU"), ("South Korea", "KR"), ("Türkiye", "TR"),
    ("Österreich", "AT"), ("México", "MX"), ("日本", "JP"), ("España", "ES"),
    ("Россия", "RU"), ("fr", "FR"), ("Viet Nam", "VN"), ("Vietnam", "VN"),
])
def test_iso_country_resolves_names_aliases_and_codes(value: str, code: str) -> None:
    assert iso_country(value) == code


@pytest.mark.parametrize("value", [None, "", "   "])
def test_iso_country_keeps_missing_values_missing(value: str | None) -> None:
    assert iso_country(value) is None


def test_iso_country_refuses_unknown_names_with_the_value() -> None:
    with pytest.raises(MappingValueError, match="'Narnia'"):
        iso_country("Narnia")


@pytest.mark.parametrize(("country", "state", "code"), [
    ("US", "California", "CA"), ("United States", "new york", "NY"), ("USA", "TX", "TX"), ("US", "US-WA", "WA"),
    ("US", "District of Columbia", "DC"), ("Canada", "Québec", "QC"), ("CA", "Quebec", "QC"),
    ("CA", "Ontario", "ON"), ("CA", "british columbia", "BC"),
    ("Germany", "Bayern", "Bayern"), (None, "Some Region", "Some Region"), ("Narnia", "North", "North"),
])
def test_state_code(country: str | None, state: str, code: str) -> None:
    assert state_code(country, state) == code


def test_state_code_refuses_unknown_us_state() -> None:
    with pytest.raises(MappingValueError, match="'Atlantis'"):
        state_code("US", "Atlantis")


def test_phone_formats_by_country_and_default_region() -> None:
    phone = build_functions(FunctionSettings(default_phone_region="US"))["phone"].fn
    assert phone("(415) 555-0123") == "+1 415-555-0123"
    assert phone("030 1234567", "Deutschland") == "+49 30 1234567"
    assert phone("+44 7700 900123") == "+44 7700 900123"
    assert phone("(512) 555-0100 ext. 45") == "+1 512-555-0100 ext. 45"
    assert phone("030 1234567") == "030 1234567"  # possible but not valid as a US number: passed on as typed
    assert phone("(415) 555-0084", "España") == "+1 415-555-0084"  # not Spanish: the default region reads it
    assert phone("555.4478", "Spain") == "555.4478"
    assert phone(None) is None
    assert phone("  ") is None
    with pytest.raises(MappingValueError, match="'call reception'"):
        phone("call reception")


def test_phone_e164_setting() -> None:
    phone = build_functions(FunctionSettings(phone_format="e164"))["phone"].fn
    assert phone("(415) 555-0123") == "+14155550123"


def test_picklist_maps_values_with_default_and_refuses_unknown() -> None:
    settings = FunctionSettings(picklists={"stage": {"Closed Won": "won"}, "open": {"A": "a", "__default__": None}})
    picklist = build_functions(settings)["picklist"].fn
    assert picklist("Closed Won", "stage") == "won"
    assert picklist("Z", "open") is None
    assert picklist(None, "stage") is None
    with pytest.raises(MappingValueError, match="'Lost' is not in picklist 'stage'"):
        picklist("Lost", "stage")


@pytest.mark.parametrize(("value", "date"), [
    ("2024-05-20", "2024-05-20"),
    ("2024-05-20T20:49:32.000+0000", "2024-05-20"),
    ("2024-05-20T23:30:00.000000+00:00", "2024-05-20"),
    ("2024-05-20T23:30:00-05:00", "2024-05-21"),
    ("2024-05-20T23:30:00Z", "2024-05-20"),
    (None, None),
])
def test_ns_date(value: str | None, date: str | None) -> None:
    assert ns_date(value) == date


def test_ns_date_converts_to_a_timezone_and_refuses_garbage() -> None:
    assert ns_date("2024-05-20T23:30:00Z", "Europe/Berlin") == "2024-05-21"
    with pytest.raises(MappingValueError, match="'yesterday'"):
        ns_date("yesterday")


def test_small_helpers() -> None:
    assert truncate("Ünïcødé", 3) == "Ünï"
    assert truncate(None, 3) is None
    assert ref("customer", "001A") == {"externalId": "001A", "type": "customer"}
    assert ref("customer", None) is None
    assert negate(True) is False
    assert negate(None) is None
    assert coalesce(None, " ", "", "x", "y") == "x"
    assert line("a\n\n b \nc\nd", 2) == "b"
    assert line("a\nb\nc\nd", 3, rest=True) == "c, d"
    assert line("a", 2) is None
    assert number("12.50") == Decimal("12.50")
    with pytest.raises(MappingValueError):
        number("twelve")
