"""The stand-in's writes (issue 28 item 7): sObject Collections and Bulk 2.0 ingest, validated as Salesforce does.

Real HTTP against the session sandbox. Each test names the Salesforce behaviour it pins: per-record SaveResults in
request order, request-level 400s for what the JSON parser refuses, allOrNone roll-back, external-id upserts,
unique fields, validation rules and locked rows (admin knobs), and that every write shows up for a reader
(SystemModstamp moves, LastModifiedById is the integration user).
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any

import pytest
import requests
from sf_helpers import API, DEMO, SF
from simple_salesforce import Salesforce

INTEGRATION_USER_PREFIX = "005"


def _collection(sf: SF, method: str, records: list[dict[str, Any]], path: str = "", **body: Any) -> Any:
    response = sf.request(method, f"{API}/composite/sobjects{path}", json={"records": records, **body})
    return response.status_code, response.json()


def _account(sf: SF) -> dict[str, Any]:
    return sf.query_ok("SELECT Id, Name, SystemModstamp FROM Account ORDER BY Id LIMIT 1")["records"][0]


@pytest.fixture(autouse=True)
def _no_rules(sf: SF) -> Any:
    yield
    sf.admin("POST", "knobs", {"validation_rules": [], "locked_records": {}})


def test_update_by_id_shows_up_for_the_tap(sf: SF) -> None:
    account = _account(sf)
    status, results = _collection(sf, "PATCH", [
        {"attributes": {"type": "Account"}, "Id": account["Id"], "NetSuite_Id__c": "ns-1",
         "NetSuite_Sync_Status__c": "Synced", "NetSuite_Last_Sync__c": "2026-01-02T03:04:05.000+0000"}])
    assert status == 200
    assert results == [{"id": account["Id"], "success": True, "errors": []}]
    row = sf.query_ok(f"SELECT NetSuite_Id__c, NetSuite_Sync_Status__c, SystemModstamp, LastModifiedById "
                      f"FROM Account WHERE Id = '{account['Id']}'")["records"][0]
    assert row["NetSuite_Id__c"] == "ns-1" and row["NetSuite_Sync_Status__c"] == "Synced"
    assert row["SystemModstamp"] >= account["SystemModstamp"]
    assert row["LastModifiedById"].startswith(INTEGRATION_USER_PREFIX)
    assert sf.query_ok(f"SELECT Id FROM Account WHERE SystemModstamp >= {row['SystemModstamp'].replace('+0000', 'Z')}"
                       )["totalSize"] >= 1


def test_partial_failure_per_record_in_order(sf: SF) -> None:
    account = _account(sf)
    status, results = _collection(sf, "PATCH", [
        {"attributes": {"type": "Account"}, "Id": account["Id"], "Description": "ok"},
        {"attributes": {"type": "Account"}, "Id": account["Id"], "CreatedDate": "2020-01-01T00:00:00Z"},
        {"attributes": {"type": "Account"}, "Id": "001000000000000AAA", "Description": "gone"},
        {"attributes": {"type": "Account"}, "Description": "no id"},
        {"attributes": {"type": "Account"}, "Id": account["Id"], "AccountNumber": "x" * 41},
    ])
    assert status == 200
    assert results[0]["success"] is True
    codes = [r["errors"][0]["statusCode"] if not r["success"] else None for r in results]
    assert codes == [None, "INVALID_FIELD_FOR_INSERT_UPDATE", "INVALID_CROSS_REFERENCE_KEY", "MISSING_ARGUMENT",
                     "STRING_TOO_LONG"]
    assert results[1]["errors"][0]["fields"] == ["CreatedDate"]


def test_all_or_none_rolls_everything_back(sf: SF) -> None:
    account = _account(sf)
    status, results = _collection(sf, "PATCH", [
        {"attributes": {"type": "Account"}, "Id": account["Id"], "Description": "rolled back"},
        {"attributes": {"type": "Account"}, "Id": account["Id"], "SystemModstamp": "2020-01-01T00:00:00Z"},
    ], allOrNone=True)
    assert status == 200
    assert results[0] == {"success": False, "errors": [{
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
        "fields": []}]}
    described = sf.query_ok(f"SELECT Description FROM Account WHERE Id = '{account['Id']}'")["records"][0]
    assert described["Description"] != "rolled back"


def test_request_level_errors(sf: SF) -> None:
    account = _account(sf)
    assert _collection(sf, "PATCH", [{"attributes": {"type": "Account"}, "Id": account["Id"], "Nope__c": 1}]) == (
        400, [{"message": "No such column 'Nope__c' on sobject of type Account", "errorCode": "INVALID_FIELD"}])
    status, body = _collection(sf, "PATCH", [{"attributes": {"type": "Account"}, "Id": account["Id"],
                                               "NumberOfEmployees": "many"}])
    assert (status, body[0]["errorCode"]) == (400, "JSON_PARSER_ERROR")
    status, body = _collection(sf, "PATCH", [{"attributes": {"type": "Account"}, "Id": account["Id"]}] * 201)
    assert (status, body[0]["errorCode"]) == (400, "EXCEEDED_ID_LIMIT")
    assert _collection(sf, "PATCH", [])[1][0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_upsert_by_external_id_creates_then_updates_custom_object(sf: SF) -> None:
    account = _account(sf)
    invoice = {"attributes": {"type": "NetSuite_Invoice__c"}, "Name": "INV100", "NetSuite_Id__c": "ns-inv-100",
               "Account__c": account["Id"], "Total__c": 120.5, "Status__c": "Open"}
    status, first = _collection(sf, "PATCH", [invoice], "/NetSuite_Invoice__c/NetSuite_Id__c")
    assert status == 200 and first[0]["success"] and first[0]["created"] is True
    _, second = _collection(sf, "PATCH", [{**invoice, "Status__c": "Paid In Full"}],
                            "/NetSuite_Invoice__c/NetSuite_Id__c")
    assert second == [{"id": first[0]["id"], "success": True, "errors": [], "created": False}]
    rows = sf.query_ok("SELECT Id, Status__c FROM NetSuite_Invoice__c WHERE NetSuite_Id__c = 'ns-inv-100'")
    assert rows["totalSize"] == 1 and rows["records"][0]["Status__c"] == "Paid In Full"
    _, twice = _collection(sf, "PATCH", [invoice, invoice], "/NetSuite_Invoice__c/NetSuite_Id__c")
    assert [r["errors"][0]["statusCode"] for r in twice] == ["DUPLICATE_EXTERNAL_ID"] * 2
    assert _collection(sf, "PATCH", [invoice], "/NetSuite_Invoice__c/Name")[1][0]["errorCode"] == "INVALID_FIELD"


def test_unique_field_validation_rule_and_lock(sf: SF) -> None:
    first, second = sf.query_ok("SELECT Id FROM Contact ORDER BY Id LIMIT 2")["records"]
    assert _collection(sf, "PATCH", [{"attributes": {"type": "Contact"}, "Id": first["Id"],
                                      "NetSuite_Id__c": "ns-c-1"}])[1][0]["success"]
    _, taken = _collection(sf, "PATCH", [{"attributes": {"type": "Contact"}, "Id": second["Id"],
                                          "NetSuite_Id__c": "ns-c-1"}])
    assert taken[0]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    sf.admin_client.validation_rule("Contact", "NetSuite_Sync_Status__c", "Sync status locked by finance",
                                    equals="Error")
    _, refused = _collection(sf, "PATCH", [{"attributes": {"type": "Contact"}, "Id": second["Id"],
                                            "NetSuite_Sync_Status__c": "Error"}])
    assert refused[0]["errors"][0] == {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                       "message": "Sync status locked by finance", "fields": []}
    sf.admin_client.lock_records(1, second["Id"])
    update = [{"attributes": {"type": "Contact"}, "Id": second["Id"], "Title": "Buyer"}]
    assert _collection(sf, "PATCH", update)[1][0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert _collection(sf, "PATCH", update)[1][0]["success"] is True  # the lock is gone on the next write


def _job(sf: SF, body: dict[str, Any]) -> dict[str, Any]:
    response = sf.request("POST", f"{API}/jobs/ingest", json={"contentType": "CSV", "lineEnding": "LF", **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _run_job(sf: SF, body: dict[str, Any], content: str) -> dict[str, Any]:
    job = _job(sf, body)
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"/jobs/ingest/{job['id']}/batches")
    upload = sf.request("PUT", f"/{job['contentUrl']}", data=content.encode(), headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201, upload.text
    closed = sf.request("PATCH", f"{API}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}).json()
    assert closed["state"] == "UploadComplete" and "contentUrl" not in closed
    for _ in range(20):
        info = sf.request("GET", f"{API}/jobs/ingest/{job['id']}").json()
        if info["state"] in ("JobComplete", "Failed"):
            return dict(info)
    raise AssertionError("the job never finished")


def _results(sf: SF, job_id: str, kind: str) -> list[dict[str, str]]:
    response = sf.request("GET", f"{API}/jobs/ingest/{job_id}/{kind}/")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.text)))


def test_bulk_upsert_partial_failure(sf: SF) -> None:
    products = sf.query_ok("SELECT Id FROM Product2 ORDER BY Id LIMIT 3")["records"]
    lines = ["Id,NetSuite_Id__c,NetSuite_Sync_Status__c,NetSuite_Last_Error__c"]
    lines += [f"{products[0]['Id']},ns-p-1,Synced,#N/A", f"{products[1]['Id']},ns-p-2,Bogus,",
              f"{products[2]['Id']},ns-p-3,Error,\"Error: INVALID_CONTENT, line 2\""]
    sf.admin_client.lock_records(1, products[2]["Id"])
    info = _run_job(sf, {"object": "Product2", "operation": "update"}, "\n".join(lines) + "\n")
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 3, 1)
    done = _results(sf, info["id"], "successfulResults")
    failed = _results(sf, info["id"], "failedResults")
    assert {r["sf__Id"] for r in done} == {products[0]["Id"], products[1]["Id"]}
    assert all(r["sf__Created"] == "false" for r in done)
    assert failed[0]["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:") and failed[0]["Id"] == products[2]["Id"]


def test_bulk_upsert_creates_once_and_unknown_column_fails_job(sf: SF) -> None:
    content = "Name,NetSuite_Id__c,Total__c\nINV-B1,ns-b-1,10.5\nINV-B2,ns-b-2,abc\n"
    info = _run_job(sf, {"object": "NetSuite_Invoice__c", "operation": "upsert",
                         "externalIdFieldName": "NetSuite_Id__c"}, content)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    failed = _results(sf, info["id"], "failedResults")
    assert failed[0]["sf__Error"].startswith("INVALID_FIELD:Failed to deserialize field at col 3.")
    again = _run_job(sf, {"object": "NetSuite_Invoice__c", "operation": "upsert",
                          "externalIdFieldName": "NetSuite_Id__c"}, content)
    assert [r["sf__Created"] for r in _results(sf, again["id"], "successfulResults")] == ["false"]
    assert sf.query_ok("SELECT Id FROM NetSuite_Invoice__c WHERE NetSuite_Id__c = 'ns-b-1'")["totalSize"] == 1
    bad = _run_job(sf, {"object": "Account", "operation": "update"}, "Id,Nope__c\n001000000000001AAA,1\n")
    assert bad["state"] == "Failed" and bad["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"


def test_simple_salesforce_bulk2_upsert_runs_unmodified(sf: SF) -> None:
    """An ingest client nobody here wrote (simple-salesforce's bulk2) drives the stand-in's jobs to the end."""
    tls_url, ca_bundle = os.environ["SANDBOX_SALESFORCE_TLS_URL"], os.environ["SANDBOX_CA_BUNDLE"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
        session = requests.Session()
        token = session.post(f"{tls_url}/services/oauth2/token", data={"grant_type": "refresh_token", **DEMO}).json()
        client = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                            version="61.0")
        records = [{"NetSuite_Id__c": f"ss-{n}", "Name": f"SS{n}", "Total__c": str(n)} for n in range(3)]
        records.append({"NetSuite_Id__c": "ss-bad", "Name": "SSbad", "Total__c": "lots"})
        result = client.bulk2.NetSuite_Invoice__c.upsert(records=records, external_id_field="NetSuite_Id__c", wait=0)
        assert [(r["numberRecordsProcessed"], r["numberRecordsFailed"]) for r in result] == [(4, 1)]
        failed = client.bulk2.NetSuite_Invoice__c.get_failed_records(result[0]["job_id"])
        assert "ss-bad" in failed and "INVALID_FIELD:Failed to deserialize field" in failed
    rows = sf.query_ok("SELECT NetSuite_Id__c FROM NetSuite_Invoice__c WHERE NetSuite_Id__c LIKE 'ss-%'")["records"]
    assert sorted(r["NetSuite_Id__c"] for r in rows) == ["ss-0", "ss-1", "ss-2"]


def test_a_person_edit_is_told_apart_from_the_integrations(sf: SF) -> None:
    account = _account(sf)
    person = sf.query_ok("SELECT Id FROM User WHERE Username != 'integration@example.com' LIMIT 1")["records"][0]["Id"]
    sf.admin("PATCH", f"records/Account/{account['Id']}", {"Description": "called them", "modified_by": person})
    row = sf.query_ok(f"SELECT LastModifiedById FROM Account WHERE Id = '{account['Id']}'")["records"][0]
    assert row["LastModifiedById"] == person
    _collection(sf, "PATCH", [{"attributes": {"type": "Account"}, "Id": account["Id"], "NetSuite_Id__c": "ns-p"}])
    row = sf.query_ok(f"SELECT LastModifiedById FROM Account WHERE Id = '{account['Id']}'")["records"][0]
    assert row["LastModifiedById"] != person and row["LastModifiedById"].startswith(INTEGRATION_USER_PREFIX)
