"""The mapping as Meltano runs it: `meltano invoke salesforce-to-netsuite` reads the mapping from meltano.yml and the
plugin settings (overridable per environment, e.g. by `NETSUITE_MAPPER_SUBSIDIARY_ID`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden")


def test_meltano_invokes_the_shipped_mapping(tmp_path: Path) -> None:
    env = {**os.environ, "MELTANO_ENVIRONMENT": "dev", "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}", "NETSUITE_MAPPER_SUBSIDIARY_ID": "7"}
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "meltano"), "invoke", "salesforce-to-netsuite"],
                          input=(GOLDEN / "products.in.jsonl").read_bytes(), cwd=ROOT, env=env,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    got = [json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")]
    expected = [json.loads(line) for line in (GOLDEN / "products.out.jsonl").read_text().splitlines()]
    for message in expected:
        if message["type"] == "RECORD":
            message["record"]["subsidiary"] = {"id": "7"}
        elif message["type"] == "SCHEMA":  # the SCHEMA marks the id as fixed for the run (the target checks it)
            message["schema"]["properties"]["subsidiary"]["properties"]["id"]["const"] = "7"
    assert got == expected


def test_orders_since_cuts_off_older_won_opportunities(tmp_path: Path) -> None:
    """Issue 24: a won opportunity closed before `orders_since` (NETSUITE_ORDERS_SINCE) never becomes an order."""
    env = {**os.environ, "MELTANO_ENVIRONMENT": "dev", "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}", "NETSUITE_ORDERS_SINCE": "2024-06-01"}
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "meltano"), "invoke", "salesforce-to-netsuite"],
                          input=(GOLDEN / "opportunities.in.jsonl").read_bytes(), cwd=ROOT, env=env,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    orders = [json.loads(line)["record"] for line in done.stdout.decode().splitlines()
              if line.startswith("{") and json.loads(line)["type"] == "RECORD"]
    expected = [json.loads(line)["record"] for line in (GOLDEN / "opportunities.out.jsonl").read_text().splitlines()
                if json.loads(line)["type"] == "RECORD"]
    assert len(expected) == 4  # three won versions and one opportunity that stopped being won
    assert orders == [order for order in expected if order["tranDate"] >= "2024-06-01"] != []
