"""The stand-in's order life over real HTTP (issue 28 item 7): item fulfilments and invoices made by transforming a
sales order (Oracle, "Transforming Records": `POST salesOrder/<id>/!transform/<type>`, 204 + Location), payments
applied to invoices (`POST customerPayment` with an `apply` sublist, Oracle's sample; `invoice/<id>/!transform/
customerPayment`), the order's status and line quantities, the invoice's amounts paid and remaining, the customer's
balance and overdue balance, and the SuiteQL `transaction`/`transactionLine` rows an incremental reader queries."""

from __future__ import annotations

import datetime as dt

import requests
from ns_helpers import RECORD, SUITEQL, Admin, internal_id

PREFER = {"Prefer": "transient"}


def _q(s: requests.Session, base: str, q: str) -> list[dict]:
    response = s.post(f"{base}{SUITEQL}", headers=PREFER, json={"q": q})
    assert response.status_code == 200, response.text
    return [{k: v for k, v in row.items() if k != "links"} for row in response.json()["items"]]


def _balance(s: requests.Session, base: str, customer: str) -> dict:
    [row] = _q(s, base, f"SELECT balancesearch, overduebalancesearch FROM customer WHERE id = '{customer}'")
    return row


def _order(ns: requests.Session, base: str, admin: Admin, eid: str) -> tuple[str, str]:
    """A customer on Net 30 and an approved two-line order (3 x 100.00, 1 x 49.99): (customer id, order id)."""
    [customer] = admin.create_records("customer", [{"companyName": f"Life {eid}", "subsidiary": {"id": "1"},
                                                    "terms": {"id": "2"}}])
    created = ns.put(f"{base}{RECORD}/salesOrder/eid:{eid}", json={
        "entity": {"id": customer}, "subsidiary": {"id": "1"},
        "item": {"items": [{"item": {"id": "499"}, "quantity": 3, "rate": 100.0},
                           {"item": {"id": "499"}, "quantity": 1, "rate": 49.99}]}})
    assert created.status_code == 204, created.text
    return customer, internal_id(created)


def test_fulfil_bill_and_pay_move_the_order_the_invoice_and_the_customer(
        ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    customer, order = _order(ns, netsuite_url, admin, "006LIFE1")
    base = f"{netsuite_url}{RECORD}"
    shipped = ns.post(f"{base}/salesOrder/{order}/!transform/itemFulfillment",
                      json={"item": {"items": [{"orderLine": 1, "quantity": 2},
                                               {"orderLine": 2, "itemReceive": False}]}})
    assert shipped.status_code == 204, shipped.text
    assert shipped.text == "" and "/itemfulfillment/" in shipped.headers["Location"]
    after_ship = admin.record("salesOrder", order)
    assert after_ship["status"] == "E"  # Pending Billing/Partially Fulfilled
    assert [line.get("quantityFulfilled", 0) for line in after_ship["item"]["items"]] == [2, 0]

    # An empty body bills what is fulfilled and not billed (Oracle's use case): 2 x 100.00, due on Net 30.
    billed = ns.post(f"{base}/salesOrder/{order}/!transform/invoice")
    assert billed.status_code == 204, billed.text
    invoice = internal_id(billed)
    got = ns.get(f"{base}/invoice/{invoice}?expandSubResources=true").json()
    assert got["total"] == 200.0 and got["amountRemaining"] == 200.0 and got["amountPaid"] == 0.0
    assert got["createdFrom"]["id"] == order and got["entity"]["id"] == customer and got["tranId"] == f"INV{invoice}"
    assert [(line["orderLine"], line["quantity"]) for line in got["item"]["items"]] == [(1, 2.0)]
    assert dt.date.fromisoformat(got["dueDate"]) - dt.date.fromisoformat(got["tranDate"]) == dt.timedelta(days=30)
    assert admin.record("salesOrder", order)["status"] == "D"  # Partially Fulfilled
    nothing_left = ns.post(f"{base}/salesOrder/{order}/!transform/invoice")
    assert nothing_left.status_code == 400
    assert nothing_left.json()["o:errorDetails"][0]["o:errorCode"] == "USER_ERROR"

    # A payment of 150 applied to the invoice (Oracle's customer payment sample shape).
    paid = ns.post(f"{base}/customerPayment", json={
        "customer": {"id": customer}, "payment": 150.0,
        "apply": {"items": [{"doc": {"id": invoice}, "apply": True, "amount": 150.0}]}})
    assert paid.status_code == 204, paid.text
    assert "/customerpayment/" in paid.headers["Location"]
    too_much = ns.post(f"{base}/invoice/{invoice}/!transform/customerPayment", json={"payment": 60.0})
    assert too_much.status_code == 400  # more than the 50 that remain

    [row] = _q(ns, netsuite_url, f"SELECT id, type, status, foreigntotal, foreignamountpaid, foreignamountunpaid, "
                                 f"TO_CHAR(duedate, 'YYYY-MM-DD') AS due, TO_CHAR(lastmodifieddate, "
                                 f"'YYYY-MM-DD HH24:MI:SS') AS ts FROM transaction WHERE id = '{invoice}'")
    assert row["type"] == "CustInvc" and row["status"] == "A"
    assert (row["foreigntotal"], row["foreignamountpaid"], row["foreignamountunpaid"]) == ("200", "150", "50")
    assert row["due"] == got["dueDate"] and row["ts"]
    # due in 30 days: nothing overdue
    assert _balance(ns, netsuite_url, customer) == {"balancesearch": "50", "overduebalancesearch": "0"}

    # The rest: ship and bill line 2 (an invoice due in the past), pay the first invoice in full.
    admin.order_transition(order, "fulfil")
    overdue = admin.order_transition(order, "bill", tranDate="2026-01-05", dueDate="2026-02-04")
    assert overdue["status"] == "G"  # Billed
    done = admin.pay_invoice(invoice)
    assert done["status"] == "B" and done["amountRemaining"] == 0.0 and done["payment"]
    assert _balance(ns, netsuite_url, customer) == {"balancesearch": "149.99", "overduebalancesearch": "149.99"}
    # A payment not applied to any invoice lowers the balance, not the overdue balance.
    assert ns.post(f"{base}/customerPayment", json={"customer": {"id": customer}, "payment": 20}).status_code == 204
    assert _balance(ns, netsuite_url, customer) == {"balancesearch": "129.99", "overduebalancesearch": "149.99"}
    customer_record = ns.get(f"{base}/customer/{customer}").json()
    assert customer_record["balance"] == 129.99 and customer_record["overdueBalance"] == 149.99

    # What an incremental reader queries: each type on `transaction`, the links on `transactionLine`'s main lines.
    types = _q(ns, netsuite_url, "SELECT id, type, recordtype FROM transaction WHERE type IN ('CustInvc', 'CustPymt', "
                                 "'ItemShip') ORDER BY id")
    assert sorted(r["type"] for r in types) == ["CustInvc", "CustInvc", "CustPymt", "CustPymt", "CustPymt",
                                                "ItemShip", "ItemShip"]
    links = _q(ns, netsuite_url, f"SELECT transaction, createdfrom FROM transactionline WHERE mainline = 'T' "
                                 f"AND createdfrom IN ('{order}')")
    made_from_order = {r["transaction"] for r in links}
    assert invoice in made_from_order and len(made_from_order) == 4  # 2 fulfilments, 2 invoices
    # What was made from the order pins it (and its customer, and a paid invoice), as in NetSuite.
    for pinned in (f"salesOrder/{order}", f"customer/{customer}", f"invoice/{invoice}"):
        refused = ns.delete(f"{base}/{pinned}")
        assert refused.status_code == 400 and "dependent records" in refused.text, pinned
    lines = _q(ns, netsuite_url, f"SELECT id, quantity, quantitybilled, quantityshiprecv FROM transactionline "
                                 f"WHERE transaction = '{order}' AND mainline = 'F'")
    assert [(r["quantity"], r["quantitybilled"], r["quantityshiprecv"]) for r in lines] == [("3", "3", "3"),
                                                                                           ("1", "1", "1")]


def test_refusals(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    customer, order = _order(ns, netsuite_url, admin, "006LIFE2")
    base = f"{netsuite_url}{RECORD}"
    too_many = ns.post(f"{base}/salesOrder/{order}/!transform/itemFulfillment",
                       json={"item": {"items": [{"orderLine": 1, "quantity": 4}]}})
    assert too_many.status_code == 400 and "more than 3" in too_many.json()["o:errorDetails"][0]["detail"]
    unknown = ns.post(f"{base}/salesOrder/{order}/!transform/estimate")
    assert unknown.status_code == 400
    assert ns.post(f"{base}/salesOrder/99999/!transform/invoice").status_code == 404
    assert ns.post(f"{base}/invoice", json={"entity": {"id": customer}}).status_code == 400  # only by transform
    admin.order_transition(order, "close")
    closed = ns.post(f"{base}/salesOrder/{order}/!transform/invoice")
    assert closed.status_code == 400 and "closed" in closed.json()["o:errorDetails"][0]["detail"]
    assert admin.records("invoice") == [] and admin.records("itemFulfillment") == []
