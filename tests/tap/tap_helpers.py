"""Helpers for the tap's sandbox tests: admin calls, configs, and running the tap as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import singer_taps
from sandbox.client import SalesforceClient
from sandbox.credentials import SALESFORCE
from singer_taps import write_json

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


class TapRun(singer_taps.TapRun):
    """What one tap-salesforce-custom process printed (Salesforce Ids; `Account` when no stream is named)."""

    id_field = "Id"
    default_stream = "Account"


def parse_output(stdout: str, returncode: int, stderr: str) -> TapRun:
    return TapRun(returncode=returncode, stderr=stderr).read(stdout)


def run_tap(tmp_path: Path, config: dict[str, Any], *, state: dict | None = None, catalog: dict | None = None,
            timeout: float = 180, check: bool = True) -> TapRun:
    """Run `tap-salesforce-custom --config ... [--state ...] [--catalog ...]` and parse its Singer output."""
    run = singer_taps.run_tap(TAP, tmp_path, config, run_class=TapRun, state=state, catalog=catalog, timeout=timeout)
    if check:
        assert run.returncode == 0, run.stderr[-3000:]
    return run


def discover(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """`--discover` output, with every stream and property selected."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([TAP, "--config", write_json(tmp_path / "config.json", config), "--discover"],
                          capture_output=True, text=True, timeout=120, check=True)
    catalog = json.loads(done.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
    return catalog

