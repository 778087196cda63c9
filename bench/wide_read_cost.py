"""Benchmark: API calls of reading N 800-field Accounts (`Account.*`), REST in field chunks vs Bulk API 2.0.

Against a running Salesforce sandbox (`--url`, default `$SANDBOX_SALESFORCE_URL`): reset it to N Accounts of
`--fields` fields, discover, then run tap-salesforce-custom once per `api_type` with that catalog and count the
calls the sandbox charged (`/__admin/stats` api_usage, token calls excluded) and the longest URI it was sent
(`/__admin/requests`). Results are appended to `bench/results/wide_read.md`. The reset destroys the sandbox's data.

    .venv/bin/python bench/wide_read_cost.py --url http://127.0.0.1:8701 --accounts 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox.client import SalesforceClient
from sandbox.credentials import SALESFORCE

HERE = Path(__file__).resolve().parent
TAP = str(Path(sys.executable).parent / "tap-salesforce-custom")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SANDBOX_SALESFORCE_URL", "http://127.0.0.1:8701"))
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--fields", type=int, default=800)
    args = parser.parse_args()
    admin = SalesforceClient(args.url, timeout=900)
    admin.reset(accounts=args.accounts, account_fields=args.fields, contacts=0, products=0, opportunities=0)
    work = Path(tempfile.mkdtemp(prefix="wide-read-"))
    config = {"login_url": args.url, "client_id": SALESFORCE.client_id, "client_secret": SALESFORCE.client_secret,
              "refresh_token": SALESFORCE.refresh_token, "start_date": "2000-01-01T00:00:00Z", "objects": ["Account"],
              "lookback_seconds": 0}
    (work / "config.json").write_text(json.dumps(config))
    catalog = json.loads(subprocess.run([TAP, "--config", str(work / "config.json"), "--discover"], check=True,
                                        capture_output=True, text=True).stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
    (work / "catalog.json").write_text(json.dumps(catalog))
    rows = []
    for api_type in ("rest", "bulk"):
        (work / "config.json").write_text(json.dumps({**config, "api_type": api_type}))
        before = admin.api_usage()
        started = time.monotonic()
        done = subprocess.run([TAP, "--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")],
                              check=True, capture_output=True, text=True)
        seconds = time.monotonic() - started
        calls = admin.api_usage() - before
        records = done.stdout.count('"type":"RECORD"')
        rows.append((api_type, records, calls, calls * 10_000 / max(records, 1), seconds))
    longest = admin.request_log()["max_uri_bytes"]
    lines = [f"\n## {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: {args.accounts:,} Accounts x {args.fields} fields, "
             f"all selected; longest URI sent {longest:,} bytes (limit 16,384)\n",
             "| api_type | records | API calls | calls per 10,000 records | seconds |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {r:,} | {c} | {p:.1f} | {s:.1f} |" for a, r, c, p, s in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    with (HERE / "results" / "wide_read.md").open("a", encoding="utf-8") as out:
        out.write(text)


if __name__ == "__main__":
    main()
