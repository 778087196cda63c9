"""Benchmark: records/s and peak RSS of tap-salesforce-custom reading N Accounts from the sandbox (no latency).

Runs, against one sandbox process started here (TLS on, its own CA):
- tap-salesforce-custom, REST (`api_type: rest`) and Bulk API 2.0 (`api_type: bulk`);
- singer-io's `tap-salesforce` from PyPI, REST, from its own venv (`bench/.venvs/tap-salesforce`), if present.
  It hard-codes `https://login.salesforce.com`; `bench/tap_singerio_shim.py` points that one URL at the sandbox.

Each tap runs as a subprocess with a catalog (no discovery in the timed part); its stdout is counted, not stored.
Peak RSS is the child's own `ru_maxrss` from `os.wait4`. Results are appended to `bench/results/tap.md`.

    .venv/bin/python bench/tap_bench.py --accounts 100000 [--accounts 1000000] [--skip-singerio]
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
PORT = 18950  # HTTPS side is PORT + 10 (sandbox --tls convention)
OUR_TAP = str(Path(sys.executable).parent / "tap-salesforce-custom")
SINGERIO_PYTHON = HERE / ".venvs" / "tap-salesforce" / "bin" / "python"
CREDENTIALS = {"client_id": SALESFORCE.client_id, "client_secret": SALESFORCE.client_secret,
               "refresh_token": SALESFORCE.refresh_token}


def start_sandbox(data_dir: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--data-dir", str(data_dir), "--tls", "--salesforce-port",
         str(PORT), "--netsuite-port", "0", "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        SalesforceClient(f"http://127.0.0.1:{PORT}").wait_healthy(timeout=60)
    except TimeoutError:
        process.kill()
        raise SystemExit("sandbox did not start") from None
    return process


def run_measured(args: list[str], stderr: Path, env: dict[str, str] | None = None) -> tuple[int, float, int]:
    """`(records printed, seconds, peak RSS in MiB)` of one tap process; its log goes to `stderr`."""
    start = time.perf_counter()
    with stderr.open("wb") as log:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env)
        assert process.stdout is not None
        records = 0
        tail = b""
        while chunk := process.stdout.read(1 << 20):
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            records += data[:cut].count(b'"type":"RECORD"') + data[:cut].count(b'"type": "RECORD"')
            tail = data[cut:]
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{args[0]} exited with status {status}; see {stderr}")
    return records, seconds, usage.ru_maxrss // 1024


def our_catalog(config_path: Path, *, bulk: bool) -> dict:
    catalog = json.loads(subprocess.run([OUR_TAP, "--config", str(config_path), "--discover"], check=True,
                                        capture_output=True).stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            compound = entry["breadcrumb"][-1:] in (["BillingAddress"], ["ShippingAddress"])
            entry["metadata"]["selected"] = not (bulk and compound)
    return catalog


def singerio_catalog(python: Path, config_path: Path, env: dict[str, str]) -> dict:
    shim = str(HERE / "tap_singerio_shim.py")
    out = subprocess.run([str(python), shim, "--config", str(config_path), "--discover"], check=True,
                         capture_output=True, env=env).stdout
    catalog = json.loads(out)
    catalog["streams"] = [s for s in catalog["streams"] if s["tap_stream_id"] == "Account"]
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
    return catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, action="append", required=True)
    parser.add_argument("--skip-singerio", action="store_true")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tap-bench-"))
    sandbox = start_sandbox(work / "sandbox")
    tls_url = f"https://localhost:{PORT + 10}"
    ca_bundle = str(work / "sandbox" / "tls" / "ca.pem")
    rows = []
    print(f"work dir (logs): {work}", flush=True)
    try:
        for accounts in options.accounts:
            seed_start = time.perf_counter()
            SalesforceClient(f"http://127.0.0.1:{PORT}", timeout=3600).reset(
                seed=7, accounts=accounts, contacts=0, products=0, opportunities=0)
            print(f"seeded {accounts} accounts in {time.perf_counter() - seed_start:.0f}s", flush=True)
            config = {**CREDENTIALS, "login_url": tls_url, "ca_bundle": ca_bundle, "objects": ["Account"],
                      "start_date": "2000-01-01T00:00:00Z"}
            for api_type in ("rest", "bulk"):
                cfg = work / f"ours-{api_type}.json"
                cfg.write_text(json.dumps({**config, "api_type": api_type}))
                cat = work / f"ours-{api_type}-catalog.json"
                cat.write_text(json.dumps(our_catalog(cfg, bulk=api_type == "bulk")))
                result = run_measured([OUR_TAP, "--config", str(cfg), "--catalog", str(cat)],
                                      work / f"ours-{api_type}.stderr")
                rows.append((accounts, f"tap-salesforce-custom ({api_type})", *result))
                print(rows[-1], flush=True)
            if not options.skip_singerio and SINGERIO_PYTHON.exists():
                env = {**os.environ, "SF_LOGIN_URL": tls_url, "REQUESTS_CA_BUNDLE": ca_bundle}
                cfg = work / "singerio.json"
                cfg.write_text(json.dumps({**CREDENTIALS, "api_type": "REST", "start_date": "2000-01-01T00:00:00Z",
                                           "select_fields_by_default": True}))
                cat = work / "singerio-catalog.json"
                cat.write_text(json.dumps(singerio_catalog(SINGERIO_PYTHON, cfg, env)))
                result = run_measured([str(SINGERIO_PYTHON), str(HERE / "tap_singerio_shim.py"), "--config",
                                       str(cfg), "--properties", str(cat)], work / "singerio.stderr", env=env)
                rows.append((accounts, "singer-io tap-salesforce 2.8.1 (REST)", *result))
                print(rows[-1], flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    write_results(rows)


def write_results(rows: list[tuple[int, str, int, float, int]]) -> None:
    results = HERE / "results" / "tap.md"
    results.parent.mkdir(exist_ok=True)
    if not results.exists():
        results.write_text(
            "# tap benchmark\n\nAccounts read from the local Salesforce sandbox over HTTPS, no injected latency, "
            "one process per run (`bench/tap_bench.py`). Records/s over the whole process lifetime; peak RSS of "
            "the tap process.\n\n| date | accounts | tap | records | seconds | records/s | peak RSS MiB |\n"
            "|---|---|---|---|---|---|---|\n"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    new_rows = "".join(
        f"| {stamp} | {accounts} | {name} | {records} | {seconds:.1f} | {records / seconds:,.0f} | {rss} |\n"
        for accounts, name, records, seconds, rss in rows
    )
    table, notes_marker, notes = results.read_text().partition("\nNotes:\n")
    results.write_text(table.rstrip("\n") + "\n" + new_rows + (f"\nNotes:\n{notes}" if notes_marker else ""))


if __name__ == "__main__":
    main()
