"""The stand-in answers in the shapes of recorded real Salesforce responses (shared/wire-samples/salesforce).

Each test puts a sandbox answer next to the recorded one and compares keys, key order, status and headers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from sf_helpers import API, SF

# A verbatim copy of shared/wire-samples/salesforce, kept with the tests so they run (never skip) on any machine.
SAMPLES = Path(__file__).parent / "wire_samples"
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def _sample(name: str) -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / name).read_text())


def _body(sample: dict[str, Any]) -> Any:
    response = sample["response"]
    return json.loads(response.get("body") or response["body_raw"])


def test_token_success_has_the_real_keys_and_no_expires_in(sf: SF) -> None:
    recorded = json.loads(_sample("oauth_token.yaml")["success_samples"][0]["response"]["body_raw"])
    response = sf.token_response()
    assert response.status_code == 200
    body = response.json()
    assert list(body) == list(recorded)
    assert body["instance_url"] == sf.base and body["token_type"] == "Bearer"
    assert body["issued_at"].isdigit() and body["id"].startswith(f"{sf.base}/id/00D")
    assert response.headers["content-type"] == "application/json;charset=UTF-8"


def test_token_errors_are_flat_objects_with_status_400(sf: SF) -> None:
    recorded = json.loads(_sample("oauth_token.yaml")["error_samples"][0]["response"]["body_raw"])
    bad_refresh = sf.token_response(refresh_token="not-a-token")
    assert bad_refresh.status_code == 400
    assert list(bad_refresh.json()) == list(recorded) and bad_refresh.json()["error"] == "invalid_grant"
    bad_secret = sf.token_response(client_secret="wrong")
    assert (bad_secret.status_code, bad_secret.json()) == (
        400, {"error": "invalid_client", "error_description": "invalid client credentials"})
    bad_client = sf.token_response(client_id="someone-else")
    assert bad_client.status_code == 400 and bad_client.json()["error"] == "invalid_client_id"


def test_invalid_session_is_byte_for_byte_the_recorded_401(sf: SF) -> None:
    recorded = _sample("error_invalid_session_id.yaml")["samples"][0]["response"]
    response = sf.query("SELECT Id FROM Account", token="expired-or-made-up")
    assert response.status_code == recorded["status"]
    assert response.text == recorded["body_raw"]
    assert response.headers["www-authenticate"] == recorded["headers"]["www-authenticate"]
    assert response.headers["content-type"] == recorded["headers"]["content-type"]


def test_query_pages_have_the_recorded_envelope_and_record_form(sf: SF) -> None:
    first = _body(_sample("query_page1_done_false.yaml")["samples"][0])
    last = _body(_sample("query_last_page.yaml")["samples"][0])
    sf.reset(accounts=450)
    soql = ("SELECT Id, Name, AccountNumber, Industry, Type, BillingCity, BillingState, BillingCountry, Phone, "
            "Website, CreatedDate, LastModifiedDate, SystemModstamp FROM Account ORDER BY SystemModstamp ASC")
    response = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert response.status_code == 200
    page = response.json()
    assert list(page) == list(first)
    assert re.fullmatch(r"/services/data/v61\.0/query/0r8[A-Za-z0-9]{15}-200", page["nextRecordsUrl"])
    record, recorded = page["records"][0], first["records"][0]
    assert list(record) == list(recorded)
    assert list(record["attributes"]) == ["type", "url"]
    assert record["attributes"]["url"] == f"{API}/sobjects/Account/{record['Id']}"
    assert all(DATETIME.match(r["SystemModstamp"]) for r in page["records"])
    while "nextRecordsUrl" in page:
        page = sf.get(page["nextRecordsUrl"]).json()
    assert list(page) == list(last) and page["done"] is True


def test_response_headers_match_the_recorded_salesforce_set(sf: SF) -> None:
    recorded = _sample("query_page1_done_false.yaml")["samples"][0]["response"]["headers"]
    response = sf.query("SELECT Id FROM Account LIMIT 1")
    assert response.headers["content-type"] == recorded["content-type"]
    # uvicorn prepends its own `server: uvicorn` unless started with server_header=False (sandbox/cli.py).
    assert response.headers["server"].split(", ")[-1] == recorded["server"]
    assert re.fullmatch(r"api-usage=\d+/15000", response.headers["sforce-limit-info"])
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-sfdc-request-id"])
    assert response.headers["x-request-id"] == response.headers["x-sfdc-request-id"]
    assert response.headers["cache-control"] == recorded["cache-control"]


def test_describe_fields_carry_the_57_real_keys_in_order(sf: SF) -> None:
    recorded = json.loads((SAMPLES / "describe_account.body.json").read_text())
    response = sf.get(f"{API}/sobjects/Account/describe")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == list(recorded)
    keys = list(recorded["fields"][0])
    assert len(keys) == 57
    for obj in ("Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "Pricebook2",
                "PricebookEntry", "User", "Invoice__c"):
        described = sf.get(f"{API}/sobjects/{obj}/describe").json()
        assert all(list(field) == keys for field in described["fields"]), obj
    ours = {f["name"]: f for f in body["fields"]}
    for theirs in recorded["fields"]:
        if theirs["name"] in ours:
            mine = ours[theirs["name"]]
            for key in ("type", "soapType", "filterable", "sortable", "nillable", "calculated", "referenceTo",
                        "relationshipName", "compoundFieldName", "custom", "length", "byteLength"):
                assert mine[key] == theirs[key], (theirs["name"], key, mine[key], theirs[key])


def test_describes_cover_every_field_type_the_tap_maps(sf: SF) -> None:
    types = {field["type"] for entry in sf.get(f"{API}/sobjects").json()["sobjects"]
             for field in sf.get(f"{API}/sobjects/{entry['name']}/describe").json()["fields"]}
    assert types == {"id", "string", "textarea", "picklist", "multipicklist", "combobox", "reference", "email",
                     "phone", "url", "encryptedstring", "boolean", "int", "long", "double", "currency", "percent",
                     "date", "datetime", "time", "base64", "address", "location", "anyType", "json", "complexvalue"}
    invoice = {f["name"]: f for f in sf.get(f"{API}/sobjects/Invoice__c/describe").json()["fields"]}
    assert invoice["Balance__c"]["calculated"] and invoice["Balance__c"]["calculatedFormula"]
    assert invoice["ShipTo__City__s"]["compoundFieldName"] == "ShipTo__c" and invoice["Notes__c"]["filterable"] is False
    assert invoice["Account__c"]["referenceTo"] == ["Account"] and invoice["Account__c"]["relationshipName"] == (
        "Account__r")


def test_describe_has_etag_last_modified_and_answers_304(sf: SF) -> None:
    recorded = _sample("describe_account.yaml")["samples"][0]["response"]["headers"]
    response = sf.get(f"{API}/sobjects/Account/describe")
    assert re.fullmatch(r'"[0-9a-f]{8}--gzip"', response.headers["etag"])
    assert response.headers["last-modified"].endswith(" GMT") and recorded["last-modified"].endswith(" GMT")
    again = sf.get(f"{API}/sobjects/Account/describe", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    since = sf.get(f"{API}/sobjects", headers={"If-Modified-Since": "Mon, 01 Jun 2026 00:00:00 GMT"})
    assert since.status_code == 304 and since.headers["etag"]
    older = sf.get(f"{API}/sobjects", headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert older.status_code == 200


def test_describe_global_entries_match_the_recorded_keys(sf: SF) -> None:
    recorded = json.loads((SAMPLES / "describe_global.body.json").read_text())
    body = sf.get(f"{API}/sobjects").json()
    assert list(body) == list(recorded)
    assert all(list(entry) == list(recorded["sobjects"][0]) for entry in body["sobjects"])
    prefixes = {entry["name"]: entry["keyPrefix"] for entry in body["sobjects"]}
    assert prefixes == {"Account": "001", "Contact": "003", "Product2": "01t", "Pricebook2": "01s",
                        "PricebookEntry": "01u", "Opportunity": "006", "OpportunityLineItem": "00k", "Quote": "0Q0",
                        "QuoteLineItem": "0QL", "User": "005", "Invoice__c": "a00", "NetSuite_Invoice__c": "a01"}


def test_single_record_has_compound_addresses_like_the_recorded_get(sf: SF) -> None:
    recorded = _body(_sample("sobject_get_account.yaml")["samples"][0])
    record_id = sf.query_ok("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    record = sf.get(f"{API}/sobjects/Account/{record_id}").json()
    assert list(record)[:3] == list(recorded)[:3]
    address_keys = set(recorded["BillingAddress"]) - {"stateCode", "countryCode"}
    assert set(record["BillingAddress"]) == address_keys
    assert isinstance(record["IsDeleted"], bool)


def test_bulk_create_and_poll_bodies_follow_the_recorded_job(sf: SF) -> None:
    recorded = json.loads(_sample("bulk2_query_job.yaml")["samples"][0]["response"]["body_raw"])
    response = sf.request("POST", f"{API}/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Account"})
    assert response.status_code == 200
    assert list(response.json()) == list(recorded)
    assert '"state" : "UploadComplete"' in response.text and '"apiVersion" : 61.0' in response.text
    info = sf.get(f"{API}/jobs/query/{response.json()['id']}").json()
    assert list(info)[:10] == list(recorded)[:10] and info["jobType"] == "V2Query"


def test_malformed_query_message_has_caret_and_row_column(sf: SF) -> None:
    recorded = _body(_sample("error_malformed_query.yaml")["samples"][0])[0]
    response = sf.query("SELECT Id,Name,BillingCity,IsDeleted FROM Accout")
    assert response.status_code == 400
    error = response.json()[0]
    assert list(error) == list(recorded)
    assert error == recorded  # same query tail, caret column, Row:Column and text as the recorded INVALID_TYPE
