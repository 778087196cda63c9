"""The realism both stand-ins share (`sandbox.realism`): one knob vocabulary, one validator, one script format.

The same knob name means the same thing on both servers, old NetSuite names still work (with a deprecation
line) but are listed under the current name, script steps may be names or objects on both, and a proxy's
HTML 5xx page can be injected on both.
"""

from __future__ import annotations

from dataclasses import fields

import pytest
import requests
from sandbox.client import AdminError, NetSuiteClient
from sf_helpers import API, SF

from sandbox import realism

QUERY = "SELECT Id FROM Account LIMIT 1"


@pytest.fixture(autouse=True)
def _calm(sf: SF, netsuite_admin: NetSuiteClient) -> None:
    sf.admin("POST", "knobs", {"fault_script": [], "latency_ms": 0, "error_rate_503": 0, "error_rate_500": 0,
                               "drop_rate": 0, "drop_after_rate": 0, "slow_rate": 0})
    netsuite_admin.reset(knobs=True)
    sf.relogin()


@pytest.mark.parametrize("status", [502, 503, 504])
def test_salesforce_html_5xx_from_a_script_step(sf: SF, status: int) -> None:
    sf.token()
    sf.admin("POST", "knobs", {"fault_script": [f"html{status}", {"match": "/query", "status": status,
                                                                  "html": True}]})
    for _ in range(2):
        response = sf.query(QUERY)
        assert response.status_code == status
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text.startswith("<!DOCTYPE html>") and f"<title>{status} " in response.text
    assert sf.query(QUERY).status_code == 200


def test_salesforce_named_steps_401_mid_run_and_drop(sf: SF) -> None:
    sf.token()
    sf.admin("POST", "knobs", {"fault_script": ["ok", "401", "drop"]})
    assert sf.query(QUERY).status_code == 200
    assert sf.query(QUERY).status_code == 401
    with pytest.raises(requests.ConnectionError):
        sf.query(QUERY)
    assert sf.query(QUERY).status_code == 200


@pytest.mark.parametrize("knobs", [{"fault_script": ["boom"]}, {"fault_script": [{"status": 503, "colour": 1}]},
                                   {"latency_ms": {"mean": 5, "spread": 1}}, {"fault_seed": "x"},
                                   {"token_ttl_seconds": 0}])
def test_one_validator_refuses_the_same_bad_values_on_both(sf: SF, netsuite_admin: NetSuiteClient,
                                                           knobs: dict[str, object]) -> None:
    name = next(iter(knobs))
    assert name in sf.admin("POST", "knobs", knobs, expect=400)["error"]
    with pytest.raises(AdminError) as refused:
        netsuite_admin.knobs(**knobs)
    assert refused.value.status == 400 and name in refused.value.body["error"]


def test_shared_names_and_latency_forms_are_accepted_by_both(sf: SF, netsuite_admin: NetSuiteClient) -> None:
    common = {"latency_ms": {"min": 0, "max": 1}, "fault_seed": 3, "token_ttl_seconds": 7200, "fault_script": []}
    assert {k: sf.admin("POST", "knobs", common)[k] for k in common} == common
    shown = netsuite_admin.knobs(**common)
    assert {k: shown[k] for k in common} == common
    for form in ({"mean": 1, "jitter": 1}, {"mean": 1, "stddev": 1}, 2):
        assert sf.admin("POST", "knobs", {"latency_ms": form})["latency_ms"] == form
        shown = netsuite_admin.knobs(latency_ms=form)
        assert shown["latency_ms"] == form


def test_old_names_are_accepted_with_a_deprecation_line(netsuite_admin: NetSuiteClient,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    shown = netsuite_admin.knobs(random_seed=9, error_script=["ok"], token_ttl_s=60, retry_after_s=2, pool_held_s=0,
                                 timestamp_tolerance_s=200)
    assert (shown["fault_seed"], shown["fault_script"], shown["token_ttl_seconds"]) == (9, ["ok"], 60)
    assert (shown["retry_after_seconds"], shown["timestamp_tolerance_seconds"]) == (2, 200)
    assert not set(realism.RENAMED) & set(shown)  # only the current names are listed
    with caplog.at_level("WARNING", logger="sandbox.realism"):
        realism.validate({"random_seed": 1}, {"fault_seed": realism.optional_whole}, "test")
    assert "'random_seed' is deprecated, use 'fault_seed'" in caplog.text
    with pytest.raises(realism.KnobError, match="same knob"):
        realism.validate({"random_seed": 1, "fault_seed": 2}, {"fault_seed": realism.optional_whole}, "test")


def test_one_fault_model_the_shared_fault_knobs_are_listed_by_both(sf: SF, netsuite_admin: NetSuiteClient) -> None:
    """`realism.FaultKnobs` is the one set of shared fault knobs; `error_rate_<status>` covers each API's statuses,
    and `error_rate_500` (the status both answer) is the same knob on both."""
    shared = {f.name for f in fields(realism.FaultKnobs)}
    assert shared == {"latency_ms", "drop_rate", "drop_after_rate", "slow_rate", "slow_ms", "fault_seed",
                      "fault_script"}
    salesforce, netsuite = sf.admin_client.knobs(), netsuite_admin.knobs()
    assert shared <= set(salesforce) and shared <= set(netsuite)
    assert {k for k in salesforce if k.startswith("error_rate_")} == {"error_rate_500", "error_rate_503"}
    assert {k for k in netsuite if k.startswith("error_rate_")} == {"error_rate_500", "error_rate_429"}
    for status in ("502", "503", "504"):
        assert f"html{status}" in realism.SHARED_STEPS


def test_one_fault_model_draws_the_same_faults_from_the_same_seed() -> None:
    knobs = realism.FaultKnobs(drop_rate=0.1, drop_after_rate=0.1, slow_rate=0.1)
    setattr(knobs, "error_rate_500", 0.2)  # noqa: B010 (a stand-in's own field)

    def faults(seed: int) -> list[str | None]:
        model = realism.FaultModel(seed, ("500",))
        return [(model.next_step(knobs, "GET", "/x") or {}).get("fault") for _ in range(200)]

    first = faults(4)
    assert first == faults(4) and first != faults(5)
    assert set(first) == {None, "drop", "drop_after", "500", "slow"}
    knobs.fault_script = [{"fault": "drop_after", "match": "/y"}]
    model = realism.FaultModel(4, ("500",))
    assert model.next_step(knobs, "GET", "/y") == {"fault": "drop_after", "match": "/y"}  # the script first


def test_salesforce_drop_after_applies_the_write_then_loses_the_response(sf: SF) -> None:
    """The lost-response case both stand-ins now share: the record is saved, the client sees a closed
    connection (before this change only NetSuite had `drop_after_rate`)."""
    sf.token()
    name = "Dropped After Saving Ltd"
    sf.admin("POST", "knobs", {"fault_script": [{"fault": "drop_after", "match": "/composite/sobjects"}]})
    with pytest.raises(requests.ConnectionError):
        sf.request("POST", f"{API}/composite/sobjects",
                   json={"records": [{"attributes": {"type": "Account"}, "Name": name}]})
    saved = sf.query_ok(f"SELECT Id FROM Account WHERE Name = '{name}'")
    assert saved["totalSize"] == 1
    sf.admin("POST", "knobs", {"drop_after_rate": 1.0})
    with pytest.raises(requests.ConnectionError):
        sf.query(QUERY)
    sf.admin("POST", "knobs", {"drop_after_rate": 0})
    assert sf.query(QUERY).status_code == 200
