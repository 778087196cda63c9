"""Quotes in the Salesforce stand-in, as a real org holds them: several per opportunity with at most one syncing
(`IsSyncing` follows the opportunity's `SyncedQuoteId`), roll-ups from the lines (Subtotal, TotalPrice after line
discounts, the weighted Discount, GrandTotal = TotalPrice + Tax + ShippingHandling), quotes in the opportunity's
currency, quotes without lines; a syncing quote's lines are its opportunity's (a line change, or a sync started,
copies them over and the opportunity's Amount becomes the quote's TotalPrice)."""

from __future__ import annotations

from decimal import Decimal

from sf_helpers import SF


def _quote(sf: SF, quote_id: str) -> dict:
    return sf.query_ok("SELECT Id, OpportunityId, IsSyncing, Subtotal, TotalPrice, GrandTotal, Discount, Tax, "
                       f"ShippingHandling, LineItemCount FROM Quote WHERE Id = '{quote_id}'"
                       )["records"][0]


def _opportunity_lines(sf: SF, opportunity_id: str) -> list[dict]:
    return sf.all_records("SELECT Product2Id, Quantity, UnitPrice, Discount, TotalPrice FROM OpportunityLineItem "
                          f"WHERE OpportunityId = '{opportunity_id}' ORDER BY SortOrder")


def test_seeded_quotes_look_like_a_real_orgs(sf: SF) -> None:
    sf.reset(accounts=10, opportunities=30, products=6, currencies=3)
    quotes = sf.all_records("SELECT Id, OpportunityId, IsSyncing, Status, TotalPrice, GrandTotal, LineItemCount, "
                            "CurrencyIsoCode, Opportunity.CurrencyIsoCode, Opportunity.Amount, "
                            "Opportunity.SyncedQuoteId FROM Quote")
    by_opportunity: dict[str, list[dict]] = {}
    for quote in quotes:
        by_opportunity.setdefault(quote["OpportunityId"], []).append(quote)
        assert quote["CurrencyIsoCode"] == quote["Opportunity"]["CurrencyIsoCode"]
        assert quote["IsSyncing"] == (quote["Opportunity"]["SyncedQuoteId"] == quote["Id"])
        if quote["IsSyncing"]:
            assert quote["TotalPrice"] == quote["Opportunity"]["Amount"]  # the synced quote's lines are the deal's
    assert all(sum(q["IsSyncing"] for q in group) <= 1 for group in by_opportunity.values())
    assert any(len(group) > 1 for group in by_opportunity.values())
    assert any(q["LineItemCount"] == 0 for q in quotes)
    assert any(q["GrandTotal"] != q["TotalPrice"] for q in quotes)
    assert {"Draft", "Accepted"} <= {q["Status"] for q in quotes}
    assert len({q["CurrencyIsoCode"] for q in quotes}) >= 2


def test_lines_roll_up_and_a_syncing_quote_carries_its_opportunity(sf: SF) -> None:
    sf.reset(accounts=10, opportunities=30, products=6)
    [synced] = sf.query_ok("SELECT Id, OpportunityId FROM Quote WHERE IsSyncing = true LIMIT 1")["records"]
    entry = sf.query_ok("SELECT Id FROM PricebookEntry LIMIT 1")["records"][0]
    sf.admin("PATCH", f"records/Quote/{synced['Id']}", {"Tax": 10.5, "ShippingHandling": 4})
    sf.admin("POST", "records/QuoteLineItem", {"QuoteId": synced["Id"], "PricebookEntryId": entry["Id"],
                                               "Quantity": 2.5, "UnitPrice": 19.99, "Discount": 12.25}, expect=201)
    quote = _quote(sf, synced["Id"])
    lines = sf.all_records(f"SELECT Subtotal, TotalPrice FROM QuoteLineItem WHERE QuoteId = '{synced['Id']}'")
    subtotal = sum(Decimal(str(line["Subtotal"])) for line in lines)
    total = sum(Decimal(str(line["TotalPrice"])) for line in lines)
    assert Decimal(str(quote["Subtotal"])) == subtotal and Decimal(str(quote["TotalPrice"])) == total
    assert Decimal(str(quote["GrandTotal"])) == total + Decimal("14.5")
    assert quote["Discount"] == float(((1 - total / subtotal) * 100).quantize(Decimal("0.01")))
    assert quote["LineItemCount"] == len(lines)
    # the added line is on the opportunity too, and its Amount is the quote's TotalPrice
    opportunity = sf.query_ok(f"SELECT Amount FROM Opportunity WHERE Id = '{synced['OpportunityId']}'")["records"][0]
    assert opportunity["Amount"] == quote["TotalPrice"]
    assert len(_opportunity_lines(sf, synced["OpportunityId"])) == len(lines)

    # syncing another quote of the same opportunity moves IsSyncing and copies that quote's lines over
    other = sf.admin("POST", "records/Quote", {"OpportunityId": synced["OpportunityId"], "Name": "Second offer"},
                     expect=201)["id"]
    sf.admin("POST", "records/QuoteLineItem", {"QuoteId": other, "PricebookEntryId": entry["Id"], "Quantity": 1,
                                               "UnitPrice": 100, "Discount": 5}, expect=201)
    sf.admin("PATCH", f"records/Opportunity/{synced['OpportunityId']}", {"SyncedQuoteId": other})
    assert not _quote(sf, synced["Id"])["IsSyncing"] and _quote(sf, other)["IsSyncing"]
    [line] = _opportunity_lines(sf, synced["OpportunityId"])
    assert (line["Quantity"], line["UnitPrice"], line["Discount"], line["TotalPrice"]) == (1, 100, 5, 95)
