"""target-salesforce-custom as a real subprocess against the Salesforce stand-in (real HTTP): sObject Collections and
Bulk 2.0 ingest, partial failures as dead letters with Salesforce's codes, UNABLE_TO_LOCK_ROW retried per record,
a refused request retried, the quota guard, and a kill between a Bulk upload and STATE (nothing lost, nothing
created twice on the rerun). simple-salesforce, a client nobody here wrote, reads back what the target wrote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sf_target_helpers import (
    SOQL,
    TARGET,
    admin,
    dead_letters,
    run_target,
    singer_lines,
    target_config,
)

ACCOUNTS = 40


@pytest.fixture(scope="module", autouse=True)
def _org() -> Iterator[None]:
    admin().reset(seed=28, accounts=ACCOUNTS, contacts=40, products=10, opportunities=10, invoices=0)
    yield
    admin().reset()


@pytest.fixture(autouse=True)
def _calm() -> Iterator[None]:
    yield
    admin().knobs(validation_rules=[], locked_records={}, fault_script=[], api_usage=0, bulk_polls_per_state=1)


@pytest.fixture(scope="module")
def soql() -> SOQL:
    return SOQL()


def _accounts(soql: SOQL, count: int, offset: int = 0) -> list[dict[str, Any]]:
    return soql.records(f"SELECT Id, Name, SystemModstamp FROM Account ORDER BY Id LIMIT {count} OFFSET {offset}")


def test_collections_update_and_upsert_with_partial_failures(tmp_path: Path, soql: SOQL) -> None:
    accounts = _accounts(soql, 4)
    admin().validation_rule("Account", "NetSuite_Sync_Status__c", "Conflicts are resolved in NetSuite",
                            equals="Conflict")
    records = [
        {"Id": accounts[0]["Id"], "NetSuite_Id__c": "101", "NetSuite_Sync_Status__c": "Synced",
         "NetSuite_Last_Sync__c": "2026-12-01T10:00:00Z", "_sdc_extracted_at": "2026-12-01T10:00:00Z"},
        {"Id": accounts[1]["Id"], "NetSuite_Sync_Status__c": "Conflict"},  # the validation rule
        {"Id": accounts[2]["Id"], "CreatedDate": "2020-01-01T00:00:00Z"},  # read-only
        {"Id": accounts[3]["Id"], "NetSuite_Last_Error__c": None, "NetSuite_Sync_Status__c": "Error"},
        {"NetSuite_Sync_Status__c": "Synced"},  # no Id
    ]
    invoices = [{"NetSuite_Id__c": f"inv-{n}", "Name": f"INV{n}", "Account__c": accounts[0]["Id"],
                 "Total__c": 100.0 + n, "Status__c": "Open"} for n in range(3)]
    config = target_config(tmp_path, streams={"accounts": {"sobject": "Account"},
                                              "invoices": {"sobject": "NetSuite_Invoice__c",
                                                           "external_id_field": "NetSuite_Id__c"}})
    run = run_target(tmp_path, config, singer_lines("accounts", records) + singer_lines("invoices", invoices))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert run.states[-1] == {"bookmarks": {"invoices": {"batch": 3}}}
    letters = {(d["key"], d["error_code"]) for d in dead_letters(tmp_path)}
    assert letters == {(accounts[1]["Id"], "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
                       (accounts[2]["Id"], "INVALID_FIELD_FOR_INSERT_UPDATE"), ("", "MISSING_KEY")}
    refused = next(d for d in dead_letters(tmp_path) if d["key"] == accounts[2]["Id"])
    assert refused["fields"] == ["CreatedDate"] and refused["record"] == records[2]
    written = {r["Id"]: r for r in soql.records(
        "SELECT Id, NetSuite_Id__c, NetSuite_Sync_Status__c, LastModifiedById, SystemModstamp FROM Account "
        f"WHERE Id IN ('{accounts[0]['Id']}', '{accounts[3]['Id']}')")}
    assert written[accounts[0]["Id"]]["NetSuite_Id__c"] == "101"
    assert written[accounts[3]["Id"]]["NetSuite_Sync_Status__c"] == "Error"
    assert written[accounts[0]["Id"]]["SystemModstamp"] >= accounts[0]["SystemModstamp"]
    rows = soql.records("SELECT NetSuite_Id__c, Total__c FROM NetSuite_Invoice__c ORDER BY NetSuite_Id__c")
    assert [(r["NetSuite_Id__c"], r["Total__c"]) for r in rows] == [("inv-0", 100.0), ("inv-1", 101.0),
                                                                    ("inv-2", 102.0)]
    again = run_target(tmp_path, config, singer_lines("invoices", invoices))  # a replay: upserts, no new record
    assert again.returncode == 0
    assert len(soql.records("SELECT Id FROM NetSuite_Invoice__c")) == 3


def test_unknown_field_dead_letters_the_request_in_one_line(tmp_path: Path, soql: SOQL) -> None:
    accounts = _accounts(soql, 2)
    records = [{"Id": a["Id"], "NetSuite_Status__c": "Synced"} for a in accounts]  # the org has no such field
    run = run_target(tmp_path, target_config(tmp_path), singer_lines("Account", records))
    assert run.returncode == 0 and "Traceback" not in run.stderr
    letters = dead_letters(tmp_path)
    assert [d["error_code"] for d in letters] == ["INVALID_FIELD", "INVALID_FIELD"]
    assert "No such column 'NetSuite_Status__c' on sobject of type Account" in letters[0]["message"]
    assert run.states  # every record has its outcome: STATE follows


def test_locked_row_is_retried_per_record_then_dead_lettered(tmp_path: Path, soql: SOQL) -> None:
    first, second = _accounts(soql, 2, offset=10)
    admin().lock_records(2, first["Id"])  # two refusals, then free: written on the third try
    admin().lock_records(50, second["Id"])  # held all run long: dead-lettered after lock_retries
    records = [{"Id": first["Id"], "NetSuite_Id__c": "201"}, {"Id": second["Id"], "NetSuite_Id__c": "202"}]
    run = run_target(tmp_path, target_config(tmp_path, lock_retries=3), singer_lines("Account", records))
    assert run.returncode == 0, run.stderr[-3000:]
    assert [(d["key"], d["error_code"]) for d in dead_letters(tmp_path)] == [(second["Id"], "UNABLE_TO_LOCK_ROW")]
    rows = {r["Id"]: r["NetSuite_Id__c"] for r in soql.records(
        f"SELECT Id, NetSuite_Id__c FROM Account WHERE Id IN ('{first['Id']}', '{second['Id']}')")}
    assert rows == {first["Id"]: "201", second["Id"]: None}
    assert admin().knobs()["locked_records"][second["Id"]] == 50 - 4  # the first try and 3 retries, not more


def test_unavailable_request_is_retried_and_quota_guard_stops_cleanly(tmp_path: Path, soql: SOQL) -> None:
    account = _accounts(soql, 1, offset=12)[0]
    admin().knobs(fault_script=[{"fault": "503", "match": "/composite/sobjects"}])
    records = [{"Id": account["Id"], "NetSuite_Id__c": "301"}]
    run = run_target(tmp_path, target_config(tmp_path), singer_lines("Account", records))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Retrying PATCH" in run.stderr and "HTTP 503 SERVER_UNAVAILABLE" in run.stderr
    written = soql.records(f"SELECT NetSuite_Id__c FROM Account WHERE Id = '{account['Id']}'")
    assert written[0]["NetSuite_Id__c"] == "301"

    # The guard knows the org's usage from the last answer's Sforce-Limit-Info: the first call goes out, the one
    # after it would pass 50% and is never sent. Nothing after the first batch is claimed: no STATE.
    limit = admin().knobs()["api_limit"]
    admin().knobs(api_usage=limit // 2)
    second = _accounts(soql, 1, offset=13)[0]
    stopped = run_target(tmp_path, target_config(tmp_path, max_api_usage_percent=50, batch_size=1),
                         singer_lines("Account", [{"Id": account["Id"], "NetSuite_Id__c": "302"},
                                                  {"Id": second["Id"], "NetSuite_Id__c": "303"}]))
    assert stopped.returncode == 1 and not stopped.states
    assert "quota guard: Salesforce api-usage is" in stopped.stderr and "Traceback" not in stopped.stderr
    assert soql.records(f"SELECT NetSuite_Id__c FROM Account WHERE Id = '{second['Id']}'")[0]["NetSuite_Id__c"] is None


def test_bulk_ingest_partial_failure_and_locked_rows(tmp_path: Path, soql: SOQL) -> None:
    accounts = _accounts(soql, 30)
    admin().lock_records(1, accounts[5]["Id"])  # refused in the job, written by the Collections retry
    records = [{"Id": a["Id"], "NetSuite_Id__c": f"b{n}", "NetSuite_Sync_Status__c": "Synced",
                "NetSuite_Last_Error__c": None} for n, a in enumerate(accounts)]
    records[7]["NetSuite_Last_Sync__c"] = "yesterday"  # not a datetime: refused for this row only
    records[9]["NetSuite_Id__c"] = "b8"  # unique field: one of the two keeps it
    run = run_target(tmp_path, target_config(tmp_path, bulk_threshold=10), singer_lines("Account", records))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Bulk 2.0 update job" in run.stderr
    letters = {d["key"]: d for d in dead_letters(tmp_path)}
    assert set(letters) == {accounts[7]["Id"], accounts[9]["Id"]}
    assert letters[7 and accounts[7]["Id"]]["error_code"] == "INVALID_FIELD"
    assert letters[accounts[9]["Id"]]["error_code"] == "DUPLICATE_VALUE"
    written = {r["Id"]: r["NetSuite_Id__c"] for r in soql.records(
        "SELECT Id, NetSuite_Id__c FROM Account WHERE NetSuite_Id__c LIKE 'b%'")}
    assert len(written) == 28 and written[accounts[5]["Id"]] == "b5"
    assert run.states == [{"bookmarks": {"Account": {"batch": 30}}}]


def _started(process: subprocess.Popen[str], condition: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_kill_between_bulk_upload_and_state_loses_nothing_and_creates_nothing_twice(
        tmp_path: Path, soql: SOQL, stop: signal.Signals) -> None:
    accounts = _accounts(soql, 25, offset=5)
    prefix = f"K{stop.name}-"
    invoices = [{"NetSuite_Id__c": f"{prefix}{n}", "Name": f"{prefix}{n}", "Account__c": a["Id"], "Total__c": float(n)}
                for n, a in enumerate(accounts)]
    upsert = {"sobject": "NetSuite_Invoice__c", "external_id_field": "NetSuite_Id__c"}
    config = target_config(tmp_path, bulk_threshold=10, streams={"invoices": upsert})
    stdin = singer_lines("invoices", invoices)
    admin().knobs(bulk_polls_per_state=100_000)  # the job stays InProgress: the target keeps polling
    config_path = tmp_path / "target-config.json"
    config_path.write_text(json.dumps(config))
    process = subprocess.Popen([TARGET, "--config", str(config_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdin is not None
    process.stdin.write(stdin)
    process.stdin.close()
    try:
        # The upload is closed (Salesforce saved the rows) while the target still waits for the job: kill it now.
        _started(process, lambda: len(soql.records(
            f"SELECT Id FROM NetSuite_Invoice__c WHERE Name LIKE '{prefix}%'")) == 25)
    finally:
        # SIGKILL: the whole process group, no chance to react. SIGTERM (what Meltano and cron send): the target
        # stops at once, without draining (which would poll the job again) or emitting STATE.
        os.killpg(process.pid, signal.SIGKILL) if stop is signal.SIGKILL else process.send_signal(stop)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL if stop is signal.SIGKILL else process.returncode == 128 + stop
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read().strip() == ""  # no state line
    assert "Traceback" not in process.stderr.read()

    admin().knobs(bulk_polls_per_state=1)
    rerun = run_target(tmp_path, config, stdin)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.states == [{"bookmarks": {"invoices": {"batch": 25}}}]
    rows = soql.records(f"SELECT NetSuite_Id__c, Total__c FROM NetSuite_Invoice__c WHERE Name LIKE '{prefix}%'")
    assert sorted((r["NetSuite_Id__c"], r["Total__c"]) for r in rows) == sorted(
        (i["NetSuite_Id__c"], i["Total__c"]) for i in invoices)  # each once, none lost
    assert not dead_letters(tmp_path)


def test_simple_salesforce_reads_back_what_the_target_wrote(tmp_path: Path, soql: SOQL) -> None:
    from simple_salesforce import Salesforce

    contacts = soql.records("SELECT Id FROM Contact ORDER BY Id LIMIT 3")
    records = [{"Id": c["Id"], "NetSuite_Id__c": f"c{n}", "NetSuite_Sync_Status__c": "Waiting for parent",
                "NetSuite_Last_Error__c": "Waiting for customer 001... in NetSuite"} for n, c in enumerate(contacts)]
    run = run_target(tmp_path, target_config(tmp_path), singer_lines("Contact", records))
    assert run.returncode == 0, run.stderr[-3000:]
    tls_url, ca_bundle = os.environ["SANDBOX_SALESFORCE_TLS_URL"], os.environ["SANDBOX_CA_BUNDLE"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
        session = requests.Session()
        token = session.post(f"{tls_url}/services/oauth2/token", data={
            "grant_type": "refresh_token", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret",
            "refresh_token": "sandbox-refresh-token"}).json()
        client = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                            version="61.0")
        for n, contact in enumerate(contacts):
            read = client.Contact.get(contact["Id"])
            assert read["NetSuite_Id__c"] == f"c{n}"
            assert read["NetSuite_Sync_Status__c"] == "Waiting for parent"
            assert read["LastModifiedById"].startswith("005")


def test_dead_letters_replay_once_the_cause_is_fixed(tmp_path: Path, soql: SOQL) -> None:
    account = _accounts(soql, 1, offset=20)[0]
    admin().validation_rule("Account", "NetSuite_Sync_Status__c", "Status is set by finance")
    run = run_target(tmp_path, target_config(tmp_path), singer_lines("Account", [
        {"Id": account["Id"], "NetSuite_Id__c": "401", "NetSuite_Sync_Status__c": "Synced"}]))
    assert run.returncode == 0 and [d["error_code"] for d in dead_letters(tmp_path)] == [
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"]
    admin().knobs(validation_rules=[])  # the admin fixed the rule
    files = sorted(str(p) for p in (tmp_path / "dead_letters").glob("*.jsonl"))
    replay = subprocess.run([TARGET + "-replay", *files], capture_output=True, text=True, check=True)
    assert "STATE" not in replay.stdout
    again = run_target(tmp_path, target_config(tmp_path, dead_letter_path=str(tmp_path / "after")), replay.stdout)
    assert again.returncode == 0 and not again.states  # a replay moves no bookmark
    row = soql.records(f"SELECT NetSuite_Id__c, NetSuite_Sync_Status__c FROM Account WHERE Id = '{account['Id']}'")
    assert (row[0]["NetSuite_Id__c"], row[0]["NetSuite_Sync_Status__c"]) == ("401", "Synced")
    (tmp_path / "bad.jsonl").write_text('{"stream": "Account"}\n')
    refused = subprocess.run([TARGET + "-replay", str(tmp_path / "bad.jsonl")], capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().endswith("bad.jsonl line 1: not a dead letter of target-salesforce-custom")


def test_all_or_none_requests_are_written_together_or_not_at_all(tmp_path: Path, soql: SOQL) -> None:
    first, second = _accounts(soql, 2, offset=22)
    records = [{"Id": first["Id"], "NetSuite_Id__c": "501"},
               {"Id": second["Id"], "NetSuite_Id__c": "502", "NetSuite_Last_Sync__c": "not a time"}]
    run = run_target(tmp_path, target_config(tmp_path, all_or_none=True), singer_lines("Account", records))
    assert run.returncode == 0, run.stderr[-3000:]
    assert {d["key"]: d["error_code"] for d in dead_letters(tmp_path)} == {
        first["Id"]: "JSON_PARSER_ERROR", second["Id"]: "JSON_PARSER_ERROR"}  # the parser refused the request
    records[1].pop("NetSuite_Last_Sync__c")
    records[1]["NetSuite_Sync_Status__c"] = "Error"
    admin().validation_rule("Account", "NetSuite_Sync_Status__c", "No errors on key accounts", equals="Error")
    config = target_config(tmp_path, all_or_none=True, dead_letter_path=str(tmp_path / "again"))
    again = run_target(tmp_path, config, singer_lines("Account", records))
    assert again.returncode == 0
    assert {d["key"]: d["error_code"] for d in dead_letters(tmp_path, "again")} == {
        first["Id"]: "ALL_OR_NONE_OPERATION_ROLLED_BACK", second["Id"]: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    rows = soql.records(f"SELECT NetSuite_Id__c FROM Account WHERE Id IN ('{first['Id']}', '{second['Id']}')")
    assert not {"501", "502"} & {r["NetSuite_Id__c"] for r in rows}  # nothing of either request was written
