"""The store (`store_uri`, connector_kit/store.py) on SQLite files and on a real PostgreSQL server: the parked
records and the write ledger keep their invariants on both, a second host sees what the first committed, the
account lock spans hosts and dies with its process, and a password never shows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from connector_kit.sqlite_files import BUSY_TIMEOUT_S
from connector_kit.store import LockLostError, Store, StoreError, Stores, masked
from connector_kit.store_accounts import account_schema
from target_netsuite.ledger import WriteLedger
from target_netsuite.parking import ParkedRecords

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    """Two hosts' view of one store: SQLite (one host, two processes) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        uri = request.getfixturevalue("postgres_uri")
    return Stores(uri, schema=STORE_SCHEMA, files={})


def _host(stores: Stores) -> Store:
    """Another host's connection to the same store."""
    assert stores.uri is not None
    return Store.from_uri(stores.uri, schema=STORE_SCHEMA)


def test_parked_records_survive_a_change_of_host(stores: Stores) -> None:
    host_a = ParkedRecords(stores.part("parked"))
    host_a.park(record_type="contact", external_id="c1", stream="contact", record={"x": 1}, waiting_for="customer a")
    host_a.park(record_type="contact", external_id="c1", stream="contact", record={"x": 2}, waiting_for="customer a")
    host_a.count_tried([("contact", "c1")])
    host_b = ParkedRecords(_host(stores))  # committed before park() returned: a fresh process on a fresh disk sees it
    [parked] = list(host_b.all())
    assert (parked.external_id, parked.record, parked.attempts) == ("c1", {"x": 2}, 1)
    assert host_b.count() == 1
    host_b.settle("contact", "c1")
    assert list(ParkedRecords(_host(stores)).all()) == []


def test_the_ledger_is_shared_and_a_failing_wave_commits_nothing(stores: Stores) -> None:
    host_a = WriteLedger(stores.part("ledger"), "acct")
    host_a.record("customer", [("A", "v2")])
    host_a.record_refused("customer", [("R", "h", "USER_ERROR")])
    host_b = WriteLedger(_host(stores), "acct")
    assert host_b.known("customer", ["A", "B"]) == {"A": "v2"}  # host B knows what host A wrote
    assert host_b.refusals("customer", ["R"]) == {"R": ("h", "USER_ERROR")}
    assert WriteLedger(_host(stores), "other-account").known("customer", ["A"]) == {}
    with pytest.raises(StoreError, match="IntegrityError"):
        host_b.record("customer", [("B", "h2"), ("C", None)])  # type: ignore[list-item]  # fails half-way
    assert host_a.known("customer", ["A", "B", "C"]) == {"A": "v2"}  # one transaction: B is not recorded either
    host_b.invalidate("customer", ["A"])  # before sending v1: host A's entry for v2 is gone for every host
    assert host_a.known("customer", ["A"]) == {}
    host_b.record("customer", [("R", "h")])  # accepted: its refusal goes in the same transaction
    assert host_a.refusals("customer", ["R"]) == {}
    assert host_a.count() == 1


def test_postgres_tables_live_in_their_own_schema(postgres_uri: str) -> None:
    store = Store.from_uri(postgres_uri.replace("+psycopg", ""), schema=STORE_SCHEMA)  # plain postgresql:// works
    ParkedRecords(store).park(record_type="contact", external_id="c", stream="contact", record={}, waiting_for="x")
    WriteLedger(store, "acct").record("customer", [("A", "h")])
    with store.engine().connect() as conn:
        tables = set(conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": STORE_SCHEMA}).scalars())
        public = set(conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")).scalars())
    assert {"parked", "accepted", "refused"} <= tables
    assert not public & {"parked", "accepted", "refused"}
    store.close()


def test_two_hosts_creating_the_tables_at_once_do_not_race(postgres_uri: str) -> None:
    script = textwrap.dedent(f"""
        from connector_kit.store import Store
        from target_netsuite.ledger import WriteLedger
        WriteLedger(Store.from_uri({postgres_uri!r}, schema="target_netsuite"), "acct").record("customer", [("A", "h")])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]


def test_the_account_lock_spans_hosts_and_dies_with_its_process(postgres_uri: str) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from connector_kit.store import Store
        with Store.from_uri({postgres_uri!r}, schema="target_netsuite").account_lock("acct") as held:
            print("held" if held else "refused", flush=True)
            sys.stdin.readline()  # hold until killed
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        other_host = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
        with other_host.account_lock("acct") as held:
            assert not held
        with other_host.account_lock("another account") as held:
            assert held
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=60)
    # The server ends a dead client's session once it sees the socket closed: poll for that (bounded, no clock).
    released = False
    for _ in range(600):
        with other_host.account_lock("acct") as held:
            released = held
        if released:
            break
        with other_host.engine().connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(0.1)"))
    assert released
    with other_host.account_lock("acct") as held_again:  # released on leaving the block
        assert held_again
    other_host.close()


def test_a_password_never_shows(tmp_path: Path) -> None:
    uri = "postgresql://user:s3cr3t-pw@127.0.0.1:1/nodb"
    assert "s3cr3t-pw" not in masked(uri)
    store = Store.from_uri(uri, schema=STORE_SCHEMA)
    with pytest.raises(StoreError) as failure:
        WriteLedger(store, "acct").record("customer", [("A", "h")])
    assert "s3cr3t-pw" not in str(failure.value)
    assert "***" in str(failure.value)
    with pytest.raises(StoreError) as bad:
        Stores("mysql://user:s3cr3t-pw@host/db", schema=STORE_SCHEMA, files={})
    assert "s3cr3t-pw" not in str(bad.value)


def test_without_store_uri_each_part_keeps_its_file_as_open_sqlite_opens_it(tmp_path: Path) -> None:
    files = {"parked": tmp_path / "p" / "parked.sqlite3", "ledger": tmp_path / "l" / "ledger.sqlite3"}
    stores = Stores(None, schema=STORE_SCHEMA, files=files)
    assert stores.shared is None
    ParkedRecords(stores.part("parked")).park(record_type="contact", external_id="c", stream="contact", record={},
                                              waiting_for="customer a")
    WriteLedger(stores.part("ledger"), "acct").record("customer", [("A", "h")])
    assert files["parked"].is_file() and files["ledger"].is_file()
    with stores.part("ledger").engine().connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert raw.execute("PRAGMA busy_timeout").fetchone() == (int(BUSY_TIMEOUT_S * 1000),)
    stores.close()


def test_files_written_before_store_uri_keep_working(tmp_path: Path) -> None:
    """Tables as the target created them before the store (server-side defaults, no SQLAlchemy)."""
    ledger_file, parked_file = tmp_path / "ledger.sqlite3", tmp_path / "parked.sqlite3"
    with sqlite3.connect(ledger_file) as db:
        db.execute("CREATE TABLE accepted (account TEXT NOT NULL, record_type TEXT NOT NULL, external_id TEXT NOT "
                   "NULL, payload_hash TEXT NOT NULL, accepted_at TEXT NOT NULL DEFAULT "
                   "(strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), PRIMARY KEY (account, record_type, external_id))")
        db.execute("INSERT INTO accepted (account, record_type, external_id, payload_hash) VALUES ('acct', 'customer', "
                   "'A', 'h1')")
    with sqlite3.connect(parked_file) as db:
        db.execute("CREATE TABLE parked (record_type TEXT NOT NULL, external_id TEXT NOT NULL, stream TEXT NOT NULL, "
                   "record TEXT NOT NULL, waiting_for TEXT NOT NULL, first_parked TEXT NOT NULL, attempts INTEGER NOT "
                   "NULL DEFAULT 0, PRIMARY KEY (record_type, external_id))")
        db.execute("INSERT INTO parked VALUES ('contact', 'c', 'contact', '{}', 'customer a', "
                   "'2026-01-01T00:00:00+00:00', 2)")
    ledger = WriteLedger(ledger_file, "acct")
    assert ledger.known("customer", ["A"]) == {"A": "h1"}
    ledger.record("customer", [("A", "h2")])
    assert ledger.known("customer", ["A"]) == {"A": "h2"}
    [parked] = list(ParkedRecords(parked_file).all())
    assert (parked.external_id, parked.attempts) == ("c", 2)


def test_a_lock_whose_connection_the_server_dropped_is_noticed(postgres_uri: str) -> None:
    """idle_session_timeout, a failover or a restarted pooler end the lock's session: `verify` says so, and keeps
    saying so (a reconnected session would not hold the lock)."""
    host = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
    other = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
    with host.account_lock("acct") as lock:
        assert lock
        lock.verify()  # held: no error
        with other.engine().connect() as conn:
            [pid] = conn.execute(sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalars()
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(LockLostError, match=r"account lock in store .* was lost"):
            lock.verify()
        with other.account_lock("acct") as taken:  # another host can take it now: hence the check before writes
            assert taken
        with pytest.raises(LockLostError):
            lock.verify()
    host.close()
    other.close()
