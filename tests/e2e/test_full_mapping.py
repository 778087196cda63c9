"""Issue 6 end to end: the default `salesforce-to-netsuite` mapping moves Accounts, Contacts, Products and won
Opportunities with their lines through real `meltano run`, and NetSuite's references and lines are right."""

from __future__ import annotations

from decimal import Decimal

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e
CENT = Decimal("0.01")


def _by_external_id(netsuite: SandboxAdmin, record_type: str) -> dict[str, dict]:
    return {r["externalId"]: r for r in netsuite.records(record_type)}


def _ref_id(value: dict | str | None) -> str | None:
    """A NetSuite reference as the sandbox lists it: {"id": "12", ...} (or the bare id)."""
    return value.get("id") if isinstance(value, dict) else value


def _lines(order: dict) -> list[dict]:
    return order["item"]["items"]


def test_default_mapping_end_to_end(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 3, "accounts": 15, "contacts": 25, "products": 8, "opportunities": 20})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.run_pipeline()

    accounts = {a["Id"]: a for a in salesforce.records("Account") if not a.get("IsDeleted")}
    contacts = [c for c in salesforce.records("Contact") if not c.get("IsDeleted")]
    products = [p for p in salesforce.records("Product2") if not p.get("IsDeleted")]
    lines = [li for li in salesforce.records("OpportunityLineItem") if not li.get("IsDeleted")]
    won_all = [o for o in salesforce.records("Opportunity") if o.get("IsWon") and not o.get("IsDeleted")]
    with_lines = {li["OpportunityId"] for li in lines}
    won = [o for o in won_all if o["Id"] in with_lines]
    service_deals = [o for o in won_all if o["Id"] not in with_lines]
    assert won and service_deals, "seed 3 has won opportunities with and without lines"
    discounted = [li for li in lines if li.get("Discount") and li["OpportunityId"] in {o["Id"] for o in won}]
    fractional = [li for li in lines if li["Quantity"] != int(li["Quantity"])]
    assert discounted and fractional, "seed 3 has discounted lines and fractional quantities"

    customers = _by_external_id(netsuite, "customer")
    ns_contacts = _by_external_id(netsuite, "contact")
    items = _by_external_id(netsuite, "nonInventorySaleItem")
    orders = _by_external_id(netsuite, "salesOrder")
    assert set(customers) == set(accounts)
    assert set(ns_contacts) == {c["Id"] for c in contacts}
    assert set(items) == {p["Id"] for p in products}
    # Every won opportunity is an order, a service deal (no products) too: one line of the service item.
    assert set(orders) == {o["Id"] for o in won_all}
    dead = [letter for f in (project.tmp / "dead_letters").glob("*.jsonl") for letter in f.read_text().splitlines()]
    assert not [letter for letter in dead if '"salesOrder"' in letter]

    internal_customer = {eid: r["id"] for eid, r in customers.items()}
    internal_item = {eid: r["id"] for eid, r in items.items()}
    for contact in contacts:
        if contact.get("AccountId"):
            assert _ref_id(ns_contacts[contact["Id"]]["company"]) == internal_customer[contact["AccountId"]]
    for opportunity in won_all:
        order = orders[opportunity["Id"]]
        assert _ref_id(order["entity"]) == internal_customer[opportunity["AccountId"]]
        # The order's total, as NetSuite stored it, is the Opportunity's Amount to the cent.
        amount = opportunity["Amount"] or 0  # a won deal without an Amount is worth 0
        assert Decimal(str(order["total"])) == Decimal(str(amount)).quantize(CENT)
        if opportunity in service_deals:
            [line] = _lines(order)
            assert (_ref_id(line["item"]), line["quantity"], line["amount"]) == ("499", 1, amount)
            continue
        expected = sorted(
            (internal_item[li["Product2Id"]], float(li["Quantity"]), float(li["TotalPrice"]))
            for li in lines
            if li["OpportunityId"] == opportunity["Id"]
        )
        got = sorted((_ref_id(li["item"]), float(li["quantity"]), float(li["amount"])) for li in _lines(order))
        assert got == expected
        assert all(_ref_id(li["price"]) == "-1" for li in _lines(order))  # Custom price level: the rate is kept

    # A changed line item on a won opportunity changes exactly that sales order's lines.
    target = next(o for o in won if sum(li["OpportunityId"] == o["Id"] for li in lines) >= 2)
    line = next(li for li in lines if li["OpportunityId"] == target["Id"])
    salesforce.patch(f"records/OpportunityLineItem/{line['Id']}", {"Quantity": 99})
    untouched = {eid: _lines(o) for eid, o in orders.items() if eid != target["Id"]}
    project.run_pipeline()
    after = _by_external_id(netsuite, "salesOrder")
    assert {eid: _lines(o) for eid, o in after.items() if eid != target["Id"]} == untouched
    quantities = sorted(float(li["quantity"]) for li in _lines(after[target["Id"]]))
    assert 99.0 in quantities
    assert len(_lines(after[target["Id"]])) == len([li for li in lines if li["OpportunityId"] == target["Id"]])

    # A deleted line disappears from the order: orders always carry exactly the opportunity's current lines.
    salesforce.delete(f"records/OpportunityLineItem/{line['Id']}")
    project.run_pipeline()
    final = _by_external_id(netsuite, "salesOrder")[target["Id"]]
    assert len(_lines(final)) == len([li for li in lines if li["OpportunityId"] == target["Id"]]) - 1
