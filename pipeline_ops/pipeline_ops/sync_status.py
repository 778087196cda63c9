"""Per-record sync status from target-netsuite's own outcomes, as a Singer extractor (issue 28 items 2 and 4).

    pipeline-ops sync-status [--store-uri URI] [--path DIR]      Singer SCHEMA/RECORD messages on standard output
    pipeline-ops-sync-status [--config FILE]                     the same, as Meltano runs an extractor

This stream is the **one owner of the status fields** (`NetSuite_Sync_Status__c`, `NetSuite_Last_Error__c`,
`NetSuite_Last_Sync__c`): the write-back mapping (`netsuite-to-salesforce`) writes the NetSuite id, link and order
fields and never these, so no two tasks of the job write different values into one field of a record, and
target-salesforce-custom's per-field write ledger leaves out whatever Salesforce holds already.

For each Salesforce Id of Account (001), Contact (003), Opportunity (006) or Product2 (01t) that target-netsuite's
store knows, one RECORD on the stream named after that object, keyed by `Id` (updated by Id), with the first of:

1. `Error`: the latest waiting dead letter (`resolved_at` null) is not `ORDER_LOCKED`; text `<code>: <detail>`;
2. `Conflict`: the latest waiting letter is `ORDER_LOCKED` (text `ORDER_LOCKED: <detail>`), or the three-way merge
   holds open conflicts of the record (`conflicts` rows with policy `report`): text `Conflict: <fields> changed in
   NetSuite and in Salesforce; NetSuite's values kept until settled (pipeline-ops conflicts)`, field names only;
3. `Waiting for parent`: a parked record; text `Waiting for parent: <what it waits for>`;
4. `Synced`: NetSuite accepted the record's last payload (the write ledger's `accepted` row); text null.

`NetSuite_Last_Sync__c` is when NetSuite last accepted a payload of the record (the ledger's `accepted_at`, the
latest over record types and accounts); a record without one leaves the field out (an earlier value stays).

Invariants: the store is read, never written (no STATE: each run emits every status, all of it; the target's
write ledger leaves out what Salesforce holds already); the text is cut to the field's length
(`LAST_ERROR_LENGTH`) and holds no credentials (a URL's user and password and `token=`/`secret=`/`password=`/
`signature=` values are masked, though a letter never holds connection data in the first place), and a conflict
names fields, never values. A record that NetSuite refused and later accepts is `Synced` in the next run (its
letter is resolved `written`, the ledger holds the accepted payload). `Synced` needs the write ledger (target-netsuite
`ledger` `use` or `ignore`); with `ledger: off`, or for a record whose entry the reconciliation dropped, nothing
is emitted until the target records a write again.

The store is target-netsuite's, read the way the other `pipeline-ops` commands read it: `store_uri`
(`TARGET_NETSUITE_STORE_URI`), else the SQLite files in `dead_letter_path` (`TARGET_NETSUITE_DEAD_LETTER_PATH`,
default `dead_letters` in the project folder): `dead_letters.sqlite3`, `parked.sqlite3` (or `parked_path`),
`ledger.sqlite3` (or `ledger_path`) and `merged.sqlite3` beside the ledger's file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import typing as t
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import StoreError
from connector_kit.store_accounts import ACCOUNT_ENV
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pipeline_ops import dead_letters
from pipeline_ops.store import engine_for, masked, schema_of, select_account

if t.TYPE_CHECKING:
    from collections.abc import Iterable

#: The Salesforce objects whose records get a status, by their Id's key prefix.
OBJECTS = {"001": "Account", "003": "Contact", "006": "Opportunity", "01t": "Product2"}
#: `NetSuite_Last_Error__c` is a Long Text Area(32768) (README: "Writing back to Salesforce").
LAST_ERROR_LENGTH = 32768
ERROR, CONFLICT, WAITING, SYNCED = "Error", "Conflict", "Waiting for parent", "Synced"
#: The dead letter target-netsuite's order lifecycle writes for a change it will not make to a locked order.
ORDER_LOCKED = "ORDER_LOCKED"
#: The merge's conflict policy whose conflicts stay open until settled (target_netsuite/merge.py).
OPEN_POLICY = "report"
#: target-netsuite's files without `store_uri` (parking.py PARKED_FILE, ledger.py LEDGER_FILE, merge.py MERGE_FILE).
PARKED_FILE, LEDGER_FILE, MERGE_FILE = "parked.sqlite3", "ledger.sqlite3", "merged.sqlite3"
#: A conflict's text names at most this many fields.
_MAX_FIELDS = 10
#: The columns read of the target's tables (Tables, so PostgreSQL's schema translation applies).
_PARKED = sa.Table("parked", sa.MetaData(), sa.Column("external_id", sa.Text), sa.Column("waiting_for", sa.Text))
_ACCEPTED = sa.Table("accepted", sa.MetaData(), sa.Column("external_id", sa.Text), sa.Column("accepted_at", sa.Text))
_CONFLICTS = sa.Table("conflicts", sa.MetaData(), sa.Column("external_id", sa.Text), sa.Column("field", sa.Text),
                      sa.Column("policy", sa.Text))
_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"\b((?:access_)?token|secret|password|signature|oauth_signature)=[^&\s\"']+",
                           re.IGNORECASE)

SCHEMA_PROPERTIES = {
    "Id": {"type": "string"},
    "NetSuite_Sync_Status__c": {"type": "string"},
    "NetSuite_Last_Error__c": {"type": ["string", "null"]},
    "NetSuite_Last_Sync__c": {"type": ["string", "null"], "format": "date-time"},
}


class SyncStatusError(Exception):
    """The store cannot be read; the message names the masked URI."""


@dataclass(frozen=True)
class Status:
    """One Salesforce record's status: the object (stream), its Id, the status, the text people read (None when
    Synced) and when NetSuite last accepted a payload of it (None: unknown, the field is left out)."""

    sobject: str
    record_id: str
    status: str
    text: str | None
    last_sync: str | None = None

    def record(self) -> dict[str, str | None]:
        record = {"Id": self.record_id, "NetSuite_Sync_Status__c": self.status, "NetSuite_Last_Error__c": self.text}
        return {**record, "NetSuite_Last_Sync__c": self.last_sync} if self.last_sync else record


def salesforce_object(external_id: str | None) -> str | None:
    """The object whose Id this is (15 or 18 letters and digits with a known key prefix), else None."""
    if not external_id or not _SALESFORCE_ID.fullmatch(external_id):
        return None
    return OBJECTS.get(external_id[:3])


def clean(text: str) -> str:
    """Credentials masked, cut to the field's length."""
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", _URL_USERINFO.sub(r"\1***@", text))
    return text if len(text) <= LAST_ERROR_LENGTH else text[: LAST_ERROR_LENGTH - 1] + "…"


def conflict_text(fields: Iterable[str]) -> str:
    """One line naming the fields of a record's open conflicts (never their values)."""
    names = sorted(set(fields))
    shown = ", ".join(names[:_MAX_FIELDS]) + (f" and {len(names) - _MAX_FIELDS} more" if len(names) > _MAX_FIELDS
                                              else "")
    return clean(f"Conflict: {shown} changed in NetSuite and in Salesforce; NetSuite's values kept until settled "
                 "(pipeline-ops conflicts)")


def statuses(letters: Iterable[dict[str, t.Any]], parked: Iterable[dict[str, t.Any]],
             accepted: Iterable[dict[str, t.Any]] = (), conflicts: Iterable[dict[str, t.Any]] = ()) -> list[Status]:
    """The status of each Salesforce record the store knows (module docstring: Error, Conflict, Waiting for parent,
    Synced, the first that applies: each is set after the ones it outranks), with its last sync time. Sorted by
    object and Id."""
    last_sync: dict[str, str] = {}
    for row in accepted:
        eid, at = row.get("external_id"), row.get("accepted_at")
        if eid and at and at > last_sync.get(eid, ""):
            last_sync[eid] = str(at)
    found: dict[str, tuple[str, str | None]] = dict.fromkeys(last_sync, (SYNCED, None))
    for row in parked:
        found[row["external_id"]] = (WAITING, f"{WAITING}: {row['waiting_for']}")
    open_fields: dict[str, set[str]] = {}
    for row in conflicts:
        if row.get("policy") == OPEN_POLICY and row.get("external_id"):
            open_fields.setdefault(row["external_id"], set()).add(str(row["field"]))
    for eid, names in open_fields.items():
        found[eid] = (CONFLICT, conflict_text(names))
    latest: dict[str, dict[str, t.Any]] = {}
    for letter in sorted(letters, key=lambda e: (str(e.get("time")), str(e.get("run_id")), int(e.get("seq") or 0))):
        if letter.get("resolved_at") is None and letter.get("externalId"):
            latest[letter["externalId"]] = letter
    for eid, letter in latest.items():
        found[eid] = (CONFLICT if letter["code"] == ORDER_LOCKED else ERROR, f"{letter['code']}: {letter['detail']}")
    result = [Status(sobject, eid, status, clean(text) if text is not None else None, last_sync.get(eid))
              for eid, (status, text) in found.items() if (sobject := salesforce_object(eid))]
    return sorted(result, key=lambda s: (s.sobject, s.record_id))


def messages(found: list[Status]) -> list[dict[str, t.Any]]:
    """A SCHEMA per object (every object, so the target knows each stream even on a run with nothing to say),
    then the RECORDs."""
    schemas = [{"type": "SCHEMA", "stream": sobject, "key_properties": ["Id"],
                "schema": {"type": "object", "properties": SCHEMA_PROPERTIES, "additionalProperties": False}}
               for sobject in OBJECTS.values()]
    return [*schemas, *({"type": "RECORD", "stream": s.sobject, "record": s.record()} for s in found)]


# --- reading the target's store ------------------------------------------------------------------------------


def _rows(uri: str, table: sa.Table) -> list[dict[str, t.Any]]:
    """The columns `table` declares of the target's table in the store at `uri`; none if it was never created."""
    url = make_url(uri)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return []  # never created (connecting would create an empty file)
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            schema = schema_of(engine)
            if not sa.inspect(conn).has_table(table.name, schema=schema):
                return []
            return [dict(row) for row in conn.execute(sa.select(table)).mappings()]
    except (SQLAlchemyError, ArgumentError) as exc:
        msg = f"store {masked(uri)}: cannot read the {table.name} table ({type(exc).__name__})"
        raise SyncStatusError(msg) from None
    finally:
        engine.dispose()


@dataclass(frozen=True)
class StoreLocation:
    """Where target-netsuite keeps what this reads: `store_uri`, else its SQLite files."""

    store_uri: str | None
    dead_letter_path: Path
    parked_path: Path | None = None
    ledger_path: Path | None = None

    def uri(self, part: str) -> str:
        if self.store_uri:
            return self.store_uri
        ledger = self.ledger_path or self.dead_letter_path / LEDGER_FILE
        file = {"letters": self.dead_letter_path / dead_letters.DEAD_LETTERS_FILE,
                "parked": self.parked_path or self.dead_letter_path / PARKED_FILE,
                "ledger": ledger, "merge": ledger.with_name(MERGE_FILE)}[part]
        return f"sqlite:///{file}"

    def where(self) -> str:
        return masked(self.store_uri) if self.store_uri else str(self.dead_letter_path)


def read(location: StoreLocation) -> list[Status]:
    """The statuses from the target's store."""
    try:
        letters = dead_letters.waiting_letters(location.uri("letters"))
    except dead_letters.DeadLettersError as exc:
        raise SyncStatusError(str(exc)) from None
    return statuses(letters, _rows(location.uri("parked"), _PARKED), _rows(location.uri("ledger"), _ACCEPTED),
                    _rows(location.uri("merge"), _CONFLICTS))


def emit(found: list[Status], out: t.TextIO) -> None:
    for message in messages(found):
        out.write(json.dumps(message, ensure_ascii=False) + "\n")
    out.flush()


def counts_line(found: list[Status]) -> str:
    counted = Counter(s.status for s in found)
    return ", ".join(f"{counted[status]} {status}" for status in (ERROR, WAITING, CONFLICT, SYNCED))


def run(location: StoreLocation) -> int:
    try:
        found = read(location)
    except (SyncStatusError, StoreError) as exc:
        print(f"pipeline-ops sync-status: {exc}", file=sys.stderr)
        return 1
    emit(found, sys.stdout)
    print(f"pipeline-ops sync-status: {counts_line(found)}, from {location.where()}", file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction, dead_letter_path: Path, store_uri: str | None) -> None:
    parser = sub.add_parser("sync-status", help="Singer messages: each Salesforce record's sync status "
                                                "(Error, Conflict, Waiting for parent, Synced) from target-netsuite's "
                                                "store")
    parser.add_argument("--path", type=Path, default=dead_letter_path, help="the target's dead_letter_path")
    parser.add_argument("--store-uri", default=store_uri, help="the target's store_uri (then --path is not read)")


# --- the extractor, as Meltano runs it -----------------------------------------------------------------------


def _root() -> Path:
    return Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path.cwd())


def tap_main(argv: list[str] | None = None) -> int:
    """`pipeline-ops-sync-status`: the extractor Meltano runs (`--config FILE`; settings `store_uri`,
    `dead_letter_path`, `parked_path`, `ledger_path`, each falling back to target-netsuite's environment variable)."""
    parser = argparse.ArgumentParser(prog="pipeline-ops-sync-status", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path,
                        help="a JSON file: store_uri, dead_letter_path, parked_path, ledger_path")
    parser.add_argument("--about", action="store_true", help="what this extractor is, as JSON")
    args = parser.parse_args(argv)
    if args.about:
        print(json.dumps({"name": "pipeline-ops-sync-status", "capabilities": [], "streams": list(OBJECTS.values()),
                          "settings": ["store_uri", "dead_letter_path", "parked_path", "ledger_path",
                                       "account_id"]}))
        return 0
    config: dict[str, t.Any] = {}
    if args.config:
        try:
            config = json.loads(args.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"pipeline-ops-sync-status: --config {args.config}: cannot read it ({type(exc).__name__})",
                  file=sys.stderr)
            return 1
    store_uri = config.get("store_uri") or os.environ.get("TARGET_NETSUITE_STORE_URI") or None
    if store_uri:
        try:
            make_url(store_uri)
        except ArgumentError:
            print("pipeline-ops-sync-status: store_uri: not a database URI", file=sys.stderr)
            return 1
    select_account(config.get("account_id") or os.environ.get(ACCOUNT_ENV))
    return run(location(store_uri, config))


def location(store_uri: str | None, config: dict[str, t.Any] | None = None) -> StoreLocation:
    """The store as the settings (else target-netsuite's environment variables) name it, from the project root."""
    config = config or {}

    def path(name: str) -> Path | None:
        value = config.get(name) or os.environ.get(f"TARGET_NETSUITE_{name.upper()}")
        return _root() / str(value) if value else None

    return StoreLocation(store_uri, path("dead_letter_path") or _root() / "dead_letters", path("parked_path"),
                         path("ledger_path"))


if __name__ == "__main__":
    raise SystemExit(tap_main())
