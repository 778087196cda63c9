"""`pipeline-ops dead-letters`: the records NetSuite refused, from target-netsuite's store, on any host.

    pipeline-ops dead-letters [list]              waiting letters by record type and error code, and the latest
    pipeline-ops dead-letters export [--all]      the letters as JSON Lines (the target's file format), for people
    pipeline-ops dead-letters replay              the waiting letters as Singer messages: pipe them into the target
    pipeline-ops dead-letters resolve --note TEXT [--run-id R --seq N | --record-type T --external-id E | --code C]
                                                  mark letters settled by hand (they are not replayed any more)

The store is the target's (`--store-uri`, default `TARGET_NETSUITE_STORE_URI`: PostgreSQL, schema
`target_netsuite`, shared by every host), else the SQLite file `dead_letters.sqlite3` in the dead-letter folder.
With a local store, the folder's JSON Lines files that the rows do not hold yet (written by a target older than the
store) are taken in first, as the target's next run would. A letter waits until the target writes its record
(`written`), a newer letter of the record supersedes it, or a person resolves it here (`by hand: <note>`); with a
local store the resolution is also appended to `resolved.ndjson`, so the JSON Lines files and
`target-netsuite-replay FILE` agree with the rows.

`import_files` (used by `pipeline-ops store migrate`) takes a folder's JSON Lines files into the rows by their
natural key (run id, line number), so importing twice adds nothing. The table and the import are the target's own
(connector_kit.dead_letter_rows), so pipeline-ops and the target never disagree on a column.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import typing as t
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from connector_kit.dead_letter_rows import (
    DEAD_LETTERS,
    DEAD_LETTERS_FILE,
    MAPPING_ERROR,
    METADATA,
    REPLAY_KEY,
    RESOLVED_FILE,
    as_entry,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connector_kit import dead_letter_rows as rows
from pipeline_ops.store import engine_for, masked, schema_of


class DeadLettersError(Exception):
    """The store cannot be read or written; the message names the masked URI."""


def create(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema_of(conn)}"')
    METADATA.create_all(conn)


def import_files(conn: sa.Connection, directory: Path) -> tuple[int, int]:
    """The folder's JSON Lines letters into the rows, created if missing (connector_kit.dead_letter_rows: by
    natural key, so importing twice adds nothing). Returns (letters read, letters added)."""
    create(conn)
    return rows.import_files(conn, directory)


# --- the command ---------------------------------------------------------------------------------------------


def _where(args: argparse.Namespace) -> tuple[str, Path | None]:
    """The store's URI, and the local folder whose files mirror it (no store_uri: the SQLite default)."""
    if args.store_uri:
        uri = args.store_uri
        local = uri.startswith("sqlite:")
        return uri, args.path if local else None
    return f"sqlite:///{args.path / DEAD_LETTERS_FILE}", args.path


def _absent(uri: str) -> bool:
    """A SQLite store that was never created (connecting would create an empty file)."""
    url = make_url(uri)
    return url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file())


def _letters(uri: str, *, waiting_only: bool) -> list[dict[str, t.Any]]:
    if _absent(uri):
        return []
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            schema = schema_of(engine)
            if not sa.inspect(conn).has_table("dead_letters", schema=schema):
                return []
            query = sa.select(DEAD_LETTERS).order_by(DEAD_LETTERS.c.time, DEAD_LETTERS.c.run_id, DEAD_LETTERS.c.seq)
            if waiting_only:
                query = query.where(DEAD_LETTERS.c.resolved_at.is_(None))
            return [as_entry(row) for row in conn.execute(query).mappings()]
    except (SQLAlchemyError, ArgumentError) as exc:
        msg = f"store {masked(uri)}: cannot read the dead letters ({type(exc).__name__})"
        raise DeadLettersError(msg) from None
    finally:
        engine.dispose()


def waiting_letters(uri: str) -> list[dict[str, t.Any]]:
    """The waiting letters of the store at `uri`, oldest first, read only (pipeline_ops/sync_status.py)."""
    return _letters(uri, waiting_only=True)


def _take_in_files(uri: str, local: Path | None) -> None:
    """A store on this host's disk first takes in the folder's files it does not hold yet (written by a target
    older than the store), as the target's next run would: idempotent, by natural key."""
    if local is None or not any(local.glob("*.jsonl")):
        return
    engine = engine_for(uri)
    try:
        with engine.begin() as conn:
            import_files(conn, local)
    except (SQLAlchemyError, ArgumentError) as exc:
        msg = f"store {masked(uri)}: cannot take in the files of {local} ({type(exc).__name__})"
        raise DeadLettersError(msg) from None
    finally:
        engine.dispose()


def _list(args: argparse.Namespace, uri: str, local: Path | None) -> int:
    letters = _letters(uri, waiting_only=True)
    where = str(local) if local is not None and not args.store_uri else masked(uri)
    counts: Counter[tuple[str, str]] = Counter((entry["record_type"], entry["code"]) for entry in letters)
    if not counts:
        print(f"No dead letters waiting in {where}.")
        return 0
    runs = len({entry["run_id"] for entry in letters})
    print(f"{len(letters)} dead letters waiting from {runs} run(s) in {where}:")
    for (record_type, code), n in sorted(counts.items()):
        print(f"  {record_type:<24}{code:<28}{n:>6}")
    print("Latest:")
    for entry in letters[-args.last :]:
        print(f"  {entry['time']} {entry['record_type']} {entry['externalId']} {entry['code']}: {entry['detail']} "
              f"[{entry['run_id']} #{entry['seq']}]")
    environment = os.environ.get("MELTANO_ENVIRONMENT") or "<environment>"
    print(f"Fix the cause, then replay: pipeline-ops dead-letters replay | meltano --environment={environment} "
          "invoke target-netsuite (or settle one by hand: pipeline-ops dead-letters resolve --run-id R --seq N "
          "--note WHY)")
    return 0


def _export(args: argparse.Namespace, uri: str) -> int:
    letters = _letters(uri, waiting_only=not args.all)
    out = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    try:
        for entry in letters:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    finally:
        if args.out:
            out.close()
    print(f"pipeline-ops: {len(letters)} dead letters exported", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace, uri: str) -> int:
    schemas: set[str] = set()
    count = 0
    for entry in _letters(uri, waiting_only=True):
        if entry["code"] == MAPPING_ERROR and not args.include_mapping_errors:
            continue
        if entry["stream"] not in schemas:
            schemas.add(entry["stream"])
            print(json.dumps({"type": "SCHEMA", "stream": entry["stream"], "key_properties": [],
                              "schema": {"type": "object", "properties": {}, "additionalProperties": True}}))
        print(json.dumps({"type": "RECORD", "stream": entry["stream"],
                          "record": {**entry["payload"], REPLAY_KEY: True}}, ensure_ascii=False))
        count += 1
    print(f"pipeline-ops: {count} records to replay", file=sys.stderr)
    return 0


def _resolve(args: argparse.Namespace, uri: str, local: Path | None) -> int:
    c = DEAD_LETTERS.c
    conditions = [column == value for column, value in (
        (c.run_id, args.run_id), (c.seq, args.seq), (c.record_type, args.record_type),
        (c.external_id, args.external_id), (c.code, args.code)) if value is not None]
    if not conditions:
        print("pipeline-ops: say which letters: --run-id/--seq, --record-type/--external-id or --code",
              file=sys.stderr)
        return 1
    now = datetime.datetime.now(tz=datetime.UTC).isoformat()
    if _absent(uri):
        print(f"No dead letters in {masked(uri)}.")
        return 0
    engine = engine_for(uri)
    try:
        with engine.begin() as conn:
            schema = schema_of(engine)
            if not sa.inspect(conn).has_table("dead_letters", schema=schema):
                print(f"No dead letters in {masked(uri)}.")
                return 0
            settled = list(conn.execute(sa.select(c.run_id, c.record_type, c.external_id)
                                        .where(c.resolved_at.is_(None), *conditions)))
            conn.execute(DEAD_LETTERS.update().where(c.resolved_at.is_(None), *conditions)
                         .values(resolved_at=now, resolution=f"by hand: {args.note}"))
    except (SQLAlchemyError, ArgumentError) as exc:
        print(f"pipeline-ops: store {masked(uri)}: cannot resolve ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if local is not None and settled:  # the files say what the rows say (target-netsuite-replay FILE)
        with (local / RESOLVED_FILE).open("a", encoding="utf-8") as resolved:
            for _run, record_type, external_id in settled:
                if external_id is not None:
                    resolved.write(json.dumps({"time": now, "run_id": "pipeline-ops", "record_type": record_type,
                                               "externalId": external_id}) + "\n")
    print(f"Resolved {len(settled)} dead letters by hand in {masked(uri)}: they are not replayed any more.")
    return 0


def add_parser(sub: argparse._SubParsersAction, dead_letter_path: Path, store_uri: str | None) -> None:
    def common(parser: argparse.ArgumentParser, default: t.Callable[[t.Any], t.Any]) -> None:
        parser.add_argument("--path", type=Path, default=default(dead_letter_path),
                            help="the target's dead_letter_path (its SQLite store and files, without --store-uri)")
        parser.add_argument("--store-uri", default=default(store_uri),
                            help="the target's store_uri (default TARGET_NETSUITE_STORE_URI)")
        parser.add_argument("--last", type=int, default=default(10))

    dead = sub.add_parser("dead-letters", help="records NetSuite refused: list, export, replay, resolve")
    common(dead, lambda value: value)
    actions = dead.add_subparsers(dest="action")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text)
        common(parser, lambda _value: argparse.SUPPRESS)  # the options may come after the action too
        return parser

    action("list", "waiting letters by record type and error code (the default)")
    export = action("export", "the letters as JSON Lines, for people")
    export.add_argument("--all", action="store_true", help="resolved letters too (with their resolution)")
    export.add_argument("--out", type=Path, help="a file (default: standard output)")
    replay = action("replay", "the waiting letters as Singer messages, for target-netsuite's standard input")
    replay.add_argument("--include-mapping-errors", action="store_true",
                        help="also resend MAPPING_ERROR letters (they fail again unless fixed by hand)")
    resolve = action("resolve", "mark letters settled by hand: they are not listed nor replayed any more")
    resolve.add_argument("--note", required=True, help="why (kept in the letter's resolution)")
    resolve.add_argument("--run-id")
    resolve.add_argument("--seq", type=int)
    resolve.add_argument("--record-type")
    resolve.add_argument("--external-id")
    resolve.add_argument("--code")


def main(args: argparse.Namespace) -> int:
    uri, local = _where(args)
    try:
        _take_in_files(uri, local)
        if args.action == "export":
            return _export(args, uri)
        if args.action == "replay":
            return _replay(args, uri)
        if args.action == "resolve":
            return _resolve(args, uri, local)
        return _list(args, uri, local)
    except DeadLettersError as exc:
        print(f"pipeline-ops: {exc}", file=sys.stderr)
        return 1
