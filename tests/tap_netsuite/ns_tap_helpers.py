"""Helpers for tap-netsuite-custom's tests: a SuiteQL table in memory (the stand-in's own engine), configs, and
the tap run as a real subprocess against the NetSuite stand-in.

A module of its own (not conftest.py) so test modules can import it by a name no other test folder uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.credentials import NETSUITE
from sandbox.netsuite import suiteql
from sandbox.netsuite.api import _suiteql_date

TAP = str(Path(sys.executable).parent / "tap-netsuite-custom")


class Table:
    """Records in memory answered through the stand-in's SuiteQL engine, one page per `fetch`; `on_fetch` runs
    before each page (to change the table between pages, as other users of NetSuite do)."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.queries: list[tuple[str, int, int]] = []
        self.on_fetch: Any = None

    def fetch(self, query: str, limit: int, offset: int) -> dict[str, Any]:
        if self.on_fetch is not None:
            self.on_fetch(len(self.queries))
        self.queries.append((query, limit, offset))
        parsed = suiteql.parse(query)
        rows = [suiteql.to_row({k: _suiteql_date(v) for k, v in r.items()}, {}) for r in self.records]
        rows.sort(key=lambda row: int(row["id"]))
        result = suiteql.execute(parsed, rows)
        page = result[offset:offset + limit]
        return {"items": page, "hasMore": offset + len(page) < len(result), "count": len(page), "offset": offset,
                "totalResults": len(result)}


def ns_url() -> str:
    return os.environ["SANDBOX_NETSUITE_URL"]


def tap_config(**overrides: Any) -> dict[str, Any]:
    """Demo TBA credentials against the plain-HTTP stand-in; no lookback unless a test asks for it."""
    return {
        "account_id": NETSUITE.account_id,
        "base_url": ns_url(),
        "auth_method": "tba",
        **NETSUITE.tba(),
        "lookback_seconds": 0,
        "streams": ["customer", "contact", "salesOrder"],
        **overrides,
    }


@dataclass
class TapRun:
    returncode: int
    stderr: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    def ids(self, stream: str) -> list[str]:
        return [r["id"] for r in self.records.get(stream, [])]

    def bookmark(self, stream: str) -> str | None:
        return self.state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def run_tap(tmp_path: Path, config: dict[str, Any], *, state: dict | None = None, args: tuple[str, ...] = (),
            timeout: float = 300) -> TapRun:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    command = [TAP, "--config", str(config_file), *args]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    run = TapRun(returncode=result.returncode, stderr=result.stderr)
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            run.states.append(message["value"])
        elif message["type"] == "SCHEMA":
            run.schemas[message["stream"]] = message["schema"]
    return run
