"""The write ledger: never send NetSuite a payload it has already accepted.

Most records that reach the target change nothing NetSuite holds (lookback re-sends, replays, `--full-refresh`,
a Salesforce change in a field the mapping does not use). For each (account, record type, external id) the
ledger keeps a hash of the last upsert NetSuite *answered with success*; an upsert whose hash is the same is
not sent and is counted `unchanged`.

The invariant: **the ledger is never ahead of NetSuite.** An entry says "NetSuite holds the effect of this
payload", and it is only ever true or absent:

- an entry is written only after NetSuite answered success for exactly that payload (`record`, one SQLite
  transaction per wave of answers; a target killed between the answer and the commit leaves no entry, which only
  costs one more write next time);
- before a *different* payload (or a delete) of a key is sent, the key's old entry is removed and that removal
  committed (`invalidate`): otherwise a write that NetSuite applied but the target never recorded (killed, timed
  out, refused half-way) would leave the old entry standing, and a later return to the old payload (Salesforce
  reverting a field) would be skipped although NetSuite holds the newer one;
- a delete never leaves an entry (removed before it is sent); deletes are always sent;
- a write that another run's write may still overtake is never recorded (and its key's old entry is removed): a
  killed run's batch job still queued in NetSuite, or its synchronous request NetSuite may still be executing,
  carrying another payload of the record. The nonce store (`SubmittedBatches`) knows them; `overtake.py` waits for
  such jobs (bounded) before the write, and leaves the record unrecorded while they may still land, so a later run
  sends it again;
- `dry_run`, `match_mode: report` and `reconcile` never record.

Beside the accepted payloads the ledger keeps the last payload NetSuite *refused* for each key, with its error code
(`refused`; dropped when a payload of the key is accepted). It is no claim about NetSuite's state: it lets the
breaker tell a known record-level refusal from an account-wide one, and lets an unchanged refused payload whose
dead letter still waits stay unsent (`still_refused`) until it changes or is replayed (breaker.py).

The ledger is a cache, never the truth: deleting the file only costs writes. What it cannot see is a change made
in NetSuite by someone else (a person, another integration, another host with its own ledger): the
reconciliation job finds such records missing or stale and drops their entries (`forget_keys`), and its repair
run writes with `ledger: ignore`.

What the hash covers (`payload_hash`): the action, the payload as the target received it without control keys
(references still by external id, so the hash is known before any lookup and a skip costs no request), the
sublists replaced, and the target's own settings that change what is sent for that record type
(`create_only_fields`): changing those settings makes every entry of the type differ, so a skip is never decided
under other settings. A reference names its parent by external id; if that parent is deleted and recreated in
NetSuite under the same external id, the child's unchanged payload is skipped although NetSuite's child points at
the old internal id: run once with `ledger: ignore` after such surgery.

Modes (`ledger` setting): `use` skips and records; `ignore` sends everything (refused payloads too) and still
records (forcing writes, e.g. with `--full-refresh`); `off` neither reads nor writes the file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import typing as t
from pathlib import Path

from connector_kit.sqlite_files import open_sqlite

from target_netsuite.client import json_default

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

LEDGER_MODES = ("use", "ignore", "off")
LEDGER_FILE = "ledger.sqlite3"
#: SQLite's limit on bound parameters is 999 in old builds: look keys up in chunks well under it.
_CHUNK = 500

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS accepted (
    account TEXT NOT NULL,
    record_type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    accepted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (account, record_type, external_id)
)""",
    """CREATE TABLE IF NOT EXISTS refused (
    account TEXT NOT NULL,
    record_type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    code TEXT NOT NULL,
    refused_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (account, record_type, external_id)
)""",
)


def account_key(base_url: str, account_id: str) -> str:
    """One ledger per NetSuite account and API host (a sandbox and production never share entries)."""
    return hashlib.sha256(f"{base_url}|{account_id.upper()}".encode()).hexdigest()[:16]


def payload_hash(*, action: str, body: dict, replace: list[str], settings: object) -> str:
    """The hash of what a write sends: canonical JSON (sorted keys) of the action, body, replaced sublists and
    the record type's sending settings."""
    canonical = json.dumps(
        {"action": action, "body": body, "replace": sorted(replace), "settings": settings},
        sort_keys=True, separators=(",", ":"), default=json_default, ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class WriteLedger:
    """The ledger file of one account. Thread-safe; every change is committed before the call returns.

    The file is opened on first use, so a run that writes nothing (or `ledger: off`) creates nothing."""

    def __init__(self, path: Path, account: str, mode: str = "use") -> None:
        if mode not in LEDGER_MODES:
            msg = f"ledger must be one of {LEDGER_MODES}, got {mode!r}"
            raise ValueError(msg)
        self.path = path
        self.account = account
        self.mode = mode
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @property
    def skips(self) -> bool:
        """Whether an unchanged payload is left unsent (`use`)."""
        return self.mode == "use"

    @property
    def records(self) -> bool:
        """Whether accepted payloads are recorded (`use`, `ignore`)."""
        return self.mode != "off"

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            # Autocommit (explicit BEGIN): each call is one transaction, committed before it returns, as in
            # parking.py; the reconciliation run may drop entries meanwhile.
            self._conn = open_sqlite(self.path, *_SCHEMA)
        return self._conn

    def _exists(self) -> bool:
        return self._conn is not None or self.path.exists()

    def known(self, record_type: str, external_ids: Iterable[str]) -> dict[str, str]:
        """The recorded hash of each of these external ids that has one."""
        ids = list(dict.fromkeys(external_ids))
        if self.mode == "off" or not ids or not self._exists():
            return {}
        found: dict[str, str] = {}
        with self._lock:
            db = self._db()
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(db.execute(
                    f"SELECT external_id, payload_hash FROM accepted WHERE account = ? AND record_type = ? "
                    f"AND external_id IN ({marks})",
                    (self.account, record_type, *chunk),
                ).fetchall())
        return found

    def refusals(self, record_type: str, external_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The last refusal of each of these external ids that has one: (payload hash, NetSuite error code)."""
        ids = list(dict.fromkeys(external_ids))
        if self.mode == "off" or not ids or not self._exists():
            return {}
        found: dict[str, tuple[str, str]] = {}
        with self._lock:
            db = self._db()
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for eid, digest, code in db.execute(
                    f"SELECT external_id, payload_hash, code FROM refused WHERE account = ? AND record_type = ? "
                    f"AND external_id IN ({marks})",
                    (self.account, record_type, *chunk),
                ):
                    found[eid] = (digest, code)
        return found

    def record_refused(self, record_type: str, refused: Iterable[tuple[str, str, str]]) -> None:
        """NetSuite refused these (external id, payload hash, error code) for the record's own reason."""
        rows = [(self.account, record_type, eid, digest, code) for eid, digest, code in refused]
        if not self.records or not rows:
            return
        self._commit(
            "INSERT INTO refused (account, record_type, external_id, payload_hash, code) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (account, record_type, external_id) DO UPDATE SET payload_hash = excluded.payload_hash, "
            "code = excluded.code, refused_at = excluded.refused_at",
            rows,
        )

    def forget_refused(self, record_type: str, external_ids: Iterable[str]) -> None:
        """These refusals were the account's, not the records' (the breaker stopped the run): never known ones."""
        rows = [(self.account, record_type, eid) for eid in external_ids]
        if self.mode == "off" or not rows or not self._exists():
            return
        self._commit("DELETE FROM refused WHERE account = ? AND record_type = ? AND external_id = ?", rows)

    def invalidate(self, record_type: str, external_ids: Iterable[str]) -> None:
        """Remove these keys' entries (committed) before a different payload or a delete of them is sent."""
        self.forget_keys((record_type, eid) for eid in external_ids)

    def forget_keys(self, keys: Iterable[tuple[str, str]]) -> None:
        """Remove the entries of these (record type, external id) keys, in one transaction."""
        rows = [(self.account, rtype, eid) for rtype, eid in keys]
        if self.mode == "off" or not rows or not self._exists():
            return
        self._commit("DELETE FROM accepted WHERE account = ? AND record_type = ? AND external_id = ?", rows)

    def record(self, record_type: str, accepted: Iterable[tuple[str, str]]) -> None:
        """NetSuite answered success for these (external id, payload hash): remember them, in one transaction."""
        rows = [(self.account, record_type, eid, digest) for eid, digest in accepted]
        if not self.records or not rows:
            return
        self._commit(
            "INSERT INTO accepted (account, record_type, external_id, payload_hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account, record_type, external_id) DO UPDATE SET "
            "payload_hash = excluded.payload_hash, accepted_at = excluded.accepted_at",
            rows,
            also=("DELETE FROM refused WHERE account = ? AND record_type = ? AND external_id = ?",
                  [row[:3] for row in rows]),
        )

    def _commit(self, statement: str, rows: Sequence[tuple[str, ...]],
                also: tuple[str, Sequence[tuple[str, ...]]] | None = None) -> None:
        """Run `statement` for every row (and `also`'s statement for its rows) in one transaction, committed before
        returning (nothing on failure)."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(statement, rows)
                if also is not None:
                    db.executemany(*also)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def count(self) -> int:
        """Entries of this account (for tests and the bench)."""
        if not self._exists():
            return 0
        with self._lock:
            return int(self._db().execute(
                "SELECT COUNT(*) FROM accepted WHERE account = ?", (self.account,)
            ).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
