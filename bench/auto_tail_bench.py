"""One wave in `write_mode: auto` at a real write latency: how long the run takes against the time NetSuite spent
writing (the run's tail), and the jobs the target cut. Prints one line per run, nothing written to disk.

    .venv/bin/python bench/auto_tail_bench.py [--records 170] [--latency-ms 3000] [--limit 5] [--processors 4]
        [--runs 1]

170 new customers at 3 s: the changes of about one minute at 10,000 an hour (the freshness bench's `--scale 1`
cell). Records/s is measured between NetSuite's first and last write (write_modes_bench.run_mode); the wall time
is the target's, its start-up included. To compare with an older target, run it with that checkout's
`target-netsuite` package first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from target_bench import Sandbox
from write_modes_bench import run_mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=170)
    parser.add_argument("--latency-ms", type=float, default=3000)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--processors", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    ceiling = (args.limit + args.processors) / (args.latency_ms / 1000)
    sandbox = Sandbox()
    try:
        for _ in range(args.runs):
            result = run_mode(sandbox, "auto", args, Path(tempfile.mkdtemp(prefix="auto-tail-bench-")))
            jobs = sandbox.admin.jobs()
            print(f"{args.records} records at {args.latency_ms:g} ms: run {result['wall_s']:.1f} s, NetSuite writing "
                  f"{result['steady_s']:.1f} s ({result['rate']:.2f}/s = {result['rate'] / ceiling:.0%} of (C+P)/L), "
                  f"jobs of {[len(job['tasks']) for job in jobs]} records")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
