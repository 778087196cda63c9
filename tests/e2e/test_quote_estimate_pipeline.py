"""Issue 25 item 6 through real `meltano run`, in a multi-currency org whose opportunities hold several quotes (one
synced at most, drafts, denied and expired versions, quotes without lines, tax and shipping on some): every synced
quote with lines becomes exactly one NetSuite estimate whose total is the quote's TotalPrice to its currency's places
(not GrandTotal: Tax and ShippingHandling are NetSuite's to compute); no other quote becomes one; a won opportunity's
order refers to its estimate (`createdFrom`), and an order whose estimate NetSuite refused is written all the same,
without the link (before optional references it waited, unwritten); a rerun writes nothing; a synced quote whose
lines change updates its estimate (and, synced, its order); syncing another quote creates its estimate and moves the
order's `createdFrom` to it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin, run_summaries

pytestmark = pytest.mark.e2e
PLACES = {"JPY": 0}


def _cents(value: object, code: str | None) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal(1).scaleb(-PLACES.get(code or "", 2)))


def _quotes(salesforce: SandboxAdmin) -> dict[str, dict]:
    lines: dict[str, list[dict]] = {}
    for line in salesforce.records("QuoteLineItem"):
        if not line.get("IsDeleted"):
            lines.setdefault(line["QuoteId"], []).append(line)
    return {q["Id"]: {**q, "lines": lines.get(q["Id"], [])} for q in salesforce.records("Quote")
            if not q.get("IsDeleted")}


def _written(result: object) -> dict[str, int]:
    """Records written per stream, from the run's last summary."""
    [summary] = run_summaries(result.stderr + result.stdout)[-1:]  # type: ignore[attr-defined]
    return {stream: counts.get("written", 0) for stream, counts in summary.get("streams", {}).items()}


def _check_estimates(salesforce: SandboxAdmin, netsuite: SandboxAdmin, no_longer_synced: frozenset[str] = frozenset(),
                     refused: frozenset[str] = frozenset()) -> tuple[dict, dict]:
    """Every synced quote with lines is one estimate equal to it; the only other estimates are those of quotes that
    stopped syncing (an estimate is never deleted by the pipeline)."""
    quotes = _quotes(salesforce)
    synced = {qid: q for qid, q in quotes.items() if q["IsSyncing"] and q["lines"]}
    estimates = {e["externalId"]: e for e in netsuite.records("estimate")}
    assert set(estimates) == (set(synced) | no_longer_synced) - refused
    currency_ids = {c["symbol"]: str(c["id"]) for c in netsuite.records("currency")}
    for quote_id, quote in synced.items():
        if quote_id in refused:
            continue
        estimate, code = estimates[quote_id], quote.get("CurrencyIsoCode")
        assert _cents(estimate["total"], code) == _cents(quote["TotalPrice"], code), quote_id
        assert len(estimate["item"]["items"]) == len(quote["lines"]), quote_id
        assert str(estimate["currency"]["id"]) == currency_ids[code], quote_id
    return synced, estimates


def test_synced_quotes_become_estimates_and_orders_refer_to_them(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 61, "accounts": 8, "contacts": 0, "products": 6, "opportunities": 30,
                              "currencies": 3})
    netsuite.post("reset", {"knobs": True})
    quotes = _quotes(salesforce)
    # The seed holds what a real org holds: several quotes per opportunity, one syncing at most, quotes without
    # lines, tax or shipping on some (GrandTotal differs from TotalPrice), discounts, three currencies.
    by_opportunity: dict[str, list[dict]] = {}
    for quote in quotes.values():
        by_opportunity.setdefault(quote["OpportunityId"], []).append(quote)
    assert any(len(group) > 1 and any(q["IsSyncing"] for q in group) for group in by_opportunity.values())
    assert all(sum(q["IsSyncing"] for q in group) <= 1 for group in by_opportunity.values())
    assert any(not q["lines"] for q in quotes.values())
    assert any(q["IsSyncing"] and q["lines"] and q["GrandTotal"] != q["TotalPrice"] for q in quotes.values())
    assert any(line.get("Discount") for q in quotes.values() if q["IsSyncing"] for line in q["lines"])
    assert len({q.get("CurrencyIsoCode") for q in quotes.values() if q["IsSyncing"]}) >= 2

    # NetSuite refuses one won deal's estimate (an account's validation rule): its order must not wait for it.
    opportunities = {o["Id"]: o for o in salesforce.records("Opportunity") if not o.get("IsDeleted")}
    refused_deal = next(o for o in sorted(opportunities.values(), key=lambda o: o["Id"], reverse=True)
                        if o.get("IsWon") and quotes.get(o.get("SyncedQuoteId") or "", {}).get("lines"))
    refused = frozenset({refused_deal["SyncedQuoteId"]})
    netsuite.post("knobs", {"reject_external_ids": sorted(refused)})

    result = meltano_project.run_pipeline()
    assert "Traceback" not in result.stderr
    synced, estimates = _check_estimates(salesforce, netsuite, refused=refused)
    assert len(synced) >= 4

    orders = {o["externalId"]: o for o in netsuite.records("salesOrder")}
    assert refused_deal["Id"] in orders and "createdFrom" not in orders[refused_deal["Id"]]
    linked = [o for o in opportunities.values() if o["Id"] in orders and o.get("SyncedQuoteId") in estimates]
    assert len(linked) >= 2
    for opportunity in linked:
        order = orders[opportunity["Id"]]
        assert str(order["createdFrom"]["id"]) == str(estimates[opportunity["SyncedQuoteId"]]["id"]), opportunity
        assert _cents(order["total"], opportunity.get("CurrencyIsoCode")) == _cents(
            estimates[opportunity["SyncedQuoteId"]]["total"], opportunity.get("CurrencyIsoCode"))
    assert all("createdFrom" not in order for eid, order in orders.items()
               if not opportunities[eid].get("SyncedQuoteId"))

    rerun = meltano_project.run_pipeline()
    written = _written(rerun)
    assert written.get("estimate", 0) == 0 and written.get("salesOrder", 0) == 0, written

    # A synced quote whose lines change (another quantity and discount, one more line) updates its estimate.
    changed_id = next(qid for qid in sorted(synced) if qid in {o["SyncedQuoteId"] for o in linked})
    first = synced[changed_id]["lines"][0]
    salesforce.patch(f"records/QuoteLineItem/{first['Id']}", {"Quantity": 3.5, "Discount": 12.34})
    salesforce.post("records/QuoteLineItem", {"QuoteId": changed_id, "PricebookEntryId": first["PricebookEntryId"],
                                              "Quantity": 2, "UnitPrice": 19.99, "Discount": 7.25})
    # Another opportunity syncs another of its quotes instead: that quote becomes an estimate, the order moves to it.
    resynced = next((o, q) for o in linked for q in by_opportunity[o["Id"]]
                    if not q["IsSyncing"] and q["lines"] and o["SyncedQuoteId"] != changed_id)
    opportunity, new_quote = resynced
    salesforce.patch(f"records/Opportunity/{opportunity['Id']}", {"SyncedQuoteId": new_quote["Id"]})

    meltano_project.run_pipeline()
    after = _quotes(salesforce)
    assert after[changed_id]["TotalPrice"] != synced[changed_id]["TotalPrice"]
    synced_after, estimates_after = _check_estimates(salesforce, netsuite,
                                                     frozenset({opportunity["SyncedQuoteId"]}), refused)
    assert set(synced_after) == (set(synced) - {opportunity["SyncedQuoteId"]}) | {new_quote["Id"]}
    order = netsuite.get(f"records/salesOrder/eid:{opportunity['Id']}")
    assert str(order["createdFrom"]["id"]) == str(estimates_after[new_quote["Id"]]["id"])
    # While a quote syncs, its lines are its opportunity's: both orders follow their quote to the cent.
    for quote_id in (changed_id, new_quote["Id"]):
        quote = after[quote_id]
        order = netsuite.get(f"records/salesOrder/eid:{quote['OpportunityId']}")
        code = quote.get("CurrencyIsoCode")
        assert _cents(order["total"], code) == _cents(estimates_after[quote_id]["total"], code) == _cents(
            quote["TotalPrice"], code), quote_id
    letters = [json.loads(line) for f in sorted((meltano_project.tmp / "dead_letters").glob("*.jsonl"))
               for line in f.read_text().splitlines()]
    assert {(letter.get("record_type"), letter["externalId"]) for letter in letters
            if letter.get("record_type") in ("estimate", "salesOrder")} == {("estimate", *refused)}, letters
