"""The write ledger: never send NetSuite a payload it has already accepted.

Most records that reach the target change nothing NetSuite holds (lookback re-sends, replays, `--full-refresh`,
a Salesforce change in a field the mapping does not use). For each (account, record type, external id) the
ledger keeps a hash of the last upsert NetSuite *answered with success*; an upsert whose hash is the same is
not sent and is counted `unchanged`.

The invariant: **the ledger is never ahead of NetSuite.** An entry says "NetSuite holds the effect of this
payload", and it is only ever true or absent:

- an entry is written only after NetSuite answered success for exactly that payload (`record`, one store
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

Where it lives: the store (`store_uri`): by default the SQLite file `ledger_path`, one host's; with PostgreSQL one
ledger every host shares, so host B knows what host A wrote (and A's invalidation before a newer payload).

The ledger is a cache, never the truth: deleting it only costs writes. What it cannot see is a change made
in NetSuite by someone else (a person, another integration, another host with a ledger of its own): the
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
records (forcing writes, e.g. with `--full-refresh`); `off` neither reads nor writes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import typing as t
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import Store, as_store

from target_netsuite.client import json_default

if t.TYPE_CHECKING:
    from collections.abc import Iterable

LEDGER_MODES = ("use", "ignore", "off")
LEDGER_FILE = "ledger.sqlite3"
#: SQLite's limit on bound parameters is 999 in old builds: look keys up in chunks well under it.
_CHUNK = 500

METADATA = sa.MetaData()
_KEY = ("account", "record_type", "external_id")
ACCEPTED = sa.Table(
    "accepted", METADATA,
    *(sa.Column(name, sa.Text, primary_key=True) for name in _KEY),
    sa.Column("payload_hash", sa.Text, nullable=False),
    sa.Column("accepted_at", sa.Text, nullable=False),
)
REFUSED = sa.Table(
    "refused", METADATA,
    *(sa.Column(name, sa.Text, primary_key=True) for name in _KEY),
    sa.Column("payload_hash", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("refused_at", sa.Text, nullable=False),
)


def _now() -> str:
    return dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    """The ledger of one account in the store. Thread-safe; every change is committed before the call returns.

    The store is opened on first use, so a run that writes nothing (or `ledger: off`) creates no file."""

    def __init__(self, store: Store | Path, account: str, mode: str = "use") -> None:
        if mode not in LEDGER_MODES:
            msg = f"ledger must be one of {LEDGER_MODES}, got {mode!r}"
            raise ValueError(msg)
        self.store = as_store(store)
        self._owns_store = not isinstance(store, Store)
        self.account = account
        self.mode = mode
        self._lock = threading.Lock()

    @property
    def skips(self) -> bool:
        """Whether an unchanged payload is left unsent (`use`)."""
        return self.mode == "use"

    @property
    def records(self) -> bool:
        """Whether accepted payloads are recorded (`use`, `ignore`)."""
        return self.mode != "off"

    def _exists(self) -> bool:
        return self.store.exists()

    def _lookup(self, table: sa.Table, columns: list[str], record_type: str,
                external_ids: Iterable[str]) -> list[t.Any]:
        ids = list(dict.fromkeys(external_ids))
        if self.mode == "off" or not ids or not self._exists():
            return []
        rows: list[t.Any] = []
        with self._lock, self.store.begin(METADATA) as conn:
            for start in range(0, len(ids), _CHUNK):
                rows.extend(conn.execute(sa.select(*(table.c[name] for name in columns)).where(
                    table.c.account == self.account, table.c.record_type == record_type,
                    table.c.external_id.in_(ids[start : start + _CHUNK]),
                )).all())
        return rows

    def known(self, record_type: str, external_ids: Iterable[str]) -> dict[str, str]:
        """The recorded hash of each of these external ids that has one."""
        return {eid: digest for eid, digest in
                self._lookup(ACCEPTED, ["external_id", "payload_hash"], record_type, external_ids)}

    def refusals(self, record_type: str, external_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The last refusal of each of these external ids that has one: (payload hash, NetSuite error code)."""
        return {eid: (digest, code) for eid, digest, code in
                self._lookup(REFUSED, ["external_id", "payload_hash", "code"], record_type, external_ids)}

    def record_refused(self, record_type: str, refused: Iterable[tuple[str, str, str]]) -> None:
        """NetSuite refused these (external id, payload hash, error code) for the record's own reason."""
        now = _now()
        rows = [{"account": self.account, "record_type": record_type, "external_id": eid, "payload_hash": digest,
                 "code": code, "refused_at": now} for eid, digest, code in refused]
        if not self.records or not rows:
            return
        insert = self.store.insert(REFUSED)
        upsert = insert.on_conflict_do_update(index_elements=list(_KEY), set_={
            "payload_hash": insert.excluded.payload_hash, "code": insert.excluded.code,
            "refused_at": insert.excluded.refused_at})
        with self._lock, self.store.begin(METADATA) as conn:
            conn.execute(upsert, rows)

    def forget_refused(self, record_type: str, external_ids: Iterable[str]) -> None:
        """These refusals were the account's, not the records' (the breaker stopped the run): never known ones."""
        self._delete(REFUSED, [(record_type, eid) for eid in external_ids])

    def invalidate(self, record_type: str, external_ids: Iterable[str]) -> None:
        """Remove these keys' entries (committed) before a different payload or a delete of them is sent."""
        self.forget_keys((record_type, eid) for eid in external_ids)

    def forget_keys(self, keys: Iterable[tuple[str, str]]) -> None:
        """Remove the entries of these (record type, external id) keys, in one transaction."""
        self._delete(ACCEPTED, list(keys))

    def _delete(self, table: sa.Table, keys: list[tuple[str, str]], conn: sa.Connection | None = None) -> None:
        if self.mode == "off" or not keys or not self._exists():
            return
        statement = table.delete().where(table.c.account == self.account,
                                         table.c.record_type == sa.bindparam("rt"),
                                         table.c.external_id == sa.bindparam("eid"))
        params = [{"rt": rtype, "eid": eid} for rtype, eid in keys]
        if conn is not None:
            conn.execute(statement, params)
            return
        with self._lock, self.store.begin(METADATA) as own:
            own.execute(statement, params)

    def record(self, record_type: str, accepted: Iterable[tuple[str, str]]) -> None:
        """NetSuite answered success for these (external id, payload hash): remember them (and drop their
        refusals), in one transaction."""
        now = _now()
        rows = [{"account": self.account, "record_type": record_type, "external_id": eid, "payload_hash": digest,
                 "accepted_at": now} for eid, digest in accepted]
        if not self.records or not rows:
            return
        insert = self.store.insert(ACCEPTED)
        upsert = insert.on_conflict_do_update(index_elements=list(_KEY), set_={
            "payload_hash": insert.excluded.payload_hash, "accepted_at": insert.excluded.accepted_at})
        with self._lock, self.store.begin(METADATA) as conn:
            conn.execute(upsert, rows)
            self._delete(REFUSED, [(record_type, row["external_id"]) for row in rows], conn)

    def count(self) -> int:
        """Entries of this account (for tests and the bench)."""
        if not self._exists():
            return 0
        with self._lock, self.store.begin(METADATA) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(ACCEPTED)
                                    .where(ACCEPTED.c.account == self.account)).scalar_one())

    def close(self) -> None:
        with self._lock:
            if self._owns_store:
                self.store.close()
