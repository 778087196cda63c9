"""Benchmark of target-netsuite against the NetSuite sandbox; writes bench/results/target.md.

    .venv/bin/python bench/target_bench.py [--records 2000] [--latency-ms 200] [--limit 5] [--rss-records 100000]

1. Throughput writing N customers with sandbox latency L and concurrency limit C, beside the ceiling C/L and a
   one-at-a-time writer (a plain signed PUT loop, timed on a sample and extrapolated); % of requests answered 429.
   Also with `max_concurrency` above the account limit, to show the adaptive window at work.
2. Peak RSS of the target process writing `--rss-records` customers with latency 0.

The sandbox is started here on free loopback ports with a temporary data directory, and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from requests_oauthlib import OAuth1
from sandbox.client import NetSuiteClient
from sandbox.credentials import NETSUITE

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TBA = {"account_id": NETSUITE.account_id, **NETSUITE.tba()}
SCHEMA = {"type": "SCHEMA", "stream": "customer", "key_properties": ["externalId"],
          "schema": {"type": "object", "properties": {"externalId": {"type": "string"},
                                                      "companyName": {"type": "string"},
                                                      "subsidiary": {"type": "object"}}}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    """A private sandbox process on free loopback ports: the NetSuite side at `url`, the Salesforce side at
    `salesforce_url` (unused by the target benches)."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="target-bench-"))
        port = _free_port()
        salesforce_port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.salesforce_url = f"http://127.0.0.1:{salesforce_port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "serve", "--data-dir", str(self.data_dir), "--netsuite-port",
             str(port), "--salesforce-port", str(salesforce_port), "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.admin = NetSuiteClient(self.url, timeout=60)
        try:
            self.admin.wait_healthy(timeout=20)
        except TimeoutError:
            raise RuntimeError("sandbox did not start") from None

    def reset(self, **knobs: object) -> None:
        self.admin.reset(knobs=True)
        self.admin.knobs(**knobs)

    def stats(self) -> dict:
        return self.admin.stats()

    def count(self) -> int:
        return len(self.admin.records("customer"))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _customers(n: int, prefix: str) -> str:
    lines = [json.dumps(SCHEMA)]
    lines += [json.dumps({"type": "RECORD", "stream": "customer", "record": {
        "externalId": f"{prefix}{i:06}", "companyName": f"Bench {i}", "subsidiary": {"id": "1"}}})
        for i in range(n)]
    lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"customer": {"n": n}}}}))
    return "\n".join(lines) + "\n"


def run_target(sandbox: Sandbox, n: int, max_concurrency: int, prefix: str) -> dict:
    """Run the target on n customers; wall time, the peak RSS of the target process and the request counts."""
    work = Path(tempfile.mkdtemp(prefix="target-bench-run-"))
    config = {**TBA, "base_url": sandbox.url, "max_concurrency": max_concurrency,
              "dead_letter_path": str(work / "dl"), "run_report_path": str(work / "report.json")}
    (work / "config.json").write_text(json.dumps(config))
    (work / "input.jsonl").write_text(_customers(n, prefix))
    started = time.monotonic()
    with (work / "input.jsonl").open() as stdin:
        result = subprocess.run([str(BIN / "target-netsuite"), "--config", str(work / "config.json")],
                                stdin=stdin, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    report = json.loads((work / "report.json").read_text())
    return {"seconds": elapsed, "report": report,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def one_at_a_time(sandbox: Sandbox, n: int) -> float:
    """Records/s of a naive writer: one signed PUT after the other, no concurrency."""
    session = requests.Session()
    started = time.monotonic()
    for i in range(n):
        auth = OAuth1(TBA["consumer_key"], TBA["consumer_secret"], TBA["token_id"], TBA["token_secret"],
                      signature_method="HMAC-SHA256", realm=TBA["account_id"])
        response = session.put(f"{sandbox.url}/services/rest/record/v1/customer/eid:SEQ{i:06}", auth=auth,
                               json={"companyName": f"Seq {i}", "subsidiary": {"id": "1"}}, timeout=60)
        response.raise_for_status()
    return n / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--sequential-sample", type=int, default=100)
    parser.add_argument("--rss-records", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "target.md")
    args = parser.parse_args()
    sandbox = Sandbox()
    rows = []
    try:
        ceiling = args.limit / (args.latency_ms / 1000)
        sandbox.reset(concurrency_limit=args.limit, latency_ms=args.latency_ms)
        sequential = one_at_a_time(sandbox, args.sequential_sample)
        for max_concurrency in (args.limit, 2 * args.limit):
            sandbox.reset(concurrency_limit=args.limit, latency_ms=args.latency_ms)
            run = run_target(sandbox, args.records, max_concurrency, "B")
            stats = sandbox.stats()
            assert sandbox.count() == args.records
            rate = args.records / run["seconds"]
            rows.append((max_concurrency, run["seconds"], rate, 100 * rate / ceiling,
                         100 * stats["count_429"] / max(1, stats["requests"]), stats["peak_concurrency"]))
            print(f"max_concurrency={max_concurrency}: {rate:.1f} rec/s", file=sys.stderr)
        rss = None
        if args.rss_records:
            sandbox.reset(concurrency_limit=args.limit, latency_ms=0)
            big = run_target(sandbox, args.rss_records, args.limit, "R")
            rss = (big["peak_rss_mb"], args.rss_records / big["seconds"], big["seconds"])
    finally:
        sandbox.stop()

    lines = [
        "# target-netsuite benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; sandbox on "
        f"loopback (same machine). Command: `.venv/bin/python bench/target_bench.py --records {args.records} "
        f"--latency-ms {args.latency_ms:g} --limit {args.limit} --rss-records {args.rss_records}`.",
        "",
        f"## Throughput: {args.records} customers, latency {args.latency_ms:g} ms, account limit {args.limit}",
        "",
        f"Ceiling C/L = {ceiling:.1f} records/s. One-at-a-time writer (signed PUT loop, {args.sequential_sample} "
        f"records): {sequential:.1f} records/s.",
        "",
        "| target max_concurrency | wall time (s) | records/s | % of ceiling C/L | % of C x one-at-a-time rate | "
        "% requests answered 429 | peak concurrency seen by the sandbox |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {c} | {s:.1f} | {r:.1f} | {p:.0f}% | {100 * r / (args.limit * sequential):.0f}% | {q:.2f}% | {k} |"
          for c, s, r, p, q, k in rows],
        "",
        "Wall time includes the target's start-up (Python imports, the connection check) and the end of input. "
        "The one-at-a-time rate shows the sandbox's real per-request time (latency plus its own work on this "
        "shared 2-CPU machine), so C x that rate is the ceiling actually reachable here.",
    ]
    if rss:
        lines += ["", f"## Memory: {args.rss_records} customers, latency 0", "",
                  f"Peak RSS of the target process: {rss[0]:.0f} MB ({rss[1]:.0f} records/s, {rss[2]:.0f} s)."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
