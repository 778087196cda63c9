"""`pipeline-ops sync-status` / the extractor `pipeline-ops-sync-status` (issue 28 items 2 and 4): each Salesforce
record's sync status from target-netsuite's store, as Singer messages, the one owner of the status fields. The
status rows as a function (precedence Error, Conflict, Waiting for parent, Synced), then the store written by the
target's own classes (dead letters, parked records, the write ledger, the merge's conflicts) and read by the
command: local files, and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from connector_kit.store import Store
from connector_kit.store_accounts import account_schema
from pipeline_ops.sync_status import (
    CONFLICT,
    ERROR,
    LAST_ERROR_LENGTH,
    SYNCED,
    WAITING,
    clean,
    messages,
    statuses,
)
from target_netsuite.dead_letters import DeadLetterStore
from target_netsuite.ledger import LEDGER_FILE, WriteLedger
from target_netsuite.merge import MERGE_FILE, MergeStore
from target_netsuite.parking import PARKED_FILE, ParkedRecords

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")

BIN = Path(sys.executable).parent
ACCOUNT, ACCOUNT_18 = "001000000000123", "001000000000456AAA"
CONTACT, OPPORTUNITY, PRODUCT = "003000000000777", "006000000000888", "01t000000000999"
PASSWORD = "st4tus-pw"


def _letter(eid: str | None, code: str = "USER_ERROR", detail: str = "refused", *, time: str = "2026-12-07T10:00:00",
            resolved: str | None = None, seq: int = 1) -> dict:
    return {"externalId": eid, "code": code, "detail": detail, "time": time, "run_id": "r1", "seq": seq,
            "resolved_at": resolved}


def test_status_rows_per_object_a_letter_outranks_waiting_and_foreign_ids_are_left_out() -> None:
    letters = [
        _letter(ACCOUNT, "INVALID_CONTENT", "Invalid value for subsidiary", seq=1),
        _letter(ACCOUNT, "USER_ERROR", "newer refusal", time="2026-12-07T11:00:00", seq=2),  # the latest decides
        _letter(ACCOUNT_18, "DUP_ENTITY", "already there", resolved="2026-12-07T12:00:00"),  # written since
        _letter(OPPORTUNITY, "ORDER_LOCKED", "billed"),
        _letter(PRODUCT, "INVALID_KEY_OR_REF", "Invalid taxSchedule"),
        _letter("CUST-0042", "USER_ERROR", "NetSuite's own externalId"),  # not a Salesforce Id
        _letter("00Q000000000111", "USER_ERROR", "a Lead: no status field"),
        _letter(None, "MAPPING_ERROR", "no externalId"),
    ]
    parked = [
        {"external_id": CONTACT, "waiting_for": "customer 001000000000555"},
        {"external_id": OPPORTUNITY, "waiting_for": "customer 001000000000555"},  # its letter wins
        {"external_id": "0010000000001", "waiting_for": "x"},  # 13 characters: not an Id
    ]
    rows = {(s.sobject, s.record_id): (s.status, s.text) for s in statuses(letters, parked)}
    assert rows == {
        ("Account", ACCOUNT): (ERROR, "USER_ERROR: newer refusal"),
        ("Contact", CONTACT): (WAITING, "Waiting for parent: customer 001000000000555"),
        ("Opportunity", OPPORTUNITY): (CONFLICT, "ORDER_LOCKED: billed"),  # a locked order: a conflict
        ("Product2", PRODUCT): (ERROR, "INVALID_KEY_OR_REF: Invalid taxSchedule"),
    }
    out = messages(statuses(letters, parked))
    assert [m["stream"] for m in out if m["type"] == "SCHEMA"] == ["Account", "Contact", "Opportunity", "Product2"]
    assert all(m["key_properties"] == ["Id"] for m in out if m["type"] == "SCHEMA")
    assert {"type": "RECORD", "stream": "Account", "record": {
        "Id": ACCOUNT, "NetSuite_Sync_Status__c": "Error", "NetSuite_Last_Error__c": "USER_ERROR: newer refusal"},
    } in out


def _accepted(eid: str, at: str) -> dict:
    return {"external_id": eid, "accepted_at": at}


def _conflict(eid: str, field: str, policy: str = "report") -> dict:
    return {"external_id": eid, "field": field, "policy": policy}


def test_precedence_error_conflict_waiting_synced_and_the_last_sync_time() -> None:
    a, b, c, d, e = (f"00100000000010{n}" for n in range(5))
    accepted = [_accepted(eid, "2026-12-07T09:00:00Z") for eid in (a, b, c, d, e)]
    accepted += [_accepted(a, "2026-12-07T09:30:00Z"), _accepted(a, "2026-12-07T08:00:00Z")]  # the latest counts
    letters = [_letter(b, "USER_ERROR", "refused"), _letter(e, "USER_ERROR", "old", resolved="2026-12-07T09:00:00")]
    conflicts = [_conflict(b, "phone"), _conflict(c, "phone"), _conflict(c, "companyName"),
                 _conflict(d, "fax", "netsuite_wins"), _conflict(e, "phone", "salesforce_wins")]  # decided: not open
    parked = [{"external_id": c, "waiting_for": "customer x"}, {"external_id": d, "waiting_for": "customer y"}]
    found = {s.record_id: s for s in statuses(letters, parked, accepted, conflicts)}
    assert {eid: (s.status, s.text) for eid, s in found.items()} == {
        a: (SYNCED, None),
        b: (ERROR, "USER_ERROR: refused"),  # an error outranks its conflict
        c: (CONFLICT, "Conflict: companyName, phone changed in NetSuite and in Salesforce; NetSuite's values kept "
                      "until settled (pipeline-ops conflicts)"),  # outranks waiting; field names, never values
        d: (WAITING, "Waiting for parent: customer y"),
        e: (SYNCED, None),  # its letter resolved, its conflict decided by policy
    }
    assert found[a].record() == {"Id": a, "NetSuite_Sync_Status__c": "Synced", "NetSuite_Last_Error__c": None,
                                 "NetSuite_Last_Sync__c": "2026-12-07T09:30:00Z"}
    never_written = statuses([_letter(ACCOUNT)], [], [], [])[0].record()
    assert "NetSuite_Last_Sync__c" not in never_written  # unknown: left out, an earlier value stays
    many = statuses([], [], [], [_conflict(a, f"custentity_{n:02d}") for n in range(12)])[0]
    assert many.text is not None and many.text.startswith("Conflict: custentity_00, ") and " and 2 more " in many.text


def test_error_text_is_cut_to_the_field_and_holds_no_credentials() -> None:
    long = clean("x" * (LAST_ERROR_LENGTH + 500))
    assert len(long) == LAST_ERROR_LENGTH and long.endswith("…")
    text = clean("GET https://admin:hunter2@acct.suitetalk.api.netsuite.com/x?token=abc123&limit=5 failed; "
                 "secret=s3 password=p4")
    assert "hunter2" not in text and "abc123" not in text and "s3 " not in text and "p4" not in text
    assert "https://***@acct.suitetalk.api.netsuite.com/x?token=***&limit=5" in text


def _outcomes(dead_letters: Store | Path, parked: Store | Path, ledger_store: Store | Path,
              merge_store: Store | Path) -> None:
    """What target-netsuite's runs leave: a refused Account, a parked Contact, a refused then written Opportunity,
    an Account written with an open conflict."""
    letters = DeadLetterStore(dead_letters, "20261207T100000Z-aaaa")
    letters.add(stream="Account", record_type="customer", external_id=ACCOUNT, code="INVALID_CONTENT",
                detail="Rejected by the sandbox's rejection rule", payload={"externalId": ACCOUNT})
    letters.add(stream="Opportunity", record_type="salesOrder", external_id=OPPORTUNITY, code="USER_ERROR",
                detail="refused", payload={"externalId": OPPORTUNITY})
    letters.resolve("salesOrder", OPPORTUNITY)  # written since: Synced, from the write ledger below
    letters.close()
    waiting = ParkedRecords(parked)
    waiting.park(record_type="contact", external_id=CONTACT, stream="Contact", record={"externalId": CONTACT},
                 waiting_for=f"customer {ACCOUNT_18}")
    waiting.close()
    ledger = WriteLedger(ledger_store, "acct")
    ledger.record("salesOrder", [(OPPORTUNITY, "hash-1")])
    ledger.record("customer", [(ACCOUNT_18, "hash-2")])
    ledger.close()
    merge = MergeStore(merge_store, "acct")
    merge.add_conflicts([{"record_type": "customer", "external_id": ACCOUNT_18, "field": "companyName",
                          "incoming": "Acme Secret Plans", "netsuite": "Acme", "last_written": "Acme Inc",
                          "policy": "report", "outcome": "kept", "run_id": "r1"}])
    merge.close()


def _records(stdout: str) -> dict[str, dict]:
    return {m["record"]["Id"]: {**m["record"], "stream": m["stream"]}
            for m in map(json.loads, stdout.splitlines()) if m["type"] == "RECORD"}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_NETSUITE_", "MELTANO_"))}


def test_extractor_reads_the_targets_local_files(tmp_path: Path) -> None:
    folder = tmp_path / "dead_letters"
    _outcomes(folder, folder / PARKED_FILE, folder / LEDGER_FILE, folder / MERGE_FILE)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dead_letter_path": str(folder)}))
    run = subprocess.run([str(BIN / "pipeline-ops-sync-status"), "--config", str(config)], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    records = _records(run.stdout)
    synced_at = {eid: records[eid].pop("NetSuite_Last_Sync__c") for eid in (OPPORTUNITY, ACCOUNT_18)}
    assert all(at and at.endswith("Z") for at in synced_at.values()), synced_at
    assert records == {
        ACCOUNT: {"stream": "Account", "Id": ACCOUNT, "NetSuite_Sync_Status__c": "Error",
                  "NetSuite_Last_Error__c": "INVALID_CONTENT: Rejected by the sandbox's rejection rule"},
        CONTACT: {"stream": "Contact", "Id": CONTACT, "NetSuite_Sync_Status__c": "Waiting for parent",
                  "NetSuite_Last_Error__c": f"Waiting for parent: customer {ACCOUNT_18}"},
        OPPORTUNITY: {"stream": "Opportunity", "Id": OPPORTUNITY, "NetSuite_Sync_Status__c": "Synced",
                      "NetSuite_Last_Error__c": None},
        ACCOUNT_18: {"stream": "Account", "Id": ACCOUNT_18, "NetSuite_Sync_Status__c": "Conflict",
                     "NetSuite_Last_Error__c": "Conflict: companyName changed in NetSuite and in Salesforce; "
                                               "NetSuite's values kept until settled (pipeline-ops conflicts)"},
    }
    assert "Secret" not in run.stdout  # a conflict's values never reach Salesforce
    assert "1 Error, 1 Waiting for parent, 1 Conflict, 1 Synced" in run.stderr
    # the store is only read: a folder the target never wrote gives the schemas and nothing else, and creates nothing
    empty = subprocess.run([str(BIN / "pipeline-ops"), "sync-status", "--path", str(tmp_path / "none")], cwd=tmp_path,
                           env=_env(), capture_output=True, text=True, timeout=120, check=False)
    assert empty.returncode == 0 and _records(empty.stdout) == {} and not (tmp_path / "none").exists()


def test_command_reads_a_shared_postgresql_store_and_masks_its_password(tmp_path: Path, postgres_uri: str) -> None:
    store = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
    _outcomes(store, store, store, store)
    store.close()
    env = {**_env(), "TARGET_NETSUITE_STORE_URI": postgres_uri.replace("://postgres@", f"://postgres:{PASSWORD}@")}
    run = subprocess.run([str(BIN / "pipeline-ops"), "sync-status"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert {i: r["NetSuite_Sync_Status__c"] for i, r in _records(run.stdout).items()} == {
        ACCOUNT: "Error", CONTACT: "Waiting for parent", OPPORTUNITY: "Synced", ACCOUNT_18: "Conflict"}
    assert PASSWORD not in run.stdout + run.stderr and "postgres:***@" in run.stderr
    bad = subprocess.run([str(BIN / "pipeline-ops"), "sync-status", "--store-uri",
                          f"postgresql://u:{PASSWORD}@127.0.0.1:1/none"], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and PASSWORD not in bad.stderr
    assert bad.stderr.count("\n") == 1, bad.stderr
