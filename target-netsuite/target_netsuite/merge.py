"""The three-way merge of every update: what the target last wrote, what the source sends now, what NetSuite holds.

"We own only what we wrote." For each field of an update (a top-level value or a reference; other sublists and
subrecords are sent as they come, but for an item's price rows, each merged as a field of its own: price_rows.py),
with the *incoming* value S (Salesforce's, through the mapper), the values kept
for that field after the last write NetSuite accepted (the incoming value then, and the value NetSuite was left
holding), and NetSuite's current value N:

- never written (no entry for the field: an adopted record, or a field the mapping added since): S empty → the
  field is left out (NetSuite keeps its value; counted `netsuite_values_kept`), else S is written;
- S equals the incoming value last merged → the field is left out: Salesforce did not change it, so a person's
  edit in NetSuite stands even when another field of the record changed (no read needed);
- otherwise N is read (batched SuiteQL, see below): N still what we left there, or already S → S is written (an
  empty S clears); S unchanged since a person changed N → N is kept (`netsuite_edits_kept`); both
  changed → a conflict, decided by `conflict_policy` (record type and field): `salesforce_wins` writes S,
  `netsuite_wins` keeps N and settles (S and N become the merged values), `report` (the default) keeps N and lists
  the conflict as open until a later merge of that field settles it. Every conflict is counted (`conflicts`) and
  kept in the `conflicts` table (`pipeline-ops conflicts`).

`report` is the default because a conflict means a person deliberately changed a field after the pipeline wrote
it *and* Salesforce changed it too: overwriting destroys the person's work, silently keeping NetSuite's drops the
Salesforce change; keeping NetSuite's value (nothing is lost: Salesforce still holds its own) and listing it lets
the administrator decide.

Records without any merge history (the upgrade rule): a record the pipeline wrote before this store existed, or
before `merged.sqlite3` was lost (a new host), has no entry at all. The pipeline before the merge owned every
mapped field fully (it sent every value, nulls included, on every update, and replaced the address book with
unlabelled lines), so NetSuite's current value of such a record is what the pipeline last wrote, or a person's
later edit that its next update would have overwritten anyway. A record NetSuite holds under an external id this
pipeline writes (`match_keys.owned_external_id`: a Salesforce Id of the mapped object), not adopted in this run
(`Write.adopted`) nor by a killed run (the matcher's `(adopted)` mark, committed before the adoption is sent), and
with no entry at all, therefore takes **NetSuite's current values as the last write** (its baseline: every
mergeable field read, counted `netsuite_baselines`, one warning per record type and run): Salesforce's values are
written as before the merge, clears included, and from then on the record is merged as usual. Its unlabelled
address lines holding the default billing / shipping flags are ours: each of our billing / shipping lines not
found by label takes such a line's id (the same flags first), so it is updated in place and labelled, never added
beside it; lines a person labelled, and unlabelled lines no Salesforce address claims, are kept. The baseline is
committed with the pending values, so a kill before the write leaves NetSuite's old value ours (the clear is sent
again, not taken for a person's edit). A record keyed by hand with a Salesforce Id (not adopted by the matcher)
is indistinguishable from one the old pipeline wrote and is treated the same way: let the matcher adopt it
(`approved_internal_id` in the match report) to keep its NetSuite-only values. Records adopted in this run, and
records with any history, are merged as above.

Reading N: one SuiteQL query per up to 200 records of a wave, only for records NetSuite holds (the matcher's
existence lookup; a record not known to exist is looked up in the same query), only the fields that need it, and
no query at all when no field needs it; a record without history is read in the same query (all its fields), so
the upgrade costs its first update of each record nothing more, and a record with history nothing at all. A
column SuiteQL refuses is not merged (written as before) for the run.

Address books (entity records) are merged by line, never replaced: a line the pipeline writes carries a label
(`Billing (synced)`, or the label the payload gives it), which identifies it durably in NetSuite itself; before an
update the record's lines are read (`customerAddressbook`, one query per wave) and each of our lines is sent with
the line id NetSuite gave it (updated in place), new ones are added, and NetSuite's own lines and labels are left
alone. Only when Salesforce dropped an address we wrote, or a line is added, is `replace=addressbook` sent, naming
every other line by id so that NetSuite keeps them (keyed-sublist replace): a retried add (NetSuite applied it, the
answer was lost) then replaces the first attempt's line instead of adding a second.

The invariant: **the merged values are never ahead of NetSuite.** Before a wave is sent, each field about to be
written gets its value as *pending* (committed); only after NetSuite accepted the write do the pending values become
the merged ones (`accepted`, one transaction, before the ledger records the payload; in the store (`store_uri`; by
default the file `merged.sqlite3` beside the ledger's, with PostgreSQL shared by every host), kept in every `ledger`
mode: the ledger is a cache, ownership is not; lost, its records fall back to the upgrade rule above, and people's
edits since the last write, and adopted records' NetSuite-only values where Salesforce has none, are overwritten at
each record's next update). A kill between the write and that commit leaves the old values plus the pending one: the
next run reads N and counts both as ours, so an applied-but-unrecorded write is neither a false conflict (N equals
the pending value) nor a lost update (a Salesforce revert to the old value is still written, because a pending field
is always read). Recording before the write instead would make a write that never happened look done: the next run
would leave the field out.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import re
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import Store, as_store

from target_netsuite import price_rows
from target_netsuite.client import FatalError, RecordError, json_default
from target_netsuite.match_keys import owned_external_id
from target_netsuite.references import suiteql_source

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from target_netsuite.client import NetSuiteClient
    from target_netsuite.outcomes import Outcomes
    from target_netsuite.writes import Write

#: Beside the ledger file (same directory), kept whatever the `ledger` mode: ownership is not a cache.
MERGE_FILE = "merged.sqlite3"
CONFLICT_POLICIES = ("salesforce_wins", "netsuite_wins", "report")
DEFAULT_CONFLICT_POLICY = "report"
#: Sublists merged by line (entity address books); any other sublist is replaced whole, as the mapping asks.
MERGED_SUBLIST = "addressbook"
ADDRESSBOOK_TABLES = {"customer": "customeraddressbook", "contact": "contactaddressbook",
                      "vendor": "vendoraddressbook", "employee": "employeeaddressbook",
                      "partner": "partneraddressbook"}
OWNED_LABEL_SUFFIX = " (synced)"
#: The row (in place of a field name) that says the matcher gave the record our external id: written before the
#: adoption is sent, so a record adopted by a killed run never looks like one written before the merge existed.
ADOPTED_MARK = "(adopted)"
_READ_CHUNK = 200
_SQL_CHUNK = 400
_UNKNOWN_COLUMN = re.compile(r"Field '(\w+)' for record")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\Z")
_LOGGER = logging.getLogger("target_netsuite.merge")
#: Pending values kept per field (the newest): writes of killed runs that NetSuite may still apply.
_MAX_PENDING = 8

#: The merge's tables in the store (`store_uri`); on SQLite the file `merged.sqlite3` beside the ledger's, as before.
METADATA = sa.MetaData()
_KEY = ("account", "record_type", "external_id", "field")
MERGED_FIELDS = sa.Table(
    "merged_fields", METADATA,
    *(sa.Column(name, sa.Text, primary_key=True) for name in _KEY),
    sa.Column("has_base", sa.Integer, nullable=False, server_default="0"),
    sa.Column("incoming", sa.Text),
    sa.Column("written", sa.Text),
    sa.Column("has_pending", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pending", sa.Text),
)
CONFLICTS = sa.Table(
    "conflicts", METADATA,
    *(sa.Column(name, sa.Text, primary_key=True) for name in _KEY),
    sa.Column("incoming", sa.Text),
    sa.Column("netsuite", sa.Text),
    sa.Column("last_written", sa.Text),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("detected_at", sa.Text, nullable=False),
)


def _now() -> str:
    return dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pending(stored: str | None) -> tuple[str | None, ...]:
    """The pending values as stored: a JSON list (oldest first)."""
    try:
        values = json.loads(stored) if stored else []
    except ValueError:  # one bare value
        return (stored,)
    return tuple(values) if isinstance(values, list) else (stored,)


def canonical(value: object) -> str | None:
    """A value as SuiteQL shows it, so that a payload value and a SuiteQL column compare: empty is NULL, booleans
    T/F, references their id, whole floats without `.0`, dates ISO (SuiteQL's M/D/YYYY read back)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, dict):
        return str(value["id"]) if "id" in value else json.dumps(value, sort_keys=True, default=json_default)
    if isinstance(value, (float, decimal.Decimal)) and value == int(value):
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    text = str(value)
    if match := _US_DATE.match(text):
        return f"{match.group(3)}-{int(match.group(1)):02d}-{int(match.group(2)):02d}"
    return text


#: NetSuite formats phone numbers on save (the account's phone format preference): compared by their digits.
PHONE_FIELDS = frozenset({"phone", "altPhone", "mobilePhone", "homePhone", "officePhone", "fax"})


def comparable(name: str, value: object) -> str | None:
    """`canonical`, and a phone field's digits: a value NetSuite reformatted is still the one we wrote. NetSuite's
    phone format shows a North American number with or without its country code 1, so an 11-digit number starting
    with 1 compares as its last 10 digits; any other country code is kept, so a number that moved to another
    country (`+1 415-555-0009` → `+49 4155 550009`) is a change."""
    text = canonical(value)
    if text is not None and name in PHONE_FIELDS:
        digits = re.sub(r"\D", "", text)
        return (digits[1:] if len(digits) == 11 and digits.startswith("1") else digits) or None
    return text


def mergeable(value: object) -> bool:
    """Top-level values and references are merged; sublists, subrecords and lists are sent as they come."""
    if isinstance(value, dict):
        return set(value) == {"id"}
    return not isinstance(value, list)


def owned_label(line: dict[str, t.Any], index: int) -> str:
    """The label that identifies an address book line the pipeline writes."""
    billing, shipping = line.get("defaultBilling") is True, line.get("defaultShipping") is True
    role = ("Billing and shipping" if billing and shipping else "Billing" if billing
            else "Shipping" if shipping else f"Address {index + 1}")
    return role + OWNED_LABEL_SUFFIX


class ConflictPolicies:
    """`conflict_policy`: `{"<record type>" | "*": policy | {"<field>" | "*": policy}}`; default `report`."""

    def __init__(self, setting: dict[str, t.Any] | None) -> None:
        self._by_type: dict[str, dict[str, str]] = {}
        for record_type, value in (setting or {}).items():
            fields = value if isinstance(value, dict) else {"*": value}
            for name, policy in fields.items():
                if policy not in CONFLICT_POLICIES:
                    msg = (f"conflict_policy.{record_type}{'' if name == '*' else '.' + name}: {policy!r} is not one "
                           f"of {', '.join(CONFLICT_POLICIES)}")
                    raise FatalError(msg)
            self._by_type[record_type] = dict(fields)

    def for_field(self, record_type: str, name: str) -> str:
        for scope in (self._by_type.get(record_type, {}), self._by_type.get("*", {})):
            if name in scope:
                return scope[name]
            if "*" in scope:
                return scope["*"]
        return DEFAULT_CONFLICT_POLICY

    def fingerprint(self, record_type: str) -> dict[str, dict[str, str]]:
        """What decides this record type's conflicts (part of the ledger hash: other policies, other writes)."""
        return {scope: self._by_type[scope] for scope in (record_type, "*") if scope in self._by_type}


@dataclass(frozen=True)
class Merged:
    """What is kept for one field: the last merged incoming value and NetSuite's value after it, and the values
    sent but not yet known to be accepted, or accepted but possibly overtaken by an earlier run's write that
    NetSuite may still apply (pending, oldest first)."""

    has_base: bool = False
    incoming: str | None = None
    written: str | None = None
    pending: tuple[str | None, ...] = ()

    @property
    def has_pending(self) -> bool:
        return bool(self.pending)

    @property
    def known(self) -> bool:
        return self.has_base or self.has_pending

    @property
    def last_written(self) -> str | None:
        return self.written if self.has_base else self.pending[-1]

    def ours(self) -> set[str | None]:
        """The values NetSuite may hold from us."""
        return ({self.written} if self.has_base else set()) | set(self.pending)

    def seen(self) -> set[str | None]:
        """The incoming values already merged (or being merged)."""
        return ({self.incoming} if self.has_base else set()) | set(self.pending)


class MergeStore:
    """The merged values and the conflicts, in the store (`merged.sqlite3` beside the ledger by default); each call
    one committed transaction. Settled before the ledger records the same writes (a ledger entry skips the payload
    next time, and with it the merge)."""

    def __init__(self, store: Store | Path, account: str) -> None:
        self.store = as_store(store)
        self._owns_store = not isinstance(store, Store)
        self.account = account
        self._lock = threading.Lock()

    def _of(self, table: sa.Table, record_type: str) -> sa.ColumnElement[bool]:
        return sa.and_(table.c.account == self.account, table.c.record_type == record_type)

    def merged(self, record_type: str, external_ids: list[str]) -> dict[str, dict[str, Merged]]:
        if not external_ids or not self.store.exists():
            return {}
        found: dict[str, dict[str, Merged]] = {}
        m = MERGED_FIELDS.c
        with self._lock, self.store.begin(METADATA) as db:
            for start in range(0, len(external_ids), _SQL_CHUNK):
                chunk = external_ids[start : start + _SQL_CHUNK]
                rows = db.execute(sa.select(
                    m.external_id, m.field, m.has_base, m.incoming, m.written, m.has_pending, m.pending,
                ).where(self._of(MERGED_FIELDS, record_type), m.external_id.in_(chunk))).all()
                for eid, name, has_base, incoming, written, has_pending, pending in rows:
                    found.setdefault(eid, {})[name] = Merged(bool(has_base), incoming, written,
                                                             _pending(pending) if has_pending else ())
        return found

    def _where_key(self, table: sa.Table, *names: str) -> sa.ColumnElement[bool]:
        """account = this account, and each named key column = its bound parameter (for executemany)."""
        return sa.and_(table.c.account == self.account, *(table.c[name] == sa.bindparam(f"k_{name}")
                                                          for name in names))

    def mark_pending(self, record_type: str, rows: list[tuple[str, str, str | None]],
                     baselines: list[tuple[str, str, str | None]] | None = None) -> None:
        """(external id, field, value about to be sent), added to the field's pending values (a killed run's
        pending value stays: its write may still land): committed before the write is sent; with the baselines
        (external id, field, NetSuite's value) of records without merge history, recorded as the last write."""
        if not rows and not baselines:
            return
        m = MERGED_FIELDS.c
        with self._lock, self.store.begin(METADATA) as db:
            if baselines:
                insert = self.store.insert(MERGED_FIELDS)
                db.execute(insert.on_conflict_do_update(index_elements=list(_KEY), set_={
                    "has_base": 1, "incoming": insert.excluded.incoming, "written": insert.excluded.written,
                }), [{"account": self.account, "record_type": record_type, "external_id": eid, "field": name,
                      "has_base": 1, "incoming": value, "written": value} for eid, name, value in baselines])
            for eid, name, value in rows:
                found = db.execute(sa.select(m.pending).where(
                    self._of(MERGED_FIELDS, record_type), m.external_id == eid, m.field == name, m.has_pending == 1,
                )).first()
                values = [v for v in (_pending(found[0]) if found else ()) if v != value] + [value]
                insert = self.store.insert(MERGED_FIELDS).values(
                    account=self.account, record_type=record_type, external_id=eid, field=name, has_pending=1,
                    pending=json.dumps(values[-_MAX_PENDING:]))
                db.execute(insert.on_conflict_do_update(index_elements=list(_KEY), set_={
                    "has_pending": 1, "pending": insert.excluded.pending}))

    def mark_adopted(self, record_type: str, external_ids: list[str]) -> None:
        """The matcher is about to give these records our external id (committed before the adoption is sent)."""
        if external_ids:
            insert = self.store.insert(MERGED_FIELDS).on_conflict_do_nothing(index_elements=list(_KEY))
            with self._lock, self.store.begin(METADATA) as db:
                db.execute(insert, [{"account": self.account, "record_type": record_type, "external_id": eid,
                                     "field": ADOPTED_MARK} for eid in external_ids])

    def settle(self, record_type: str, merged: list[tuple[str, str, str | None, str | None]],
               resolved: list[tuple[str, str]], forgotten: list[str],
               overtakable: frozenset[str] = frozenset()) -> None:
        """NetSuite accepted the writes: (external id, field, incoming, written) become the merged values, the
        resolved conflicts go, deleted records are forgotten; one transaction. The pending values of a record an
        earlier run's write may still overtake (`overtakable`) stay: NetSuite may yet hold one of them."""
        insert = self.store.insert(MERGED_FIELDS)
        keep = {"has_base": 1, "incoming": insert.excluded.incoming, "written": insert.excluded.written}
        clear_pending = insert.on_conflict_do_update(index_elements=list(_KEY),
                                                     set_={**keep, "has_pending": 0, "pending": None})
        keep_pending = insert.on_conflict_do_update(index_elements=list(_KEY), set_=keep)

        def values(overtaken: bool) -> list[dict[str, t.Any]]:
            return [{"account": self.account, "record_type": record_type, "external_id": eid, "field": name,
                     "has_base": 1, "incoming": incoming, "written": written, "has_pending": 0, "pending": None}
                    for eid, name, incoming, written in merged if (eid in overtakable) == overtaken]

        key = {"k_record_type": record_type}
        steps: list[tuple[t.Any, list[dict[str, t.Any]]]] = [
            (clear_pending, values(overtaken=False)),
            (keep_pending, values(overtaken=True)),
            (CONFLICTS.delete().where(self._where_key(CONFLICTS, "record_type", "external_id", "field")),
             [{**key, "k_external_id": eid, "k_field": name} for eid, name in resolved]),
            (MERGED_FIELDS.delete().where(self._where_key(MERGED_FIELDS, "record_type", "external_id")),
             [{**key, "k_external_id": eid} for eid in forgotten]),
            (CONFLICTS.delete().where(self._where_key(CONFLICTS, "record_type", "external_id")),
             [{**key, "k_external_id": eid} for eid in forgotten]),
        ]
        if not any(rows for _, rows in steps):
            return
        with self._lock, self.store.begin(METADATA) as db:
            for statement, rows in steps:
                if rows:
                    db.execute(statement, rows)

    def add_conflicts(self, rows: list[dict[str, t.Any]]) -> None:
        """Conflicts found (listed even if the write then fails: a person has to look at them either way)."""
        if not rows:
            return
        insert = self.store.insert(CONFLICTS)
        upsert = insert.on_conflict_do_update(index_elements=list(_KEY), set_={
            name: insert.excluded[name]
            for name in ("incoming", "netsuite", "last_written", "policy", "outcome", "run_id", "detected_at")})
        now = _now()
        with self._lock, self.store.begin(METADATA) as db:
            db.execute(upsert, [{**row, "account": self.account, "detected_at": now} for row in rows])

    def conflicts(self) -> list[dict[str, t.Any]]:
        if not self.store.exists():
            return []
        c = CONFLICTS.c
        with self._lock, self.store.begin(METADATA) as db:
            result = db.execute(sa.select(
                c.record_type, c.external_id, c.field, c.incoming, c.netsuite, c.last_written, c.policy, c.outcome,
                c.run_id, c.detected_at,
            ).where(c.account == self.account).order_by(c.detected_at, c.record_type, c.external_id, c.field))
            return [dict(row._mapping) for row in result]

    def close(self) -> None:
        with self._lock:
            if self._owns_store:
                self.store.close()


class _SuiteQLForbiddenError(Exception):
    """The role may not use SuiteQL (403)."""


@dataclass
class _Plan:
    """What to record for one write once NetSuite accepts it."""

    merged: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # field, incoming, written
    resolved: list[str] = field(default_factory=list)


class Merger:
    """Built once per run; `prepare` before a wave is sent, `accepted` once NetSuite answered."""

    def __init__(self, *, client: NetSuiteClient, outcomes: Outcomes, store: MergeStore,
                 policies: ConflictPolicies, run_id: str) -> None:
        self.client = client
        self.outcomes = outcomes  # counts conflicts and kept values (outcomes.py)
        self.store = store
        self.policies = policies
        self.run_id = run_id
        self._plans: dict[tuple[str, str], _Plan] = {}
        self._unreadable: dict[str, set[str]] = {}
        self._warned_forbidden = False
        self._warned_baseline: set[str] = set()
        self._lock = threading.Lock()

    # --- before sending ------------------------------------------------------------------------------------

    def prepare(self, stream: str, record_type: str, writes: list[Write]) -> list[Write]:
        """The writes with each update's body merged (fields left out, address lines keyed); pending values
        committed before anything is sent."""
        upserts = [write for write in writes if write.action == "upsert"]
        if not upserts:
            return writes
        price_matrices = {id(write): price_rows.flatten(write) for write in upserts}
        try:
            return self._prepare(stream, record_type, writes, upserts)
        finally:
            for write in upserts:
                price_rows.restore(write, price_matrices[id(write)])

    def _prepare(self, stream: str, record_type: str, writes: list[Write], upserts: list[Write]) -> list[Write]:
        merged = self.store.merged(record_type, [write.external_id for write in upserts])
        without_history = {write.external_id for write in upserts if self._without_history(record_type, write, merged)}
        wanted = {write.external_id: cols for write in upserts
                  if (cols := self._wanted(record_type, write, merged.get(write.external_id, {}),
                                           baseline=write.external_id in without_history)) is not None}
        try:
            current = self._read(record_type, wanted)
            with_book = {write.external_id for write in upserts if isinstance(write.body.get(MERGED_SUBLIST), dict)}
            lines = self._read_lines(record_type, [(eid, row["id"]) for eid, row in current.items()
                                                   if eid in with_book])
        except _SuiteQLForbiddenError:
            return self._unmerged(record_type, writes)
        pending: list[tuple[str, str, str | None]] = []
        baselines: list[tuple[str, str, str | None]] = []
        conflicts: list[dict[str, t.Any]] = []
        for write in upserts:
            eid = write.external_id
            exists = (eid in current) if eid in wanted else write.exists
            entries = merged.get(eid, {})
            bootstrapped = eid in without_history and eid in current
            if bootstrapped:
                entries = self._baseline(stream, record_type, write, current[eid])
                baselines += [(eid, name, entry.written) for name, entry in entries.items()]
            plan = self._merge_fields(stream, record_type, write, entries, current.get(eid), exists, conflicts)
            self._merge_lines(record_type, write, lines.get(eid, []) if exists else None,
                              claim_unlabelled=bootstrapped)
            pending += [(eid, name, incoming) for name, incoming, _ in plan.merged if name in write.body]
            with self._lock:
                self._plans[(record_type, eid)] = plan
        self.store.add_conflicts(conflicts)
        self.store.mark_pending(record_type, pending, baselines)
        return writes

    @staticmethod
    def _without_history(record_type: str, write: Write, merged: dict[str, dict[str, Merged]]) -> bool:
        """A record this pipeline may have written before the merge existed (or before `merged.sqlite3` was lost):
        our external id, no merge history at all, not adopted in this run, and perhaps already in NetSuite."""
        return (write.exists is not False and not write.adopted and write.external_id not in merged
                and owned_external_id(record_type, write.external_id))

    def _baseline(self, stream: str, record_type: str, write: Write, row: dict[str, t.Any]) -> dict[str, Merged]:
        """NetSuite's current values as what the pipeline last wrote (the pre-merge pipeline sent every value on
        every update), so that the source's values, clears included, are written as they were before."""
        self.outcomes.count(stream, "netsuite_baselines")
        if record_type not in self._warned_baseline:
            with self._lock:
                self._warned_baseline.add(record_type)
            _LOGGER.warning("%s %s (and any other record of ours without merge history: written before the "
                            "three-way merge existed, or %s was lost) takes NetSuite's current values as the last "
                            "write: the source's values are written, clears included (counted netsuite_baselines)",
                            record_type, write.external_id, MERGE_FILE)
        return {name: Merged(has_base=True, incoming=value, written=value) for name in row["_read"]
                if name in write.body for value in [comparable(name, row.get(name.lower()))]}

    def _unmerged(self, record_type: str, writes: list[Write]) -> list[Write]:
        """The role may not use SuiteQL: the writes as they came (sent whole, as before the merge existed), their
        values recorded once accepted; NetSuite's edits cannot be seen. Said once per run."""
        if not self._warned_forbidden:
            self._warned_forbidden = True
            _LOGGER.warning("The role may not use SuiteQL: updates are written whole, without the three-way merge "
                            "(people's edits in NetSuite are not detected)")
        for write in writes:
            if write.action == "upsert":
                plan = _Plan([
                    (name, comparable(name, value), comparable(name, value))
                    for name, value in write.body.items() if mergeable(value)
                ])
                with self._lock:
                    self._plans[(record_type, write.external_id)] = plan
        return writes

    def _wanted(self, record_type: str, write: Write, merged: dict[str, Merged], *, baseline: bool) -> set[str] | None:
        """The fields whose NetSuite value is needed (None: no read for this record); every mergeable one for a
        record without merge history (its baseline)."""
        if write.exists is False:
            return None
        unreadable = self._unreadable.get(record_type, set())
        columns: set[str] = set()
        leaves_out = False
        if baseline:
            columns = {name for name, value in write.body.items() if mergeable(value) and name not in unreadable}
            leaves_out = True  # the read also tells whether the record exists
        for name, value in write.body.items():
            entry = merged.get(name)
            if not mergeable(value) or entry is None or not entry.known or name in unreadable:
                continue
            if entry.has_pending or comparable(name, value) != entry.incoming:
                columns.add(name)
            else:
                leaves_out = True
        lines = isinstance(write.body.get(MERGED_SUBLIST), dict) and record_type in ADDRESSBOOK_TABLES
        if columns or lines or (leaves_out and write.exists is None):
            return columns
        return None

    def _merge_fields(self, stream: str, record_type: str, write: Write, merged: dict[str, Merged],
                      row: dict[str, t.Any] | None, exists: bool | None, conflicts: list[dict[str, t.Any]]) -> _Plan:
        plan = _Plan()
        body = dict(write.body)
        unreadable = self._unreadable.get(record_type, set())
        for name, value in write.body.items():
            if not mergeable(value):
                continue
            incoming = comparable(name, value)
            entry = merged.get(name, Merged())
            if exists is False or name in unreadable:
                plan.merged.append((name, incoming, incoming))  # a new record, or a field SuiteQL cannot show
                continue
            if not entry.known:
                if incoming is None:
                    del body[name]  # never written, nothing to write: NetSuite's value (if any) stays
                    self.outcomes.count(stream, "netsuite_values_kept")
                else:
                    plan.merged.append((name, incoming, incoming))
                continue
            if row is None or name not in row["_read"]:
                # not read: the source did not change it since the last merge (see `_wanted`)
                del body[name]
                continue
            netsuite = comparable(name, row.get(name.lower()))
            if netsuite == incoming or netsuite in entry.ours():
                # sent even when NetSuite holds it already: a rerun after a kill sends what the killed run sent
                # (the same content, so an async batch finds its job by the same idempotency key)
                plan.merged.append((name, incoming, incoming))
                plan.resolved.append(name)
            elif incoming in entry.seen():
                del body[name]  # a person's edit, and no new value from Salesforce: it stands
                plan.merged.append((name, incoming, entry.last_written))
                self.outcomes.count(stream, "netsuite_edits_kept")
            else:
                policy = self.policies.for_field(record_type, price_rows.policy_field(name))
                conflicts.append({"record_type": record_type, "external_id": write.external_id, "field": name,
                                  "incoming": canonical(value), "netsuite": canonical(row.get(name.lower())),
                                  "last_written": entry.last_written,
                                  "policy": policy, "outcome": _OUTCOMES[policy], "run_id": self.run_id})
                self.outcomes.count(stream, "conflicts")
                _LOGGER.warning("Conflict: %s %s field %s changed in NetSuite and in the source; %s (%s)",
                                record_type, write.external_id, name, _OUTCOMES[policy], policy)
                if policy == "salesforce_wins":
                    plan.merged.append((name, incoming, incoming))
                else:
                    del body[name]
                    if policy == "netsuite_wins":
                        plan.merged.append((name, incoming, netsuite))
        write.body = body
        return plan

    def _merge_lines(self, record_type: str, write: Write, lines: list[dict[str, t.Any]] | None, *,
                     claim_unlabelled: bool = False) -> None:
        """Label our address lines; on an update, key them to NetSuite's line ids and keep NetSuite's own lines.
        `claim_unlabelled` (a record without merge history): an unlabelled line holding the default billing /
        shipping flag was written by the pre-merge pipeline, and is our billing / shipping line."""
        book = write.body.get(MERGED_SUBLIST)
        if record_type not in ADDRESSBOOK_TABLES or not isinstance(book, dict) or not isinstance(book.get("items"),
                                                                                                 list):
            return
        items = [dict(line, label=line.get("label") or owned_label(line, index)) if isinstance(line, dict) else line
                 for index, line in enumerate(book["items"])]
        if lines is None:  # a new record: our lines, labelled
            write.body = {**write.body, MERGED_SUBLIST: {**book, "items": items}}
            return
        by_label: dict[str, str] = {}
        for line in lines:
            if line.get("label") is not None:
                by_label.setdefault(str(line["label"]), str(line["internalid"]))
        sent_labels = {line["label"] for line in items if isinstance(line, dict)}
        used = set()
        for line in items:
            if isinstance(line, dict) and line["label"] in by_label and "id" not in line:
                line["id"] = by_label[line["label"]]
                used.add(line["id"])
        if claim_unlabelled:
            used |= _claim_unlabelled(items, lines, used)
        stale = [line for line in lines if str(line.get("label", "")).endswith(OWNED_LABEL_SUFFIX)
                 and line.get("label") not in sent_labels]
        replace = [name for name in write.replace if name != MERGED_SUBLIST]
        added = any(isinstance(line, dict) and "id" not in line for line in items)
        # An address we wrote is gone from the source, or we add one: keyed replace, naming every line to keep. A
        # plain add is not idempotent: NetSuite applies it, the answer is lost, the retry adds the line again.
        if stale or added:
            stale_ids = {str(line["internalid"]) for line in stale}
            items += [{"id": str(line["internalid"])} for line in lines
                      if str(line["internalid"]) not in used | stale_ids]
            replace.append(MERGED_SUBLIST)
        write.replace = sorted(replace)
        write.body = {**write.body, MERGED_SUBLIST: {**book, "items": items}}

    # --- reading NetSuite ----------------------------------------------------------------------------------

    def _query(self, query: str) -> Iterator[dict[str, t.Any]]:
        try:
            yield from self.client.suiteql_rows(query)
        except RecordError as exc:
            if exc.status == 403:
                raise _SuiteQLForbiddenError from None
            raise

    def _read(self, record_type: str, wanted: dict[str, set[str]]) -> dict[str, dict[str, t.Any]]:
        """NetSuite's current values of the wanted fields, by external id; a record absent from the answer is
        not in NetSuite."""
        table, condition = suiteql_source(record_type)
        eids = sorted(wanted)
        found: dict[str, dict[str, t.Any]] = {}
        for start in range(0, len(eids), _READ_CHUNK):
            chunk = eids[start : start + _READ_CHUNK]
            while True:
                unreadable = self._unreadable.get(record_type, set())
                names = sorted({name for eid in chunk for name in wanted[eid]} - unreadable)
                columns = ", ".join(["id", "externalid", *sorted({name.lower() for name in names
                                                                  if not price_rows.is_row_field(name)})])
                keys = ", ".join("'" + eid.replace("'", "''") + "'" for eid in chunk)
                try:
                    rows = list(self._query(f"SELECT {columns} FROM {table} WHERE externalid IN ({keys}){condition}"))
                except RecordError as exc:
                    match = _UNKNOWN_COLUMN.search(exc.detail)
                    column = match.group(1).lower() if match else None
                    refused = [name for name in names if name.lower() == column]
                    if not refused:
                        msg = (f"SuiteQL needed to merge {record_type} updates failed ({exc.code}: "
                               f"{exc.detail[:200]}); the role needs SuiteQL access")
                        raise FatalError(msg) from None
                    _LOGGER.warning("SuiteQL has no column %s on %s: that field is written without merging",
                                    column, table)
                    with self._lock:
                        self._unreadable.setdefault(record_type, set()).update(refused)
                    continue
                break
            for row in rows:
                if "externalid" in row and "id" in row:
                    found[str(row["externalid"])] = {**row, "_read": names}
        priced = [eid for eid in found if any(price_rows.is_row_field(name) for name in wanted[eid])]
        for eid, prices in price_rows.read(self.client, record_type, priced).items():
            found[eid].update(prices)
        for eid in set(found) - set(priced):  # its price rows were not read: never taken for NetSuite's empty ones
            found[eid]["_read"] = [name for name in found[eid]["_read"] if not price_rows.is_row_field(name)]
        return found

    def _read_lines(self, record_type: str, records: list[tuple[str, str]]) -> dict[str, list[dict[str, t.Any]]]:
        """Address book lines (id, label) of these existing records, by external id."""
        table = ADDRESSBOOK_TABLES.get(record_type)
        if table is None or not records:
            return {}
        by_internal = {str(internal): eid for eid, internal in records}
        lines: dict[str, list[dict[str, t.Any]]] = {}
        ids = sorted(by_internal)
        for start in range(0, len(ids), _READ_CHUNK):
            chunk = ids[start : start + _READ_CHUNK]
            query = (f"SELECT entity, internalid, label, defaultbilling, defaultshipping FROM {table} WHERE entity IN "
                     f"({', '.join(repr(str(int(i))) for i in chunk)})")
            try:
                rows = list(self._query(query))
            except RecordError as exc:
                msg = (
                    f"SuiteQL on {table}, needed to keep NetSuite's addresses, failed ({exc.code}: {exc.detail[:200]})"
                )
                raise FatalError(msg) from None
            for row in rows:
                eid = by_internal.get(str(row.get("entity")))
                if eid is not None and "internalid" in row:
                    lines.setdefault(eid, []).append(row)
        return lines

    # --- after NetSuite answered ---------------------------------------------------------------------------

    def accepted(self, record_type: str, writes: list[Write]) -> None:
        """NetSuite accepted these writes: their planned values become the merged ones (deletes are forgotten)."""
        merged: list[tuple[str, str, str | None, str | None]] = []
        resolved: list[tuple[str, str]] = []
        forgotten: list[str] = []
        with self._lock:
            for write in writes:
                plan = self._plans.pop((record_type, write.external_id), None)
                if write.action == "delete":
                    forgotten.append(write.external_id)
                elif plan is not None:
                    merged += [(write.external_id, name, incoming, written) for name, incoming, written in plan.merged]
                    resolved += [(write.external_id, name) for name in plan.resolved]
        if merged or resolved or forgotten:
            overtakable = frozenset(write.external_id for write in writes if write.overtakable)
            self.store.settle(record_type, merged, resolved, forgotten, overtakable)


def _claim_unlabelled(items: list[t.Any], lines: list[dict[str, t.Any]], used: set[str]) -> set[str]:
    """Key each of our default billing / shipping lines not found by label to an unlabelled NetSuite line holding
    its default flags (the same flags first, then one of them); the line ids claimed."""
    flags = {str(line["internalid"]): (canonical(line.get("defaultbilling")) == "T",
                                       canonical(line.get("defaultshipping")) == "T")
             for line in lines if not line.get("label") and str(line["internalid"]) not in used}
    claimed: set[str] = set()
    for exact in (True, False):
        for item in items:
            if not isinstance(item, dict) or "id" in item:
                continue
            wants = (item.get("defaultBilling") is True, item.get("defaultShipping") is True)
            found = next((line_id for line_id, held in flags.items() if line_id not in claimed and any(wants) and (
                held == wants if exact else any(w and h for w, h in zip(wants, held, strict=True)))), None)
            if found is not None:
                item["id"] = found
                claimed.add(found)
    return claimed


_OUTCOMES = {"salesforce_wins": "the source's value written", "netsuite_wins": "NetSuite's value kept",
             "report": "NetSuite's value kept, listed until settled"}

