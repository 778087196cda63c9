"""`pipeline-ops dead-letters` from the target's store, on two "hosts" (two working directories, each with its own
empty dead-letter folder) sharing one real PostgreSQL store: both list the same letters, one replays them, the
other resolves one by hand and the first sees it; export writes JSON Lines that `target-netsuite-replay` reads.
`pipeline-ops store migrate` takes a folder's dead-letter files in, and a second migration adds nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from connector_kit.store import Store
from connector_kit.store_accounts import account_schema
from target_netsuite.dead_letters import DeadLetterStore, stored_letters

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")

PIPELINE_OPS = str(Path(sys.executable).with_name("pipeline-ops"))
REPLAY = str(Path(sys.executable).with_name("target-netsuite-replay"))
PASSWORD = "pw-0ps-s3cret"


def _ops(host: Path, *args: str, store_uri: str | None) -> subprocess.CompletedProcess[str]:
    """pipeline-ops run in a host's own working directory (its project root), as on that host."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TARGET_NETSUITE_", "MELTANO_"))}
    if store_uri:
        env["TARGET_NETSUITE_STORE_URI"] = store_uri
    return subprocess.run([PIPELINE_OPS, "dead-letters", *args], cwd=host, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _letters(store: Store, run_id: str) -> None:
    run = DeadLetterStore(store, run_id)
    for eid, code in (("S1", "USER_ERROR"), ("S2", "USER_ERROR"), ("S3", "INVALID_KEY_OR_REF"),
                      ("S4", "MAPPING_ERROR")):
        run.add(stream="Account", record_type="customer", external_id=eid, code=code, detail=f"refused {eid}",
                payload={"externalId": eid, "companyName": f"Company {eid}"})
    run.close()


def test_two_hosts_list_replay_and_resolve_the_same_letters(tmp_path: Path, postgres_uri: str) -> None:
    uri = postgres_uri.replace("://postgres@", f"://postgres:{PASSWORD}@")
    store = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
    _letters(store, "20261207T010000Z-aaaa")  # a run on some host, its disk since gone
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    host_a.mkdir()
    host_b.mkdir()

    for host in (host_a, host_b):
        listed = _ops(host, store_uri=uri)
        assert listed.returncode == 0, listed.stderr
        assert "4 dead letters waiting from 1 run(s)" in listed.stdout
        assert "INVALID_KEY_OR_REF" in listed.stdout and "S3" in listed.stdout
        assert PASSWORD not in listed.stdout + listed.stderr and "postgres:***@" in listed.stdout

    replay = _ops(host_b, "replay", store_uri=uri)
    assert replay.returncode == 0, replay.stderr
    messages = [json.loads(line) for line in replay.stdout.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert [r["externalId"] for r in records] == ["S1", "S2", "S3"]  # MAPPING_ERROR only when asked
    assert all(r["_sdc_replay"] is True for r in records)
    assert messages[0]["type"] == "SCHEMA" and messages[0]["stream"] == "Account"
    # the target's own replay command reads the same rows
    same = subprocess.run([REPLAY, "--store-uri", uri, "--include-mapping-errors"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert same.returncode == 0 and "4 records" in same.stderr, same.stderr

    resolved = _ops(host_a, "resolve", "--record-type", "customer", "--external-id", "S2", "--note", "deleted in SF",
                    store_uri=uri)
    assert resolved.returncode == 0 and "Resolved 1 dead letters" in resolved.stdout, resolved.stderr
    after = _ops(host_b, "--last", "2", store_uri=uri)
    assert "3 dead letters waiting" in after.stdout and " S2 " not in after.stdout
    [s2] = [e for e in stored_letters(store, waiting_only=False) if e["externalId"] == "S2"]
    assert s2["resolution"] == "by hand: deleted in SF"
    nothing = _ops(host_a, "resolve", "--note", "x", store_uri=uri)
    assert nothing.returncode == 1 and "say which letters" in nothing.stderr

    out = host_a / "letters.jsonl"
    exported = _ops(host_a, "export", "--all", "--out", str(out), store_uri=uri)
    assert exported.returncode == 0 and "4 dead letters exported" in exported.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["externalId"], e["resolution"]) for e in lines][1] == ("S2", "by hand: deleted in SF")
    assert not list(host_a.glob("dead_letters*")) and not list(host_b.glob("dead_letters*"))  # nothing local
    # people's JSON Lines replay as the target's files did (the resolved S2 included: the export holds every letter)
    replayed_file = subprocess.run([REPLAY, str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert replayed_file.returncode == 0 and "3 records" in replayed_file.stderr, replayed_file.stderr
    store.close()


def test_without_a_store_uri_the_local_store_and_files_agree(tmp_path: Path) -> None:
    """The SQLite default: the target writes rows and the JSON Lines files; a hand resolution reaches both."""
    folder = tmp_path / "dead_letters"
    letters = DeadLetterStore(folder, "20261207T020000Z-bbbb")
    letters.add(stream="Account", record_type="customer", external_id="L1", code="USER_ERROR", detail="d",
                payload={"externalId": "L1"})
    letters.close()
    listed = _ops(tmp_path, store_uri=None)
    assert "1 dead letters waiting from 1 run(s) in" in listed.stdout and str(folder) in listed.stdout
    assert _ops(tmp_path, "resolve", "--external-id", "L1", "--note", "fixed by hand", store_uri=None).returncode == 0
    assert "No dead letters waiting" in _ops(tmp_path, store_uri=None).stdout
    files = subprocess.run([REPLAY, str(folder / "20261207T020000Z-bbbb.jsonl")], capture_output=True, text=True,
                           timeout=120, check=False)
    assert "0 records" in files.stderr  # resolved.ndjson says what the row says


@pytest.fixture(params=["postgresql", "sqlite"])
def target_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        (tmp_path / "shared").mkdir()
        return f"sqlite:///{tmp_path / 'shared' / 'store.sqlite3'}"
    return str(request.getfixturevalue("postgres_uri"))


def test_migrate_takes_dead_letter_files_in_and_twice_adds_nothing(tmp_path: Path, target_uri: str) -> None:
    """Files written before the store (an older target): waiting, superseded and written letters keep their state."""
    folder = tmp_path / "dead_letters"
    folder.mkdir()
    old = [{"time": f"2026-11-0{i}T00:00:00+00:00", "run_id": "old-run", "stream": "Account",
            "record_type": "customer", "externalId": eid, "code": "USER_ERROR", "detail": "d",
            "payload": {"externalId": eid, "v": i}} for i, eid in enumerate(["M1", "M2", "M1", "M3"], start=1)]
    (folder / "old-run.jsonl").write_text("".join(json.dumps(e) + "\n" for e in old))
    (folder / "resolved.ndjson").write_text(json.dumps(
        {"time": "2026-11-06T00:00:00+00:00", "record_type": "customer", "externalId": "M2"}) + "\n")
    migrate = [PIPELINE_OPS, "store", "migrate", "--account", "1234567_SB1", "--to", target_uri, "--from", str(folder)]
    first = subprocess.run(migrate, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert "dead-letter files: 4 letters read, 4 added" in first.stdout
    second = subprocess.run(migrate, capture_output=True, text=True, timeout=120, check=False)
    assert "dead-letter files: 4 letters read, 0 added" in second.stdout, second.stdout + second.stderr
    store = Store.from_uri(target_uri, schema=STORE_SCHEMA)
    every = stored_letters(store, waiting_only=False)
    store.close()
    assert [(e["seq"], e["externalId"], e["resolution"]) for e in every] == [
        (1, "M1", "superseded (run old-run #3)"), (2, "M2", "written (resolved.ndjson)"), (3, "M1", None),
        (4, "M3", None)]
    assert every[2]["payload"] == {"externalId": "M1", "v": 3}
