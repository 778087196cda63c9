"""The write ledger: never send Salesforce values it already holds.

Most records that reach the target change nothing Salesforce holds: a tap's lookback re-sends, a rerun, a replay.
Each update bumps the record's SystemModstamp in Salesforce (and wakes whatever reads Salesforce incrementally,
such as the Salesforce → NetSuite sync), so an unchanged record is not sent: for each (org, sObject, key field,
key, field) the ledger keeps a hash of the value Salesforce last *answered with success* for; a record each of
whose fields has the same hash is counted `unchanged` and not sent.

Entries are per field, not per record, because several streams may write different fields of one record (the
write-back mapping writes the NetSuite id and link, the sync-status extractor the status fields): each stream's
record is judged by its own fields, so two streams never make each other's records look changed.

The invariant: **the ledger is never ahead of Salesforce.** An entry says "Salesforce holds this value in this
field", and it is only ever true or absent:
- an entry is written only after Salesforce answered success for a record holding exactly that value (one
  transaction per batch of answers; a target killed before it leaves no entry, which only costs one more write);
- before a record is sent, the entries of every field it sends are removed and that removal committed
  (`invalidate`): a write Salesforce applied but the target never recorded (killed, timed out) then leaves no
  stale entry, so a later return to the old values is sent, not skipped. Fields the record does not send are not
  touched by its update, so their entries stay true;
- refused records (dead letters) leave no entry.

What it cannot see is a change made in Salesforce by someone else (a person editing `NetSuite_Id__c`): it is
corrected the next time the source value changes, or at once with `ledger: ignore` (sends everything, still
records), or by dropping those fields' entries (`forget`, as `pipeline-ops reconcile --repair` does). The ledger is
a cache: deleting the file only costs writes. One SQLite file per host (`ledger_path`); the per-record table of
earlier versions (`accepted`) is dropped on open (its entries only cost one write each).
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
_SCHEMA = ("DROP TABLE IF EXISTS accepted",
           "CREATE TABLE IF NOT EXISTS accepted_fields (org TEXT NOT NULL, sobject TEXT NOT NULL, "
           "key_field TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL, value_hash TEXT NOT NULL, "
           "PRIMARY KEY (org, sobject, key_field, key, field))")
#: SQLite's limit on bound parameters is 999 in old builds: look keys up in chunks well under it.
_CHUNK = 400


def value_hash(value: t.Any) -> str:
    """The hash of one field's value as it would be sent."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _fields(record: dict[str, t.Any], key_field: str) -> dict[str, str]:
    return {name: value_hash(value) for name, value in record.items() if name != key_field}


class WriteLedger:
    """The accepted values of one org (`org`: its instance URL), in the SQLite file at `path`."""

    def __init__(self, path: Path, mode: str) -> None:
        self.mode = mode
        self.conn = open_sqlite(Path(path), *_SCHEMA) if mode != "off" else None
        self._lock = threading.Lock()

    def unchanged(self, org: str, sobject: str, key_field: str, records: dict[str, dict[str, t.Any]]) -> set[str]:
        """The keys (of `records`, by key) each of whose fields Salesforce already holds; in mode `use` only."""
        if self.conn is None or self.mode != "use" or not records:
            return set()
        known: dict[str, dict[str, str]] = {}
        keys = list(records)
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for key, name, digest in self.conn.execute(
                        f"SELECT key, field, value_hash FROM accepted_fields WHERE org = ? AND sobject = ? "
                        f"AND key_field = ? AND key IN ({marks})", (org, sobject, key_field, *chunk)):
                    known.setdefault(key, {})[name] = digest
        return {key for key, record in records.items()
                if all(known.get(key, {}).get(name) == digest for name, digest in _fields(record, key_field).items())}

    def invalidate(self, org: str, sobject: str, key_field: str, records: dict[str, dict[str, t.Any]]) -> None:
        """Remove the entries of the fields these records (by key) are about to send; committed before they are."""
        self.forget(org, sobject, key_field, {key: list(_fields(r, key_field)) for key, r in records.items()})

    def forget(self, org: str, sobject: str, key_field: str, fields: dict[str, Iterable[str]]) -> None:
        """Remove the entries of these fields (by key): their records are sent again next time."""
        self._change("DELETE FROM accepted_fields WHERE org = ? AND sobject = ? AND key_field = ? AND key = ? "
                     "AND field = ?",
                     [(org, sobject, key_field, key, name) for key, names in fields.items() for name in names])

    def record(self, org: str, sobject: str, key_field: str, accepted: dict[str, dict[str, t.Any]]) -> None:
        """Salesforce accepted these records (by key): remember their fields' hashes."""
        self._change("INSERT INTO accepted_fields (org, sobject, key_field, key, field, value_hash) "
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (org, sobject, key_field, key, field) "
                     "DO UPDATE SET value_hash = excluded.value_hash",
                     [(org, sobject, key_field, key, name, digest) for key, r in accepted.items()
                      for name, digest in _fields(r, key_field).items()])

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
