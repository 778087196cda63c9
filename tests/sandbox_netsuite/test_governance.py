"""Governance and realism knobs: the concurrency pool, latency, scripted and random faults, rejection rules."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from ns_helpers import RECORD, Admin, customer, session
from sandbox.client import AdminError

ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error; charset=UTF-8"


def _concurrent_gets(url: str, count: int) -> list[requests.Response]:
    barrier = threading.Barrier(count)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def worker() -> None:
        s = session()
        barrier.wait()
        response = s.get(url)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_limit_5_and_20_concurrent_requests_gives_exactly_15_429(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(concurrency_limit=5, latency_ms=1500)
    results = _concurrent_gets(f"{netsuite_url}{RECORD}/subsidiary/1", 20)

    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 5 + [429] * 15
    refused = next(r for r in results if r.status_code == 429)
    assert refused.headers["Content-Type"] == ERROR_CONTENT_TYPE
    assert refused.headers["Retry-After"] == "1"
    detail = refused.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert refused.elapsed.total_seconds() < 1.0  # answered at once, not after the latency
    stats = admin.stats()
    assert stats["count_429"] == 15 and stats["peak_concurrency"] == 5 and stats["requests"] == 20
    assert stats["in_flight"] == 0


def test_latency_distribution_and_request_log(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(latency_ms={"mean": 200, "jitter": 50})
    started = time.monotonic()
    response = session().get(f"{netsuite_url}{RECORD}/subsidiary/1")
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and 0.14 <= elapsed < 1.5
    entry = admin.request_log()[-1]
    assert entry["method"] == "GET" and entry["path"] == f"{RECORD}/subsidiary/1" and entry["status"] == 200
    assert 140 <= entry["latency_ms"] < 1500


def test_error_script_is_consumed_in_order(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(error_script=["500", "429", "locked", "drop", "ok"])
    s = session()
    url = f"{netsuite_url}{RECORD}/customer/eid:S1"
    first = s.put(url, json=customer(None))
    assert first.status_code == 500
    assert first.json()["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
    second = s.put(url, json=customer(None))
    assert second.status_code == 429 and "Retry-After" in second.headers
    third = s.put(url, json=customer(None))
    assert third.status_code == 400 and "Record has been changed" in third.json()["o:errorDetails"][0]["detail"]
    with pytest.raises(requests.ConnectionError):
        session().put(url, json=customer(None))
    assert s.put(url, json=customer(None)).status_code == 204
    assert admin.knobs()["fault_script"] == []
    assert [e.get("fault", "ok") for e in admin.request_log()[-5:]] == ["500", "429", "locked", "drop", "ok"]
    assert len(admin.records("customer")) == 1


def test_error_rates_and_slow_responses(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(error_rate_500=1.0)
    assert session().get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 500
    admin.knobs(error_rate_500=0, error_rate_429=1.0)
    assert session().get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 429
    admin.knobs(error_rate_429=0, slow_rate=1.0, slow_ms=400)
    started = time.monotonic()
    assert session().get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 200
    assert time.monotonic() - started >= 0.35


def test_random_faults_are_reproducible_with_a_seed(netsuite_url: str, admin: Admin) -> None:
    def run() -> list[int]:
        admin.knobs(error_rate_500=0.5, random_seed=11)
        s = session()
        return [s.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert 200 in first and 500 in first


def test_reject_rules_dead_letter_chosen_records(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(reject_external_ids=["BAD1"], reject_external_id_pattern="^R(007|123)$")
    s = session()
    for external_id, status in (("BAD1", 400), ("R007", 400), ("R123", 400), ("R1234", 204), ("GOOD", 204)):
        response = s.put(f"{netsuite_url}{RECORD}/customer/eid:{external_id}", json=customer(None))
        assert response.status_code == status, external_id
        if status == 400:
            assert response.json()["o:errorDetails"][0]["o:errorCode"] == "USER_ERROR"
    assert sorted(r["externalId"] for r in admin.records("customer")) == ["GOOD", "R1234"]


def test_locked_rate_only_hits_writes(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(locked_rate=1.0)
    s = session()
    assert s.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 200
    assert s.post(f"{netsuite_url}{RECORD}/customer", json=customer("L1")).status_code == 400
    # SuiteQL is sent as POST but only reads: a reference lookup is never "locked".
    lookup = s.post(f"{netsuite_url}/services/rest/query/v1/suiteql", json={"q": "SELECT id FROM subsidiary"},
                    headers={"Prefer": "transient"})
    assert lookup.status_code == 200, lookup.text


def test_bad_knobs_are_refused_and_change_nothing(netsuite_url: str, admin: Admin) -> None:
    before = admin.knobs()
    for bad in ({"concurency_limit": 3}, {"concurrency_limit": 0}, {"error_rate_500": 2},
                {"latency_ms": {"mean": 1, "spread": 2}}, {"error_script": ["boom"]},
                {"reject_external_id_pattern": "("}, {"latency_ms": 5, "drop_rate": "x"}):
        with pytest.raises(AdminError) as refused:
            admin.knobs(**bad)
        assert refused.value.status == 400, bad
        assert "error" in refused.value.body
    assert admin.knobs() == before


def test_concurrent_upserts_of_one_external_id_make_one_record(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(concurrency_limit=10, latency_ms={"mean": 100, "jitter": 100}, random_seed=5)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def worker(n: int) -> None:
        s = session()
        barrier.wait()
        response = s.put(f"{netsuite_url}{RECORD}/customer/eid:SAME", json=customer(None, phone=str(n)))
        statuses.append(response.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [204] * 10
    assert len(admin.records("customer")) == 1
    assert admin.stats()["writes"] == {"created": 1, "updated": 9, "unchanged": 0, "deleted": 0}


def test_drop_after_saves_the_write_but_loses_the_response(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(error_script=["drop_after"])
    url = f"{netsuite_url}{RECORD}/customer/eid:DA1"
    with pytest.raises(requests.ConnectionError):
        session().put(url, json=customer(None))
    assert [r["externalId"] for r in admin.records("customer")] == ["DA1"]
    assert admin.request_log()[-1]["status"] == 0 and admin.request_log()[-1]["fault"] == "drop_after"
    retried = session().put(url, json=customer(None))  # the client's retry is an update, not a duplicate
    assert retried.status_code == 204 and len(admin.records("customer")) == 1


def test_write_latency_applies_to_writes_only(netsuite_url: str, admin: Admin) -> None:
    admin.knobs(latency_ms=0, write_latency_ms=400)
    s = session()
    started = time.monotonic()
    s.get(f"{netsuite_url}{RECORD}/subsidiary/1")
    read = time.monotonic() - started
    started = time.monotonic()
    s.put(f"{netsuite_url}{RECORD}/customer/eid:W1", json=customer(None))
    write = time.monotonic() - started
    assert read < 0.3 <= 0.35 <= write
