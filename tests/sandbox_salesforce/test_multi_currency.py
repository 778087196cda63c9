"""A multi-currency org (the `currencies` seed volume): Account, Opportunity and OpportunityLineItem carry
`CurrencyIsoCode` (describe, SOQL), an opportunity and its lines are in its account's currency, and money is rounded
to the currency's places (JPY: none); a single-currency org has no such field at all (INVALID_FIELD), as in
Salesforce before multi-currency is enabled."""

from __future__ import annotations

from sandbox.salesforce.schema import ORG_CURRENCIES
from sf_helpers import SF


def test_multi_currency_org_carries_currency_iso_codes(sf: SF) -> None:
    sf.reset(accounts=30, opportunities=40, products=8, currencies=4)
    for name in ("Account", "Opportunity", "OpportunityLineItem"):
        described = sf.get(f"/services/data/v60.0/sobjects/{name}/describe").json()
        [field] = [f for f in described["fields"] if f["name"] == "CurrencyIsoCode"]
        assert field["type"] == "picklist"
    accounts = {a["Id"]: a["CurrencyIsoCode"] for a in sf.all_records("SELECT Id, CurrencyIsoCode FROM Account")}
    assert set(accounts.values()) <= set(ORG_CURRENCIES[:4]) and len(set(accounts.values())) >= 3
    opportunities = {o["Id"]: o for o in sf.all_records(
        "SELECT Id, AccountId, CurrencyIsoCode, Amount FROM Opportunity")}
    assert all(o["CurrencyIsoCode"] == accounts[o["AccountId"]] for o in opportunities.values())
    lines = sf.all_records("SELECT OpportunityId, CurrencyIsoCode, UnitPrice, TotalPrice FROM OpportunityLineItem")
    assert all(line["CurrencyIsoCode"] == opportunities[line["OpportunityId"]]["CurrencyIsoCode"] for line in lines)
    yen = [line for line in lines if line["CurrencyIsoCode"] == "JPY"]
    assert yen and all(float(line["TotalPrice"]).is_integer() for line in yen)
    # a line added later takes its opportunity's currency, and its money that currency's places
    [yen_opportunity] = [o for o in opportunities.values() if o["CurrencyIsoCode"] == "JPY"][:1]
    entry = sf.query_ok("SELECT Id FROM PricebookEntry LIMIT 1")["records"][0]
    added = sf.admin("POST", "records/OpportunityLineItem", {
        "OpportunityId": yen_opportunity["Id"], "PricebookEntryId": entry["Id"], "Quantity": 3, "UnitPrice": 333,
        "Discount": 12.5}, expect=201)
    line = sf.query_ok(f"SELECT CurrencyIsoCode, TotalPrice FROM OpportunityLineItem WHERE Id = '{added['id']}'")
    assert line["records"][0]["CurrencyIsoCode"] == "JPY" and line["records"][0]["TotalPrice"] == 874  # 874.125


def test_single_currency_org_has_no_currency_field(sf: SF) -> None:
    sf.reset()
    described = sf.get("/services/data/v60.0/sobjects/Opportunity/describe").json()
    assert "CurrencyIsoCode" not in {f["name"] for f in described["fields"]}
    refused = sf.query("SELECT Id, CurrencyIsoCode FROM Opportunity")
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "INVALID_FIELD"
