"""Issue 27 item 3: dead letters are rows in the target's store (SQLite by default, PostgreSQL for several hosts).

- a letter is committed the moment its record fails: another "host" (another process's store) sees it while the
  run is still going; superseded by a newer letter of the same record, resolved when the record is written;
- with a store on this host's disk the JSON Lines files people read are still written beside the rows; with
  PostgreSQL none is (a container's disk is gone with it); no secret is ever in a row;
- the first run after an upgrade takes the folder's older files into the rows, once (natural key: run id, line);
- pipeline-ops declares the same table (it installs without the target);
- the account lock in PostgreSQL is checked before each write wave: its backend terminated mid-run, the target
  stops with one line, exit 1, nothing more written and no STATE past the records written under the lock.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from connector_kit.store import Store
from connector_kit.store_accounts import account_schema
from target_helpers import CUSTOMER_SCHEMA, DEMO_TBA, TARGET_EXE, NetSuiteAdmin, customer, run_target, state
from target_netsuite.dead_letters import DEAD_LETTERS_FILE, DeadLetterStore, stored_letters

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("postgres_uri")


def _store(uri: str) -> Store:
    return Store.from_uri(uri, schema=STORE_SCHEMA)


def _add(letters: DeadLetterStore, external_id: str | None, name: str = "x", code: str = "USER_ERROR") -> None:
    letters.add(stream="Account", record_type="customer", external_id=external_id, code=code, detail=f"bad {name}",
                payload={"externalId": external_id, "companyName": name})


def test_letters_are_rows_seen_at_once_from_another_host(store_uri: str, tmp_path: Path) -> None:
    host_a, host_b = _store(store_uri), _store(store_uri)
    journal = None if store_uri.startswith("postgresql") else tmp_path / "dead_letters"
    run = DeadLetterStore(host_a, "run-1", journal=journal)
    _add(run, "A1", "first")
    # committed before add() returned: host B sees it while run 1 is still open
    [seen] = stored_letters(host_b)
    assert (seen["run_id"], seen["seq"], seen["externalId"], seen["code"]) == ("run-1", 1, "A1", "USER_ERROR")
    assert seen["payload"] == {"externalId": "A1", "companyName": "first"} and seen["resolved_at"] is None
    _add(run, "A1", "second")  # a newer letter of the same record: the first waits no more
    _add(run, None, "no id")  # no external id: waits until resolved by hand
    _add(run, "A2", "other")
    assert [(e["seq"], e["payload"]["companyName"]) for e in stored_letters(host_b)] == [
        (2, "second"), (3, "no id"), (4, "other")]
    assert run.is_waiting("customer", "A1") and run.is_waiting("customer", "A2")
    run.resolve("customer", "A1")  # A1 was written
    assert not run.is_waiting("customer", "A1")
    every = {e["seq"]: e for e in stored_letters(host_b, waiting_only=False)}
    assert every[1]["resolution"] == "superseded (run run-1 #2)"
    assert every[2]["resolution"] == "written (run run-1)"
    assert [e["seq"] for e in stored_letters(host_b)] == [3, 4]
    run.close()
    # a later run on host B knows which letters wait, from the rows alone
    later = DeadLetterStore(host_b, "run-2")
    assert later.is_waiting("customer", "A2") and not later.is_waiting("customer", "A1")
    later.close()
    files = sorted(p.name for p in (tmp_path / "dead_letters").glob("*")) if journal else []
    assert files == (["resolved.ndjson", "run-1.jsonl"] if journal else [])
    if journal:  # the JSON Lines journal says what the rows say: line n is letter (run-1, n)
        lines = [json.loads(line) for line in (journal / "run-1.jsonl").read_text().splitlines()]
        assert [line["payload"]["companyName"] for line in lines] == ["first", "second", "no id", "other"]
    host_a.close()
    host_b.close()


def test_the_first_run_after_an_upgrade_takes_the_old_files_in_once(tmp_path: Path) -> None:
    folder = tmp_path / "dead_letters"
    folder.mkdir()
    old = [{"time": f"2026-11-0{i}T00:00:00+00:00", "run_id": "old", "stream": "Account", "record_type": "customer",
            "externalId": eid, "code": "USER_ERROR", "detail": "d", "payload": {"externalId": eid}}
           for i, eid in enumerate(["B1", "B2", "B1"], start=1)]
    (folder / "old.jsonl").write_text("".join(json.dumps(e) + "\n" for e in old) + '{"torn": \n')
    (folder / "resolved.ndjson").write_text(json.dumps(
        {"time": "2026-11-05T00:00:00+00:00", "record_type": "customer", "externalId": "B2"}) + "\n")
    for run_id in ("new-1", "new-2"):
        run = DeadLetterStore(folder, run_id)
        assert run.is_waiting("customer", "B1") and not run.is_waiting("customer", "B2")
        run.close()
    store = Store.sqlite_file(folder / DEAD_LETTERS_FILE)
    every = stored_letters(store, waiting_only=False)
    assert [(e["run_id"], e["seq"], e["externalId"], e["resolution"]) for e in every] == [
        ("old", 1, "B1", "superseded (run old #3)"),
        ("old", 2, "B2", "written (resolved.ndjson)"),
        ("old", 3, "B1", None),
    ]
    store.close()


def test_a_run_against_postgres_writes_rows_and_no_file_and_no_secret(
        admin: NetSuiteAdmin, config: dict, tmp_path: Path, postgres_uri: str) -> None:
    admin.knobs(reject_external_ids=["R1"])
    password_uri = postgres_uri.replace("://postgres@", "://postgres:pw-s3cret@")
    result = run_target({**config, "store_uri": password_uri},
                        [CUSTOMER_SCHEMA, customer("R1"), customer("R2"), state(2)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert not Path(config["dead_letter_path"]).exists()  # nothing on this host's disk
    store = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
    [letter] = stored_letters(store)
    store.close()
    assert letter["externalId"] == "R1" and letter["record_type"] == "customer"
    row = json.dumps(letter)
    for secret in ("pw-s3cret", *(str(v) for k, v in DEMO_TBA.items() if k != "account_id")):
        assert secret not in row
    assert "pw-s3cret" not in result.stderr


def test_a_lost_account_lock_stops_the_run_before_the_next_wave(
        admin: NetSuiteAdmin, config: dict, tmp_path: Path, postgres_uri: str) -> None:
    """The server drops the lock's connection (here `pg_terminate_backend`, as idle_session_timeout or a failover
    would): the next wave finds the lock gone and the run stops; nothing after it is written, no STATE covers it."""
    config_file = tmp_path / "config.json"
    # checkpoint 0: every record and every STATE drains every sink (one wave each), and the STATE follows the drain
    config_file.write_text(json.dumps({**config, "store_uri": postgres_uri, "batch_size_rows": 10,
                                       "checkpoint_interval_seconds": 0}))
    process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    states: list[dict] = []
    first_state = threading.Event()

    def read_states() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                states.append(json.loads(line))
                first_state.set()

    reader = threading.Thread(target=read_states, daemon=True)
    reader.start()
    send = process.stdin
    send.write(json.dumps(CUSTOMER_SCHEMA) + "\n")
    for i in range(10):
        send.write(json.dumps(customer(f"L{i:02}")) + "\n")
    send.write(json.dumps(state(10)) + "\n")  # checkpoint 0: drained at once, then STATE 10 is emitted
    send.flush()
    assert first_state.wait(timeout=120), "the target emitted no STATE after its first batch"
    assert len(admin.records("customer")) == 10
    engine = sa.create_engine(postgres_uri)
    with engine.connect() as conn:
        pids = [pid for (pid,) in conn.execute(sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"))]
        assert len(pids) == 1
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
    engine.dispose()
    for i in range(10, 30):
        send.write(json.dumps(customer(f"L{i:02}")) + "\n")
    send.write(json.dumps(state(30)) + "\n")
    send.close()
    assert process.stderr is not None
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 1
    reader.join(timeout=60)
    errors = [line for line in stderr.splitlines() if "account lock" in line and "was lost" in line]
    assert len(errors) == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    assert sorted(r["externalId"] for r in admin.records("customer")) == [f"L{i:02}" for i in range(10)]
    assert states and all(s["bookmarks"]["customer"]["position"] <= 10 for s in states)
