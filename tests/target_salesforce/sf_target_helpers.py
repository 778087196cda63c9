"""Helpers for target-salesforce-custom's tests: configs against the Salesforce stand-in, Singer input, and the
target run as a real subprocess (real HTTP, real exit codes, the STATE lines it prints).

A module of its own (not conftest.py) so test modules can import it by a name no other test folder uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sandbox.client import SalesforceClient
from sandbox.credentials import SALESFORCE

TARGET = str(Path(sys.executable).parent / "target-salesforce-custom")
API = "/services/data/v61.0"


def sf_url() -> str:
    return os.environ["SANDBOX_SALESFORCE_URL"]


def admin() -> SalesforceClient:
    return SalesforceClient(sf_url())


def target_config(tmp: Path, **overrides: Any) -> dict[str, Any]:
    """Demo refresh-token credentials against the plain-HTTP stand-in; fast lock retries and Bulk polls."""
    return {
        "auth_flow": "refresh_token",
        "login_url": sf_url(),
        "client_id": SALESFORCE.client_id,
        "client_secret": SALESFORCE.client_secret,
        "refresh_token": SALESFORCE.refresh_token,
        "backoff_factor": 0.01,
        "bulk_poll_seconds": 0.05,
        "dead_letter_path": str(tmp / "dead_letters"),
        **overrides,
    }


def singer_lines(stream: str, records: list[dict[str, Any]], state: dict[str, Any] | None = None) -> str:
    """SCHEMA, the RECORDs, then a STATE (a bookmark naming the batch) of one stream."""
    properties = {name: {} for record in records for name in record}
    lines = [{"type": "SCHEMA", "stream": stream, "schema": {"type": "object", "properties": properties},
              "key_properties": []}]
    lines += [{"type": "RECORD", "stream": stream, "record": record} for record in records]
    lines.append({"type": "STATE", "value": state or {"bookmarks": {stream: {"batch": len(records)}}}})
    return "".join(json.dumps(line) + "\n" for line in lines)


@dataclass
class TargetRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def states(self) -> list[dict[str, Any]]:
        """The state lines the target printed (a Singer target prints each state value as a line of its own)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_target(tmp: Path, config: dict[str, Any], stdin: str, timeout: float = 300) -> TargetRun:
    config_path = tmp / "target-config.json"
    config_path.write_text(json.dumps(config))
    result = subprocess.run([TARGET, "--config", str(config_path)], input=stdin, text=True, capture_output=True,
                            timeout=timeout, check=False)
    return TargetRun(result.returncode, result.stdout, result.stderr)


def dead_letters(tmp: Path, name: str = "dead_letters") -> list[dict[str, Any]]:
    folder = tmp / name
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]


class SOQL:
    """Reads the org back through the real query API (a separate session from the target's)."""

    def __init__(self) -> None:
        self.session = requests.Session()
        token = self.session.post(f"{sf_url()}/services/oauth2/token", timeout=60, data={
            "grant_type": "refresh_token", "client_id": SALESFORCE.client_id,
            "client_secret": SALESFORCE.client_secret, "refresh_token": SALESFORCE.refresh_token}).json()
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def records(self, soql: str) -> list[dict[str, Any]]:
        response = self.session.get(f"{sf_url()}{API}/query", params={"q": soql}, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        rows = list(body["records"])
        while not body["done"]:
            body = self.session.get(f"{sf_url()}{body['nextRecordsUrl']}", timeout=60).json()
            rows += body["records"]
        return rows
