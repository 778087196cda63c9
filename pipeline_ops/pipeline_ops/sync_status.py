"""Per-record sync status from target-netsuite's own outcomes, as a Singer extractor (issue 28 item 4).

    pipeline-ops sync-status [--store-uri URI] [--path DIR]      Singer SCHEMA/RECORD messages on standard output
    pipeline-ops-sync-status [--config FILE]                     the same, as Meltano runs an extractor

For each waiting dead letter (`resolved_at` null) and each parked record of the target's store whose external id
is a Salesforce Id of Account (001), Contact (003), Opportunity (006) or Product2 (01t), one RECORD on the stream
named after that object, keyed by `Id`, so that target-salesforce-custom updates the record by Id:

- a waiting letter: `NetSuite_Sync_Status__c` = `Error`, `NetSuite_Last_Error__c` = `<code>: <detail>`;
- a parked record: `Waiting for parent`, `NetSuite_Last_Error__c` = `Waiting for parent: <what it waits for>`.

Invariants: the store is read, never written (no STATE: each run emits what waits now, all of it; the target's
write ledger leaves out what Salesforce holds already); a key with a waiting letter is `Error` even if it is also
parked; the error text is cut to the field's length (`LAST_ERROR_LENGTH`) and holds no credentials (a URL's user
and password and `token=`/`secret=`/`password=`/`signature=` values are masked, though a letter never holds
connection data in the first place). A record NetSuite later accepts gets `Synced` and an empty error from the
write-back mapping (`netsuite-to-salesforce`), which the job runs before this extractor; its letter is resolved
`written`, so it is not emitted again.

The store is target-netsuite's, read the way the other `pipeline-ops` commands read it: `store_uri`
(`TARGET_NETSUITE_STORE_URI`), else the SQLite files in `dead_letter_path` (`TARGET_NETSUITE_DEAD_LETTER_PATH`,
default `dead_letters` in the project folder): `dead_letters.sqlite3` and `parked.sqlite3` (or `parked_path`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import typing as t
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
ERROR, WAITING = "Error", "Waiting for parent"
#: target-netsuite's parked records' file without `store_uri` (target_netsuite/parking.py PARKED_FILE).
PARKED_FILE = "parked.sqlite3"
#: The columns read of the target's `parked` table (a Table, so PostgreSQL's schema translation applies).
_PARKED = sa.Table("parked", sa.MetaData(), sa.Column("record_type", sa.Text), sa.Column("external_id", sa.Text),
                   sa.Column("waiting_for", sa.Text), sa.Column("first_parked", sa.Text),
                   sa.Column("attempts", sa.Integer))
_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"\b((?:access_)?token|secret|password|signature|oauth_signature)=[^&\s\"']+",
                           re.IGNORECASE)

SCHEMA_PROPERTIES = {
    "Id": {"type": "string"},
    "NetSuite_Sync_Status__c": {"type": "string"},
    "NetSuite_Last_Error__c": {"type": ["string", "null"]},
}


class SyncStatusError(Exception):
    """The store cannot be read; the message names the masked URI."""


@dataclass(frozen=True)
class Status:
    """One Salesforce record's status: the object (stream), its Id, the status and the text people read."""

    sobject: str
    record_id: str
    status: str
    text: str

    def record(self) -> dict[str, str]:
        return {"Id": self.record_id, "NetSuite_Sync_Status__c": self.status, "NetSuite_Last_Error__c": self.text}


def salesforce_object(external_id: str | None) -> str | None:
    """The object whose Id this is (15 or 18 letters and digits with a known key prefix), else None."""
    if not external_id or not _SALESFORCE_ID.fullmatch(external_id):
        return None
    return OBJECTS.get(external_id[:3])


def clean(text: str) -> str:
    """Credentials masked, cut to the field's length."""
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", _URL_USERINFO.sub(r"\1***@", text))
    return text if len(text) <= LAST_ERROR_LENGTH else text[: LAST_ERROR_LENGTH - 1] + "…"


def statuses(letters: Iterable[dict[str, t.Any]], parked: Iterable[dict[str, t.Any]]) -> list[Status]:
    """The status of each Salesforce record with a waiting letter (`Error`, the latest letter's text) or a parked
    record (`Waiting for parent`); a letter outranks a parked record of the same Id. Sorted by object and Id."""
    found: dict[str, Status] = {}
    for row in parked:
        sobject = salesforce_object(row.get("external_id"))
        if sobject:
            found[row["external_id"]] = Status(sobject, row["external_id"], WAITING,
                                               clean(f"{WAITING}: {row['waiting_for']}"))
    for letter in sorted(letters, key=lambda e: (str(e.get("time")), str(e.get("run_id")), int(e.get("seq") or 0))):
        if letter.get("resolved_at") is not None:
            continue
        sobject = salesforce_object(letter.get("externalId"))
        if sobject:
            found[letter["externalId"]] = Status(sobject, letter["externalId"], ERROR,
                                                 clean(f"{letter['code']}: {letter['detail']}"))
    return sorted(found.values(), key=lambda s: (s.sobject, s.record_id))


def messages(found: list[Status]) -> list[dict[str, t.Any]]:
    """A SCHEMA per object (every object, so the target knows each stream even on a run with nothing to say),
    then the RECORDs."""
    schemas = [{"type": "SCHEMA", "stream": sobject, "key_properties": ["Id"],
                "schema": {"type": "object", "properties": SCHEMA_PROPERTIES, "additionalProperties": False}}
               for sobject in OBJECTS.values()]
    return [*schemas, *({"type": "RECORD", "stream": s.sobject, "record": s.record()} for s in found)]


# --- reading the target's store ------------------------------------------------------------------------------


def _parked(uri: str) -> list[dict[str, t.Any]]:
    url = make_url(uri)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return []  # never created (connecting would create an empty file)
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            schema = schema_of(engine)
            if not sa.inspect(conn).has_table("parked", schema=schema):
                return []
            return [dict(row) for row in conn.execute(sa.select(_PARKED)).mappings()]
    except (SQLAlchemyError, ArgumentError) as exc:
        msg = f"store {masked(uri)}: cannot read the parked records ({type(exc).__name__})"
        raise SyncStatusError(msg) from None
    finally:
        engine.dispose()


def read(store_uri: str | None, dead_letter_path: Path, parked_path: Path | None = None) -> list[Status]:
    """The statuses from the target's store: `store_uri`, else the SQLite files in `dead_letter_path`."""
    if store_uri:
        letters_uri = parked_uri = store_uri
    else:
        letters_uri = f"sqlite:///{dead_letter_path / dead_letters.DEAD_LETTERS_FILE}"
        parked_uri = f"sqlite:///{parked_path or dead_letter_path / PARKED_FILE}"
    try:
        letters = dead_letters.waiting_letters(letters_uri)
    except dead_letters.DeadLettersError as exc:
        raise SyncStatusError(str(exc)) from None
    return statuses(letters, _parked(parked_uri))


def emit(found: list[Status], out: t.TextIO) -> None:
    for message in messages(found):
        out.write(json.dumps(message, ensure_ascii=False) + "\n")
    out.flush()


def run(store_uri: str | None, dead_letter_path: Path, parked_path: Path | None = None) -> int:
    try:
        found = read(store_uri, dead_letter_path, parked_path)
    except (SyncStatusError, StoreError) as exc:
        print(f"pipeline-ops sync-status: {exc}", file=sys.stderr)
        return 1
    emit(found, sys.stdout)
    counts = {status: sum(1 for s in found if s.status == status) for status in (ERROR, WAITING)}
    where = masked(store_uri) if store_uri else str(dead_letter_path)
    print(f"pipeline-ops sync-status: {counts[ERROR]} Error, {counts[WAITING]} Waiting for parent, from {where}",
          file=sys.stderr)
    return 0


def add_parser(sub: argparse._SubParsersAction, dead_letter_path: Path, store_uri: str | None) -> None:
    parser = sub.add_parser("sync-status", help="Singer messages: each Salesforce record's sync status "
                                                "(Error, Waiting for parent) from target-netsuite's store")
    parser.add_argument("--path", type=Path, default=dead_letter_path, help="the target's dead_letter_path")
    parser.add_argument("--store-uri", default=store_uri, help="the target's store_uri (then --path is not read)")


# --- the extractor, as Meltano runs it -----------------------------------------------------------------------


def _root() -> Path:
    return Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path.cwd())


def tap_main(argv: list[str] | None = None) -> int:
    """`pipeline-ops-sync-status`: the extractor Meltano runs (`--config FILE`; settings `store_uri`,
    `dead_letter_path`, `parked_path`, each falling back to target-netsuite's environment variable)."""
    parser = argparse.ArgumentParser(prog="pipeline-ops-sync-status", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="a JSON file: store_uri, dead_letter_path, parked_path")
    parser.add_argument("--about", action="store_true", help="what this extractor is, as JSON")
    args = parser.parse_args(argv)
    if args.about:
        print(json.dumps({"name": "pipeline-ops-sync-status", "capabilities": [], "streams": list(OBJECTS.values()),
                          "settings": ["store_uri", "dead_letter_path", "parked_path", "account_id"]}))
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
    folder = _root() / str(config.get("dead_letter_path") or os.environ.get("TARGET_NETSUITE_DEAD_LETTER_PATH")
                           or "dead_letters")
    parked = config.get("parked_path") or os.environ.get("TARGET_NETSUITE_PARKED_PATH")
    select_account(config.get("account_id") or os.environ.get(ACCOUNT_ENV))
    return run(store_uri, folder, _root() / str(parked) if parked else None)


if __name__ == "__main__":
    raise SystemExit(tap_main())
