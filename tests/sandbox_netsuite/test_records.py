"""Record API over real HTTP: create/upsert/get/patch/delete, compared with the recorded NetSuite shapes."""

from __future__ import annotations

import pytest
import requests
from ns_helpers import (
    RECORD,
    SHARED_WIRE_SAMPLES,
    WIRE_SAMPLES,
    Admin,
    customer,
    header_values,
    internal_id,
    sample,
    sample_json,
)

ADDRESS = {"addr1": "1 Main St", "city": "New York", "state": "NY", "zip": "10001", "country": "US"}


def _recorded_header_names(sample_file: str) -> set[str]:
    headers = sample(sample_file)["samples"][0]["response"]["headers"]
    return {name.lower() for name in headers} - {"date", "connection", "content-length", "location"}


def test_post_customer_answers_like_the_recording(ns: requests.Session, netsuite_url: str) -> None:
    body = customer("C1", addressbook={"items": [{"defaultBilling": True, "addressbookaddress": ADDRESS}]})
    response = ns.post(f"{netsuite_url}{RECORD}/customer", json=body)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["Location"] == f"{netsuite_url}{RECORD}/customer/{internal_id(response)}"
    missing = _recorded_header_names("post_customer_204.yaml") - {h.lower() for h in response.headers}
    assert not missing
    assert len(response.headers["X-N-OperationId"]) == 36


def test_location_lowercases_the_record_type(ns: requests.Session, netsuite_url: str) -> None:
    item = ns.post(f"{netsuite_url}{RECORD}/nonInventorySaleItem", json={"itemId": "Widget", "externalId": "P1"})
    assert "/noninventorysaleitem/" in item.headers["Location"]
    cust = ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1"))
    order = ns.post(f"{netsuite_url}{RECORD}/salesOrder", json={
        "entity": {"id": internal_id(cust)}, "externalId": "O1",
        "item": {"items": [{"item": {"id": internal_id(item)}, "quantity": 2, "rate": 10.0}]},
    })
    assert order.status_code == 204, order.text
    assert "/salesorder/" in order.headers["Location"]


def test_get_by_id_and_eid_has_the_recorded_shape(ns: requests.Session, netsuite_url: str) -> None:
    body = customer("C1", phone="555-0100", addressbook={"items": [{"addressbookaddress": ADDRESS}]})
    record_id = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=body))

    by_id = ns.get(f"{netsuite_url}{RECORD}/customer/{record_id}")
    by_eid = ns.get(f"{netsuite_url}{RECORD}/customer/eid:C1")
    assert by_id.status_code == by_eid.status_code == 200
    assert by_id.headers["Content-Type"].startswith("application/vnd.oracle.resource+json")
    data = by_id.json()
    assert data == {**by_eid.json(), "links": data["links"]}

    recorded = sample_json("get_customer.body.json")
    assert data["links"] == [{"rel": "self", "href": f"{netsuite_url}{RECORD}/customer/{record_id}"}]
    assert data["id"] == record_id and isinstance(recorded["id"], str)
    assert set(data["subsidiary"]) == set(recorded["subsidiary"]) == {"links", "id", "refName"}
    assert data["subsidiary"]["id"] == "1" and data["subsidiary"]["refName"] == "Parent Company"
    assert data["subsidiary"]["links"][0]["href"].endswith("/subsidiary/1")
    assert set(data["addressbook"]) == set(recorded["addressbook"]) == {"links"}
    assert data["addressbook"]["links"][0]["href"].endswith(f"/customer/{record_id}/addressbook")
    for key in ("companyName", "isPerson", "entityId", "dateCreated", "lastModifiedDate", "balance"):
        assert type(data[key]) is type(recorded[key]), key
    assert data["phone"] == "555-0100"


def test_expand_sub_resources_and_fields(ns: requests.Session, netsuite_url: str) -> None:
    body = customer("C1", addressbook={"items": [{"defaultShipping": True, "addressbookaddress": ADDRESS}]})
    record_id = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=body))

    expanded = ns.get(f"{netsuite_url}{RECORD}/customer/{record_id}", params={"expandSubResources": "true"}).json()
    book = expanded["addressbook"]
    assert set(book) == {"links", "items", "totalResults"} and book["totalResults"] == 1
    line = book["items"][0]
    assert line["links"] == [] and line["defaultShipping"] is True
    assert {k: v for k, v in line["addressbookaddress"].items() if k != "links"} == ADDRESS

    only = ns.get(f"{netsuite_url}{RECORD}/customer/{record_id}", params={"fields": "companyName"}).json()
    assert set(only) == {"links", "companyName"}


def test_put_eid_upserts_and_reports_the_internal_id(ns: requests.Session, netsuite_url: str,
                                                     admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/customer/eid:SF001"
    created = ns.put(url, json=customer(None, companyName="First", phone="1"))
    assert created.status_code == 204, created.text
    record_id = internal_id(created)
    assert record_id.isdigit()

    updated = ns.put(url, json={"companyName": "Second", "subsidiary": {"id": "1"}})
    assert updated.status_code == 204
    assert internal_id(updated) == record_id
    records = admin.records("customer")
    assert len(records) == 1
    assert records[0]["companyName"] == "Second" and records[0]["externalId"] == "SF001"
    assert records[0]["phone"] == "1"  # fields not sent are kept
    assert admin.stats()["writes"] == {"created": 1, "updated": 1, "unchanged": 0, "deleted": 0}

    again = ns.put(url, json={"companyName": "Second", "subsidiary": {"id": "1"}})
    assert again.status_code == 204
    assert admin.stats()["writes"] == {"created": 1, "updated": 1, "unchanged": 1, "deleted": 0}


def test_patch_merges_clears_and_replaces_sublists(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    book = {"items": [{"label": "HQ", "addressbookaddress": ADDRESS}]}
    record_id = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer",
                                    json=customer("C1", phone="1", url="https://a.example", addressbook=book)))
    url = f"{netsuite_url}{RECORD}/customer/{record_id}"

    patched = ns.patch(url, json={"phone": "2", "url": None,
                                  "addressbook": {"items": [{"label": "Depot", "addressbookaddress": ADDRESS}]}})
    assert patched.status_code == 204 and patched.headers["Location"].endswith(f"/customer/{record_id}")
    record = admin.records("customer")[0]
    assert record["phone"] == "2" and "url" not in record
    assert [line["label"] for line in record["addressbook"]["items"]] == ["HQ", "Depot"]

    first_line = record["addressbook"]["items"][0]["id"]
    ns.patch(url, json={"addressbook": {"items": [{"id": first_line, "label": "Head office"}]}})
    assert [ln["label"] for ln in admin.records("customer")[0]["addressbook"]["items"]] == ["Head office", "Depot"]

    ns.patch(url, params={"replace": "addressbook"},
             json={"addressbook": {"items": [{"label": "Only", "addressbookaddress": ADDRESS}]}})
    assert [ln["label"] for ln in admin.records("customer")[0]["addressbook"]["items"]] == ["Only"]


def test_sales_order_lines_replace(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    item_ids = [internal_id(ns.post(f"{netsuite_url}{RECORD}/nonInventorySaleItem",
                                    json={"itemId": f"P{i}", "externalId": f"P{i}"})) for i in range(2)]
    cust = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1")))
    url = f"{netsuite_url}{RECORD}/salesOrder/eid:O1"
    lines = [{"item": {"id": item_ids[0]}, "quantity": 2, "rate": 10.0}]
    assert ns.put(url, json={"entity": {"id": cust}, "item": {"items": lines}}).status_code == 204
    new_lines = [{"item": {"id": item_ids[1]}, "quantity": 1, "rate": 5.5}]
    response = ns.put(url, params={"replace": "item"}, json={"entity": {"id": cust}, "item": {"items": new_lines}})
    assert response.status_code == 204, response.text
    order = admin.records("salesOrder")[0]
    assert [line["item"]["id"] for line in order["item"]["items"]] == [item_ids[1]]
    assert order["total"] == 5.5
    got = ns.get(f"{netsuite_url}{RECORD}/salesorder/eid:O1", params={"expandSubResources": "true"}).json()
    assert got["entity"]["id"] == cust and got["entity"]["refName"] == "Company C1"
    assert got["item"]["items"][0]["item"]["refName"] == "P1"


def test_delete_then_404_nonexistent_id(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    record_id = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1")))
    deleted = ns.delete(f"{netsuite_url}{RECORD}/customer/eid:C1")
    assert deleted.status_code == 204 and deleted.content == b""
    for url in (f"{RECORD}/customer/eid:C1", f"{RECORD}/customer/{record_id}"):
        for method in ("GET", "DELETE", "PATCH"):
            response = ns.request(method, f"{netsuite_url}{url}", json={"phone": "1"})
            assert response.status_code == 404
            assert response.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"
    assert admin.stats()["writes"]["deleted"] == 1


def test_unknown_fields_warn_once_each_and_are_not_saved(ns: requests.Session, netsuite_url: str,
                                                         admin: Admin) -> None:
    recorded = sample("patch_customer_204.yaml")["samples"][0]["response"]["headers"]
    body = customer("C1", internalId="8635", custentity1="Hello",
                    addressbook={"items": [{"subsidiary": {"id": "1"}, "addressbookaddress": ADDRESS}]})
    response = ns.post(f"{netsuite_url}{RECORD}/customer", json=body)
    assert response.status_code == 204
    warnings = header_values(response, "X-NetSuite-PropertyValidation")
    assert warnings[0] == recorded["X-NetSuite-PropertyValidation"]
    assert warnings == [recorded["X-NetSuite-PropertyValidation"],
                        "Unknown field name subsidiary. The field does not exist on this record instance."]
    record = admin.records("customer")[0]
    assert "internalId" not in record and record["custentity1"] == "Hello"


def test_property_name_validation_error_header_refuses_unknown_fields(ns: requests.Session,
                                                                       netsuite_url: str) -> None:
    response = ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1", bogus=1),
                       headers={"X-NetSuite-PropertyNameValidation": "Error"})
    assert response.status_code == 400
    detail = response.json()["o:errorDetails"][0]
    assert detail["o:errorPath"] == "bogus" and "Unknown field name bogus" in detail["detail"]


def test_collection_get_lists_ids(ns: requests.Session, netsuite_url: str) -> None:
    for i in range(3):
        ns.post(f"{netsuite_url}{RECORD}/customer", json=customer(f"C{i}"))
    page = ns.get(f"{netsuite_url}{RECORD}/customer", params={"limit": 2, "offset": 0}).json()
    assert page["count"] == 2 and page["hasMore"] is True and page["totalResults"] == 3
    assert page["links"][-1] == {"rel": "self", "href": f"{netsuite_url}{RECORD}/customer?limit=2&offset=0"}


def test_percent_encoded_external_ids_sign_and_resolve(ns: requests.Session, netsuite_url: str,
                                                       admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/customer/eid:ACME%20Co%C3%A9"
    assert ns.put(url, json=customer(None)).status_code == 204
    assert admin.records("customer")[0]["externalId"] == "ACME Coé"
    assert ns.get(url).json()["externalId"] == "ACME Coé"


@pytest.mark.skipif(not SHARED_WIRE_SAMPLES.is_dir(), reason="shared wire samples not on this machine")
def test_wire_samples_are_verbatim() -> None:
    for copy in WIRE_SAMPLES.iterdir():
        if copy.name != "README.md":
            assert copy.read_bytes() == (SHARED_WIRE_SAMPLES / copy.name).read_bytes(), copy.name
