"""SQLite persistence of the NetSuite stand-in: records, id sequences, used TBA nonces, M2M access tokens.

One connection guarded by a lock: the app runs on one event loop and every store call is a short synchronous
transaction, so a read-check-write sequence done without an `await` in between cannot interleave with another
request. WAL mode lets the admin CLI or a test read the file while the server writes.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    account TEXT NOT NULL, rtype TEXT NOT NULL, id INTEGER NOT NULL, external_id TEXT,
    body TEXT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL,
    PRIMARY KEY (account, rtype, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS records_eid ON records (account, rtype, external_id);
CREATE TABLE IF NOT EXISTS sequences (account TEXT NOT NULL, family TEXT NOT NULL, last INTEGER NOT NULL,
    PRIMARY KEY (account, family));
CREATE TABLE IF NOT EXISTS nonces (account TEXT NOT NULL, consumer_key TEXT NOT NULL, nonce TEXT NOT NULL,
    timestamp INTEGER NOT NULL, seen REAL NOT NULL, PRIMARY KEY (account, consumer_key, nonce, timestamp));
CREATE INDEX IF NOT EXISTS nonces_seen ON nonces (seen);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, account TEXT NOT NULL, client_id TEXT NOT NULL,
    expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS seeded (account TEXT PRIMARY KEY);
"""

# First internal id handed out per id family (real NetSuite numbers entities, items and transactions
# separately; distinct ranges make a client that mixes up record types fail loudly in tests).
FIRST_IDS = {"entity": 100, "item": 500, "transaction": 1000, "subsidiary": 1, "currency": 1, "employee": 1,
             "term": 1, "pricelevel": 1, "department": 1, "classification": 1, "location": 1, "relationship": 1}


class Store:
    """Records of every configured account, keyed by (account, record type, internal id)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL stays consistent after a crash and skips an fsync per write (a sandbox, not a ledger).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Serialise a group of statements; commits on success, rolls back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @staticmethod
    def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        body = json.loads(row["body"])
        return {"id": str(row["id"]), **body}

    def get(self, account: str, rtype: str, record_id: str) -> dict[str, Any] | None:
        if not record_id.isdigit():
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM records WHERE account=? AND rtype=? AND id=?", (account, rtype, int(record_id))
            ).fetchone()
        return self._row(row)

    def get_by_external_id(self, account: str, rtype: str, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM records WHERE account=? AND rtype=? AND external_id=?", (account, rtype, external_id)
            ).fetchone()
        return self._row(row)

    def list(self, account: str, rtype: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM records WHERE account=? AND rtype=? ORDER BY id", (account, rtype)
            ).fetchall()
        return [r for r in (self._row(row) for row in rows) if r is not None]

    def find(self, account: str, rtype: str, *, ids: set[str] | None = None,
             external_ids: set[str] | None = None) -> builtins.list[dict[str, Any]]:
        """Records with one of these internal ids or external ids (index lookups for SuiteQL)."""
        column, values = ("id", [int(v) for v in ids or () if v.isdigit()]) if ids is not None else (
            "external_id", sorted(external_ids or ()))
        found: list[dict[str, Any]] = []
        with self._lock:
            for start in range(0, len(values), 500):
                chunk = values[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT * FROM records WHERE account=? AND rtype=? AND {column} IN ({marks})",
                    (account, rtype, *chunk),
                ).fetchall()
                found.extend(r for r in (self._row(row) for row in rows) if r is not None)
        return found

    def count(self, account: str, rtype: str) -> int:
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM records WHERE account=? AND rtype=?", (account, rtype)
                ).fetchone()[0]
            )

    def insert(self, account: str, rtype: str, family: str, body: dict[str, Any], record_id: int | None = None) -> str:
        """Store a new record, taking the next id of its family unless one is given (seeding)."""
        now = _now()
        with self.transaction() as db:
            row = db.execute("SELECT last FROM sequences WHERE account=? AND family=?", (account, family)).fetchone()
            last = row["last"] if row else FIRST_IDS[family] - 1
            new_id = record_id if record_id is not None else last + 1
            db.execute(
                "INSERT INTO sequences (account, family, last) VALUES (?, ?, ?) "
                "ON CONFLICT (account, family) DO UPDATE SET last=MAX(last, excluded.last)",
                (account, family, new_id),
            )
            db.execute(
                "INSERT INTO records (account, rtype, id, external_id, body, created, modified) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (account, rtype, new_id, body.get("externalId"), json.dumps(body), now, now),
            )
        return str(new_id)

    def replace(self, account: str, rtype: str, record_id: str, body: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE records SET body=?, external_id=?, modified=? WHERE account=? AND rtype=? AND id=?",
                (json.dumps(body), body.get("externalId"), _now(), account, rtype, int(record_id)),
            )

    def delete(self, account: str, rtype: str, record_id: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute(
                "DELETE FROM records WHERE account=? AND rtype=? AND id=?", (account, rtype, int(record_id))
            )
        return cursor.rowcount > 0

    def clear(self, account: str) -> None:
        """Empty the account (records and id sequences) so it can be seeded again."""
        with self.transaction() as db:
            for table in ("records", "sequences", "nonces", "tokens", "seeded"):
                db.execute(f"DELETE FROM {table} WHERE account=?", (account,))

    def mark_seeded(self, account: str) -> bool:
        """True the first time an account is seen, so seed data is written once and survives restarts."""
        with self.transaction() as db:
            cursor = db.execute("INSERT OR IGNORE INTO seeded (account) VALUES (?)", (account,))
        return cursor.rowcount > 0

    def remember_nonce(self, account: str, consumer_key: str, nonce: str, timestamp: int, horizon_s: float) -> bool:
        """Record a nonce+timestamp pair; False when it was already used (a replay)."""
        now = time.time()
        with self.transaction() as db:
            db.execute("DELETE FROM nonces WHERE seen < ?", (now - horizon_s,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO nonces (account, consumer_key, nonce, timestamp, seen) VALUES (?, ?, ?, ?, ?)",
                (account, consumer_key, nonce, timestamp, now),
            )
        return cursor.rowcount > 0

    def save_token(self, token: str, account: str, client_id: str, expires: float) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM tokens WHERE expires < ?", (time.time(),))
            db.execute("INSERT INTO tokens (token, account, client_id, expires) VALUES (?, ?, ?, ?)",
                       (token, account, client_id, expires))

    def token_account(self, token: str) -> str | None:
        """The account a still-valid bearer token belongs to."""
        with self._lock:
            row = self._db.execute(
                "SELECT account FROM tokens WHERE token=? AND expires > ?", (token, time.time())
            ).fetchone()
        return row["account"] if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
