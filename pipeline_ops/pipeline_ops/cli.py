"""`pipeline-ops`: what happened in the last runs, and which records are waiting in the dead letters.

    pipeline-ops report [--run-id ID]   summary of the latest (or a given) run; also saved as reports/<run id>.json,
                                        with a report for every earlier run that has none yet (a failed job's
                                        report step never runs) and the picture reports/history.png
    pipeline-ops runs [--last N]        one line per run: succeeded, failed (with its cause), killed, running
    pipeline-ops picture [--out PNG]    run history and freshness as a PNG (default reports/history.png)
    pipeline-ops dead-letters           dead letters waiting to be fixed and replayed, by record type and error code,
                                        from the target's store on any host (a letter whose record was written
                                        since, or that a newer letter of the same record supersedes, is not waiting);
                                        `dead-letters export|replay|resolve`: JSON Lines for people, Singer messages
                                        for the target, settled by hand (pipeline_ops/dead_letters.py)
    pipeline-ops reconcile [--repair]   how Salesforce and NetSuite differ (missing, orphaned, stale); --repair fixes it
    pipeline-ops conflicts              fields a person changed in NetSuite that Salesforce changed too (the target's
                                        three-way merge, `conflict_policy`): what each side holds, what was decided
    pipeline-ops sync-status            each Salesforce record's sync status from the target's store (Error: its
                                        waiting dead letter; Conflict: an open merge conflict or ORDER_LOCKED;
                                        Waiting for parent: parked; Synced: written) as Singer messages, for
                                        target-salesforce-custom (the extractor `tap-netsuite-sync-status`)
    pipeline-ops store status|migrate   target-netsuite's store (`store_uri`): rows per table; `migrate --to URI`
                                        copies one host's SQLite files into a shared store (safe to run twice)

Run through Meltano (`meltano invoke pipeline-ops:runs`) or directly from the project folder. Paths default to the
Meltano project root (`MELTANO_PROJECT_ROOT`, else the current folder); the system database is Meltano's
(`MELTANO_DATABASE_URI`, else `.meltano/meltano.db`). Exit code 1 when there is no run to report, or when runs
are in the database but none of them in the log (the JSON file handler of logging.yaml was removed).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from connector_kit.store import StoreError
from connector_kit.store_accounts import ACCOUNT_ENV

from pipeline_ops import dead_letters, reconcile, store, sync_status
from pipeline_ops.picture import render_history
from pipeline_ops.runs import RunReport, collect_runs, database_runs, database_uri, log_lines, render


def _root() -> Path:
    return Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path.cwd())


def _collect(args: argparse.Namespace) -> list[RunReport]:
    rows, states = database_runs(args.database_uri)
    return collect_runs(log_lines(args.log), rows, states)


def _warn_unlogged(runs: list[RunReport], log: Path) -> bool:
    """True (after one stderr line) when the database knows runs that app.log has no line of."""
    missing = [r for r in runs if r.in_database and not r.logged]
    if missing:
        print(
            f"pipeline-ops: {len(missing)} run(s) have no lines in {log}: counts unknown for them; keep the JSON "
            "file handler of logging.yaml",
            file=sys.stderr,
        )
    return bool(missing) and all(not r.logged for r in runs)


def _report(args: argparse.Namespace) -> int:
    runs = _collect(args)
    unlogged = _warn_unlogged(runs, args.log)
    chosen = [r for r in runs if r.run_id == args.run_id] if args.run_id else runs
    if not chosen:
        print(f"pipeline-ops: no pipeline run found in {args.database_uri.split('@')[-1]} or {args.log}",
              file=sys.stderr)
        return 1
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    reports = [r.as_dict() for r in runs]
    for report in reports:
        path = args.reports_dir / f"{report['run_id']}.json"
        if report["outcome"] != "running" and not path.exists():
            _save(path, report)
    latest = chosen[-1].as_dict()
    _save(args.reports_dir / f"{latest['run_id']}.json", latest)
    render_history(reports, args.reports_dir / "history.png")
    print(render(latest))
    print(f"  history picture: {args.reports_dir / 'history.png'}")
    return 1 if unlogged else 0


def _save(path: Path, report: dict) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _runs(args: argparse.Namespace) -> int:
    runs = _collect(args)
    unlogged = _warn_unlogged(runs, args.log)
    print(
        f"{'started':<22}{'environment':<12}{'outcome':<11}{'seconds':>8}{'extracted':>10}{'written':>9}"
        f"{'dead':>6}{'SF calls':>9}  state id / run id / cause"
    )
    for report in runs[-args.last :]:
        run = report.as_dict()
        written = sum(s["written"] for s in run["loaded"].values())
        dead = sum(s["dead_lettered"] for s in run["loaded"].values())
        calls = run["salesforce_api"]["calls"]
        print(
            f"{run['started'][:19]:<22}{run['environment']:<12}{run['outcome']:<11}"
            f"{run['duration_seconds'] if run['duration_seconds'] is not None else '':>8}"
            f"{sum(run['extracted'].values()) if run['logged'] else '?':>10}{written if run['logged'] else '?':>9}"
            f"{dead if run['logged'] else '?':>6}{calls if calls is not None else '':>9}  {run['state_id']} "
            f"{run['run_id']}" + (f"\n{'':<22}cause: {run['cause']}" if run["cause"] else "")
        )
    return 1 if unlogged else 0


def _picture(args: argparse.Namespace) -> int:
    runs = _collect(args)
    if not runs:
        print(f"pipeline-ops: no pipeline run found in {args.log}", file=sys.stderr)
        return 1
    print(render_history([r.as_dict() for r in runs[-args.last :]], args.out))
    return 0


#: The target's merge store (target_netsuite/merge.py), beside its ledger.
MERGE_FILE = "merged.sqlite3"


def _conflicts(args: argparse.Namespace) -> int:
    """The conflicts the target's three-way merge found and has not seen settled since: from the target's store
    (`--store-uri`, default `TARGET_NETSUITE_STORE_URI`) when it has one, else from its merge file."""
    if args.store_uri:
        try:
            rows = store.conflicts(args.store_uri)
        except store.StoreUnreadableError as exc:
            print(f"pipeline-ops: {exc}", file=sys.stderr)
            return 1
        return _print_conflicts(rows, store.masked(args.store_uri), args.last)
    if not args.path.exists():
        print(f"No conflicts: {args.path} does not exist (nothing merged yet).")
        return 0
    try:
        with sqlite3.connect(f"file:{args.path}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT detected_at, record_type, external_id, field, incoming, netsuite, last_written, policy, "
                "outcome FROM conflicts ORDER BY detected_at, record_type, external_id, field").fetchall()
    except sqlite3.Error as exc:
        print(f"pipeline-ops: {args.path}: cannot read the conflicts ({exc})", file=sys.stderr)
        return 1
    return _print_conflicts(rows, str(args.path), args.last)


def _print_conflicts(rows: list, where: str, last: int) -> int:
    if not rows:
        print(f"No conflicts in {where}.")
        return 0
    counts = Counter((row[1], row[3], row[7]) for row in rows)
    print(f"{len(rows)} conflicts in {where} (a person changed the field in NetSuite, Salesforce changed it too):")
    for (record_type, name, policy), n in sorted(counts.items()):
        print(f"  {record_type:<24}{name:<24}{policy:<18}{n:>6}")
    print("Latest:")
    for detected, record_type, eid, name, incoming, netsuite, written, _policy, outcome in rows[-last:]:
        print(f"  {detected} {record_type} {eid} {name}: Salesforce {incoming!r}, NetSuite {netsuite!r} "
              f"(last written {written!r}): {outcome}")
    print("Settle one by making NetSuite or Salesforce hold the value to keep, or set conflict_policy.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `pipeline-ops` console script."""
    parser = argparse.ArgumentParser(
        prog="pipeline-ops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log", type=Path, default=_root() / "app.log", help="Meltano's JSON log (logging.yaml)")
    parser.add_argument("--database-uri", default=database_uri(_root()), help="Meltano's system database")
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="summary of the latest run, saved as JSON")
    report.add_argument("--run-id")
    report.add_argument("--reports-dir", type=Path, default=_root() / "reports")
    runs = sub.add_parser("runs", help="one line per recent run")
    runs.add_argument("--last", type=int, default=10)
    picture = sub.add_parser("picture", help="run history and freshness as a PNG")
    picture.add_argument("--out", type=Path, default=_root() / "reports" / "history.png")
    picture.add_argument("--last", type=int, default=200)
    # The target's own setting, when it is set through the environment/.env (Meltano passes those on), else its default.
    dead_letter_path = _root() / os.environ.get("TARGET_NETSUITE_DEAD_LETTER_PATH", "dead_letters")
    dead_letters.add_parser(sub, dead_letter_path, os.environ.get("TARGET_NETSUITE_STORE_URI"))
    conflicts = sub.add_parser("conflicts", help="fields changed on both sides, as the target's merge found them")
    conflicts.add_argument("--path", type=Path, default=dead_letter_path / MERGE_FILE)
    conflicts.add_argument("--store-uri", default=os.environ.get("TARGET_NETSUITE_STORE_URI"),
                           help="the target's store_uri, if it has one (then --path is not read)")
    conflicts.add_argument("--last", type=int, default=20)
    reconcile.add_parser(sub, _root())
    store.add_parser(sub, dead_letter_path)
    sync_status.add_parser(sub, dead_letter_path, os.environ.get("TARGET_NETSUITE_STORE_URI"))
    # One NetSuite account's part of a shared store (connector_kit/store_accounts.py), given anywhere on the line.
    parser.add_argument("--account", default=os.environ.get(ACCOUNT_ENV),
                        help=f"the NetSuite account whose part of a shared store to read (default {ACCOUNT_ENV}, "
                        "else the store's only account)")
    chosen, rest = _account_option().parse_known_args(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(rest)
    store.select_account(chosen.account or args.account)
    try:
        return _dispatch(args, dead_letter_path)
    except StoreError as exc:
        print(f"pipeline-ops: {exc}", file=sys.stderr)
        return 1


def _account_option() -> argparse.ArgumentParser:
    option = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    option.add_argument("--account")
    return option


def _dispatch(args: argparse.Namespace, dead_letter_path: Path) -> int:
    if args.command == "reconcile":
        return reconcile.main(args, _root())
    if args.command == "dead-letters":
        return dead_letters.main(args)
    if args.command == "store":
        return store.main(args, dead_letter_path)
    if args.command == "sync-status":
        found = sync_status.location(args.store_uri)
        return sync_status.run(sync_status.StoreLocation(args.store_uri, args.path, found.parked_path,
                                                         found.ledger_path))
    return {"report": _report, "runs": _runs, "picture": _picture,
            "conflicts": _conflicts}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
