"""The tap at real-org scale (issue 16), as a real subprocess against the sandbox: 800-field objects under the
URI limit, QUERY_TIMEOUT windows, failed Bulk jobs, expired cursors, schema drift, formula marks."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tap_helpers import TAP, TapRun, admin, discover, parse_output, reset, run_tap, tap_config


@pytest.fixture(autouse=True)
def _standard_org():
    yield
    reset(accounts=0)  # knobs back to their defaults, standard Account shape


def _all_ids(stream: str = "Account") -> set[str]:
    return {r["Id"] for r in admin("GET", f"records/{stream}")["records"]}


def _empty_as_null(value: Any) -> Any:
    """Salesforce stores no empty strings; the sandbox's REST answers keep some, which issue 18 normalises."""
    if value == "":
        return None
    if isinstance(value, dict):
        return {k: _empty_as_null(v) for k, v in value.items()}
    return value


def _by_id(run: TapRun, stream: str = "Account") -> dict[str, dict]:
    return {r["Id"]: {k: _empty_as_null(v) for k, v in r.items()} for r in run.records[stream]}


def _bookmarks(run: TapRun, stream: str = "Account") -> list[str]:
    values = [s.get("bookmarks", {}).get(stream, {}).get("replication_key_value") for s in run.states]
    return [v for v in values if v]


def _schemas(stdout_run: subprocess.CompletedProcess[str], stream: str) -> list[dict]:
    return [m["schema"] for m in map(json.loads, stdout_run.stdout.splitlines())
            if m["type"] == "SCHEMA" and m["stream"] == stream]


def _run_raw(tmp_path: Path, config: dict, catalog: dict, state: dict | None = None) -> subprocess.CompletedProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    args = [TAP, "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp_path / "state.json")]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)


# -- wide objects ---------------------------------------------------------------------------------------------------
def test_800_field_account_rest_and_bulk_emit_identical_records_under_the_uri_limit(tmp_path: Path) -> None:
    reset(accounts=300, account_fields=800)
    catalog = discover(tmp_path / "d", tap_config())
    assert len(catalog["streams"][0]["schema"]["properties"]) == 800
    rest = run_tap(tmp_path / "rest", tap_config(page_size=200), catalog=catalog)
    bulk = run_tap(tmp_path / "bulk", tap_config(api_type="bulk"), catalog=catalog)
    assert "split into 2 field chunks" in rest.stderr
    assert "Bulk 2.0" in bulk.stderr
    assert set(rest.ids()) == _all_ids()
    assert _by_id(rest) == _by_id(bulk)
    assert len(next(iter(_by_id(rest).values()))) == 800
    assert rest.bookmark() == bulk.bookmark() == max(r["SystemModstamp"] for r in rest.records["Account"])
    log = admin("GET", "requests")
    assert log["over_limit"] == 0
    assert log["max_uri_bytes"] <= log["uri_limit"] == 16384
    assert sum(r["status"] == 414 for r in log["requests"]) == 0


def test_wide_read_of_records_sharing_one_timestamp_merges_chunks_by_id(tmp_path: Path) -> None:
    # 1,000 records share one SystemModstamp: the per-page range query of the second chunk would return all of
    # them for every page, so the tap asks for that chunk by `Id IN (...)` instead; records stay whole.
    reset(accounts=1200, account_fields=800, shared_modstamp_accounts=1000)
    catalog = discover(tmp_path / "d", tap_config())
    rest = run_tap(tmp_path / "rest", tap_config(page_size=200), catalog=catalog)
    bulk = run_tap(tmp_path / "bulk", tap_config(api_type="bulk"), catalog=catalog)
    assert sorted(rest.ids()) == sorted(_all_ids())
    assert _by_id(rest) == _by_id(bulk)
    assert admin("GET", "requests")["over_limit"] == 0


# -- QUERY_TIMEOUT --------------------------------------------------------------------------------------------------
def _kill_after(config_path: Path, catalog_path: Path | None, records: int) -> TapRun:
    args = [TAP, "--config", str(config_path), *(["--catalog", str(catalog_path)] if catalog_path else [])]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines, seen = [], 0
    for line in process.stdout:
        lines.append(line)
        seen += '"type":"RECORD"' in line
        if seen >= records:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    return parse_output("".join(lines), -9, "")


def _timeout_read_completes_in_windows(tmp_path: Path, accounts: int, timeout_rows: int) -> None:
    reset(accounts=accounts)
    admin("POST", "knobs", {"query_timeout_rows": timeout_rows})
    config = tap_config(page_size=200)
    run = run_tap(tmp_path / "full", config, timeout=900)
    assert "QUERY_TIMEOUT; reading in" in run.stderr
    ids = run.ids()
    assert len(ids) == len(set(ids)) == accounts, "every record exactly once"
    assert set(ids) == _all_ids()
    marks = _bookmarks(run)
    assert marks == sorted(marks), "the bookmark only moves forward"
    assert marks[-1] == max(r["SystemModstamp"] for r in run.records["Account"])

    # Killed mid-way, then run again from the last STATE it printed: nothing is lost.
    partial = _kill_after(tmp_path / "full" / "config.json", None, accounts * 2 // 3)
    assert partial.states and 0 < len(partial.ids()) < accounts
    resumed = run_tap(tmp_path / "resume", config, state=partial.state, timeout=900)
    assert set(partial.ids()) | set(resumed.ids()) == _all_ids()
    resumed_marks = _bookmarks(resumed)
    assert resumed_marks == sorted(resumed_marks)


def test_query_timeout_is_read_in_windows_and_a_killed_run_loses_nothing(tmp_path: Path) -> None:
    _timeout_read_completes_in_windows(tmp_path, accounts=1500, timeout_rows=400)


@pytest.mark.slow
def test_query_timeout_over_10000_rows(tmp_path: Path) -> None:
    _timeout_read_completes_in_windows(tmp_path, accounts=10_000, timeout_rows=2000)


def test_bulk_job_failing_for_size_is_retried_in_windows(tmp_path: Path) -> None:
    reset(accounts=900)
    admin("POST", "knobs", {"query_timeout_rows": 300})
    config = tap_config(api_type="bulk")
    run = run_tap(tmp_path, config)
    assert "Bulk job failed for size or time" in run.stderr
    assert sorted(run.ids()) == sorted(_all_ids())
    marks = _bookmarks(run)
    assert marks == sorted(marks)
    assert marks[-1] == max(r["SystemModstamp"] for r in run.records["Account"])


def test_failed_bulk_job_falls_back_to_rest_with_one_warning(tmp_path: Path) -> None:
    reset(accounts=500)
    admin("POST", "knobs", {"bulk_fail_message": "InternalServerError : an unexpected error occurred"})
    run = run_tap(tmp_path, tap_config(api_type="bulk", page_size=200))
    warnings = [line for line in run.stderr.splitlines() if "reading this window by REST instead" in line]
    assert len(warnings) == 1
    assert "an unexpected error occurred" in warnings[0]
    assert sorted(run.ids()) == sorted(_all_ids())
    assert run.bookmark() == max(r["SystemModstamp"] for r in run.records["Account"])


# -- expired cursors ------------------------------------------------------------------------------------------------
def test_expired_cursor_mid_read_restarts_from_the_last_record(tmp_path: Path) -> None:
    reset(accounts=1000)
    admin("POST", "knobs", {"cursor_ttl_seconds": 1,
                            "fault_script": [{"match": "/query/", "delay_ms": 2500}]})
    run = run_tap(tmp_path, tap_config(page_size=200))
    assert "INVALID_QUERY_LOCATOR); restarting at SystemModstamp >=" in run.stderr
    assert set(run.ids()) == _all_ids()
    marks = _bookmarks(run)
    assert marks == sorted(marks)


# -- schema drift ---------------------------------------------------------------------------------------------------
def test_field_deleted_between_runs_is_reported_and_read_without(tmp_path: Path) -> None:
    reset(accounts=30)
    catalog = discover(tmp_path / "d", tap_config())
    admin("POST", "metadata/Account", {"delete": ["Website"]})
    done = _run_raw(tmp_path / "run", tap_config(), catalog)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Schema drift: Account: field Website removed in Salesforce" in done.stderr
    first, last = _schemas(done, "Account")[0], _schemas(done, "Account")[-1]
    assert "Website" in first["properties"] and "Website" not in last["properties"]
    run = parse_output(done.stdout, 0, done.stderr)
    assert set(run.ids()) == _all_ids()
    assert all("Website" not in r for r in run.records["Account"])


def test_drift_check_reports_retyped_and_added_fields(tmp_path: Path) -> None:
    reset(accounts=10)
    admin("POST", "metadata/Account", {"delete": ["Fax"]})
    catalog = discover(tmp_path / "d", tap_config())  # a catalog from before Fax came back
    admin("POST", "metadata/Account", {"restore": ["Fax"], "retype": {"NumberofLocations__c": "string"}})
    done = _run_raw(tmp_path / "run", tap_config(schema_drift_check=True), catalog)
    assert done.returncode == 0, done.stderr[-2000:]
    drift = [line for line in done.stderr.splitlines() if "Schema drift:" in line]
    assert len(drift) == 2
    assert "Account: field Fax added in Salesforce" in drift[0] + drift[1]
    assert "Account: field NumberofLocations__c retyped in Salesforce: number -> string" in drift[0] + drift[1]
    assert _schemas(done, "Account")[-1]["properties"]["NumberofLocations__c"]["type"] == ["string", "null"]
    values = [r["NumberofLocations__c"] for r in parse_output(done.stdout, 0, "").records["Account"]]
    assert all(v is None or isinstance(v, str) for v in values)


def test_formula_fields_are_marked_in_discovery_and_schema(tmp_path: Path) -> None:
    reset(opportunities=3)
    config = tap_config(objects=["Opportunity"])
    catalog = discover(tmp_path / "d", config)
    expected = catalog["streams"][0]["schema"]["properties"]["ExpectedRevenue"]
    assert "formula" in expected["description"] and "SystemModstamp" in expected["description"]
    assert "description" not in catalog["streams"][0]["schema"]["properties"]["Amount"]
    done = _run_raw(tmp_path / "run", config, catalog)
    schema = _schemas(done, "Opportunity")[0]["properties"]
    assert schema["ExpectedRevenue"]["x-sf-calculated"] is True
    assert "x-sf-calculated" not in schema["Amount"]
