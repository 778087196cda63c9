"""Benchmark of `write_mode` sync / async / auto against the NetSuite sandbox; writes bench/results/write_modes.md
and bench/results/write_modes.png (records/s over time for the three modes).

    .venv/bin/python bench/write_modes_bench.py [--records 1200] [--latency-ms 200] [--limit 5] [--processors 4]

The account: concurrency limit C, P REST async processors, L per record written (a synchronous write holds its
request slot for L; an async task holds a processor for L). Real NetSuite writes take 1-10 s; the bench scales L
down (200 ms for 1 s) so the ratios stay and a run takes minutes. Ceilings: `sync` C/L, `async` P/L, `auto`
(C+P)/L. The target runs with `max_concurrency` = C (all of the account's slots). Records/s is measured between
the first and the last record NetSuite wrote (the sandbox's write counters, sampled every 0.25 s), so the target's
start-up is left out; the wall time is given too.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from target_bench import BIN, ROOT, SCHEMA, TBA, Sandbox

MODES = ("sync", "async", "auto")
HEADER = ("| write_mode | ceiling (records/s) | records/s | % of ceiling | wall time (s) | requests | % answered 429 "
          "| async jobs | records in jobs | customers in NetSuite |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def _written(sandbox: Sandbox) -> int:
    writes = sandbox.stats()["writes"]
    return int(writes["created"] + writes["updated"] + writes["unchanged"])


def run_mode(sandbox: Sandbox, mode: str, args: argparse.Namespace, work: Path) -> dict:
    sandbox.reset(concurrency_limit=args.limit, write_latency_ms=args.latency_ms, async_latency_ms=args.latency_ms,
                  async_processors=args.processors)
    config = {**TBA, "base_url": sandbox.url, "max_concurrency": args.limit, "write_mode": mode,
              "dead_letter_path": str(work / mode / "dead_letters"), "match_mode": "create",
              "lock_path": str(work / mode / "lock"), "request_timeout": 60}
    (work / mode).mkdir(parents=True, exist_ok=True)
    config_file = work / mode / "config.json"
    config_file.write_text(json.dumps(config))
    lines = [json.dumps(SCHEMA)]
    lines += [json.dumps({"type": "RECORD", "stream": "customer", "record": {
        "externalId": f"W{mode}{i:06}", "companyName": f"Bench {i}", "subsidiary": {"id": "1"}}})
        for i in range(args.records)]
    lines.append(json.dumps({"type": "STATE", "value": {"done": True}}))
    input_file = work / mode / "input.jsonl"
    input_file.write_text("\n".join(lines) + "\n")
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), _written(sandbox)))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    sampler.start()
    with input_file.open() as stdin:
        result = subprocess.run([str(BIN / "target-netsuite"), "--config", str(config_file)], stdin=stdin,
                                capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    samples.append((time.monotonic(), _written(sandbox)))
    if result.returncode != 0:
        raise SystemExit(f"{mode}: target failed:\n{result.stderr[-3000:]}")
    stats = sandbox.stats()
    first = next(t for t, n in samples if n > 0)
    last = next(t for t, n in samples if n >= args.records)
    jobs = sandbox.admin.jobs()
    in_jobs = sum(len(job["tasks"]) for job in jobs)
    return {
        "mode": mode, "wall_s": wall, "steady_s": last - first, "rate": args.records / max(last - first, 1e-6),
        "requests": stats["requests"], "count_429": stats["count_429"], "jobs": len(jobs), "in_jobs": in_jobs,
        "count": sandbox.count(), "series": [(t - started, n) for t, n in samples],
    }


def plot(results: list[dict], ceilings: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    colours = {"sync": "tab:blue", "async": "tab:orange", "auto": "tab:green"}
    for result in results:
        series = result["series"]
        times, rates = [], []
        for (t0, n0), (t1, n1) in zip(series, series[4:], strict=False):  # 1 s windows
            times.append((t0 + t1) / 2)
            rates.append((n1 - n0) / (t1 - t0))
        ax.plot(times, rates, label=f"{result['mode']} ({result['rate']:.1f}/s)", color=colours[result["mode"]])
        ax.axhline(ceilings[result["mode"]], color=colours[result["mode"]], linestyle=":", linewidth=1)
    ax.set_xlabel("seconds since the target started")
    ax.set_ylabel("records/s written by NetSuite (1 s windows)")
    ax.set_title("write_mode: records/s over time (dotted: ceilings C/L, P/L, (C+P)/L)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1200)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--processors", type=int, default=4)
    args = parser.parse_args()
    per_record = args.latency_ms / 1000
    ceilings = {"sync": args.limit / per_record, "async": args.processors / per_record,
                "auto": (args.limit + args.processors) / per_record}
    sandbox = Sandbox()
    work = Path(tempfile.mkdtemp(prefix="write-modes-bench-"))
    try:
        results = [run_mode(sandbox, mode, args, work) for mode in MODES]
    finally:
        sandbox.stop()
    out = ROOT / "bench" / "results"
    plot(results, ceilings, out / "write_modes.png")
    rows = []
    for r in results:
        share = r["count_429"] / max(1, r["requests"])
        rows.append(f"| {r['mode']} | {ceilings[r['mode']]:.1f} | {r['rate']:.1f} | "
                    f"{r['rate'] / ceilings[r['mode']]:.0%} | {r['wall_s']:.1f} | {r['requests']} | "
                    f"{share:.2%} | {r['jobs']} | {r['in_jobs']} | {r['count']} |")
    command = (f"`.venv/bin/python bench/write_modes_bench.py --records {args.records} --latency-ms "
               f"{args.latency_ms:g} --limit {args.limit} --processors {args.processors}`")
    text = f"""# write_mode benchmark

Machine: {platform.machine()}, 2 CPUs shared with other work, Python {platform.python_version()}; sandbox on
loopback. Command: {command} (run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).

Account: C = {args.limit} concurrent requests, P = {args.processors} REST async processors, L = {args.latency_ms:g} ms
per record written (1 s scaled down x{1000 / args.latency_ms:g}; ratios stay). {args.records} new customers per mode,
target `max_concurrency` = C, `match_mode: create`.

{HEADER}
{chr(10).join(rows)}

Ceilings: `sync` C/L, `async` P/L, `auto` (C+P)/L. Records/s is measured from NetSuite's first to its last write
(sampled every 0.25 s); the wall time adds the target's start-up and end. At real latencies (L = 3-10 s) the fixed
costs (start-up, polling, the tail of the last job) weigh x{1000 / args.latency_ms:g} less against the writes.

![records/s over time](write_modes.png)
"""
    (out / "write_modes.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
