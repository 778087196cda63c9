"""Issue 11: the normalisation record matching compares with, and its settings checks."""

from __future__ import annotations

import pytest
from target_netsuite.client import FatalError
from target_netsuite.matching import (
    Matcher,
    normalise_company,
    normalise_email,
    normalise_phone,
    normalise_text,
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
        Matcher(client=None, resolver=None, summary=None, executor=None, mode=mode, rules=rules)  # type: ignore[arg-type]
