"""Helpers for the tap's sandbox tests: admin calls, configs, and running the tap as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.client import SalesforceClient
from sandbox.credentials import SALESFORCE

TAP = str(Path(sys.executable).parent / "tap-salesforce-custom")


def sf_url() -> str:
    return os.environ["SANDBOX_SALESFORCE_URL"]


def admin(method: str, path: str, body: Any = None) -> Any:
    """Call the Salesforce sandbox admin API (the shipped client); an error answer fails the test."""
    return SalesforceClient(sf_url()).call(method, path, body)


def reset(**volumes: int) -> None:
    """Regenerate sandbox data (deterministic), zero the usage counter, knobs back to their defaults."""
    admin("POST", "reset", {"seed": 42, "accounts": 0, "contacts": 0, "products": 0, "opportunities": 0, **volumes})


def tap_config(**overrides: Any) -> dict[str, Any]:
    """Demo credentials against the plain-HTTP sandbox; no lookback unless a test asks for it."""
    return {
        "login_url": sf_url(),
        "client_id": SALESFORCE.client_id,
        "client_secret": SALESFORCE.client_secret,
        "refresh_token": SALESFORCE.refresh_token,
        "start_date": "2000-01-01T00:00:00Z",
        "objects": ["Account"],
        "lookback_seconds": 0,
        "api_type": "rest",
        **overrides,
    }


@dataclass
class TapRun:
    """What one tap process printed: records per stream, STATE values, stderr, exit code."""

    returncode: int
    stderr: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    def ids(self, stream: str = "Account") -> list[str]:
        return [r["Id"] for r in self.records.get(stream, [])]

    def bookmark(self, stream: str = "Account") -> str | None:
        return self.state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def parse_output(stdout: str, returncode: int, stderr: str) -> TapRun:
    run = TapRun(returncode=returncode, stderr=stderr)
    for line in stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            run.states.append(message["value"])
    return run


def run_tap(tmp_path: Path, config: dict[str, Any], *, state: dict | None = None, catalog: dict | None = None,
            timeout: float = 180, check: bool = True) -> TapRun:
    """Run `tap-salesforce-custom --config ... [--state ...] [--catalog ...]` and parse its Singer output."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    args = [TAP, "--config", _write(tmp_path / "config.json", config)]
    if state is not None:
        args += ["--state", _write(tmp_path / "state.json", state)]
    if catalog is not None:
        args += ["--catalog", _write(tmp_path / "catalog.json", catalog)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return parse_output(done.stdout, done.returncode, done.stderr)


def discover(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """`--discover` output, with every stream and property selected."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([TAP, "--config", _write(tmp_path / "config.json", config), "--discover"],
                          capture_output=True, text=True, timeout=120, check=True)
    catalog = json.loads(done.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
    return catalog


def _write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)

