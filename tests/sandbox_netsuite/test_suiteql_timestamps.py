"""The stand-in's SuiteQL for incremental readers (tap-netsuite-custom): date-times shown as the date alone (as
NetSuite's SuiteQL shows them), `TO_CHAR` for the time to the second, `TO_TIMESTAMP` literals compared by instant,
`ORDER BY` on several keys, the `transaction` view's `foreigntotal`, and order transitions stamping the order."""

from __future__ import annotations

import re

import requests
from ns_helpers import SUITEQL, Admin

PREFER = {"Prefer": "transient"}
TS = "'YYYY-MM-DD HH24:MI:SS'"


def _q(s: requests.Session, base: str, q: str) -> list[dict]:
    response = s.post(f"{base}{SUITEQL}", headers=PREFER, json={"q": q})
    assert response.status_code == 200, response.text
    return [{k: v for k, v in row.items() if k != "links"} for row in response.json()["items"]]


def test_stamps_to_the_second_through_to_char_and_compared_by_instant(ns: requests.Session, netsuite_url: str,
                                                                      admin: Admin) -> None:
    ids = admin.create_records("customer", [{"companyName": f"T{i}", "subsidiary": {"id": "1"}} for i in range(3)])
    [plain] = _q(ns, netsuite_url, f"SELECT id, lastmodifieddate FROM customer WHERE id = {ids[0]}")
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", plain["lastmodifieddate"])  # the date alone, by default
    rows = _q(ns, netsuite_url, f"SELECT id, TO_CHAR(lastmodifieddate, {TS}) AS ts FROM customer "
                                "ORDER BY lastmodifieddate DESC, id DESC")
    assert [r["id"] for r in rows if r["id"] in ids] == sorted(ids, key=int, reverse=True)
    stamp = rows[0]["ts"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp)
    since = _q(ns, netsuite_url, f"SELECT id FROM customer WHERE lastmodifieddate >= TO_TIMESTAMP('{stamp}', {TS})")
    assert ids[-1] in {r["id"] for r in since}
    after = _q(ns, netsuite_url, f"SELECT id FROM customer WHERE lastmodifieddate > TO_TIMESTAMP('{stamp}', {TS})")
    assert after == []


def test_an_order_transition_stamps_the_order_and_foreigntotal_is_its_total(
        ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    [customer] = admin.create_records("customer", [{"companyName": "O", "subsidiary": {"id": "1"}}])
    [order] = admin.create_records("salesOrder", [{
        "entity": {"id": customer}, "subsidiary": {"id": "1"}, "currency": {"id": "1"},
        "item": {"items": [{"item": {"id": "499"}, "quantity": 3, "rate": 10.0}]}}])
    before = admin.record("salesOrder", order)["lastModifiedDate"]
    admin.edit_record("salesOrder", order, {"lastModifiedDate": "2000-01-01T00:00:00Z"})  # read-only: ignored
    admin.order_transition(order, "fulfil")
    assert admin.record("salesOrder", order)["lastModifiedDate"] >= before
    [row] = _q(ns, netsuite_url, f"SELECT id, status, foreigntotal, foreignamountunpaid FROM transaction "
                                 f"WHERE type = 'SalesOrd' AND id = {order}")
    assert row == {"id": order, "status": "F", "foreigntotal": "30"}
