"""Issue 25 through real `meltano run`: a wrong fixed id of the mapping (here `currency_id`) stops the run at the
first sales order with one line naming it and writes no order; with the right id every won opportunity (discounts,
fractional quantities, cents, service deals without products) is an order whose NetSuite total is its Amount to
the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e


def test_bad_fixed_id_stops_then_totals_match_to_the_cent(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 11, "accounts": 6, "contacts": 0, "products": 6, "opportunities": 24})
    netsuite.post("reset", {"knobs": True})

    failed = meltano_project.run_pipeline(env={"NETSUITE_MAPPER_CURRENCY_ID": "77"}, check=False)
    assert failed.returncode != 0
    # The first stream that names the id stops the run (estimates come before orders when the org has quotes).
    named = [line for line in failed.stderr.splitlines()
             if "currency: currency '77' does not exist in NetSuite" in line]
    assert len(named) == 1, failed.stderr[-4000:]
    assert "estimate.currency" in named[0] or "salesOrder.currency" in named[0], named[0]
    assert "Traceback" not in failed.stderr
    assert netsuite.records("salesOrder") == []

    meltano_project.run_pipeline()
    won = [o for o in salesforce.records("Opportunity") if o.get("IsWon") and not o.get("IsDeleted")]
    lines = [li for li in salesforce.records("OpportunityLineItem") if not li.get("IsDeleted")]
    assert any(li.get("Discount") for li in lines) and any(li["Quantity"] % 1 for li in lines)
    orders = {o["externalId"]: o for o in netsuite.records("salesOrder")}
    assert set(orders) == {o["Id"] for o in won}
    for opportunity in won:
        expected = Decimal(str(opportunity["Amount"] or 0)).quantize(Decimal("0.01"))
        assert Decimal(str(orders[opportunity["Id"]]["total"])) == expected, opportunity["Id"]
