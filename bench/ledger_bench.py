"""Replay cost with and without the write ledger (issue 15 part 2); writes bench/results/ledger.md.

    .venv/bin/python bench/ledger_bench.py [--records 10000] [--changed-percent 1] [--latency-ms 0]

A `--full-refresh` re-reads every Salesforce record and sends every mapped payload again; for records that did not
change, the target receives exactly the payloads it sent last time. This script feeds the target (a real
`target-netsuite` process, its default settings, against a private NetSuite sandbox over HTTP) that replay
directly as Singer messages, which is what the tap and the mapper produce on a full refresh of unchanged records:

1. initial load of N customers (ledger `use`: every record written and recorded);
2. replay of the same N (ledger `use`): NetSuite requests and writes;
3. replay with `--changed-percent` of the records changed (ledger `use`);
4. replay of the same N with `ledger: ignore` (what every replay cost before the ledger).

NetSuite requests and writes are the sandbox's own counts (its admin API), not the target's.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from target_bench import BIN, TBA, Sandbox

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = {"type": "SCHEMA", "stream": "customer", "key_properties": ["externalId"],
          "schema": {"type": "object", "properties": {"externalId": {"type": "string"}}}}


def _customer(i: int, changed: bool) -> dict:
    """A customer shaped like the shipped mapping's output (Account → customer), about 15 fields."""
    return {
        "externalId": f"001B{i:014d}",
        "companyName": f"Company {i}",
        "subsidiary": {"id": "1"},
        "phone": f"+1 512 555 {i % 10000:04d}",
        "fax": None,
        "url": f"https://example-{i}.com",
        "comments": "Key account" if changed else None,
        "isInactive": False,
        "custentity_sf_industry": "Manufacturing",
        "custentity_sf_rating": "Hot" if i % 3 == 0 else "Warm",
        "custentity_sf_annual_revenue": 1000000 + i,
        "custentity_sf_employees": 10 + i % 500,
        "addressbook": {"items": [{
            "defaultBilling": True, "defaultShipping": True,
            "addressbookaddress": {"addr1": f"{i} Main St", "city": "Austin", "state": "TX", "zip": "73301",
                                   "country": "US"},
        }]},
    }


def run(sandbox: Sandbox, work: Path, n: int, *, changed_every: int = 0, ledger: str = "use") -> dict:
    config = {**TBA, "base_url": sandbox.url, "max_concurrency": 5, "ledger": ledger, "match_mode": "create",
              "dead_letter_path": str(work / "dead_letters"), "run_report_path": str(work / "report.json"),
              "progress_interval_seconds": 3600}
    (work / "config.json").write_text(json.dumps(config))
    lines = [json.dumps(SCHEMA)]
    lines += [json.dumps({"type": "RECORD", "stream": "customer",
                          "record": _customer(i, bool(changed_every) and i % changed_every == 0)})
              for i in range(n)]
    lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"Account": {"replication_key_value": "x"}}}}))
    before = sandbox.stats()
    started = time.monotonic()
    result = subprocess.run([str(BIN / "target-netsuite"), "--config", str(work / "config.json")],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"target failed: {result.stderr[-3000:]}")
    after = sandbox.stats()
    writes = {k: after["writes"][k] - before["writes"].get(k, 0) for k in after["writes"]}
    report = json.loads((work / "report.json").read_text())["streams"]["customer"]
    return {"seconds": round(seconds, 1), "requests": after["requests"] - before["requests"],
            "writes": sum(writes[k] for k in ("created", "updated", "unchanged")),
            "unchanged": report.get("unchanged", 0), "written": report.get("written", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ledger.md")
    args = parser.parse_args()
    n = args.records
    changed_every = max(1, round(100 / args.changed_percent))
    sandbox = Sandbox()
    try:
        sandbox.reset(concurrency_limit=5, latency_ms=args.latency_ms)
        work = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
        rows = [
            ("initial load (ledger `use`)", run(sandbox, work, n)),
            ("replay, nothing changed (ledger `use`)", run(sandbox, work, n)),
            (f"replay, {args.changed_percent:g}% changed (ledger `use`)",
             run(sandbox, work, n, changed_every=changed_every)),
            ("replay, nothing changed, `ledger: ignore` (as before the ledger)",
             run(sandbox, work, n, ledger="ignore")),
        ]
        ledger_bytes = (work / "dead_letters" / "ledger.sqlite3").stat().st_size
    finally:
        sandbox.stop()
    out = [
        "# Write ledger: replay cost",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; sandbox on loopback (same machine), "
        f"latency {args.latency_ms} ms, account limit 5, target `max_concurrency` 5, `match_mode: create`. "
        f"Command: `.venv/bin/python bench/ledger_bench.py --records {n} --changed-percent {args.changed_percent:g} "
        f"--latency-ms {args.latency_ms}`.",
        "",
        f"{n} customers (about 15 fields and an address each), fed to a real `target-netsuite` process as a full "
        "refresh delivers them. NetSuite requests and writes as counted by the sandbox (the requests include the "
        "start-up connection check).",
        "",
        "| run | NetSuite requests | NetSuite writes | writes / records | counted `unchanged` | wall time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, row in rows:
        out.append(f"| {label} | {row['requests']} | {row['writes']} | {row['writes'] / n:.2%} | {row['unchanged']} "
                   f"| {row['seconds']} |")
    out += [
        "",
        f"Ledger file after the runs: {ledger_bytes / 1e6:.1f} MB for {n} entries. At NetSuite's real 3-10 s per "
        f"write and 5 concurrent requests, the {n} writes a replay without the ledger makes take "
        f"{n * 3 / 5 / 3600:.1f}-{n * 10 / 5 / 3600:.1f} hours; with it, only the changed records are written.",
        "",
    ]
    args.out.write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
