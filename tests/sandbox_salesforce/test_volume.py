"""A million Accounts: seeded, queried through every page and bulk-exported in flat server memory (slow).

Run with `pytest -m slow tests/sandbox_salesforce/test_volume.py -s`; it prints the measured figures.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sf_helpers import API, SF

ACCOUNTS = 1_000_000


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_a_million_accounts(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "sandbox.json"
    config.write_text(json.dumps({"salesforce": {"accounts": ACCOUNTS, "contacts": 0, "opportunities": 0,
                                                 "invoices": 0}}))
    started = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "sandbox", "serve", "--data-dir", str(tmp_path / "data"),
                               "--salesforce-port", str(port), "--netsuite-port", "0", "--config", str(config)])
    try:
        sf = SF(f"http://127.0.0.1:{port}")
        while True:
            assert server.poll() is None and time.monotonic() - started < 900
            if sf.admin_client.health():
                break
            time.sleep(1)
        seeded = time.monotonic() - started
        seed_rss = _peak_rss_mb(server.pid)

        started = time.monotonic()
        ids = 0
        response = sf.query("SELECT Id, Name, BillingCountry, SystemModstamp FROM Account ORDER BY SystemModstamp",
                            timeout=600)
        first_page = time.monotonic() - started
        page = response.json()
        while True:
            ids += len(page["records"])
            if page["done"]:
                break
            page = sf.get(page["nextRecordsUrl"], timeout=600).json()
        queried = time.monotonic() - started
        assert ids == ACCOUNTS
        query_rss = _peak_rss_mb(server.pid)

        started = time.monotonic()
        job = sf.request("POST", f"{API}/jobs/query", json={"operation": "query",
                                                             "query": "SELECT Id, Name FROM Account"}).json()
        while sf.get(f"{API}/jobs/query/{job['id']}", timeout=600).json()["state"] != "JobComplete":
            pass
        rows, locator = 0, ""
        while locator != "null":
            response = sf.get(f"{API}/jobs/query/{job['id']}/results",
                              params={"maxRecords": 100_000, **({"locator": locator} if locator else {})}, timeout=600)
            rows += int(response.headers["Sforce-NumberOfRecords"])
            locator = response.headers["Sforce-Locator"]
        bulked = time.monotonic() - started
        assert rows == ACCOUNTS
        final_rss = _peak_rss_mb(server.pid)
        print(f"\nseed {ACCOUNTS} accounts: {seeded:.0f}s, peak RSS {seed_rss:.0f} MB")
        print(f"REST query, all pages: {queried:.0f}s (first page {first_page:.1f}s), peak RSS {query_rss:.0f} MB")
        print(f"Bulk 2.0 export: {bulked:.0f}s, peak RSS {final_rss:.0f} MB")
        assert final_rss < 400
    finally:
        server.terminate()
        server.wait(timeout=30)
