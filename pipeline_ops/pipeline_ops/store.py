"""`pipeline-ops store`: what target-netsuite keeps in its store (`store_uri`), and the move of one host's SQLite
files into a shared store.

    pipeline-ops store status [--uri URI]            rows per table (parked records, ledger entries, nonces, ...)
    pipeline-ops store migrate --to URI [--from P]   copy the local files (a dead-letter folder's parked.sqlite3,
                                                     ledger.sqlite3, async_batches.sqlite3, merged.sqlite3,
                                                     dead_letters.sqlite3 and its dead-letter files `*.jsonl`
                                                     with resolved.ndjson, or the files named) into the store

The migration's invariants: it only reads the files (opened read-only) and only adds rows: a row whose key the store
holds already is left as the store has it (the store's row is at least as new: a run against the store wrote it),
so running it twice, or after runs against the store, does no harm. Dead-letter files become rows by their natural
key (run id, line number), resolved as their `resolved.ndjson` says; a waiting letter in the store that an imported
newer letter of the same record supersedes is resolved (pipeline_ops/dead_letters.py). The in-flight waves of
synchronous writes (`in_flight`) are not copied: they matter only for a run killed within the last two request
timeouts, so migrate with the schedule stopped. One store per NetSuite account: the parked records (and the dead
letters) carry no account, as their files did.
Tables are created as the files hold them (in schema `target_netsuite` on PostgreSQL), so the target finds them;
a URI's password is never printed.

Plain SQLAlchemy reflection, not target-netsuite's table definitions: pipeline-ops installs without the target
(the dead letters' table, which migration and `pipeline-ops dead-letters` create and read, is declared in
pipeline_ops/dead_letters.py as the target declares it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import StoreError, masked
from connector_kit.store_accounts import ACCOUNT_ENV, account_schema, choose_schema, rename_legacy
from connector_kit.token_store import SharedTokenStore, TokenStoreError, grant_key
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

#: The NetSuite account whose tables the commands read in a PostgreSQL store (`select_account`); None: the only one.
_account: dict[str, str | None] = {"selected": None}
#: The schema chosen per store URI, so a note about the store's other accounts is printed once.
_chosen: dict[str, str | None] = {}
#: The target's files in its dead-letter folder when it has no `store_uri`.
FILES = ("parked.sqlite3", "ledger.sqlite3", "async_batches.sqlite3", "merged.sqlite3", "dead_letters.sqlite3")
#: Tables never copied (see the module docstring).
SKIPPED = {"in_flight", "sqlite_sequence"}
_CHUNK = 500


class StoreUnreadableError(Exception):
    """The store cannot be read; the message names the masked URI."""


def conflicts(uri: str) -> list[tuple]:
    """The merge's conflicts in the store (target_netsuite/merge.py), oldest first, as `pipeline-ops conflicts`
    lists them; none if the target never merged into it."""
    engine = engine_for(uri)
    try:
        with engine.connect() as conn:
            schema = schema_of(engine)
            if not sa.inspect(conn).has_table("conflicts", schema=schema):
                return []
            table = sa.Table("conflicts", sa.MetaData(), autoload_with=conn, schema=schema)
            c = table.c
            return [tuple(row) for row in conn.execute(sa.select(
                c.detected_at, c.record_type, c.external_id, c.field, c.incoming, c.netsuite, c.last_written,
                c.policy, c.outcome).order_by(c.detected_at, c.record_type, c.external_id, c.field))]
    except SQLAlchemyError as exc:
        msg = f"store {masked(uri)}: cannot read the conflicts ({type(exc).__name__})"
        raise StoreUnreadableError(msg) from None
    finally:
        engine.dispose()


def select_account(account: str | None) -> None:
    """The account `engine_for` reads in a shared store (`--account`, else TARGET_NETSUITE_ACCOUNT_ID)."""
    _account["selected"] = account or None
    _chosen.clear()


def _url(uri: str) -> sa.URL:
    url = make_url(uri)
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


def engine_for(uri: str, *, schema: str | None = None) -> sa.Engine:
    """An engine on the store; on PostgreSQL, on `schema` or the selected account's (`StoreError` if the store holds
    several accounts and none was selected)."""
    url = _url(uri)
    if url.get_backend_name() != "postgresql":
        return sa.create_engine(url)
    if schema is None:
        if uri not in _chosen:
            probe = sa.create_engine(url)
            try:
                _chosen[uri], note = choose_schema(probe, _account["selected"], masked(uri))
            except SQLAlchemyError as exc:
                msg = f"store {masked(uri)}: cannot list its accounts ({type(exc).__name__})"
                raise StoreError(msg) from None
            finally:
                probe.dispose()
            if note:
                print(f"pipeline-ops: {note}", file=sys.stderr)
        schema = _chosen[uri]
    return sa.create_engine(url, execution_options={"schema_translate_map": {None: schema}})


def schema_of(engine: sa.Engine | sa.Connection) -> str | None:
    """The schema the engine's tables are in (None: SQLite)."""
    return engine.get_execution_options().get("schema_translate_map", {}).get(None)


def _sources(given: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in given:
        files.extend(path / name for name in FILES if (path / name).is_file()) if path.is_dir() else files.append(path)
    return files


def _copy(source: Path, target: sa.Engine, out: list[str]) -> None:
    reader = sa.create_engine(f"sqlite:///file:{source}?mode=ro&uri=true")
    tables = sa.MetaData()
    try:
        tables.reflect(reader)
        with reader.connect() as src, target.begin() as dst:
            if target.dialect.name == "postgresql":
                dst.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema_of(target)}"')
            for table in tables.sorted_tables:
                if table.name in SKIPPED:
                    continue
                for column in table.columns:
                    column.server_default = None  # SQLite defaults (strftime) are not PostgreSQL's; values are sent
                table.create(dst, checkfirst=True)
                insert = (postgresql.insert if target.dialect.name == "postgresql" else sqlite.insert)(table)
                keys = [column.name for column in table.primary_key.columns]
                statement = insert.on_conflict_do_nothing(index_elements=keys) if keys else insert
                rows = [dict(row._mapping) for row in src.execute(sa.select(table))]
                count = sa.select(sa.func.count()).select_from(table)
                before = dst.execute(count).scalar_one()
                for start in range(0, len(rows), _CHUNK):
                    if rows[start : start + _CHUNK]:
                        dst.execute(statement, rows[start : start + _CHUNK])
                added = dst.execute(count).scalar_one() - before  # the drivers' executemany rowcounts differ
                out.append(f"  {source.name}: {table.name}: {len(rows)} rows read, {added} added")
    finally:
        reader.dispose()


def migrate(args: argparse.Namespace) -> int:
    sources = _sources(args.sources)
    nothing = not sources and not any(any(path.glob("*.jsonl")) for path in args.sources if path.is_dir())
    account = _account["selected"]
    try:
        shared = _url(args.to).get_backend_name() == "postgresql"
        if shared and not account:
            print(f"pipeline-ops: migrating into PostgreSQL needs the NetSuite account the files are of: --account "
                  f"(or {ACCOUNT_ENV})", file=sys.stderr)
            return 1
        if nothing and not shared:
            print(f"pipeline-ops: no target-netsuite files under {', '.join(map(str, args.sources))}: "
                  "nothing to migrate")
            return 0
        target = engine_for(args.to, schema=account_schema(account) if shared and account else None)
    except (ArgumentError, ImportError) as exc:
        print(f"pipeline-ops: store {masked(args.to)}: {type(exc).__name__}", file=sys.stderr)
        return 1
    from pipeline_ops import dead_letters

    lines: list[str] = []
    try:
        if shared and account:  # a store from before stores were per account becomes this account's
            lines.append(f"  {rename_legacy(target, account)}")
        if not nothing:
            with target.begin() as conn:  # the dead letters' table as the target declares it (its index too)
                dead_letters.create(conn)
        for source in sources:
            _copy(source, target, lines)  # one transaction per file: a failed file leaves nothing of it
        for folder in [path for path in args.sources if path.is_dir()]:
            with target.begin() as conn:  # the folder's JSON Lines dead letters, by natural key (run id, line)
                read, added = dead_letters.import_files(conn, folder)
            if read:
                lines.append(f"  {folder}: dead-letter files: {read} letters read, {added} added")
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0]
        password = make_url(args.to).password
        detail = detail.replace(str(password), "***") if password else detail
        print(f"pipeline-ops: store {masked(args.to)}: {detail}", file=sys.stderr)
        return 1
    finally:
        target.dispose()
    if nothing:
        print(f"No target-netsuite files under {', '.join(map(str, args.sources))}; store {masked(args.to)}:")
        print("\n".join(lines))
        return 0
    print(f"Copied into {masked(args.to)} (rows already there were kept):")
    print("\n".join(lines))
    print("Now set the target's store_uri to it; the files can stay as a backup (the target no longer reads them).")
    return 0


def status(args: argparse.Namespace) -> int:
    if not args.uri:
        print("pipeline-ops: no store: set TARGET_NETSUITE_STORE_URI or --uri", file=sys.stderr)
        return 1
    engine = engine_for(args.uri)
    try:
        schema = schema_of(engine)
        with engine.connect() as conn:
            names = sorted(sa.inspect(conn).get_table_names(schema=schema))
            counts = {name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name, schema=schema)))
                      .scalar_one() for name in names}
    except SQLAlchemyError as exc:
        print(f"pipeline-ops: store {masked(args.uri)}: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"Store {masked(args.uri)}" + (f" (schema {schema}):" if schema else ":"))
    for name, n in counts.items():
        print(f"  {name:<24}{n:>8}")
    return 0


def add_parser(sub: argparse._SubParsersAction, dead_letter_path: Path) -> None:
    store = sub.add_parser("store", help="target-netsuite's store (store_uri): status, and migrating local files")
    commands = store.add_subparsers(dest="store_command", required=True)
    shown = commands.add_parser("status", help="rows per table of the store")
    shown.add_argument("--uri", default=os.environ.get("TARGET_NETSUITE_STORE_URI"))
    moved = commands.add_parser("migrate", help="copy local SQLite files into a store; safe to run twice (into "
                                "PostgreSQL: --account, the NetSuite account the files are of; default "
                                f"{ACCOUNT_ENV})")
    moved.add_argument("--to", required=True, help="the store's URI (postgresql://user:password@host/db)")
    moved.add_argument("--from", dest="sources", type=Path, action="append",
                       help=f"a dead-letter folder or a file (repeatable; default {dead_letter_path}, unless "
                       "--token-store is given alone)")
    moved.add_argument("--token-store", type=Path,
                       help="tap-salesforce-custom's token_store_path file: its refresh token becomes the tap's row "
                       f"in the store (the grant from {', '.join(_TAP_GRANT)} in the environment)")


#: The tap's default login_url (connector_kit/salesforce_auth.py; not imported: it would load the Singer SDK).
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
#: The tap's settings naming its grant (connector_kit/token_store.py `grant_key`), as Meltano's variables.
_TAP_GRANT = ("TAP_SALESFORCE_CUSTOM_LOGIN_URL", "TAP_SALESFORCE_CUSTOM_CLIENT_ID",
              "TAP_SALESFORCE_CUSTOM_REFRESH_TOKEN")


def migrate_token(args: argparse.Namespace) -> int:
    """The tap's token file into the store (a row already there wins: twice is harmless). The token is never printed."""
    login_url, client_id, configured = (os.environ.get(name) for name in _TAP_GRANT)
    missing = [name for name, value in zip(_TAP_GRANT[1:], (client_id, configured), strict=True) if not value]
    if missing:
        print(f"pipeline-ops: --token-store needs the tap's {', '.join(missing)} in the environment (its grant)",
              file=sys.stderr)
        return 1
    try:
        tokens = SharedTokenStore(args.to, grant_key(login_url or DEFAULT_LOGIN_URL, client_id, configured),
                                  encryption_key=os.environ.get("TAP_SALESFORCE_CUSTOM_TOKEN_STORE_ENCRYPTION_KEY"))
        try:
            added = tokens.take_in_file(args.token_store)
        finally:
            tokens.close()
    except TokenStoreError as exc:
        print(f"pipeline-ops: {exc}", file=sys.stderr)
        return 1
    print(f"{args.token_store}: the refresh token " + ("was taken into" if added else "was not copied: no file, or a "
          "token already saved for this grant in") + f" {masked(args.to)}")
    return 0


def main(args: argparse.Namespace, dead_letter_path: Path) -> int:
    if args.store_command == "migrate":
        if args.token_store is not None:
            code = migrate_token(args)
            if code or not args.sources:
                return code
        args.sources = args.sources or [dead_letter_path]
        return migrate(args)
    return status(args)
