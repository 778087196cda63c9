"""The stand-in's sales order lifecycle: admin transitions set status/orderStatus and per-line quantities, and the
REST API refuses to remove or reprice a billed line (400 USER_ERROR at o:errorPath `item`; Oracle documents no
dedicated code for this, so the stand-in uses the documented USER_ERROR shape, wire sample error_400_user_error)."""

from __future__ import annotations

import requests
from ns_helpers import RECORD, Admin


def test_billed_line_cannot_be_replaced(admin: Admin, ns: requests.Session, netsuite_url: str) -> None:
    [customer_id] = admin.create_records("customer", [{"companyName": "Refusals Ltd", "subsidiary": {"id": "1"}}])
    url = f"{netsuite_url}{RECORD}/salesOrder/eid:006R"
    created = ns.put(url, json={"entity": {"id": customer_id}, "subsidiary": {"id": "1"},
                                "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 5.0}]}})
    assert created.status_code == 204, created.text
    assert admin.record("salesOrder", "eid:006R")["orderStatus"] == "B"
    assert admin.order_transition("eid:006R", "bill")["status"] == "G"
    refused = ns.put(f"{url}?replace=item", json={"item": {"items": [{"item": {"id": "499"}, "quantity": 2}]}})
    assert refused.status_code == 400
    [detail] = refused.json()["o:errorDetails"]
    assert detail["o:errorCode"] == "USER_ERROR" and "billed" in detail["detail"]
    assert detail["o:errorPath"] == "item"
    # a field outside the lines still updates, and the API cannot set the billed quantity itself
    assert ns.put(url, json={"memo": "note", "item": {"items": [{"line": 1, "quantityBilled": 0}]}}).status_code == 204
    order = admin.record("salesOrder", "eid:006R")
    assert order["memo"] == "note" and order["item"]["items"][0]["quantityBilled"] == 1
    assert admin.order_transition("eid:006R", "close")["status"] == "H"
