"""Issue 15, part 2: the write ledger (target_netsuite/ledger.py) — never write what NetSuite already has.

Unit tests of the ledger file, then the real path: the target in-process or as a subprocess against the NetSuite
sandbox over HTTP, counting the sandbox's write requests through its admin API. The central property is that the
ledger is never ahead of NetSuite: whatever fails or is killed between preparing a payload and recording it, a
later write of any payload NetSuite does not hold is sent.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from connector_kit.store import StoreError
from target_helpers import CUSTOMER_SCHEMA, TARGET_EXE, customer, dead_letters, run_target, state
from target_netsuite.dead_letters import replay_messages
from target_netsuite.ledger import LEDGER_FILE, WriteLedger, account_key, payload_hash
from target_netsuite.target import TargetNetSuite

# --- the ledger file ------------------------------------------------------------------------------------------


def test_payload_hash_covers_exactly_what_is_sent() -> None:
    body = {"companyName": "Acme", "subsidiary": {"id": "1"}, "parent": {"externalId": "P1", "type": "customer"}}
    same = {"parent": {"type": "customer", "externalId": "P1"}, "subsidiary": {"id": "1"}, "companyName": "Acme"}
    base = payload_hash(action="upsert", body=body, replace=[], settings=[])
    assert payload_hash(action="upsert", body=same, replace=[], settings=[]) == base  # key order is not content
    assert payload_hash(action="upsert", body={**body, "phone": "1"}, replace=[], settings=[]) != base
    assert payload_hash(action="upsert", body={**body, "phone": None}, replace=[], settings=[]) != base  # a clear
    assert payload_hash(action="upsert", body=body, replace=["addressbook"], settings=[]) != base
    assert payload_hash(action="upsert", body=body, replace=[], settings=["terms"]) != base  # create_only_fields
    assert payload_hash(action="delete", body=body, replace=[], settings=[]) != base


def test_ledger_file_records_forgets_and_keeps_accounts_apart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    production = WriteLedger(path, account_key("https://1234567.suitetalk.api.netsuite.com", "1234567"))
    sandbox = WriteLedger(path, account_key("https://1234567-sb1.suitetalk.api.netsuite.com", "1234567_sb1"))
    assert production.known("customer", ["A"]) == {}
    assert not path.exists()  # nothing recorded, nothing created
    production.record("customer", [("A", "h1"), ("B", "h2")])
    assert sandbox.known("customer", ["A", "B"]) == {}  # another account never sees these entries
    assert production.known("contact", ["A"]) == {}
    production.close()
    reopened = WriteLedger(path, production.account)  # committed: a new process reads them
    assert reopened.known("customer", ["A", "B", "C"]) == {"A": "h1", "B": "h2"}
    reopened.record("customer", [("A", "h3")])
    assert reopened.known("customer", ["A"]) == {"A": "h3"}
    reopened.invalidate("customer", ["A"])
    reopened.forget_keys([("customer", "B")])
    assert reopened.known("customer", ["A", "B"]) == {}
    many = [(f"K{i}", f"h{i}") for i in range(1200)]  # more keys than one SQL statement may bind
    reopened.record("customer", many)
    assert reopened.known("customer", [k for k, _ in many]) == dict(many)
    assert reopened.count() == 1200


def test_ledger_off_never_touches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = WriteLedger(path, "acct", "off")
    ledger.record("customer", [("A", "h1")])
    assert ledger.known("customer", ["A"]) == {}
    assert not path.exists()
    with pytest.raises(ValueError, match="ledger must be one of"):
        WriteLedger(path, "acct", "sometimes")


def test_a_failing_record_commits_nothing(tmp_path: Path) -> None:
    ledger = WriteLedger(tmp_path / "ledger.sqlite3", "acct")
    ledger.record("customer", [("A", "h1")])
    with pytest.raises(StoreError, match="IntegrityError"):
        ledger.record("customer", [("B", "h2"), ("C", None)])  # type: ignore[list-item]  # fails half-way
    assert ledger.known("customer", ["A", "B", "C"]) == {"A": "h1"}  # one transaction: B is not recorded either


# --- through the sandbox ----------------------------------------------------------------------------------------


def _listen(config: dict, messages: list[dict]) -> TargetNetSuite:
    target = TargetNetSuite(config=config)
    target.check_connection()
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    target.finish()
    return target


def _writes(admin) -> int:
    """PUT/DELETE requests NetSuite answered, from the sandbox's own request log."""
    return sum(1 for r in admin.request_log() if r["method"] in ("PUT", "DELETE", "PATCH", "POST")
               and "/record/v1/" in r["path"])


def _report(config: dict) -> dict:
    return json.loads(Path(config["run_report_path"]).read_text())


def _outcomes(config: dict) -> dict[str, int]:
    """The run report's final outcomes of the customer stream (without the matcher's created/updated split)."""
    counts = _report(config)["streams"]["customer"]
    return {k: v for k, v in counts.items() if k not in ("created", "updated")}


def _ledger(config: dict, netsuite_url: str) -> WriteLedger:
    return WriteLedger(Path(config["dead_letter_path"]) / LEDGER_FILE, account_key(netsuite_url, "1234567_SB1"))


def test_unchanged_resend_writes_nothing_and_a_changed_field_writes_one(admin, config) -> None:
    messages = [CUSTOMER_SCHEMA, *[customer(f"L{i:03}", phone="555-0100") for i in range(30)], state(1)]
    _listen(config, messages)
    assert _writes(admin) == 30
    assert _report(config)["streams"]["customer"]["written"] == 30

    _listen(config, messages)  # a replay: NetSuite already has every payload
    assert _writes(admin) == 30
    assert _outcomes(config) == {"unchanged": 30}
    assert admin.stats()["writes"] == {"created": 30, "updated": 0, "unchanged": 0, "deleted": 0}

    changed = [customer(f"L{i:03}", phone="555-0199" if i == 7 else "555-0100") for i in range(30)]
    _listen(config, [CUSTOMER_SCHEMA, *changed])
    assert _writes(admin) == 31
    assert _outcomes(config) == {"unchanged": 29, "written": 1}
    assert admin.by_external_id("customer")["L007"]["phone"] == "555-0199"


def test_ledger_ignore_sends_everything_and_still_records(admin, config, netsuite_url) -> None:
    messages = [CUSTOMER_SCHEMA, *[customer(f"I{i}") for i in range(5)]]
    _listen({**config, "ledger": "ignore"}, messages)
    _listen({**config, "ledger": "ignore"}, messages)
    assert _writes(admin) == 10
    assert _ledger(config, netsuite_url).count() == 5  # recorded: a later `use` run skips them
    _listen(config, messages)
    assert _writes(admin) == 10
    _listen({**config, "ledger": "off"}, messages)
    assert _writes(admin) == 15


def test_ledger_off_and_dry_run_never_record(admin, config) -> None:
    messages = [CUSTOMER_SCHEMA, *[customer(f"O{i}") for i in range(3)]]
    _listen({**config, "dry_run": True}, messages)
    _listen({**config, "ledger": "off"}, messages)
    assert not (Path(config["dead_letter_path"]) / LEDGER_FILE).exists()
    _listen(config, messages)
    assert _writes(admin) == 6  # neither run left an entry that could have skipped these


def test_ledger_path_setting(admin, config, tmp_path) -> None:
    elsewhere = tmp_path / "shared" / "netsuite-ledger.sqlite3"
    _listen({**config, "ledger_path": str(elsewhere)}, [CUSTOMER_SCHEMA, customer("P1")])
    assert elsewhere.exists()
    assert not (Path(config["dead_letter_path"]) / LEDGER_FILE).exists()


def test_changed_sending_settings_never_make_a_skip_wrong(admin, config) -> None:
    """A customer first written while `terms` was create-only: NetSuite lacks the later terms. With the setting
    removed, the same payload must be sent, not skipped."""
    _listen(config, [CUSTOMER_SCHEMA, customer("S1", phone="1")])
    create_only = {**config, "create_only_fields": {"customer": ["phone"]}}
    _listen(create_only, [CUSTOMER_SCHEMA, customer("S1", phone="2")])  # an update: phone left out
    assert admin.by_external_id("customer")["S1"]["phone"] == "1"
    _listen(create_only, [CUSTOMER_SCHEMA, customer("S1", phone="2")])
    assert _outcomes(config) == {"unchanged": 1}
    _listen(config, [CUSTOMER_SCHEMA, customer("S1", phone="2")])  # setting gone: phone is sent now
    assert admin.by_external_id("customer")["S1"]["phone"] == "2"


def test_delete_drops_the_entry_so_the_record_comes_back(admin, config) -> None:
    _listen(config, [CUSTOMER_SCHEMA, customer("D1")])
    _listen(config, [CUSTOMER_SCHEMA, customer("D1", _sdc_action="delete")])
    assert "D1" not in admin.by_external_id("customer")
    _listen(config, [CUSTOMER_SCHEMA, customer("D1")])  # undeleted in Salesforce: the same payload again
    assert "D1" in admin.by_external_id("customer")
    _listen(config, [CUSTOMER_SCHEMA, customer("D1", isInactive=True)])  # an inactivation is a new payload
    assert admin.by_external_id("customer")["D1"]["isInactive"] is True
    _listen(config, [CUSTOMER_SCHEMA, customer("D1", isInactive=False)])  # reactivated (the mapping sends false)
    assert admin.by_external_id("customer")["D1"]["isInactive"] is False


def test_deleted_by_hand_comes_back_after_reconciliation(admin, config, netsuite_url) -> None:
    _listen(config, [CUSTOMER_SCHEMA, customer("001000000000001"), customer("001000000000002")])
    admin.delete_record("customer", "eid:001000000000001")
    messages = [CUSTOMER_SCHEMA, customer("001000000000001"), customer("001000000000002")]
    _listen(config, messages)  # the ledger cannot see a deletion in NetSuite: both skipped
    assert _outcomes(config) == {"unchanged": 2}
    assert "001000000000001" not in admin.by_external_id("customer")

    reconciling = {**config, "reconcile": True, "reconcile_report_path": str(Path(config["dead_letter_path"]).parent)}
    target = _listen(reconciling, messages)
    assert target.services.reconciler is not None
    assert set(_ledger(config, netsuite_url).known("customer", [m["record"]["externalId"] for m in messages[1:]])
               ) == {"001000000000002"}  # the missing record's entry is dropped, the one NetSuite has is kept

    _listen(config, messages)  # any later run (the repair's, or the next sync) writes it again
    assert "001000000000001" in admin.by_external_id("customer")
    assert _outcomes(config) == {"unchanged": 1, "written": 1}


# --- never ahead of NetSuite ------------------------------------------------------------------------------------


def test_killed_between_the_answer_and_the_record_never_skips_a_revert(admin, config, monkeypatch) -> None:
    """v1 accepted and recorded; v2 accepted by NetSuite but the target dies before recording it; Salesforce then
    reverts to v1. The old v1 entry must not survive: v1 is sent and NetSuite ends at v1."""
    _listen(config, [CUSTOMER_SCHEMA, customer("K1", phone="v1")])

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies here: after NetSuite's answer, before the commit

    monkeypatch.setattr(WriteLedger, "record", killed)
    with pytest.raises(KeyboardInterrupt):
        _listen(config, [CUSTOMER_SCHEMA, customer("K1", phone="v2")])
    monkeypatch.undo()
    assert admin.by_external_id("customer")["K1"]["phone"] == "v2"

    _listen(config, [CUSTOMER_SCHEMA, customer("K1", phone="v1")])
    assert admin.by_external_id("customer")["K1"]["phone"] == "v1"
    assert _outcomes(config) == {"written": 1}


def test_a_write_that_fails_after_netsuite_applied_it_is_never_recorded(admin, config, netsuite_url) -> None:
    """NetSuite applies v2 and the connection drops (no answer), retries run out: the run fails, NetSuite holds
    v2, the ledger has no entry, and a return to v1 is written."""
    _listen(config, [CUSTOMER_SCHEMA, customer("F1", phone="v1")])
    # the connection check, the merge's read of the changed phone (merge.py), then the PUT: applied, no answer
    admin.knobs(error_script=["ok", "ok", "drop_after"])
    run = run_target({**config, "max_retries": 0, "match_mode": "create"},
                     [CUSTOMER_SCHEMA, customer("F1", phone="v2"), state(2)], Path(config["dead_letter_path"]).parent)
    assert run.returncode != 0 and run.states == [], run.stderr[-2000:]
    assert admin.by_external_id("customer")["F1"]["phone"] == "v2"
    assert _ledger(config, netsuite_url).known("customer", ["F1"]) == {}
    _listen(config, [CUSTOMER_SCHEMA, customer("F1", phone="v1")])
    assert admin.by_external_id("customer")["F1"]["phone"] == "v1"


def test_a_refused_write_is_never_recorded(admin, config, netsuite_url) -> None:
    _listen(config, [CUSTOMER_SCHEMA, customer("R1", phone="v1")])
    admin.knobs(reject_external_ids=["R1"])
    _listen(config, [CUSTOMER_SCHEMA, customer("R1", phone="v2")])
    assert [letter["externalId"] for letter in dead_letters(config)] == ["R1"]
    assert _ledger(config, netsuite_url).known("customer", ["R1"]) == {}
    admin.knobs(reject_external_ids=[])
    _listen(config, [CUSTOMER_SCHEMA, customer("R1", phone="v2")])  # refused before, unchanged: still waiting
    assert _outcomes(config) == {"still_refused": 1}
    assert admin.by_external_id("customer")["R1"]["phone"] == "v1"
    replay = list(replay_messages(sorted(Path(config["dead_letter_path"]).glob("*.jsonl")),
                                  include_mapping_errors=False))
    _listen(config, replay)  # the fix, then the replay: v2 now written
    assert admin.by_external_id("customer")["R1"]["phone"] == "v2"
    assert _ledger(config, netsuite_url).known("customer", ["R1"]) == {"R1": _customer_hash("R1", "v2")}


def _customer_hash(external_id: str, phone: str) -> str:
    """The ledger hash of `customer(external_id, phone=phone)` as the target sends it (no create-only fields)."""
    body = {k: v for k, v in customer(external_id, phone=phone)["record"].items() if k != "externalId"}
    return payload_hash(action="upsert", body=body, replace=[], settings=[])


def test_sigkill_at_any_moment_leaves_no_entry_netsuite_lacks(admin, config, netsuite_url, tmp_path) -> None:
    """A real SIGKILL of the target process while it writes v2 of 40 customers; then Salesforce reverts every one
    to v1. Whatever the moment of the kill, every entry the ledger holds is the payload NetSuite holds, and every
    customer ends at v1 in NetSuite.

    The writes the dead process had in flight still land in NetSuite after the kill (the sandbox applies a write
    after its latency, whether or not anyone waits for the answer): the revert starts once they have, as the next
    real run does. A revert racing them would be overtaken by a v2 the target no longer controls, with or without
    a ledger."""
    ids = [f"G{i:03}" for i in range(40)]
    _listen(config, [CUSTOMER_SCHEMA, *[customer(eid, phone="v1") for eid in ids]])
    digests = {(eid, phone): _customer_hash(eid, phone) for eid in ids for phone in ("v1", "v2")}
    assert _ledger(config, netsuite_url).known("customer", ids) == {eid: digests[eid, "v1"] for eid in ids}
    admin.knobs(latency_ms=150)
    config_file = tmp_path / "kill-config.json"
    config_file.write_text(json.dumps({**config, "max_concurrency": 2}))
    stdin = "".join(json.dumps(m) + "\n" for m in [CUSTOMER_SCHEMA, *[customer(e, phone="v2") for e in ids]])
    process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=os.environ)
    assert process.stdin is not None
    process.stdin.write(stdin)
    process.stdin.close()
    deadline = time.monotonic() + 60
    while admin.stats()["writes"]["updated"] < 10 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    admin.wait_until_idle()  # the dead process's last writes land in NetSuite
    admin.knobs(latency_ms=0)
    in_netsuite = {eid: record["phone"] for eid, record in admin.by_external_id("customer").items() if eid in ids}
    assert "v2" in in_netsuite.values()  # the kill landed while v2 was being written
    recorded = _ledger(config, netsuite_url).known("customer", ids)
    for eid, digest in recorded.items():  # never ahead of NetSuite: each entry is the payload NetSuite holds
        assert digest == digests[eid, in_netsuite[eid]], f"{eid}: NetSuite holds {in_netsuite[eid]}, not the entry"

    _listen(config, [CUSTOMER_SCHEMA, *[customer(eid, phone="v1") for eid in ids]])
    assert {eid: admin.by_external_id("customer")[eid]["phone"] for eid in ids} == dict.fromkeys(ids, "v1")
