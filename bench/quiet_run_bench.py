"""Benchmark: Salesforce calls and records re-sent by the tap on each quiet run after a burst of changes.

Scenario (time scaled down: cron interval = lookback = `--lookback` seconds, as the default 5-minute cron with
the default 300 s lookback): an initial load; a burst of `--burst` Account updates and `--line-burst`
OpportunityLineItem updates within a second or two; a run right after it (delivers the burst); then `--quiet`
runs one interval apart with nothing new. Each run is the tap as a subprocess with the previous run's state;
calls are read from the sandbox's request log, records from the tap's stdout.

    .venv/bin/python bench/quiet_run_bench.py [--tap-src DIR]...

`--tap-src DIR` runs the tap package found in DIR instead of the installed one (e.g. an older version:
`git archive main tap-salesforce-custom | tar -x -C /tmp/old` then `--tap-src /tmp/old/tap-salesforce-custom`);
`--tap-src installed` is the installed one. Results are appended to `bench/results/quiet_runs.md`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sandbox.client import SalesforceClient
from sandbox.credentials import SALESFORCE

HERE = Path(__file__).resolve().parent
PORT = 18960
BASE = f"http://127.0.0.1:{PORT}"
CREDENTIALS = {"client_id": SALESFORCE.client_id, "client_secret": SALESFORCE.client_secret,
               "refresh_token": SALESFORCE.refresh_token}


def admin(method: str, path: str, body: object = None) -> object:
    return SalesforceClient(BASE, timeout=600).call(method, path, body)


def run_tap(tap_src: str, config: Path, catalog: Path, state: dict) -> tuple[dict, Counter, list[dict]]:
    """`(last state, records per stream, Salesforce calls)` of one tap run."""
    state_path = config.with_name("state.json")
    state_path.write_text(json.dumps(state))
    env = dict(os.environ)
    if tap_src != "installed":
        env["PYTHONPATH"] = tap_src
    before = len(admin("GET", "requests")["requests"])
    done = subprocess.run(
        [sys.executable, "-c", "from tap_salesforce_custom.tap import TapSalesforceCustom; TapSalesforceCustom.cli()",
         "--config", str(config), "--catalog", str(catalog), "--state", str(state_path)],
        capture_output=True, text=True, env=env, check=True)
    calls = admin("GET", "requests")["requests"][before:]
    records: Counter = Counter()
    last = state
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records[message["stream"]] += 1
        elif message["type"] == "STATE":
            last = message["value"]
    return last, records, calls


def describe_calls(calls: list[dict]) -> str:
    queries = Counter(re.search(r"\bFROM (\w+)", c["q"]).group(1) for c in calls if c["q"])
    other = sum(1 for c in calls if not c["q"] and not c["path"].endswith("/oauth2/token"))
    text = ", ".join(f"{n} {name}" for name, n in sorted(queries.items()))
    return f"{sum(queries.values())} ({text})" + (f" + {other} other" if other else "")


def scenario(tap_src: str, work: Path, lookback: int, burst: int, line_burst: int, quiet: int) -> list[list[str]]:
    admin("POST", "reset", {"seed": 11, "accounts": max(burst, 50) + 50, "contacts": 0, "products": 20,
                            "opportunities": 300})
    config = work / "config.json"
    config.write_text(json.dumps({**CREDENTIALS, "login_url": BASE, "objects": ["Account", "Opportunity"],
                                  "start_date": "2000-01-01T00:00:00Z", "lookback_seconds": lookback,
                                  "api_type": "rest"}))
    catalog = work / "catalog.json"
    discovered = json.loads(subprocess.run(
        [str(Path(sys.executable).parent / "tap-salesforce-custom"), "--config", str(config), "--discover"],
        capture_output=True, check=True).stdout)
    for stream in discovered["streams"]:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
    catalog.write_text(json.dumps(discovered))
    state, _, _ = run_tap(tap_src, config, catalog, {})
    accounts = [r["Id"] for r in admin("GET", "records/Account")["records"] if not r["IsDeleted"]][:burst]
    lines = [r for r in admin("GET", "records/OpportunityLineItem")["records"] if not r["IsDeleted"]][:line_burst]
    started = time.monotonic()
    for n, account_id in enumerate(accounts):
        admin("PATCH", f"records/Account/{account_id}", {"Phone": f"+1 415 555 {n:04d}"})
    for line in lines:
        admin("PATCH", f"records/OpportunityLineItem/{line['Id']}", {"Quantity": line["Quantity"] + 1})
    burst_seconds = time.monotonic() - started
    rows = []
    for n in range(quiet + 1):
        if n:
            time.sleep(lookback)
        state, records, calls = run_tap(tap_src, config, catalog, state)
        label = "burst run" if n == 0 else f"quiet run {n} (+{n * lookback} s)"
        rows.append([label, describe_calls(calls), str(records.get("Account", 0)), str(records.get("Opportunity", 0))])
    rows.insert(0, [f"(burst: {len(accounts)} Account + {len(lines)} line updates in {burst_seconds:.1f} s)",
                    "", "", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tap-src", action="append", default=None)
    parser.add_argument("--lookback", type=int, default=20)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--line-burst", type=int, default=20)
    parser.add_argument("--quiet", type=int, default=3)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="quiet-bench-"))
    sandbox = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--data-dir", str(work / "sandbox"),
                                "--salesforce-port", str(PORT), "--netsuite-port", "0", "--log-level", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        SalesforceClient(BASE).wait_healthy(timeout=60)
        results = []
        for tap_src in options.tap_src or ["installed"]:
            rows = scenario(tap_src, work, options.lookback, options.burst, options.line_burst, options.quiet)
            results.append((tap_src, rows))
            for row in rows:
                print(tap_src, *row, sep=" | ", flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    write_results(results, options.lookback)


def write_results(results: list[tuple[str, list[list[str]]]], lookback: int) -> None:
    path = HERE / "results" / "quiet_runs.md"
    if not path.exists():
        path.write_text("# quiet runs after a burst\n\n`bench/quiet_run_bench.py`: Salesforce queries (token and "
                        "describe calls aside) and records emitted per tap run, with the cron interval equal to the "
                        "lookback.\n")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    text = path.read_text()
    for tap_src, rows in results:
        text += (f"\n## {stamp}, tap from `{tap_src}`, lookback = interval = {lookback} s\n\n"
                 "| run | Salesforce queries | Account records | Opportunity records |\n|---|---|---|---|\n")
        text += "".join(f"| {' | '.join(row)} |\n" for row in rows)
    path.write_text(text)


if __name__ == "__main__":
    main()
