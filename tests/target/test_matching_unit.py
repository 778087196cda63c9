"""Issues 11 and 24: the normalisation record matching compares with, placeholders, what is ours, and the
settings checks."""

from __future__ import annotations

import pytest
from target_netsuite.client import FatalError
from target_netsuite.match_keys import Placeholders, domain
from target_netsuite.matching import (
    Matcher,
    normalise_company,
    normalise_email,
    normalise_phone,
    normalise_text,
    owned_external_id,
)


@pytest.mark.parametrize(("a", "b"), [
    ("Acme, Inc.", "ACME INC"),
    ("  Acme   Widgets  ", "acme widgets"),
    ("Müller GmbH", "MULLER"),
    ("Smith & Sons Ltd.", "smith and sons"),
    ("Acme Co. Inc", "acme"),
    ("\u041a\u043e\u043c\u043f\u0430\u043d\u0438\u044f \u0420\u043e\u0433\u0430",
     "\u043a\u043e\u043c\u043f\u0430\u043d\u0438\u044f \u0440\u043e\u0433\u0430"),  # Cyrillic
])
def test_same_company(a: str, b: str) -> None:
    assert normalise_company(a) == normalise_company(b)


@pytest.mark.parametrize(("a", "b"), [
    ("Acme Widgets", "Acme Gadgets"),
    ("Acme Holdings", "Acme"),       # only legal forms are dropped, not other words
    ("Company Inc", "Inc"),          # never down to nothing
    ("Acme #12", "Acme #13"),
])
def test_different_company(a: str, b: str) -> None:
    assert normalise_company(a) != normalise_company(b)


def test_email_phone_text() -> None:
    assert normalise_email(" Billing@Acme.Example ") == "billing@acme.example"
    assert normalise_phone("+1 415-555-0100") == normalise_phone("(415) 555 0100") == "4155550100"
    assert normalise_phone("555-0100") == "5550100"
    assert normalise_text(" PRD-00012 ") == normalise_text("prd-00012")


@pytest.mark.parametrize(("mode", "rules"), [("merge", None), ("adopt", {"customer": [[]]}),
                                              ("adopt", {"customer": ["companyName"]})])
def test_bad_settings_are_one_line_fatal_errors(mode: str, rules: dict | None) -> None:
    with pytest.raises(FatalError, match=r"match_mode|match_rules\.customer"):
        Matcher(client=None, resolver=None, outcomes=None, executor=None, mode=mode, rules=rules)  # type: ignore[arg-type]


# --- issue 24 -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), [
    ("Société Générale S.A.", "Societe Generale SA"),
    ("McDonald's", "McDonalds"),
    ("O'Reilly Media", "OReilly Media, Inc."),
    ("J.B. Hunt", "JB Hunt"),
    ("Philips B.V.", "Philips BV"),
    ("Ferrero S.p.A.", "Ferrero SpA"),
    ("Maersk A/S", "Maersk"),
    ("The Home Depot", "Home Depot"),
    ("Acme Intl", "Acme International"),
    ("Globex Mfg", "Globex Manufacturing"),
    ("Initech Svcs", "Initech Services"),
    ("Böhler", "Boehler"), ("Böhler", "Bohler"),
    ("BHP Pty Ltd", "BHP"), ("Nokia Oyj", "Nokia"), ("Toyota K.K.", "Toyota"), ("Tesco PLC", "Tesco"),
    ("Grün & Söhne KG", "Gruen und Soehne"),
])
def test_readme_name_forms(a: str, b: str) -> None:
    assert normalise_company(a) == normalise_company(b)


def test_phone_extensions_and_placeholders() -> None:
    assert normalise_phone("(415) 555-2041 x204") == normalise_phone("+1 415 555 2041 ext. 204") == "4155552041"
    placeholders = Placeholders(["+1 800 111 2222"])
    for value in ("000-000-0000", "999-999-9999", "(212) 555-0142", "123-456-7890", "1-800-111-2222", "n/a"):
        assert placeholders.is_placeholder("phone", normalise_phone(value), value), value
    assert not placeholders.is_placeholder("phone", normalise_phone("415 555 2041"), "415 555 2041")
    assert placeholders.email("ap@acme.example") and placeholders.email("noreply@acme.example")
    assert not placeholders.email("jane@acme.example")
    assert domain("https://www.acme.example/contact") == domain("jo@ACME.example") == "acme.example"
    assert domain("someone@gmail.com") == ""


def test_salesforce_ids_of_the_mapped_object_are_ours() -> None:
    assert owned_external_id("customer", "0015g00000AbCdE")
    assert owned_external_id("customer", "0015g00000AbCdEAAA")
    assert not owned_external_id("customer", "a0B5g00000AbCdE")  # another object: another integration's
    assert not owned_external_id("customer", "0035g00000AbCdE")  # a Contact Id on a customer
    assert not owned_external_id("customer", "LEGACY-0042")
    assert owned_external_id("contact", "0035g00000AbCdE") and owned_external_id("salesOrder", "0065g00000AbCdE")


def test_bad_corroboration_setting_is_a_one_line_fatal_error() -> None:
    with pytest.raises(FatalError, match=r"match_corroboration\.customer\.companyName: unknown field 'shoe'"):
        Matcher(client=None, resolver=None, outcomes=None, executor=None, mode="adopt", rules=None,  # type: ignore[arg-type]
                corroboration={"customer": {"companyName": ["shoe"]}})
    with pytest.raises(FatalError, match="match_approvals_path"):
        Matcher(client=None, resolver=None, outcomes=None, executor=None, mode="approved", rules=None)  # type: ignore[arg-type]
