"""Bulk API 2.0 query jobs over HTTP: states, 412, CSV results and locators, unordered rows, abort, delete."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sf_helpers import API, SF


@pytest.fixture(scope="module", autouse=True)
def _org(sf: SF) -> None:
    sf.reset(accounts=1200, contacts=300, opportunities=0, invoices=0)


def _create(sf: SF, soql: str, operation: str = "query") -> Any:
    return sf.request("POST", f"{API}/jobs/query", json={"operation": operation, "query": soql})


def _run(sf: SF, soql: str, operation: str = "query") -> str:
    response = _create(sf, soql, operation)
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    states = [sf.get(f"{API}/jobs/query/{job_id}").json()["state"] for _ in range(2)]
    assert states == ["InProgress", "JobComplete"]
    return job_id


def _results(sf: SF, job_id: str, max_records: int | None = None) -> tuple[list[dict[str, str]], list[Any]]:
    rows: list[dict[str, str]] = []
    pages: list[Any] = []
    locator = ""
    while True:
        params: dict[str, Any] = {"locator": locator} if locator else {}
        if max_records:
            params["maxRecords"] = max_records
        response = sf.get(f"{API}/jobs/query/{job_id}/results", params=params)
        assert response.status_code == 200, response.text
        pages.append(response)
        page_rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
        assert int(response.headers["Sforce-NumberOfRecords"]) == len(page_rows)
        rows += page_rows
        locator = response.headers["Sforce-Locator"]
        if locator == "null":
            return rows, pages


def test_job_states_and_412_before_completion(sf: SF) -> None:
    response = _create(sf, "SELECT Id FROM Account")
    job_id = response.json()["id"]
    assert response.json()["state"] == "UploadComplete" and response.json()["object"] == "Account"
    early = sf.get(f"{API}/jobs/query/{job_id}/results")
    assert early.status_code == 412
    assert early.json() == [{"errorCode": "JOB_NOT_COMPLETE", "message": (
        "can only download query results of successfully completed bulk job with status: JOB_COMPLETE. "
        "Current status: UPLOAD_COMPLETE")}]
    assert sf.get(f"{API}/jobs/query/{job_id}").json()["state"] == "InProgress"
    done = sf.get(f"{API}/jobs/query/{job_id}").json()
    assert done["state"] == "JobComplete" and done["numberRecordsProcessed"] == 1200


def test_results_are_quoted_csv_matching_rest_and_not_in_modstamp_order(sf: SF) -> None:
    soql = "SELECT Id, Name, Description, SystemModstamp, NumberOfEmployees, IsDeleted, Owner.Email FROM Account"
    rows, pages = _results(sf, _run(sf, soql), max_records=500)
    assert [int(p.headers["Sforce-NumberOfRecords"]) for p in pages] == [500, 500, 200]
    first_line = pages[0].content.decode().split("\n", 1)[0]
    assert first_line == '"Id","Name","Description","SystemModstamp","NumberOfEmployees","IsDeleted","Owner.Email"'
    assert pages[0].headers["content-type"].startswith("text/csv")
    rest = {r["Id"]: r for r in sf.all_records(soql)}
    assert len(rows) == len(rest) == 1200
    for row in rows:
        record = rest[row["Id"]]
        assert row["Name"] == record["Name"] and row["Description"] == (record["Description"] or "")
        assert row["SystemModstamp"] == record["SystemModstamp"].replace("+0000", "Z")
        assert row["IsDeleted"] == "false" and row["Owner.Email"] == record["Owner"]["Email"]
    assert any("\n" in row["Name"] or "\n" in row["Description"] for row in rows)  # multi-line values survive
    stamps = [r["SystemModstamp"] for r in rows]
    ids = [r["Id"] for r in rows]
    assert stamps != sorted(stamps) and ids != sorted(ids)


def test_query_all_job_includes_deleted_rows(sf: SF) -> None:
    victim = sf.query_ok("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    sf.admin("DELETE", f"records/Contact/{victim}")
    live, _ = _results(sf, _run(sf, "SELECT Id, IsDeleted FROM Contact"))
    everything, _ = _results(sf, _run(sf, "SELECT Id, IsDeleted FROM Contact", "queryAll"))
    assert victim not in {r["Id"] for r in live}
    assert {r["Id"]: r["IsDeleted"] for r in everything}[victim] == "true"


def test_compound_fields_and_bad_soql_are_refused_at_create(sf: SF) -> None:
    compound = _create(sf, "SELECT Id, BillingAddress FROM Account")
    assert compound.status_code == 400
    assert compound.json() == [{"errorCode": "FUNCTIONALITY_NOT_ENABLED",
                                "message": "Selecting compound data not supported in Bulk Query"}]
    bad_field = _create(sf, "SELECT Id, Nope FROM Account")
    assert bad_field.status_code == 400 and bad_field.json()[0]["errorCode"] == "INVALID_FIELD"
    bad_op = sf.request("POST", f"{API}/jobs/query", json={"operation": "insert", "query": "SELECT Id FROM Account"})
    assert bad_op.status_code == 400


def test_failed_job_reports_its_error_message(sf: SF) -> None:
    sf.admin("POST", "knobs", {"bulk_fail_message": "InvalidBatch : Failed to process query"})
    job_id = _create(sf, "SELECT Id FROM Account").json()["id"]
    sf.get(f"{API}/jobs/query/{job_id}")
    failed = sf.get(f"{API}/jobs/query/{job_id}").json()
    assert failed["state"] == "Failed" and failed["errorMessage"] == "InvalidBatch : Failed to process query"
    assert list(failed)[-1] == "errorMessage"
    assert sf.get(f"{API}/jobs/query/{job_id}/results").status_code == 412
    assert _run(sf, "SELECT Id FROM Account")  # one-shot: the next job succeeds


def test_abort_list_and_delete(sf: SF) -> None:
    job_id = _create(sf, "SELECT Id FROM Account").json()["id"]
    aborted = sf.request("PATCH", f"{API}/jobs/query/{job_id}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert sf.get(f"{API}/jobs/query/{job_id}").json()["state"] == "Aborted"
    listed = sf.get(f"{API}/jobs/query").json()
    assert job_id in {job["id"] for job in listed["records"]} and listed["done"] is True
    assert sf.request("DELETE", f"{API}/jobs/query/{job_id}").status_code == 204
    gone = sf.get(f"{API}/jobs/query/{job_id}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "NOT_FOUND"


def test_polling_pace_knob(sf: SF) -> None:
    sf.admin("POST", "knobs", {"bulk_polls_per_state": 3})
    job_id = _create(sf, "SELECT Id FROM Account LIMIT 5").json()["id"]
    states = [sf.get(f"{API}/jobs/query/{job_id}").json()["state"] for _ in range(6)]
    assert states == ["UploadComplete", "UploadComplete", "InProgress", "InProgress", "InProgress", "JobComplete"]
    sf.admin("POST", "knobs", {"bulk_polls_per_state": 1})
