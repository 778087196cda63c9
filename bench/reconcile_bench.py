"""What a reconciliation costs: `pipeline-ops reconcile` over N Accounts on the sandboxes; writes
bench/results/reconcile.md.

    .venv/bin/python bench/reconcile_bench.py [--accounts 10000]

The sandboxes are started here on free loopback ports with a temporary data directory. Salesforce gets N Accounts;
NetSuite gets a customer for each (entered through the admin route with the Account's Id as external id, so the
set-up costs no API calls), minus 10 (missing), plus 5 customers with Salesforce-like ids no Account has
(orphaned). Then one real `meltano invoke pipeline-ops reconcile` runs in this project (its own Meltano system
database), and the Salesforce API calls (the sandbox's quota counter), the NetSuite requests (its request log)
and the wall time are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sandbox.client import NetSuiteClient, SalesforceClient, SandboxClient

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv" / "bin" / "meltano"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    try:
        SandboxClient(url).wait_healthy(timeout=60)
    except TimeoutError:
        raise SystemExit(f"sandbox at {url} did not start") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reconcile-bench-"))
    sf_port, ns_port = _free_port(), _free_port()
    sf, ns = f"http://127.0.0.1:{sf_port}", f"http://127.0.0.1:{ns_port}"
    server = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--data-dir", str(tmp / "data"),
                               "--salesforce-port", str(sf_port), "--netsuite-port", str(ns_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(sf)
        _wait(ns)
        sf_admin, ns_admin = SalesforceClient(sf, timeout=600), NetSuiteClient(ns, timeout=600)
        sf_admin.reset(seed=3, accounts=args.accounts, contacts=0, products=0, opportunities=0)
        accounts = [a for a in sf_admin.records("Account") if not a["IsDeleted"]]
        bodies = [{"externalId": a["Id"], "companyName": a["Name"][:83], "subsidiary": {"id": "1"}}
                  for a in accounts[10:]]
        bodies += [{"externalId": f"001ZZ000000{n:04d}AAA", "companyName": f"Orphan {n}", "subsidiary": {"id": "1"}}
                   for n in range(5)]
        for start in range(0, len(bodies), 2000):
            ns_admin.create_records("customer", bodies[start:start + 2000])
        sf_before = sf_admin.api_usage()
        ns_log_before = len(ns_admin.request_log())
        env = {**os.environ, "MELTANO_ENVIRONMENT": "dev", "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}",
               "TAP_SALESFORCE_CUSTOM_LOGIN_URL": sf, "TARGET_NETSUITE_BASE_URL": ns,
               "TARGET_NETSUITE_DEAD_LETTER_PATH": str(tmp / "dead_letters"),
               "TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
        started = time.monotonic()
        result = subprocess.run([str(MELTANO), "invoke", "pipeline-ops", "reconcile", "--reports-dir",
                                 str(ROOT / "reports")], cwd=ROOT, env=env, capture_output=True, text=True,
                                check=False)
        elapsed = time.monotonic() - started
        if result.returncode not in (0, 3):
            print(result.stdout[-3000:], result.stderr[-6000:])
            return 1
        report = json.loads((ROOT / "reports" / "reconcile-latest.json").read_text())
        sf_calls = sf_admin.api_usage() - sf_before
        ns_log = ns_admin.request_log()[ns_log_before:]
        ns_kinds = Counter("SuiteQL" if "suiteql" in e["path"] else e["method"] for e in ns_log)
        counts = report["counts"]["customer"]
        lines = [
            "# Reconciliation cost (bench/reconcile_bench.py)",
            "",
            f"{args.accounts:,} Accounts in the Salesforce sandbox, a customer for each in the NetSuite sandbox "
            "(10 missing, 5 orphaned planted), sandbox latency 0, on "
            f"{platform.machine()} / Python {platform.python_version()} (shared 2-CPU machine).",
            "",
            "| measure | value |",
            "|---|---|",
            f"| wall time of `meltano invoke pipeline-ops reconcile` (Meltano start-up included) | {elapsed:.1f} s |",
            f"| Salesforce API calls (quota counter) | {sf_calls} |",
            f"| NetSuite requests | {len(ns_log)} ({', '.join(f'{k} {v}' for k, v in sorted(ns_kinds.items()))}) |",
            f"| found: missing / orphaned / stale | {counts['missing']} / {counts['orphaned']} / {counts['stale']} |",
            "",
            "Salesforce: one token call, one REST query whose `totalSize` exceeds the reconcile tap's `bulk_threshold`"
            " (5,000), then a Bulk 2.0 query job (create, poll, result pages). NetSuite: the connection check and one "
            "SuiteQL page per 1,000 customers with an external id. Nothing is written.",
        ]
        out = ROOT / "bench" / "results" / "reconcile.md"
        out.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
