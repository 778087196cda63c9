"""Emptying fields like NetSuite's REST Record API: a field not sent keeps its value, an explicit `null` empties a body
field (a reference, a subrecord), `replace` empties sublists, and a mandatory field set to null is refused with the
same USER_ERROR as a missing one, leaving the record as it was."""

from __future__ import annotations

import pytest
import requests
from ns_helpers import RECORD, Admin, customer, internal_id

ADDRESS = {"addr1": "1 Main St", "addr2": "Suite 2", "city": "Austin", "state": "TX", "zip": "73301", "country": "US"}


def _stored(admin: Admin, record_type: str, external_id: str) -> dict:
    return next(r for r in admin.records(record_type) if r.get("externalId") == external_id)


def test_put_upsert_null_empties_only_the_fields_sent_as_null(ns: requests.Session, netsuite_url: str,
                                                               admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/customer/eid:E1"
    first = customer(None, phone="+1 512-555-0100", fax="+1 512-555-0101", url="https://e1.example",
                     accountNumber="A-1", comments="set by hand")
    assert ns.put(url, json=first).status_code == 204
    response = ns.put(url, json=customer(None, phone=None, fax=None, url=None, accountNumber=None,
                                         dateCreated=None))
    assert response.status_code == 204, response.text
    stored = _stored(admin, "customer", "E1")
    assert not {"phone", "fax", "url", "accountNumber"} & set(stored)
    assert stored["comments"] == "set by hand"  # not sent: kept
    assert stored["dateCreated"]  # read-only: a null is ignored
    got = ns.get(url).json()
    assert "phone" not in got and got["comments"] == "set by hand"


def test_null_reference_and_null_checkbox(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    company = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("P1")))
    url = f"{netsuite_url}{RECORD}/contact/eid:K1"
    body = {"lastName": "Lovelace", "subsidiary": {"id": "1"}, "company": {"id": company}, "isInactive": True}
    assert ns.put(url, json=body).status_code == 204
    assert ns.put(url, json={**body, "company": None, "isInactive": None}).status_code == 204
    stored = _stored(admin, "contact", "K1")
    assert "company" not in stored
    assert stored["isInactive"] is False  # an emptied checkbox is unchecked


@pytest.mark.parametrize(("record_type", "body", "emptied", "label"), [
    ("customer", customer(None), {"companyName": None}, "Company Name"),
    ("customer", customer(None), {"subsidiary": None}, "Subsidiary"),
    ("contact", {"lastName": "Solo", "subsidiary": {"id": "1"}}, {"lastName": None}, "Name"),
    ("nonInventorySaleItem", {"itemId": "SKU-1", "displayName": "Thing"}, {"itemId": None}, "Item Name/Number"),
    ("nonInventorySaleItem", {"itemId": "SKU-1", "displayName": "Thing"}, {"itemId": ""}, "Item Name/Number"),
])
def test_a_mandatory_field_set_to_null_is_refused_and_nothing_changes(
        ns: requests.Session, netsuite_url: str, admin: Admin, record_type: str, body: dict, emptied: dict,
        label: str) -> None:
    url = f"{netsuite_url}{RECORD}/{record_type}/eid:M1"
    assert ns.put(url, json=body).status_code == 204
    before = _stored(admin, record_type, "M1")
    response = ns.put(url, json={**body, **emptied})
    assert response.status_code == 400, response.text
    detail = response.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "USER_ERROR"
    assert detail["detail"].startswith("Error while accessing a resource. Please enter value(s) for: ")
    assert label in detail["detail"]
    assert _stored(admin, record_type, "M1") == before


def test_sales_order_customer_cannot_be_emptied(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    item = internal_id(ns.post(f"{netsuite_url}{RECORD}/nonInventorySaleItem", json={"itemId": "P1"}))
    cust = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1")))
    url = f"{netsuite_url}{RECORD}/salesOrder/eid:O1"
    lines = {"items": [{"item": {"id": item}, "quantity": 1, "rate": 2.0}]}
    assert ns.put(url, json={"entity": {"id": cust}, "memo": "m", "item": lines}).status_code == 204
    refused = ns.put(url, params={"replace": "item"}, json={"entity": None, "memo": None, "item": lines})
    assert refused.status_code == 400
    assert "Customer" in refused.json()["o:errorDetails"][0]["detail"]
    assert _stored(admin, "salesOrder", "O1")["memo"] == "m"
    emptied = ns.put(url, params={"replace": "item"}, json={"entity": {"id": cust}, "memo": None, "item": lines})
    assert emptied.status_code == 204
    assert "memo" not in _stored(admin, "salesOrder", "O1")


def test_sublists_are_emptied_only_through_replace(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/customer/eid:S1"
    book = {"items": [{"defaultBilling": True, "addressbookaddress": ADDRESS}]}
    assert ns.put(url, json=customer(None, addressbook=book)).status_code == 204

    assert ns.put(url, json=customer(None, addressbook=None)).status_code == 204  # no `replace`: nothing to merge
    assert len(_stored(admin, "customer", "S1")["addressbook"]["items"]) == 1
    assert ns.put(url, json=customer(None, addressbook={"items": None})).status_code == 204
    assert len(_stored(admin, "customer", "S1")["addressbook"]["items"]) == 1

    # Replaced whole: a line sent without addr2 is a new line without addr2.
    one_line = {"items": [{"defaultBilling": True, "addressbookaddress": {**ADDRESS, "addr2": None}}]}
    assert ns.put(url, params={"replace": "addressbook"}, json=customer(None, addressbook=one_line)).status_code == 204
    [line] = _stored(admin, "customer", "S1")["addressbook"]["items"]
    assert "addr2" not in line["addressbookaddress"]

    assert ns.put(url, params={"replace": "addressbook"}, json=customer(None, addressbook=None)).status_code == 204
    assert _stored(admin, "customer", "S1")["addressbook"]["items"] == []


def test_null_empties_one_field_of_a_keyed_line(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/customer/eid:L1"
    book = {"items": [{"label": "HQ", "isResidential": False, "addressbookaddress": ADDRESS}]}
    assert ns.put(url, json=customer(None, addressbook=book)).status_code == 204
    line_id = _stored(admin, "customer", "L1")["addressbook"]["items"][0]["id"]
    response = ns.put(url, json=customer(None, addressbook={"items": [{"id": line_id, "label": None}]}))
    assert response.status_code == 204, response.text
    [line] = _stored(admin, "customer", "L1")["addressbook"]["items"]
    assert "label" not in line and line["isResidential"] is False and line["addressbookaddress"] == ADDRESS


def test_address_book_lines_keyed_by_id_without_and_with_replace(ns: requests.Session, netsuite_url: str,
                                                                  admin: Admin) -> None:
    """Oracle's "Updating a Sublist" / "Replacing a Sublist" for a keyed sublist: a line naming an existing line id
    updates it, others are added; with `replace`, the lines not named are removed; one default billing line."""
    url = f"{netsuite_url}{RECORD}/customer/eid:AB1"
    first = customer(None, addressbook={"items": [
        {"label": "HQ", "defaultBilling": True, "addressbookaddress": {**ADDRESS, "city": "Austin"}},
        {"label": "Warehouse", "addressbookaddress": {**ADDRESS, "city": "Waco"}}]})
    assert ns.put(url, json=first).status_code == 204
    lines = _stored(admin, "customer", "AB1")["addressbook"]["items"]
    rows = ns.post(f"{netsuite_url}/services/rest/query/v1/suiteql", headers={"Prefer": "transient"}, json={
        "q": f"SELECT entity, internalid, label, defaultbilling FROM customerAddressbook WHERE entity IN "
             f"('{_stored(admin, 'customer', 'AB1')['id']}')"}).json()["items"]
    assert [(row["label"], row["defaultbilling"]) for row in rows] == [("HQ", "T"), ("Warehouse", "F")]
    warehouse = next(str(line["id"]) for line in lines if line["label"] == "Warehouse")
    assert rows[1]["internalid"] == warehouse  # lower-cased columns, values as strings
    update = customer(None, addressbook={"items": [
        {"id": warehouse, "addressbookaddress": {**ADDRESS, "city": "Temple"}},
        {"label": "Billing (synced)", "defaultBilling": True, "addressbookaddress": ADDRESS}]})
    assert ns.put(url, json=update).status_code == 204
    lines = {line["label"]: line for line in _stored(admin, "customer", "AB1")["addressbook"]["items"]}
    assert set(lines) == {"HQ", "Warehouse", "Billing (synced)"}  # no replace: nothing removed
    assert lines["Warehouse"]["addressbookaddress"]["city"] == "Temple"  # updated in place
    assert lines["HQ"]["defaultBilling"] is False and lines["Billing (synced)"]["defaultBilling"] is True
    keep_only = {"addressbook": {"items": [{"id": str(lines["HQ"]["id"])}, {"id": warehouse}]}}
    assert ns.put(f"{url}?replace=addressbook", json=customer(None, **keep_only)).status_code == 204
    lines = {line["label"]: line for line in _stored(admin, "customer", "AB1")["addressbook"]["items"]}
    assert set(lines) == {"HQ", "Warehouse"}  # the lines named by id are kept as they were, the other removed
    assert lines["Warehouse"]["addressbookaddress"]["city"] == "Temple"
