"""The write-back's cost and a status change's round trip, through real `meltano run`s against the stand-ins.

    .venv/bin/python bench/status_round_trip.py [--accounts 300] [--refused 5] [--latency-ms 0]
                                                [--out bench/results/status_round_trip.md]

1. The sync job writes every Account and Contact into NetSuite; the write-back job
   (`sync-netsuite-to-salesforce`: the write-back task, then the sync-status task) writes their NetSuite ids and
   statuses onto the Salesforce records. Salesforce API calls per 1,000 records written back are counted from the
   stand-in's request log (token requests apart), for the first write-back and for a rerun.
2. NetSuite starts refusing some Accounts (the stand-in's `reject_external_ids`) and a person edits them in
   Salesforce. The round trip of that status change: from the edit to `Error` on the Salesforce record, i.e. the
   sync run that meets the refusal plus the write-back run that shows it, each measured; with cron the schedule
   adds up to one interval of each job (`meltano.yml`'s schedules), stated beside the figure.

`--latency-ms` gives every request of both stand-ins that mean latency (real APIs: a few hundred ms), so the
figures can be taken at real latencies as well as with instant stand-ins. Nothing here is asserted: the figures go
to the report (README "Benchmarks" quotes them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox.client import NetSuiteClient, SalesforceClient
from sandbox.salesforce.scale import REQUEST_LOG_SIZE
from soak import MELTANO, PIPELINE, ROOT, Project
from target_bench import Sandbox

WRITE_BACK_JOB = "sync-netsuite-to-salesforce"


class SalesforceCalls:
    """The Salesforce stand-in's API calls (its `api_usage`, token requests apart) and DML requests (its request
    log: writes that are not queries) between `start` and `stop`."""

    def __init__(self, salesforce: SalesforceClient) -> None:
        self.salesforce = salesforce
        self.usage = salesforce.api_usage()
        self.logged = len(salesforce.request_log()["requests"])

    def stop(self) -> tuple[int, int]:
        log = self.salesforce.request_log()["requests"]
        if len(log) >= REQUEST_LOG_SIZE:
            raise RuntimeError("the stand-in's request log is full: use fewer --accounts")
        dml = [entry for entry in log[self.logged:] if entry.get("method") in ("POST", "PATCH", "PUT", "DELETE")
               and "/query" not in entry.get("path", "") and "/oauth2/" not in entry.get("path", "")]
        return self.salesforce.api_usage() - self.usage, len(dml)


def timed(project: Project, *args: str) -> float:
    started = time.monotonic()
    done = subprocess.run([str(MELTANO), "run", *args], cwd=ROOT, env=project.env, capture_output=True, text=True,
                          timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"meltano run {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--refused", type=int, default=5,
                        help="below max_identical_errors (10): more refusals in a row, nothing accepted between, "
                             "stop the run")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="mean latency of every stand-in request")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "status_round_trip.md")
    args = parser.parse_args(argv)
    sandbox = Sandbox()
    work = Path(tempfile.mkdtemp(prefix="status-round-trip-"))
    try:
        netsuite = NetSuiteClient(sandbox.url, timeout=300)
        salesforce = SalesforceClient(sandbox.salesforce_url, timeout=300)
        salesforce.reset(seed=5, accounts=args.accounts, contacts=args.accounts, products=0, opportunities=0)
        netsuite.reset(knobs=True)
        latency = {"latency_ms": {"mean": args.latency_ms, "jitter": args.latency_ms / 4}} if args.latency_ms else {}
        project = Project(work, sandbox.salesforce_url, sandbox.url)
        project.env.update({
            "TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Contact.*"]',
            "TAP_NETSUITE_CUSTOM_BASE_URL": sandbox.url,
            "TARGET_SALESFORCE_CUSTOM_LOGIN_URL": sandbox.salesforce_url,
            "TARGET_SALESFORCE_CUSTOM_DEAD_LETTER_PATH": str(work / "dead_letters_sf"),
        })
        timed(project, *PIPELINE)
        netsuite.knobs(**latency)
        salesforce.knobs(**latency)
        records = len(netsuite.records("customer")) + len(netsuite.records("contact"))

        calls = SalesforceCalls(salesforce)
        first_s = timed(project, WRITE_BACK_JOB)
        first = calls.stop()
        calls = SalesforceCalls(salesforce)
        rerun_s = timed(project, WRITE_BACK_JOB)
        rerun = calls.stop()

        accounts = sorted(a["Id"] for a in salesforce.records("Account"))[: args.refused]
        netsuite.knobs(reject_external_ids=accounts)
        edited = time.monotonic()
        for account_id in accounts:
            salesforce.update("Account", account_id, {"Website": "https://refused.example.com"})
        sync_s = timed(project, *PIPELINE)
        write_back_s = timed(project, WRITE_BACK_JOB)
        round_trip = time.monotonic() - edited
        shown = sum(1 for a in salesforce.records("Account")
                    if a["Id"] in set(accounts) and a.get("NetSuite_Sync_Status__c") == "Error")
    finally:
        sandbox.stop()
    figures = {
        "accounts_and_contacts": records, "latency_ms": args.latency_ms,
        "first_write_back": {"seconds": round(first_s, 1), "api_calls": first[0], "dml_calls": first[1],
                             "api_calls_per_1000": round(first[0] * 1000 / records, 1)},
        "rerun": {"seconds": round(rerun_s, 1), "api_calls": rerun[0], "dml_calls": rerun[1]},
        "refused": args.refused, "errors_shown": shown,
        "round_trip_seconds": round(round_trip, 1), "sync_run_seconds": round(sync_s, 1),
        "write_back_run_seconds": round(write_back_s, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# The write-back's cost and a status change's round trip", "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `bench/status_round_trip.py` (module docstring).", "",
        "| records | latency | first write-back: calls (DML) | per 1,000 records | rerun: calls (DML) "
        "| refused | Error shown | edit → Error on the record | sync run | write-back run |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {records} | {args.latency_ms:g} ms | {first[0]} ({first[1]}) | "
        f"{figures['first_write_back']['api_calls_per_1000']} | {rerun[0]} ({rerun[1]}) | {args.refused} | {shown} | "
        f"{round_trip:.1f} s | {sync_s:.1f} s | {write_back_s:.1f} s |", "",
        "With cron, add up to one interval of each job (the sync's and the write-back's schedule in `meltano.yml`).",
    ]
    with args.out.open("a") as out:
        out.write("\n".join(lines) + "\n\n")
    print(json.dumps(figures), flush=True)
    return 0 if shown == args.refused else 1


if __name__ == "__main__":
    sys.exit(main())
