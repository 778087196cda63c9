"""The error breaker beside the write ledger (breaker.py): `max_identical_errors` stops a run only when the account
refuses everything sent, never for a known set of records NetSuite keeps refusing for their own reason.

Real path: `target-netsuite` subprocesses against the NetSuite stand-in. The refused records are individuals
without a name (NetSuite: "Please enter value(s) for: First Name, Last Name."), the same error for each, interleaved
with valid companies, as won opportunities without products sit among those with products."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from target_helpers import CUSTOMER_SCHEMA, NetSuiteAdmin, customer, dead_letters, run_target, state
from target_netsuite.breaker import IdenticalErrors
from target_netsuite.client import RecordError
from target_netsuite.dead_letters import replay_messages
from target_netsuite.ledger import WriteLedger

SCHEMA = {**CUSTOMER_SCHEMA, "schema": {**CUSTOMER_SCHEMA["schema"], "properties": {
    **CUSTOMER_SCHEMA["schema"]["properties"], "isPerson": {"type": ["boolean", "null"]},
    "comments": {"type": ["string", "null"]}}}}
REFUSED = [f"B{i:02}" for i in range(1, 24, 2)]


def _input(comment: str = "") -> list[dict]:
    """24 customers: the even ones valid companies, the odd ones individuals without a name (refused)."""
    records = []
    for i in range(24):
        if i % 2:
            records.append(customer(f"B{i:02}", isPerson=True, comments=comment or None))
        else:
            records.append(customer(f"B{i:02}", phone=f"555-01{i:02}"))
    return [SCHEMA, *records, state(24)]


def _report(config: dict) -> dict:
    return json.loads(Path(config["run_report_path"]).read_text())


def _writes(admin: NetSuiteAdmin) -> int:
    return sum(1 for r in admin.request_log() if r["method"] == "PUT" and "/record/v1/" in r["path"])


def test_known_refusals_never_stop_the_run_and_are_not_sent_again(admin: NetSuiteAdmin, config: dict,
                                                                   tmp_path: Path) -> None:
    config = {**config, "max_concurrency": 1}  # answers in input order: the refusals interleave in run 1
    run = run_target(config, _input(), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states[-1]["bookmarks"]["customer"]["position"] == 24
    assert len(admin.by_external_id("customer")) == 12
    assert sorted(letter["externalId"] for letter in dead_letters(config)) == REFUSED
    assert {letter["code"] for letter in dead_letters(config)} == {"USER_ERROR"}
    writes = _writes(admin)

    # The same input again (lookback, --full-refresh): the 12 accepted are unchanged, the 12 refused payloads are
    # still waiting dead letters: nothing is sent, the run ends with its state.
    run = run_target(config, _input(), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states[-1]["bookmarks"]["customer"]["position"] == 24
    assert _report(config)["streams"]["customer"] == {"unchanged": 12, "still_refused": 12}
    assert _writes(admin) == writes

    # The refused records change (a field the fix did not touch): sent, refused again, 12 in a row, for the same
    # reason as before: the records', not the account's. The run ends with its state.
    run = run_target(config, _input(comment="edited"), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states[-1]["bookmarks"]["customer"]["position"] == 24
    counts = _report(config)["streams"]["customer"]
    assert counts["dead_lettered"] == 12 and counts["unchanged"] == 12
    assert _writes(admin) == writes + 12

    # An explicit replay sends the waiting letters again, although NetSuite refused those very payloads.
    replay = list(replay_messages(sorted(Path(config["dead_letter_path"]).glob("*.jsonl")),
                                  include_mapping_errors=False))
    run = run_target(config, replay, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _report(config)["streams"]["customer"]["dead_lettered"] == 12
    assert _writes(admin) == writes + 24

    # `ledger: ignore` forces every write, the refused ones included.
    run = run_target({**config, "ledger": "ignore"}, _input(comment="edited"), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _writes(admin) == writes + 48


def test_an_account_wide_error_still_stops_the_run(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    """Known refusals and unchanged records around fresh payloads the role may not write: the fresh ones are
    refused the same way, max_identical_errors in a row, and the run stops without state. Once the permission is
    back, they are written: the refusals were the account's, never kept as the records' own."""
    config = {**config, "max_concurrency": 1}
    assert run_target(config, _input(), tmp_path).returncode == 0
    admin.knobs(forbidden_record_types=["customer"])
    fresh = [customer(f"F{i:02}") for i in range(12)]
    messages = [*_input()[:-1], *fresh, state(36)]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 1 and run.states == []
    assert "403 INSUFFICIENT_PERMISSION" in run.stderr and "in a row" in run.stderr

    admin.knobs(forbidden_record_types=[])
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert {f"F{i:02}" for i in range(12)} <= set(admin.by_external_id("customer"))
    assert _report(config)["streams"]["customer"]["still_refused"] == 12


def test_record_level_decisions_never_count(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    """Twelve new Accounts each matching two NetSuite customers by name (AMBIGUOUS_MATCH), in a row, with
    `max_identical_errors: 3`: dead letters for a decision, the run ends with its state."""
    phone = "415-867-53{:02}".format  # the phone corroborates the name match: two candidates agree on both
    admin.create_records("customer", [{"companyName": f"Twin {i:02}", "phone": phone(i), "subsidiary": {"id": "1"}}
                                      for i in range(12) for _ in range(2)])
    messages = [SCHEMA, *(customer(f"T{i:02}", name=f"Twin {i:02}", phone=phone(i)) for i in range(12)), state(12)]
    run = run_target({**config, "max_concurrency": 1, "max_identical_errors": 3}, messages, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states[-1]["bookmarks"]["customer"]["position"] == 12
    assert {letter["code"] for letter in dead_letters(config)} == {"AMBIGUOUS_MATCH"}
    assert len(dead_letters(config)) == 12


# --- units ------------------------------------------------------------------------------------------------------


def test_breaker_counts_only_what_says_something_about_the_account() -> None:
    refusal = RecordError(400, "USER_ERROR", "You must enter at least one line item for this transaction.")
    breaker = IdenticalErrors(3)
    assert not breaker.refused("A", refusal, known_code="USER_ERROR")  # refused before the same way
    assert not breaker.refused("B", RecordError(400, "AMBIGUOUS_MATCH", "2 candidates"), known_code=None)
    assert not breaker.refused("C", RecordError(400, "MATCH_INACTIVE", "inactive candidate"), known_code=None)
    assert breaker.count == 0
    assert not breaker.refused("D", refusal, known_code="INVALID_CONTENT")  # refused before, for another reason
    assert not breaker.refused("E", refusal, known_code=None)
    breaker.accepted()
    assert not breaker.refused("F", refusal, known_code=None)
    assert not breaker.refused("G", refusal, known_code=None)
    assert breaker.refused("H", refusal, known_code=None)
    assert breaker.tripped and breaker.streak == ["F", "G", "H"]


def test_ledger_keeps_the_last_refusal_until_a_payload_is_accepted(tmp_path: Path) -> None:
    ledger = WriteLedger(tmp_path / "ledger.sqlite3", "acct")
    ledger.record_refused("salesOrder", [("O1", "h1", "USER_ERROR"), ("O2", "h2", "USER_ERROR")])
    ledger.record_refused("salesOrder", [("O1", "h1b", "INVALID_CONTENT")])
    assert ledger.refusals("salesOrder", ["O1", "O2", "O3"]) == {"O1": ("h1b", "INVALID_CONTENT"),
                                                                 "O2": ("h2", "USER_ERROR")}
    ledger.record("salesOrder", [("O1", "h1c")])  # accepted: no refusal any more
    ledger.forget_refused("salesOrder", ["O2"])
    assert ledger.refusals("salesOrder", ["O1", "O2"]) == {}
    assert ledger.known("salesOrder", ["O1"]) == {"O1": "h1c"}
    off = WriteLedger(tmp_path / "other.sqlite3", "acct", "off")
    off.record_refused("salesOrder", [("O1", "h1", "USER_ERROR")])
    assert not (tmp_path / "other.sqlite3").exists()


@pytest.mark.parametrize("write_mode", ["auto", "async"])
def test_the_breaker_ends_a_run_with_batched_writes(admin: NetSuiteAdmin, config: dict, tmp_path: Path,
                                                     write_mode: str) -> None:
    """Found by the soak: with batch writes pending when the breaker trips, the sink cancelled futures no worker had
    taken, which `as_completed` never sees end, and the target waited for ever. Now it stops, one line, no state."""
    admin.knobs(async_processors=1, async_latency_ms=50)
    config = {**config, "write_mode": write_mode, "max_identical_errors": 5}
    nameless = [customer(f"N{i:02}", isPerson=True, companyName=None) for i in range(40)]
    run = run_target(config, [SCHEMA, *nameless, state(1)], tmp_path, timeout=240)
    assert run.returncode == 1 and run.states == [], run.stderr[-3000:]
    assert "in a row" in run.stderr and "Traceback" not in run.stderr
