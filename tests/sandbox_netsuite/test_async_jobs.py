"""Batch upserts and async jobs over real HTTP: 202 + Location, job/task/result shapes, per-record outcomes,
idempotency keys, jobs that fail part-way, and the same validation as a synchronous upsert."""

from __future__ import annotations

import time

import pytest
import requests
from ns_helpers import RECORD, Admin, customer

COLLECTION = "application/vnd.oracle.resource+json; type=collection"
ASYNC = "/services/rest/async/v1/job"
BATCH_HEADERS = {"Content-Type": COLLECTION, "Prefer": "respond-async"}


def _submit(ns: requests.Session, url: str, items: list[dict], **headers: str) -> requests.Response:
    return ns.put(f"{url}{RECORD}/customer", json={"items": items}, headers={**BATCH_HEADERS, **headers})


def _wait(ns: requests.Session, url: str, location: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        job = ns.get(f"{url}{location}").json()
        if job["completed"]:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def _results(ns: requests.Session, url: str, location: str) -> list[dict]:
    tasks = ns.get(f"{url}{location}/task").json()
    assert tasks["totalResults"] == len(tasks["items"])
    results = []
    for item in tasks["items"]:
        task = ns.get(item["links"][0]["href"]).json()
        assert task["completed"] is True
        result = ns.get(f"{url}{location}/task/{item['id']}/result")
        assert result.status_code == 200
        results.append({"progress": task["progress"], **result.json()})
    return results


def test_batch_upsert_gives_each_record_its_outcome(admin: Admin, ns: requests.Session, netsuite_url: str) -> None:
    admin.knobs(reject_external_ids=["B3"], async_processors=2)
    ns.put(f"{netsuite_url}{RECORD}/customer/eid:B1", json=customer(companyName="Old name"))
    response = _submit(ns, netsuite_url, [customer(f"B{i}") for i in range(1, 6)])

    assert response.status_code == 202, response.text
    assert response.headers["Preference-Applied"] == "respond-async"
    location = response.headers["Location"]
    assert location.startswith(f"{ASYNC}/")
    job = _wait(ns, netsuite_url, location)
    assert job["progress"] == "failed"  # not every task succeeded
    assert job["task"]["links"][0]["href"] == f"{netsuite_url}{location}/task"
    results = _results(ns, netsuite_url, location)
    assert [r["progress"] for r in results] == ["succeeded", "succeeded", "failed", "succeeded", "succeeded"]
    refused = results[2]["o:errorDetails"][0]
    assert refused["o:errorCode"] == "USER_ERROR" and "validation rule" in refused["detail"]
    stored = {r["externalId"]: r for r in admin.records("customer")}
    assert sorted(stored) == ["B1", "B2", "B4", "B5"]
    assert stored["B1"]["companyName"] == "Company B1"  # upserted: the existing record was updated, not doubled
    for result, eid in zip([results[i] for i in (0, 1, 3, 4)], ["B1", "B2", "B4", "B5"], strict=True):
        assert result["id"] == stored[eid]["id"]
        assert result["links"][0]["href"].endswith(f"/customer/{stored[eid]['id']}")


def test_batch_items_are_validated_like_synchronous_writes(admin: Admin, ns: requests.Session,
                                                           netsuite_url: str) -> None:
    response = _submit(ns, netsuite_url, [customer("V1"), {"externalId": "V2", "companyName": "No subsidiary"}])
    results = _results(ns, netsuite_url, _wait(ns, netsuite_url, response.headers["Location"])["links"][0]["href"]
                       .removeprefix(netsuite_url))
    assert results[0]["progress"] == "succeeded"
    assert results[1]["progress"] == "failed"
    sync = ns.put(f"{netsuite_url}{RECORD}/customer/eid:V3", json={"companyName": "No subsidiary"})
    assert results[1]["o:errorDetails"][0]["o:errorCode"] == sync.json()["o:errorDetails"][0]["o:errorCode"]


def test_idempotency_key_answers_with_the_first_job(admin: Admin, ns: requests.Session, netsuite_url: str) -> None:
    key = "6f1c9a52-1b8e-5d2f-9a41-3c2b7e8d9f00"
    first = _submit(ns, netsuite_url, [customer("I1")], **{"X-NetSuite-idempotency-key": key})
    again = _submit(ns, netsuite_url, [customer("I1")], **{"X-NetSuite-idempotency-key": key})

    assert first.status_code == 202
    assert again.status_code == 400
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json()["o:errorDetails"][0]["o:errorCode"] == "IDEMPOTENCY_ERROR"
    log = admin.jobs()
    assert [(j["idempotency_key"], j["refused_resubmissions"]) for j in log] == [(key, 1)]
    _wait(ns, netsuite_url, first.headers["Location"])
    assert len(admin.records("customer")) == 1


def test_a_job_stopped_part_way_fails_its_remaining_tasks(admin: Admin, ns: requests.Session,
                                                          netsuite_url: str) -> None:
    admin.knobs(async_fail_after=2)
    location = _submit(ns, netsuite_url, [customer(f"P{i}") for i in range(4)]).headers["Location"]
    _wait(ns, netsuite_url, location)
    results = _results(ns, netsuite_url, location)
    assert [r["progress"] for r in results] == ["succeeded", "succeeded", "failed", "failed"]
    assert results[3]["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
    assert sorted(r["externalId"] for r in admin.records("customer")) == ["P0", "P1"]


@pytest.mark.parametrize(("headers", "items", "code"), [
    ({"Prefer": ""}, [customer("X1")], "INVALID_HEADER"),
    ({}, [customer(f"X{i}") for i in range(101)], "INVALID_CONTENT"),
    ({}, [{"companyName": "no external id", "subsidiary": {"id": "1"}}], "INVALID_CONTENT"),
    ({}, [], "INVALID_CONTENT"),
], ids=["no-prefer", "over-100", "no-external-id", "empty"])
def test_malformed_batches_are_refused_whole(admin: Admin, ns: requests.Session, netsuite_url: str,
                                             headers: dict, items: list, code: str) -> None:
    response = _submit(ns, netsuite_url, items, **headers)
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == code
    assert admin.jobs() == []


def test_unknown_job_and_unfinished_result(admin: Admin, ns: requests.Session, netsuite_url: str) -> None:
    assert ns.get(f"{netsuite_url}{ASYNC}/999999").status_code == 404
    admin.knobs(async_latency_ms=2000)
    location = _submit(ns, netsuite_url, [customer("U1")]).headers["Location"]
    job = ns.get(f"{netsuite_url}{location}").json()
    assert job["completed"] is False and job["progress"] in ("pending", "processing")
    early = ns.get(f"{netsuite_url}{location}/task/1/result")
    assert early.status_code == 400


def test_a_held_queue_keeps_jobs_pending_until_released(admin: Admin, ns: requests.Session, netsuite_url: str) -> None:
    """`async_queue_held`: the processors are busy with other work; queued tasks start, in order, once released."""
    admin.knobs(async_queue_held=True)
    location = _submit(ns, netsuite_url, [customer("H1"), customer("H2")]).headers["Location"]
    polls = [ns.get(f"{netsuite_url}{location}").json() for _ in range(5)]
    assert all(job["progress"] == "pending" and not job["completed"] for job in polls)
    assert not {"H1", "H2"} & {r["externalId"] for r in admin.records("customer")}
    admin.knobs(async_queue_held=False)
    assert _wait(ns, netsuite_url, location)["progress"] == "succeeded"
    assert {"H1", "H2"} <= {r["externalId"] for r in admin.records("customer")}
