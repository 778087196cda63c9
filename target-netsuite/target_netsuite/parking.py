"""Parked records: children whose referenced parent is not in NetSuite yet, kept durably until it is.

A reference to a record NetSuite does not hold yet is not the child's fault: the parent may be later in this run
(another stream, a later batch) or in a later run (selected later, created later, stopped by a quota guard). Such
a child is therefore never dead-lettered at once. It is *parked*:

- the latest version of each (record type, external id) is kept in the store (`store_uri`: by default a SQLite
  file, or a PostgreSQL database every host shares), committed before the batch that parked it returns, so a
  STATE emitted after that batch never covers a record that is only in memory (nor only on one host's disk);
- at the end of every run (after every stream is drained, so parents read later in the same run are written),
  every parked record is tried again through the normal write path; written → removed; still unresolved →
  stays parked, `attempts` counted;
- any later final outcome of the same key (a newer version written, deleted or dead-lettered) removes it, so an
  old parked version never overwrites newer data;
- a record parked for longer than `reference_wait_hours`, and tried at least `MIN_ATTEMPTS` times, becomes a
  dead letter `UNRESOLVED_REFERENCE` saying how long it waited and for which parent.

A crash at any moment loses nothing: a record is either still in the Singer input after the last STATE (resent
by the next run), or committed here. Losing the store loses the parked records, like losing the dead letters.
A store holds the parked records of one NetSuite account (like the file it replaced): accounts do not share one.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import typing as t
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import Store, as_store

from target_netsuite.client import json_default

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: A parked record is dead-lettered only after this many end-of-run tries, however old it is: a pipeline that
#: did not run for a day must still give a late parent a chance.
MIN_ATTEMPTS = 3
#: The file of parked records when there is no `store_uri` (in `dead_letter_path`, or `parked_path`).
PARKED_FILE = "parked.sqlite3"

METADATA = sa.MetaData()
PARKED = sa.Table(
    "parked", METADATA,
    sa.Column("record_type", sa.Text, primary_key=True),
    sa.Column("external_id", sa.Text, primary_key=True),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("waiting_for", sa.Text, nullable=False),
    sa.Column("first_parked", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
)


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
    """The parked records in the store. Thread-safe; every change is committed before the call returns."""

    def __init__(self, store: Store | Path) -> None:
        self.store = as_store(store)
        self._owns_store = not isinstance(store, Store)  # a path given: this object opened it, closes it
        self._lock = threading.Lock()
        self._opened = False
        #: Keys in the store, so that settling a key that was never parked (nearly every write) costs no I/O.
        #: Another host may park meanwhile only while this one does not run (the account lock), so the set,
        #: read when the store is first used, stays right for the run.
        self._keys: set[tuple[str, str]] = set()

    def _open(self) -> None:
        """Read the keys on first use: a run that parks nothing creates no file."""
        if not self._opened:
            with self.store.begin(METADATA) as conn:
                self._keys = {(a, b) for a, b in conn.execute(sa.select(PARKED.c.record_type, PARKED.c.external_id))}
            self._opened = True

    def _exists(self) -> bool:
        return self._opened or self.store.exists()

    def park(self, *, record_type: str, external_id: str, stream: str, record: dict, waiting_for: str) -> None:
        """Keep (or replace with this newer version) a waiting record; its first-parked time is kept."""
        now = dt.datetime.now(tz=dt.UTC).isoformat()
        body = json.dumps(record, default=json_default, ensure_ascii=False)
        insert = self.store.insert(PARKED).values(record_type=record_type, external_id=external_id, stream=stream,
                                                  record=body, waiting_for=waiting_for, first_parked=now)
        upsert = insert.on_conflict_do_update(
            index_elements=[PARKED.c.record_type, PARKED.c.external_id],
            set_={"stream": insert.excluded.stream, "record": insert.excluded.record,
                  "waiting_for": insert.excluded.waiting_for},
        )
        with self._lock:
            self._open()
            self._keys.add((record_type, external_id))
            with self.store.begin(METADATA) as conn:
                conn.execute(upsert)

    def settle(self, record_type: str, external_id: str) -> None:
        """The key reached a final outcome (written, deleted, dead-lettered): nothing of it waits any more."""
        if not self._exists():
            return
        with self._lock:
            self._open()
            if (record_type, external_id) not in self._keys:
                return
            self._keys.discard((record_type, external_id))
            with self.store.begin(METADATA) as conn:
                conn.execute(PARKED.delete().where(PARKED.c.record_type == record_type,
                                                   PARKED.c.external_id == external_id))

    def count_tried(self, keys: list[tuple[str, str]]) -> None:
        """One more end-of-run try for these keys."""
        if not keys:
            return
        statement = PARKED.update().where(
            PARKED.c.record_type == sa.bindparam("rt"), PARKED.c.external_id == sa.bindparam("eid"),
        ).values(attempts=PARKED.c.attempts + 1)
        with self._lock, self.store.begin(METADATA) as conn:
            conn.execute(statement, [{"rt": rt, "eid": eid} for rt, eid in keys])

    def all(self) -> Iterator[ParkedRecord]:
        """Every parked record, oldest first (a snapshot: parking or settling meanwhile is safe)."""
        if not self._exists():
            return
        with self._lock:
            self._open()
            with self.store.begin(METADATA) as conn:
                rows = conn.execute(sa.select(
                    PARKED.c.record_type, PARKED.c.external_id, PARKED.c.stream, PARKED.c.record,
                    PARKED.c.waiting_for, PARKED.c.first_parked, PARKED.c.attempts,
                ).order_by(PARKED.c.first_parked, PARKED.c.record_type, PARKED.c.external_id)).all()
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
            self._open()
            return len(self._keys)

    def count_waiting_for(self, marker: str) -> int:
        """The parked records whose `waiting_for` holds `marker` (records written already that wait only for an
        optional link, optional_references.py)."""
        if not self._exists():
            return 0
        with self._lock:
            self._open()
            with self.store.begin(METADATA) as conn:
                query = sa.select(sa.func.count()).select_from(PARKED).where(
                    PARKED.c.waiting_for.contains(marker, autoescape=True))
                return int(conn.execute(query).scalar_one())

    def close(self) -> None:
        with self._lock:
            self._opened = False
            if self._owns_store:
                self.store.close()
