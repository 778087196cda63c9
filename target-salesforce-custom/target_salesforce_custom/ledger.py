"""The write ledger: never send Salesforce a record it has already accepted.

Most records that reach the target change nothing Salesforce holds: a tap's lookback re-sends, a rerun, a replay.
Each update bumps the record's SystemModstamp in Salesforce (and wakes whatever reads Salesforce incrementally,
such as the Salesforce → NetSuite sync), so an unchanged record is not sent: for each (org, sObject, key field,
key) the ledger keeps a hash of the last record Salesforce *answered with success*; a record whose hash is the same
is counted `unchanged` and not sent. (The sObject column holds `<sObject>/<stream>` for a stream not named after its
sObject: sinks.py `_ledger_scope`.)

The invariant: **the ledger is never ahead of Salesforce.** An entry says "Salesforce holds these values", and it
is only ever true or absent:
- an entry is written only after Salesforce answered success for exactly that record (one transaction per batch
  of answers; a target killed before it leaves no entry, which only costs one more write next time);
- before a *different* record of a key is sent, the key's old entry is removed and that removal committed
  (`invalidate`): a write Salesforce applied but the target never recorded (killed, timed out) then leaves no
  stale entry, so a later return to the old values is sent, not skipped;
- refused records (dead letters) leave no entry.

What it cannot see is a change made in Salesforce by someone else (a person editing `NetSuite_Id__c`): it is
corrected the next time the source record changes, or at once with `ledger: ignore` (sends everything, still
records). The ledger is a cache: deleting the file only costs writes. One SQLite file per host (`ledger_path`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import typing as t
from pathlib import Path

from connector_kit.sqlite_files import open_sqlite

if t.TYPE_CHECKING:
    from collections.abc import Iterable

LEDGER_MODES = ("use", "ignore", "off")
_SCHEMA = ("CREATE TABLE IF NOT EXISTS accepted (org TEXT NOT NULL, sobject TEXT NOT NULL, key_field TEXT NOT NULL, "
           "key TEXT NOT NULL, record_hash TEXT NOT NULL, PRIMARY KEY (org, sobject, key_field, key))",)
#: SQLite's limit on bound parameters is 999 in old builds: look keys up in chunks well under it.
_CHUNK = 400


def record_hash(record: dict[str, t.Any]) -> str:
    """The hash of a record as it would be sent (its fields and values, in any order)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class WriteLedger:
    """The accepted records of one org (`org`: its instance URL), in the SQLite file at `path`."""

    def __init__(self, path: Path, mode: str) -> None:
        self.mode = mode
        self.conn = open_sqlite(Path(path), *_SCHEMA) if mode != "off" else None
        self._lock = threading.Lock()

    def unchanged(self, org: str, sobject: str, key_field: str, records: dict[str, dict[str, t.Any]]) -> set[str]:
        """The keys (of `records`, by key) whose record Salesforce already holds; in mode `use` only."""
        if self.conn is None or self.mode != "use" or not records:
            return set()
        known: dict[str, str] = {}
        keys = list(records)
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                known.update(self.conn.execute(
                    f"SELECT key, record_hash FROM accepted WHERE org = ? AND sobject = ? AND key_field = ? "
                    f"AND key IN ({marks})", (org, sobject, key_field, *chunk)).fetchall())
        return {key for key, record in records.items() if known.get(key) == record_hash(record)}

    def invalidate(self, org: str, sobject: str, key_field: str, keys: Iterable[str]) -> None:
        """Remove the entries of keys about to be sent with other values; committed before they are sent."""
        self._change("DELETE FROM accepted WHERE org = ? AND sobject = ? AND key_field = ? AND key = ?",
                     [(org, sobject, key_field, key) for key in keys])

    def record(self, org: str, sobject: str, key_field: str, accepted: dict[str, dict[str, t.Any]]) -> None:
        """Salesforce accepted these records (by key): remember their hashes."""
        self._change("INSERT INTO accepted (org, sobject, key_field, key, record_hash) VALUES (?, ?, ?, ?, ?) "
                     "ON CONFLICT (org, sobject, key_field, key) DO UPDATE SET record_hash = excluded.record_hash",
                     [(org, sobject, key_field, key, record_hash(r)) for key, r in accepted.items()])

    def _change(self, statement: str, rows: list[tuple[str, ...]]) -> None:
        if self.conn is None or not rows:
            return
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany(statement, rows)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
