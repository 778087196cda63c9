"""Issue 23, item 2, through real `meltano run`s: 24 won Opportunities, half of them without products, interleaved
with those with products. A service deal becomes one line of the mapping's `service_item_id`; here a validation
rule of the account refuses each of those 12 orders with the same error (the stand-in's rejection rule).
The first run writes 12 and dead-letters 12; a `--full-refresh` of the same data must not stop on
`max_identical_errors` although the write ledger skips the 12 accepted orders and so leaves the 12 refusals in
a row: they are known refusals, not sent again (`still_refused`), and the run saves its state."""

from __future__ import annotations

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin, run_summaries

pytestmark = pytest.mark.e2e


def _orders_written(netsuite: SandboxAdmin) -> int:
    return sum(1 for r in netsuite.get("requests") if r["method"] == "PUT" and "/record/v1/salesOrder" in r["path"])


def test_full_refresh_with_refused_orders_between_unchanged_ones_saves_state(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 23, "accounts": 3, "contacts": 0, "products": 2, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    account = next(a for a in salesforce.records("Account") if not a.get("IsDeleted"))
    product = next(p for p in salesforce.records("Product2") if not p.get("IsDeleted"))
    without_lines = []
    for i in range(24):
        opportunity = salesforce.post("records/Opportunity", {
            "Name": f"Renewal {i:02}", "StageName": "Closed Won", "CloseDate": "2026-11-02",
            "AccountId": account["Id"]})
        if i % 2:  # a service deal: won, no products
            without_lines.append(opportunity["id"])
            continue
        salesforce.post("records/OpportunityLineItem", {
            "OpportunityId": opportunity["id"], "Product2Id": product["Id"], "Quantity": 2, "UnitPrice": 150})
    netsuite.post("knobs", {"reject_external_ids": without_lines})
    project = meltano_project

    first = project.run_pipeline()
    orders = {r["externalId"] for r in netsuite.records("salesOrder")}
    assert len(orders) == 12 and not orders & set(without_lines)
    assert run_summaries(first.stderr)[-1]["streams"]["salesOrder"]["dead_lettered"] == 12
    state = project.state()
    assert state
    sent = _orders_written(netsuite)

    again = project.run_pipeline("--full-refresh")  # before the fix: "refused 10 salesOrder records in a row"
    summary = run_summaries(again.stderr)[-1]["streams"]["salesOrder"]
    assert (summary["unchanged"], summary["still_refused"]) == (12, 12)
    assert "written" not in summary and "dead_lettered" not in summary
    assert _orders_written(netsuite) == sent  # nothing sent: NetSuite has the 12, and refused the 12 before
    assert project.state()  # saved: the run ended with exit 0 and its STATE
