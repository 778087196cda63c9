"""Realism knobs over real HTTP: latency, scripted and random faults, dropped connections, concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sf_helpers import API, SF

QUERY = "SELECT Id FROM Account LIMIT 1"


@pytest.fixture(autouse=True)
def _calm(sf: SF) -> None:
    sf.admin("POST", "knobs", {"fault_script": [], "latency_ms": 0, "error_rate_503": 0, "error_rate_500": 0,
                               "drop_rate": 0, "slow_rate": 0})
    sf.relogin()


def test_fixed_and_distributed_latency(sf: SF) -> None:
    sf.token()
    sf.admin("POST", "knobs", {"latency_ms": 300})
    started = time.monotonic()
    assert sf.query(QUERY).ok
    assert time.monotonic() - started >= 0.3
    sf.admin("POST", "knobs", {"latency_ms": {"min": 100, "max": 150}, "fault_seed": 1})
    started = time.monotonic()
    assert sf.query(QUERY).ok
    assert 0.1 <= time.monotonic() - started < 1.0
    sf.admin("POST", "knobs", {"latency_ms": 0})
    started = time.monotonic()
    sf.admin("GET", "stats")
    assert time.monotonic() - started < 0.1


def test_scripted_faults_are_consumed_in_order_on_matching_paths(sf: SF) -> None:
    sf.token()
    sf.admin("POST", "knobs", {"fault_script": [{"match": "/query", "status": 503}, {"match": "/query", "status": 500},
                                                {"match": "/sobjects", "status": 503}]})
    assert sf.get(f"{API}/limits").status_code == 200  # does not match the head of the script
    unavailable = sf.query(QUERY)
    assert unavailable.status_code == 503
    assert unavailable.json() == [{"message": "Server temporarily unavailable.", "errorCode": "SERVER_UNAVAILABLE"}]
    assert unavailable.headers["Sforce-Limit-Info"].startswith("api-usage=")
    broken = sf.query(QUERY)
    assert broken.status_code == 500 and broken.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert sf.query(QUERY).status_code == 200
    assert sf.get(f"{API}/sobjects").status_code == 503
    assert sf.admin("GET", "knobs")["fault_script"] == []


def test_dropped_connection_closes_without_a_response(sf: SF) -> None:
    sf.token()
    sf.admin("POST", "knobs", {"fault_script": [{"match": "/query", "drop": True}]})
    with pytest.raises(requests.ConnectionError):
        sf.query(QUERY)
    assert sf.query(QUERY).status_code == 200


def test_slow_response_trips_a_client_timeout(sf: SF) -> None:
    sf.token()
    sf.admin("POST", "knobs", {"fault_script": [{"match": "/query", "delay_ms": 1500}]})
    with pytest.raises(requests.Timeout):
        sf.query(QUERY, timeout=0.5)
    assert sf.query(QUERY).status_code == 200


def test_session_expiry_mid_run(sf: SF) -> None:
    sf.reset(accounts=2500, contacts=0, opportunities=0, invoices=0)
    first = sf.query_ok("SELECT Id FROM Account")
    sf.admin("POST", "knobs", {"fault_script": [{"match": "/query/", "expire_sessions": True}]})
    expired = sf.get(first["nextRecordsUrl"])
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    fresh = sf.token_response().json()["access_token"]
    assert len(sf.get(first["nextRecordsUrl"], token=fresh).json()["records"]) == 500


def test_random_fault_rates_are_reproducible_with_a_seed(sf: SF) -> None:
    sf.token()

    def statuses() -> list[int]:
        sf.admin("POST", "knobs", {"error_rate_503": 0.3, "error_rate_500": 0.2, "fault_seed": 7})
        return [sf.query(QUERY).status_code for _ in range(30)]

    first, second = statuses(), statuses()
    assert first == second
    assert {200, 500, 503} == set(first)
    sf.admin("POST", "knobs", {"error_rate_503": 0, "error_rate_500": 0, "drop_rate": 1.0})
    with pytest.raises(requests.ConnectionError):
        sf.query(QUERY)


def test_unknown_knobs_and_bad_values_are_refused(sf: SF) -> None:
    assert "unknown knob" in sf.admin("POST", "knobs", {"latency": 5}, expect=400)["error"]
    assert "error_rate_503" in sf.admin("POST", "knobs", {"error_rate_503": 3}, expect=400)["error"]
    assert "latency_ms" in sf.admin("POST", "knobs", {"latency_ms": "slow"}, expect=400)["error"]
    assert sf.query(QUERY).status_code == 200  # nothing half-applied


def test_concurrent_clients_are_served_in_parallel(sf: SF) -> None:
    token = sf.token()
    sf.admin("POST", "knobs", {"latency_ms": 400})

    def one(_: int) -> int:
        return requests.get(f"{sf.base}{API}/query", params={"q": QUERY}, timeout=30,
                            headers={"Authorization": f"Bearer {token}"}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(8)))
    assert codes == [200] * 8
    assert time.monotonic() - started < 8 * 0.4 / 2
