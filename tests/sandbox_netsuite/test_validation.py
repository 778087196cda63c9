"""Validation like NetSuite: required fields, references, codes, lengths, duplicates; exact error shapes."""

from __future__ import annotations

import json

import pytest
import requests
from ns_helpers import RECORD, Admin, customer, internal_id, sample

ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error; charset=UTF-8"


def _error(response: requests.Response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == ERROR_CONTENT_TYPE
    assert response.text.endswith("\n")
    body = response.json()
    assert list(body) == ["type", "title", "status", "o:errorDetails"]
    assert body["status"] == status and len(body["o:errorDetails"]) == 1
    return body["o:errorDetails"][0]


def test_missing_subsidiary_is_the_recorded_user_error_shape(ns: requests.Session, netsuite_url: str,
                                                              admin: Admin) -> None:
    recorded = sample("error_400_user_error.yaml")["samples"][0]["response"]
    response = ns.post(f"{netsuite_url}{RECORD}/customer", json={"companyName": "No Sub", "externalId": "X"})

    assert _error(response) == {
        "detail": "Error while accessing a resource. Please enter value(s) for: Subsidiary.",
        "o:errorCode": "USER_ERROR",
    }
    assert json.loads(recorded["body_raw"]).keys() == response.json().keys()
    assert response.json()["type"] == json.loads(recorded["body_raw"])["type"]
    assert response.json()["title"] == "Bad Request"
    expected = {h.lower() for h in recorded["headers"]} - {"date", "content-length"}
    assert expected <= {h.lower() for h in response.headers}
    assert admin.records("customer") == []


@pytest.mark.parametrize(("body", "missing"), [
    ({"subsidiary": {"id": "1"}}, "Company Name"),
    ({"isPerson": True, "subsidiary": {"id": "1"}}, "First Name, Last Name"),
    ({"isPerson": True, "firstName": "Ada"}, "Last Name, Subsidiary"),
    ({}, "Company Name, Subsidiary"),
])
def test_required_customer_fields(ns: requests.Session, netsuite_url: str, body: dict, missing: str) -> None:
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/customer", json=body))
    assert detail["detail"] == f"Error while accessing a resource. Please enter value(s) for: {missing}."


def test_person_customer_is_accepted(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    body = {"isPerson": True, "firstName": "Ada", "lastName": "Lovelace", "subsidiary": {"id": "2"}}
    assert ns.post(f"{netsuite_url}{RECORD}/customer", json=body).status_code == 204
    assert admin.records("customer")[0]["entityId"] == "Ada Lovelace"


def test_patch_cannot_clear_a_required_field(ns: requests.Session, netsuite_url: str) -> None:
    record_id = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1")))
    detail = _error(ns.patch(f"{netsuite_url}{RECORD}/customer/{record_id}", json={"subsidiary": None}))
    assert detail["o:errorCode"] == "USER_ERROR" and "Subsidiary" in detail["detail"]


def test_nonexistent_references_are_invalid_content_with_path(ns: requests.Session, netsuite_url: str) -> None:
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1", subsidiary={"id": "99"})))
    assert detail == {
        "detail": "Error while accessing resource: You have entered an Invalid Field Value 99 for the following "
                  "field: subsidiary",
        "o:errorCode": "INVALID_CONTENT",
        "o:errorPath": "subsidiary",
    }
    cust = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C2")))
    order = {"entity": {"id": cust}, "item": {"items": [{"item": {"id": 9999}, "amount": 1}]}}
    recorded = json.loads(sample("error_400_invalid_content_and_header.yaml")["samples"][0]["response"]["body_raw"])
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/salesOrder", json=order))
    assert detail == recorded["o:errorDetails"][0]
    contact = {"lastName": "Doe", "company": {"id": "424242"}, "subsidiary": {"id": "1"}}
    assert _error(ns.post(f"{netsuite_url}{RECORD}/contact", json=contact))["o:errorPath"] == "company"


def test_sales_order_needs_entity_and_lines(ns: requests.Session, netsuite_url: str) -> None:
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/salesOrder", json={"item": {"items": []}}))
    assert detail["detail"].endswith("Please enter value(s) for: Customer.")
    cust = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1")))
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/salesOrder", json={"entity": {"id": cust}}))
    assert detail == {"detail": "Error while accessing a resource. You must enter at least one line item for this "
                                "transaction.", "o:errorCode": "USER_ERROR"}


@pytest.mark.parametrize(("address", "path", "value"), [
    ({"country": "USA"}, "addressbook.items[0].addressbookaddress.country", "USA"),
    ({"country": "ZZ"}, "addressbook.items[0].addressbookaddress.country", "ZZ"),
    ({"country": "US", "state": "New York"}, "addressbook.items[0].addressbookaddress.state", "New York"),
    ({"country": "CA", "state": "NY"}, "addressbook.items[0].addressbookaddress.state", "NY"),
])
def test_address_codes(ns: requests.Session, netsuite_url: str, address: dict, path: str, value: str) -> None:
    body = customer("C1", addressbook={"items": [{"addressbookaddress": address}]})
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/customer", json=body))
    assert detail["o:errorCode"] == "INVALID_CONTENT" and detail["o:errorPath"] == path
    assert f"Invalid Field Value {value} " in detail["detail"]


def test_valid_canadian_and_foreign_addresses(ns: requests.Session, netsuite_url: str) -> None:
    book = {"items": [{"addressbookaddress": {"country": "CA", "state": "ON"}},
                      {"addressbookaddress": {"country": "DE", "state": "Bayern"}}]}
    assert ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1", addressbook=book)).status_code == 204


@pytest.mark.parametrize(("field", "limit"), [("companyName", 83), ("phone", 32), ("email", 254),
                                              ("externalId", 255)])
def test_field_length_limits(ns: requests.Session, netsuite_url: str, field: str, limit: int) -> None:
    ok = customer(None, **{field: "x" * limit})
    assert ns.post(f"{netsuite_url}{RECORD}/customer", json=ok).status_code == 204
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer(None, **{field: "y" * (limit + 1)})))
    assert detail["o:errorCode"] == "USER_ERROR" and detail["o:errorPath"] == field
    assert f"maximum number ( {limit} )" in detail["detail"]


def test_duplicate_external_id_on_post(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    assert ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("DUP")).status_code == 204
    detail = _error(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("DUP")))
    assert detail["o:errorCode"] == "USER_ERROR"
    assert len(admin.records("customer")) == 1


def test_customer_with_orders_cannot_be_deleted(ns: requests.Session, netsuite_url: str) -> None:
    item = internal_id(ns.post(f"{netsuite_url}{RECORD}/inventoryItem", json={"itemId": "Bolt"}))
    cust = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1")))
    order = {"entity": {"id": cust}, "item": {"items": [{"item": {"id": item}, "quantity": 1}]}}
    assert ns.post(f"{netsuite_url}{RECORD}/salesOrder", json=order).status_code == 204
    detail = _error(ns.delete(f"{netsuite_url}{RECORD}/customer/{cust}"))
    assert "dependent records" in detail["detail"]


def test_bad_bodies(ns: requests.Session, netsuite_url: str) -> None:
    url = f"{netsuite_url}{RECORD}/customer"
    assert _error(ns.post(url, data=b"{not json", headers={"Content-Type": "application/json"}))[
        "o:errorCode"] == "INVALID_CONTENT"
    assert _error(ns.post(url, json=[1, 2]))["o:errorCode"] == "INVALID_CONTENT"
    not_utf8 = _error(ns.post(url, data=b'{"companyName": "Caf\xe9"}', headers={"Content-Type": "application/json"}))
    assert not_utf8["o:errorCode"] == "INVALID_CONTENT" and "not UTF-8" in not_utf8["detail"]  # was a 500
    assert _error(ns.post(url, json=customer("C1", addressbook=[1])))["o:errorPath"] == "addressbook"
    assert _error(ns.post(url, json=customer("C1", subsidiary="1")))["o:errorPath"] == "subsidiary"
    assert _error(ns.get(f"{netsuite_url}{RECORD}/notAType/1"), 404)["o:errorCode"] == "INVALID_URL"
