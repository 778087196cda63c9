"""`pipeline-ops store migrate`: one host's SQLite files into a shared store (a real PostgreSQL server, or one
SQLite store file); twice is harmless; the target then reads everything from the store; a password never shows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from connector_kit.store import Store
from connector_kit.store_accounts import account_schema
from pipeline_ops.cli import main
from target_netsuite.batches import SubmittedBatches
from target_netsuite.ledger import WriteLedger
from target_netsuite.merge import MergeStore
from target_netsuite.parking import ParkedRecords

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")


def _host_files(folder: Path) -> None:
    """A dead-letter folder as a target without `store_uri` leaves it; the nonce file of an older version."""
    parked = ParkedRecords(folder / "parked.sqlite3")
    for n in range(3):
        parked.park(record_type="contact", external_id=f"c{n}", stream="contact", record={"n": n},
                    waiting_for="customer a")
    parked.close()
    ledger = WriteLedger(folder / "ledger.sqlite3", "acct")
    ledger.record("customer", [("A", "v2"), ("B", "h")])
    ledger.record_refused("customer", [("R", "h", "USER_ERROR")])
    ledger.close()
    MergeStore(folder / "merged.sqlite3", "acct").mark_adopted("customer", ["A"])
    with sqlite3.connect(folder / "async_batches.sqlite3") as db:  # before owner/record_type/keys/job existed
        db.execute("CREATE TABLE submitted (account TEXT NOT NULL, digest TEXT NOT NULL, nonce TEXT NOT NULL, "
                   "submitted_at REAL NOT NULL, PRIMARY KEY (account, digest))")
        db.execute("INSERT INTO submitted VALUES ('acct', 'd1', 'nonce-1', strftime('%s', 'now'))")


@pytest.fixture(params=["postgresql", "sqlite"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / 'store.sqlite3'}"
    return str(request.getfixturevalue("postgres_uri"))


def test_migrate_copies_every_part_and_twice_does_no_harm(tmp_path: Path, store_uri: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "dead_letters"
    folder.mkdir()
    _host_files(folder)
    if store_uri.startswith("sqlite"):
        Path(store_uri.removeprefix("sqlite:///")).parent.mkdir()
    assert main(["store", "migrate", "--account", "1234567_SB1", "--to", store_uri, "--from", str(folder)]) == 0
    first = capsys.readouterr().out
    assert "parked: 3 rows read, 3 added" in first
    store = Store.from_uri(store_uri, schema=STORE_SCHEMA)
    ledger = WriteLedger(store, "acct")
    ledger.record("customer", [("A", "v3")])  # a run against the store, between the two migrations
    assert main(["store", "migrate", "--account", "1234567_SB1", "--to", store_uri, "--from", str(folder)]) == 0
    second = capsys.readouterr().out
    assert "parked: 3 rows read, 0 added" in second
    assert "accepted: 2 rows read, 0 added" in second
    assert ledger.known("customer", ["A", "B"]) == {"A": "v3", "B": "h"}  # the store's newer row was kept
    assert ledger.refusals("customer", ["R"]) == {"R": ("h", "USER_ERROR")}
    assert sorted(p.external_id for p in ParkedRecords(store).all()) == ["c0", "c1", "c2"]
    assert MergeStore(store, "acct").merged("customer", ["A"])["A"].keys() == {"(adopted)"}
    nonces = SubmittedBatches(store, "acct", "run-2")
    assert [u.digest for u in nonces.others()] == ["d1"]  # the old table gained its columns in the store
    assert nonces.nonce("d1") == "nonce-1"  # a rerun on any host reuses the killed run's nonce
    assert main(["store", "status", "--uri", store_uri]) == 0
    assert "parked" in capsys.readouterr().out
    store.close()


def test_migrate_never_prints_a_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "dead_letters"
    folder.mkdir()
    _host_files(folder)
    assert main(["store", "migrate", "--account", "1234567_SB1", "--to", "postgresql://u:s3cr3t-pw@127.0.0.1:1/db",
                 "--from", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "s3cr3t-pw" not in captured.out + captured.err
    assert "***" in captured.err
