"""Parked records: children whose referenced parent is not in NetSuite yet, kept durably until it is.

A reference to a record NetSuite does not hold yet is not the child's fault: the parent may be later in this run
(another stream, a later batch) or in a later run (selected later, created later, stopped by a quota guard). Such
a child is therefore never dead-lettered at once. It is *parked*:

- the latest version of each (record type, external id) is kept in a SQLite file, committed before the batch
  that parked it returns, so a STATE emitted after that batch never covers a record that is only in memory;
- at the end of every run (after every stream is drained, so parents read later in the same run are written),
  every parked record is tried again through the normal write path; written → removed; still unresolved →
  stays parked, `attempts` counted;
- any later final outcome of the same key (a newer version written, deleted or dead-lettered) removes it, so an
  old parked version never overwrites newer data;
- a record parked for longer than `reference_wait_hours`, and tried at least `MIN_ATTEMPTS` times, becomes a
  dead letter `UNRESOLVED_REFERENCE` saying how long it waited and for which parent.

A crash at any moment loses nothing: a record is either still in the Singer input after the last STATE (resent
by the next run), or committed here. Losing this file loses the parked records, like losing the dead letters.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import typing as t
from dataclasses import dataclass
from pathlib import Path

from connector_kit.sqlite_files import open_sqlite

from target_netsuite.client import json_default

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: A parked record is dead-lettered only after this many end-of-run tries, however old it is: a pipeline that
#: did not run for a day must still give a late parent a chance.
MIN_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parked (
    record_type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    record TEXT NOT NULL,
    waiting_for TEXT NOT NULL,
    first_parked TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (record_type, external_id)
)
"""


@dataclass(frozen=True)
class ParkedRecord:
    """One waiting child: the record as the target received it, and the parent it waits for."""

    record_type: str
    external_id: str
    stream: str
    record: dict
    waiting_for: str  # "<record type> <external id>" of the first missing parent, for messages
    first_parked: dt.datetime
    attempts: int

    def waited(self, now: dt.datetime) -> dt.timedelta:
        return now - self.first_parked


class ParkedRecords:
    """The parking file. Thread-safe; every change is committed before the call returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        #: Keys in the file, so that settling a key that was never parked (nearly every write) costs no I/O.
        self._keys: set[tuple[str, str]] = set()

    def _db(self) -> sqlite3.Connection:
        """Open (and create) the file on first use: a run that parks nothing creates nothing."""
        if self._conn is None:
            conn = open_sqlite(self.path, _SCHEMA)
            self._keys = {(a, b) for a, b in conn.execute("SELECT record_type, external_id FROM parked")}
            self._conn = conn
        return self._conn

    def _exists(self) -> bool:
        return self._conn is not None or self.path.exists()

    def park(self, *, record_type: str, external_id: str, stream: str, record: dict, waiting_for: str) -> None:
        """Keep (or replace with this newer version) a waiting record; its first-parked time is kept."""
        now = dt.datetime.now(tz=dt.UTC).isoformat()
        body = json.dumps(record, default=json_default, ensure_ascii=False)
        with self._lock:
            self._db()
            self._keys.add((record_type, external_id))
            self._db().execute(
                "INSERT INTO parked (record_type, external_id, stream, record, waiting_for, first_parked) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (record_type, external_id) DO UPDATE SET "
                "stream = excluded.stream, record = excluded.record, waiting_for = excluded.waiting_for",
                (record_type, external_id, stream, body, waiting_for, now),
            )

    def settle(self, record_type: str, external_id: str) -> None:
        """The key reached a final outcome (written, deleted, dead-lettered): nothing of it waits any more."""
        if not self._exists():
            return
        with self._lock:
            db = self._db()
            if (record_type, external_id) not in self._keys:
                return
            self._keys.discard((record_type, external_id))
            db.execute("DELETE FROM parked WHERE record_type = ? AND external_id = ?", (record_type, external_id))

    def count_tried(self, keys: list[tuple[str, str]]) -> None:
        """One more end-of-run try for these keys."""
        with self._lock:
            self._db().executemany(
                "UPDATE parked SET attempts = attempts + 1 WHERE record_type = ? AND external_id = ?", keys
            )

    def all(self) -> Iterator[ParkedRecord]:
        """Every parked record, oldest first (a snapshot: parking or settling meanwhile is safe)."""
        if not self._exists():
            return
        with self._lock:
            rows = self._db().execute(
                "SELECT record_type, external_id, stream, record, waiting_for, first_parked, attempts "
                "FROM parked ORDER BY first_parked, record_type, external_id"
            ).fetchall()
        for record_type, external_id, stream, record, waiting_for, first_parked, attempts in rows:
            yield ParkedRecord(
                record_type=record_type,
                external_id=external_id,
                stream=stream,
                record=json.loads(record),
                waiting_for=waiting_for,
                first_parked=dt.datetime.fromisoformat(first_parked),
                attempts=attempts,
            )

    def count(self) -> int:
        if not self._exists():
            return 0
        with self._lock:
            self._db()
            return len(self._keys)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
