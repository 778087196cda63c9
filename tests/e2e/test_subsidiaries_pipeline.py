"""Issue 25 item 3 through real `meltano run`, with a OneWorld account (Parent Company with children, among them UK
Ltd in GBP and Japan KK in JPY) and a multi-currency Salesforce org whose Accounts carry `Subsidiary__c` and billing
countries as people type them ("UK", "United Kingdom", "日本", "U.S.A.", blanks):

- every customer lands in the subsidiary the `subsidiary_routing` rule names: the custom field first, then the
  billing country, else the default (a blank or unknown country); "Global" Accounts are shared with UK Ltd and Japan
  KK (customerSubsidiaryRelationship records);
- every contact and every sales order is in its customer's subsidiary (the stand-in refuses any other, as NetSuite
  does); a contact without an Account gets subsidiary_id;
- a second run writes nothing.

The expected subsidiary is computed here from the Salesforce data, independently of the mapper's code."""

from __future__ import annotations

import json

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin, run_summaries

pytestmark = pytest.mark.e2e

PARENT, UK, JAPAN = "1", "5", "6"
ROUTING = {
    "rules": [
        {"when": {"Subsidiary__c": "Global"}, "subsidiary": "Parent Company", "also": ["UK Ltd", "Japan KK"]},
        {"when": {"Subsidiary__c": "*"}, "subsidiary": {"field": "Subsidiary__c"}},
        {"when": {"BillingCountry": ["GB", "IE"]}, "subsidiary": "UK Ltd"},
        {"when": {"BillingCountry": "JP"}, "subsidiary": "Japan KK"},
    ],
    "default": "Parent Company",
}
#: The billing countries of the stand-in's Accounts that mean the UK or Japan, as typed there.
UK_COUNTRIES = {"uk", "united kingdom", "great britain"}
JAPAN_COUNTRIES = {"japan", "日本"}
SUBSIDIARY_NAMES = {"uk ltd": UK, "japan kk": JAPAN}


def _fold(value: object) -> str:
    return " ".join(str(value or "").split()).casefold()


def expected_subsidiary(account: dict) -> tuple[str, set[str]]:
    """(primary, additional) subsidiaries of an Account under ROUTING, read plainly off its fields."""
    field, country = _fold(account.get("Subsidiary__c")), _fold(account.get("BillingCountry"))
    if field == "global":
        return PARENT, {UK, JAPAN}
    if field:
        return SUBSIDIARY_NAMES[field], set()
    if country in UK_COUNTRIES:
        return UK, set()
    if country in JAPAN_COUNTRIES:
        return JAPAN, set()
    return PARENT, set()


def _netsuite_writes(netsuite: SandboxAdmin, since: int = 0) -> list[dict]:
    return [r for r in netsuite.get("requests")[since:] if r["method"] in ("PUT", "POST", "PATCH", "DELETE")
            and "/record/v1/" in r["path"]]


def _letters(project: MeltanoProject) -> list[dict]:
    folder = project.tmp / "dead_letters"
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_customers_land_in_their_subsidiary_and_contacts_and_orders_follow(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 31, "accounts": 40, "contacts": 60, "products": 6, "opportunities": 40,
                              "currencies": 4, "subsidiaries": 3})
    netsuite.post("reset", {"knobs": True})
    meltano_project.env["NETSUITE_MAPPER_SUBSIDIARY_ROUTING"] = json.dumps(ROUTING)
    accounts = {a["Id"]: a for a in salesforce.records("Account")}
    expected = {account_id: expected_subsidiary(account) for account_id, account in accounts.items()}
    # the fixture holds every case of the rule
    primaries = {primary for primary, _ in expected.values()}
    assert primaries == {PARENT, UK, JAPAN}
    assert any(extra for _, extra in expected.values()), "a Global Account"
    assert any(_fold(a.get("Subsidiary__c")) in SUBSIDIARY_NAMES for a in accounts.values())
    assert any(not _fold(a.get("BillingCountry")) and not a.get("Subsidiary__c") for a in accounts.values())
    assert any(_fold(a.get("BillingCountry")) == "u.s.a." for a in accounts.values())

    result = meltano_project.run_pipeline()
    assert "Traceback" not in result.stderr
    letters = _letters(meltano_project)
    assert not [letter for letter in letters if letter["code"] in ("USER_ERROR", "SUBSIDIARY_UNKNOWN")
                or "subsidiar" in letter["detail"].lower()], letters

    customers = netsuite.records("customer")
    by_eid = {c["externalId"]: c for c in customers}
    refused = {letter["externalId"] for letter in letters if letter["record_type"] == "customer"}
    assert set(by_eid) == set(accounts) - refused
    assert len(by_eid) >= len(accounts) - 3, letters  # a few Accounts have values no mapping can take
    for account_id, customer in by_eid.items():
        assert str(customer["subsidiary"]["id"]) == expected[account_id][0], (account_id, accounts[account_id])
    subsidiary_of = {str(c["id"]): str(c["subsidiary"]["id"]) for c in customers}

    shared = {(str(r["entity"]["id"]), str(r["subsidiary"]["id"]))
              for r in netsuite.records("customerSubsidiaryRelationship")}
    assert shared == {(str(by_eid[a]["id"]), extra) for a, (_, more) in expected.items() if a in by_eid
                      for extra in more}
    assert shared
    [summary] = run_summaries(result.stderr + result.stdout)[-1:]
    assert summary["subsidiaries"]["relationships_created"] == len(shared)
    # the API cost of following: one SuiteQL read per contact/order wave (a few waves here), none per record
    assert 0 < summary["subsidiaries"]["queries"] <= 6, summary["subsidiaries"]

    contacts = netsuite.records("contact")
    assert len(contacts) >= 40
    for contact in contacts:
        company = contact.get("company")
        want = subsidiary_of[str(company["id"])] if company else PARENT
        assert str(contact["subsidiary"]["id"]) == want, contact
    assert {str(c["subsidiary"]["id"]) for c in contacts} >= {UK, JAPAN}

    orders = netsuite.records("salesOrder")
    assert orders
    for order in orders:
        assert str(order["subsidiary"]["id"]) == subsidiary_of[str(order["entity"]["id"])], order
    assert {str(o["subsidiary"]["id"]) for o in orders} >= {PARENT, UK} or \
        {str(o["subsidiary"]["id"]) for o in orders} >= {PARENT, JAPAN}

    before = len(netsuite.get("requests"))
    again = meltano_project.run_pipeline("--full-refresh")
    assert "Traceback" not in again.stderr
    assert _netsuite_writes(netsuite, before) == []
    [summary] = run_summaries(again.stderr + again.stdout)[-1:]
    assert summary["subsidiaries"]["relationships_created"] == 0
