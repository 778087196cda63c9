"""target-salesforce-custom's write ledger, as a real subprocess against the Salesforce stand-in (real HTTP).

Records Salesforce accepted are not sent again unchanged (no DML call, no SystemModstamp bump); a changed record,
a refused one and `ledger: ignore` are sent; a stale entry is removed before a different record of its key is sent.
Entries are per field: two streams writing different fields of one record (the write-back and the sync status) do
not make each other's records look changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sf_target_helpers import SOQL, admin, run_target, singer_lines, target_config
from target_salesforce_custom.ledger import WriteLedger


@pytest.fixture(scope="module", autouse=True)
def _org() -> Iterator[None]:
    admin().reset(seed=29, accounts=6, contacts=0, products=0, opportunities=0, invoices=0)
    yield
    admin().knobs(validation_rules=[])
    admin().reset()


def _dml_calls() -> int:
    return sum(1 for c in admin().get("requests")["requests"] if c["method"] == "PATCH")


def _summary(stderr: str) -> dict[str, Any]:
    found = re.findall(r'"accounts": (\{[^}]*\})', stderr)
    assert found, stderr[-2000:]
    return dict(json.loads(found[-1]))


def test_unchanged_records_are_not_sent_again(tmp_path: Path) -> None:
    soql = SOQL()
    ids = [r["Id"] for r in soql.records("SELECT Id FROM Account ORDER BY Id LIMIT 3")]
    records = [{"Id": i, "NetSuite_Id__c": f"7{n}", "NetSuite_Sync_Status__c": "Synced"} for n, i in enumerate(ids)]
    config = target_config(tmp_path, streams={"accounts": {"sobject": "Account"}})

    first = run_target(tmp_path, config, singer_lines("accounts", records))
    assert first.returncode == 0, first.stderr[-3000:]
    assert _summary(first.stderr)["updated"] == 3
    stamps = {r["Id"]: r["SystemModstamp"] for r in soql.records("SELECT Id, SystemModstamp FROM Account")}

    before = _dml_calls()
    again = run_target(tmp_path, config, singer_lines("accounts", records))
    assert again.returncode == 0, again.stderr[-3000:]
    assert _summary(again.stderr) == {**_summary(again.stderr), "updated": 0, "unchanged": 3}
    assert _dml_calls() == before  # nothing sent
    assert {r["Id"]: r["SystemModstamp"] for r in soql.records("SELECT Id, SystemModstamp FROM Account")} == stamps
    assert again.states[-1] == {"bookmarks": {"accounts": {"batch": 3}}}  # STATE still follows

    changed = [records[0], {**records[1], "NetSuite_Sync_Status__c": "Error"}, records[2]]
    third = run_target(tmp_path, config, singer_lines("accounts", changed))
    assert _summary(third.stderr)["updated"] == 1 and _summary(third.stderr)["unchanged"] == 2
    back = run_target(tmp_path, config, singer_lines("accounts", records))  # back to the earlier values: sent
    assert _summary(back.stderr)["updated"] == 1

    forced = run_target(tmp_path, {**config, "ledger": "ignore"}, singer_lines("accounts", records))
    assert _summary(forced.stderr)["updated"] == 3


def test_refused_records_leave_no_entry_and_a_stale_entry_goes_before_the_send(tmp_path: Path) -> None:
    soql = SOQL()
    [account] = soql.records("SELECT Id FROM Account ORDER BY Id DESC LIMIT 1")
    config = target_config(tmp_path, streams={"accounts": {"sobject": "Account"}})
    admin().validation_rule("Account", "NetSuite_Id__c", "locked for audit", equals="999")
    record = {"Id": account["Id"], "NetSuite_Id__c": "999"}
    run_target(tmp_path, config, singer_lines("accounts", [record]))
    admin().knobs(validation_rules=[])
    retried = run_target(tmp_path, config, singer_lines("accounts", [record]))
    assert _summary(retried.stderr)["updated"] == 1  # a refusal was never recorded

    ledger = WriteLedger(tmp_path / "dead_letters" / "ledger.sqlite3", "use")
    [(org,)] = ledger.conn.execute("SELECT DISTINCT org FROM accepted_fields").fetchall()  # type: ignore[union-attr]
    assert ledger.unchanged(org, "Account", "Id", {account["Id"]: record}) == {account["Id"]}
    ledger.invalidate(org, "Account", "Id", {account["Id"]: record})
    assert ledger.unchanged(org, "Account", "Id", {account["Id"]: record}) == set()
    ledger.close()


def test_two_streams_writing_other_fields_of_one_record_leave_each_other_unchanged(tmp_path: Path) -> None:
    """The write-back's record and the sync status's record of one Account, each sent by its own run (two tasks of
    one job): rerun both, nothing is sent. A whole-record entry would take each for a change of the other."""
    soql = SOQL()
    ids = [r["Id"] for r in soql.records("SELECT Id FROM Account ORDER BY Id LIMIT 2")]
    config = target_config(tmp_path, streams={"write_back": {"sobject": "Account"}, "status": {"sobject": "Account"}})
    write_back = singer_lines("write_back", [{"Id": i, "NetSuite_Id__c": f"8{n}"} for n, i in enumerate(ids)])
    status = singer_lines("status", [{"Id": i, "NetSuite_Sync_Status__c": "Synced", "NetSuite_Last_Error__c": None}
                                     for i in ids])
    for stdin in (write_back, status):
        assert run_target(tmp_path, config, stdin).returncode == 0
    before = _dml_calls()
    for stdin in (write_back, status, write_back):
        again = run_target(tmp_path, config, stdin)
        assert again.returncode == 0, again.stderr[-3000:]
    assert _dml_calls() == before
    # one field of one stream changes: that record alone is sent, and the other stream's entries stay true
    changed = singer_lines("status", [{"Id": ids[0], "NetSuite_Sync_Status__c": "Error",
                                       "NetSuite_Last_Error__c": "USER_ERROR: refused"}])
    assert _summary_of(run_target(tmp_path, config, changed).stderr, "status")["updated"] == 1
    assert _summary_of(run_target(tmp_path, config, write_back).stderr, "write_back")["unchanged"] == 2
    assert {r["Id"]: (r["NetSuite_Id__c"], r["NetSuite_Sync_Status__c"]) for r in soql.records(
        "SELECT Id, NetSuite_Id__c, NetSuite_Sync_Status__c FROM Account")}[ids[0]] == ("80", "Error")


def _summary_of(stderr: str, stream: str) -> dict[str, Any]:
    found = re.findall(rf'"{stream}": (\{{[^}}]*\}})', stderr)
    assert found, stderr[-2000:]
    return dict(json.loads(found[-1]))


def test_two_streams_writing_other_fields_of_one_record_keep_their_own_entries(tmp_path: Path) -> None:
    """Like the write-back's Opportunity stream and its invoice summary stream (`streams`: sObject Opportunity), two
    streams write different fields of the same records: a rerun sends neither (one shared entry per key would flip
    between them and resend both every run)."""
    soql = SOQL()
    [account] = soql.records("SELECT Id FROM Account ORDER BY Id LIMIT 1")
    config = target_config(tmp_path, streams={"Account": {}, "Account_Balances": {"sobject": "Account"}})
    lines = (singer_lines("Account", [{"Id": account["Id"], "NetSuite_Id__c": "4711"}])
             + singer_lines("Account_Balances", [{"Id": account["Id"], "NetSuite_Balance__c": 12.5}]))
    first = run_target(tmp_path, config, lines)
    assert first.returncode == 0, first.stderr[-2000:]
    rerun = run_target(tmp_path, config, lines)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    for stream in ("Account", "Account_Balances"):
        summary = _summary_of(rerun.stderr, stream)
        assert summary.get("unchanged") == 1 and not summary.get("updated"), (stream, summary)
    [row] = soql.records(f"SELECT NetSuite_Id__c, NetSuite_Balance__c FROM Account WHERE Id = '{account['Id']}'")
    assert (row["NetSuite_Id__c"], row["NetSuite_Balance__c"]) == ("4711", 12.5)
