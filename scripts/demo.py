"""`make demo`: the whole pipeline once, locally, against the sandboxes.

Starts the sandbox process (Salesforce on :8701, NetSuite on :8702, data kept in `.sandbox/`), runs the job
`sync-salesforce-to-netsuite` (tap → mapping → target, then the run report) in the `dev` environment, prints what
NetSuite now holds and the state Meltano saved, then stops the sandbox. Run it twice: the second run finds
nothing new and changes nothing. `make demo-reset` starts over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sandbox.client import NetSuiteClient, SalesforceClient

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
# Ports: 8701/8702 unless DEMO_SALESFORCE_PORT / DEMO_NETSUITE_PORT say otherwise (something else on 8701?).
SALESFORCE_PORT = int(os.environ.get("DEMO_SALESFORCE_PORT", "8701"))
NETSUITE_PORT = int(os.environ.get("DEMO_NETSUITE_PORT", "8702"))
SALESFORCE_URL = f"http://127.0.0.1:{SALESFORCE_PORT}"
NETSUITE_URL = f"http://127.0.0.1:{NETSUITE_PORT}"
# The job runs `tap-salesforce-custom salesforce-to-netsuite target-netsuite` and then the run report.
JOB = "sync-salesforce-to-netsuite"
RECORD_TYPES = ["customer", "contact", "nonInventorySaleItem", "salesOrder"]
NETSUITE = NetSuiteClient(NETSUITE_URL, timeout=30)


def _start_sandbox() -> subprocess.Popen[bytes]:
    data_dir = ROOT / ".sandbox"
    data_dir.mkdir(exist_ok=True)
    log = (data_dir / "sandbox.log").open("ab")
    process = subprocess.Popen(
        [str(BIN / "sandbox"), "serve", "--data-dir", str(data_dir), "--config", str(ROOT / "sandbox" / "demo.yml"),
         "--salesforce-port", str(SALESFORCE_PORT), "--netsuite-port", str(NETSUITE_PORT)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"demo: the sandbox exited ({process.returncode}); see .sandbox/sandbox.log")
        if SalesforceClient(SALESFORCE_URL).health() and NETSUITE.health():
            return process
        time.sleep(0.3)
    process.terminate()
    sys.exit("demo: the sandbox did not answer within 60 s; see .sandbox/sandbox.log")


def _meltano(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MELTANO_ENVIRONMENT": "dev", "TAP_SALESFORCE_CUSTOM_LOGIN_URL": SALESFORCE_URL,
           "TARGET_NETSUITE_BASE_URL": NETSUITE_URL}
    return subprocess.run([str(BIN / "meltano"), *args], cwd=ROOT, env=env, text=True, capture_output=True)


def _show_netsuite() -> None:
    print("\n== What NetSuite (sandbox) holds ==")
    for record_type in RECORD_TYPES:
        records = NETSUITE.records(record_type)
        print(f"{record_type}: {len(records)} records")
        for record in records[:3]:
            shown = {
                k: v
                for k, v in record.items()
                if k in ("id", "externalId", "companyName", "firstName", "lastName", "itemId", "tranDate", "entity")
            }
            print(f"  {json.dumps(shown, ensure_ascii=False)}")
    stats = NETSUITE.stats()
    print(f"NetSuite sandbox counters since it started: {json.dumps(stats)}")


def _show_state() -> None:
    print("\n== State Meltano saved ==")
    listed = _meltano("state", "list").stdout.split()
    for state_id in (s for s in listed if s.startswith("dev:")):
        print(state_id)
        print(_meltano("state", "get", state_id).stdout.strip())


def main() -> int:
    """Run the demo; exit with the pipeline's own exit status."""
    sandbox = _start_sandbox()
    try:
        print(f"== meltano run {JOB} (environment: dev) ==", flush=True)
        started = time.monotonic()
        run = subprocess.run([str(BIN / "meltano"), "--environment=dev", "run", JOB], cwd=ROOT)
        print(f"meltano run exited {run.returncode} after {time.monotonic() - started:.1f} s")
        _show_netsuite()
        _show_state()
        return run.returncode
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
