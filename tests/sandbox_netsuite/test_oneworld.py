"""The stand-in as a OneWorld account: subsidiaries with their own base currencies under one parent; a contact or a
sales order is accepted only in a subsidiary its customer belongs to (its primary one, or one it is shared with by a
customerSubsidiaryRelationship record, Oracle: "Customer Subsidiary Relationship"); relationships are created by
POST, once per customer and subsidiary, and SuiteQL lists them with every customer's primary subsidiary."""

from __future__ import annotations

import requests
from ns_helpers import RECORD, Admin

SUITEQL = "/services/rest/query/v1/suiteql"


def _rows(ns: requests.Session, url: str, query: str) -> list[dict]:
    answer = ns.post(f"{url}{SUITEQL}", headers={"Prefer": "transient"}, json={"q": query})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_children_abroad_keep_their_own_base_currency(ns: requests.Session, netsuite_url: str) -> None:
    rows = _rows(ns, netsuite_url, "SELECT id, name, parent, currency FROM subsidiary WHERE id IN (5, 6)")
    assert [(r["name"], r["parent"], r["currency"]) for r in rows] == [("UK Ltd", "1", "2"), ("Japan KK", "1", "5")]


def test_contacts_and_orders_must_be_in_a_subsidiary_of_their_customer(admin: Admin, ns: requests.Session,
                                                                      netsuite_url: str) -> None:
    [uk] = admin.create_records("customer", [{"companyName": "Brit Ltd", "subsidiary": {"id": "5"}}])

    def order(key: str, subsidiary: str) -> requests.Response:
        return ns.put(f"{netsuite_url}{RECORD}/salesOrder/eid:{key}", json={
            "entity": {"id": uk}, "subsidiary": {"id": subsidiary}, "currency": {"id": "2"},
            "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 5.0}]}})

    def contact(key: str, subsidiary: str) -> requests.Response:
        return ns.put(f"{netsuite_url}{RECORD}/contact/eid:{key}", json={
            "lastName": key, "company": {"id": uk}, "subsidiary": {"id": subsidiary}})

    refused = order("SO-US", "1")
    assert refused.status_code == 400
    [detail] = refused.json()["o:errorDetails"]
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("USER_ERROR", "entity")
    assert detail["detail"] == f"Error while accessing a resource. Invalid entity reference key {uk} for subsidiary 1."
    assert contact("P-US", "1").json()["o:errorDetails"][0]["o:errorPath"] == "company"
    assert order("SO-UK", "5").status_code == 204 and contact("P-UK", "5").status_code == 204

    # shared with Japan KK: an order there is accepted; the same relationship twice, or the primary, is refused
    created = ns.post(f"{netsuite_url}{RECORD}/customerSubsidiaryRelationship",
                      json={"entity": {"id": uk}, "subsidiary": {"id": "6"}})
    assert created.status_code == 204 and "/customersubsidiaryrelationship/" in created.headers["Location"]
    for subsidiary in ("6", "5"):
        again = ns.post(f"{netsuite_url}{RECORD}/customerSubsidiaryRelationship",
                        json={"entity": {"id": uk}, "subsidiary": {"id": subsidiary}})
        assert again.status_code == 400 and "already assigned" in again.json()["o:errorDetails"][0]["detail"]
    japan = ns.put(f"{netsuite_url}{RECORD}/salesOrder/eid:SO-JP", json={
        "entity": {"id": uk}, "subsidiary": {"id": "6"}, "currency": {"id": "2"},
        "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 5.0}]}})
    assert japan.status_code == 204, japan.text
    rows = _rows(ns, netsuite_url, f"SELECT entity, subsidiary, isprimarysub FROM customersubsidiaryrelationship "
                                   f"WHERE entity = {uk}")
    assert sorted((r["subsidiary"], r["isprimarysub"]) for r in rows) == [("5", "T"), ("6", "F")]
    missing = ns.post(f"{netsuite_url}{RECORD}/customerSubsidiaryRelationship", json={"entity": {"id": uk}})
    assert "Please enter value(s) for: Subsidiary" in missing.json()["o:errorDetails"][0]["detail"]
