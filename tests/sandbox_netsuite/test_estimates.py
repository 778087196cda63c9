"""Estimates in the NetSuite stand-in (Oracle: REST record `estimate`): lines priced like a sales order's (the given
amount, else quantity x rate half up; total = the sum), a customer and at least one line required, the currency one of
the customer's; SuiteQL finds them in `transaction` with type `Estimate`; a sales order's `createdFrom` must name an
existing estimate, and an estimate an order was created from cannot be deleted."""

from __future__ import annotations

import requests
from ns_helpers import RECORD, Admin

SUITEQL = "/services/rest/query/v1/suiteql"
LINE = {"item": {"id": "499"}, "quantity": 2.5, "rate": 17.54, "price": {"id": "-1"}}


def _customer(ns: requests.Session, url: str) -> str:
    put = ns.put(f"{url}{RECORD}/customer/eid:C-EST", json={"companyName": "Estimates Ltd", "subsidiary": {"id": "1"}})
    assert put.status_code == 204, put.text
    return put.headers["Location"].rsplit("/", 1)[1]


def test_an_estimate_is_priced_like_an_order_and_found_by_suiteql(admin: Admin, ns: requests.Session,
                                                                  netsuite_url: str) -> None:
    customer_id = _customer(ns, netsuite_url)
    put = ns.put(f"{netsuite_url}{RECORD}/estimate/eid:0Q0A", json={
        "entity": {"id": customer_id}, "subsidiary": {"id": "1"}, "title": "Offer", "dueDate": "2026-12-31",
        "item": {"items": [LINE, {"item": {"id": "499"}, "quantity": 1, "rate": 9.99, "amount": 8.99}]}})
    assert put.status_code == 204, put.text
    assert "/estimate/" in put.headers["Location"]
    estimate = admin.record("estimate", "eid:0Q0A")
    assert estimate["total"] == 52.84  # 43.85 + 8.99
    assert ns.get(f"{netsuite_url}{RECORD}/estimate/eid:0Q0A").json()["tranId"].startswith("EST")
    found = ns.post(f"{netsuite_url}{SUITEQL}", headers={"Prefer": "transient"}, json={
        "q": "SELECT id, externalid FROM transaction WHERE externalid IN ('0Q0A') AND type = 'Estimate'"}).json()
    assert [row["id"] for row in found["items"]] == [str(estimate["id"])]
    orders = ns.post(f"{netsuite_url}{SUITEQL}", headers={"Prefer": "transient"}, json={
        "q": "SELECT id FROM transaction WHERE externalid IN ('0Q0A') AND type = 'SalesOrd'"}).json()
    assert orders["items"] == []


def test_what_netsuite_refuses(ns: requests.Session, netsuite_url: str) -> None:
    customer_id = _customer(ns, netsuite_url)
    no_lines = ns.put(f"{netsuite_url}{RECORD}/estimate/eid:0Q0B", json={"entity": {"id": customer_id}})
    assert no_lines.status_code == 400
    assert "at least one line item" in no_lines.json()["o:errorDetails"][0]["detail"]
    no_customer = ns.put(f"{netsuite_url}{RECORD}/estimate/eid:0Q0C", json={"item": {"items": [LINE]}})
    assert no_customer.status_code == 400 and "Customer" in no_customer.json()["o:errorDetails"][0]["detail"]
    wrong_currency = ns.put(f"{netsuite_url}{RECORD}/estimate/eid:0Q0D", json={
        "entity": {"id": customer_id}, "currency": {"id": "2"}, "item": {"items": [LINE]}})
    assert wrong_currency.status_code == 400
    assert wrong_currency.json()["o:errorDetails"][0]["o:errorPath"] == "currency"
    from_nothing = ns.put(f"{netsuite_url}{RECORD}/salesOrder/eid:006X", json={
        "entity": {"id": customer_id}, "createdFrom": {"id": "999999"}, "item": {"items": [LINE]}})
    assert from_nothing.status_code == 400
    assert from_nothing.json()["o:errorDetails"][0]["o:errorPath"] == "createdFrom"


def test_an_order_created_from_an_estimate_pins_it(admin: Admin, ns: requests.Session, netsuite_url: str) -> None:
    customer_id = _customer(ns, netsuite_url)
    estimate = ns.put(f"{netsuite_url}{RECORD}/estimate/eid:0Q0E", json={
        "entity": {"id": customer_id}, "item": {"items": [LINE]}})
    estimate_id = estimate.headers["Location"].rsplit("/", 1)[1]
    order = ns.put(f"{netsuite_url}{RECORD}/salesOrder/eid:006E", json={
        "entity": {"id": customer_id}, "createdFrom": {"id": estimate_id}, "item": {"items": [LINE]}})
    assert order.status_code == 204, order.text
    assert str(admin.record("salesOrder", "eid:006E")["createdFrom"]["id"]) == estimate_id
    refused = ns.delete(f"{netsuite_url}{RECORD}/estimate/{estimate_id}")
    assert refused.status_code == 400 and "dependent records" in refused.json()["o:errorDetails"][0]["detail"]
