"""Helpers for tap-netsuite-custom's tests: a SuiteQL table in memory (the stand-in's own engine), configs, and
the tap run as a real subprocess against the NetSuite stand-in.

A module of its own (not conftest.py) so test modules can import it by a name no other test folder uses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import singer_taps
from sandbox.credentials import NETSUITE
from sandbox.netsuite import suiteql
from sandbox.netsuite.api import _suiteql_date
from singer_taps import TapRun

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


def run_tap(tmp_path: Path, config: dict[str, Any], *, state: dict | None = None, args: tuple[str, ...] = (),
            timeout: float = 300) -> TapRun:
    """Run `tap-netsuite-custom --config ... [--state ...] [args]` and parse its Singer output."""
    return singer_taps.run_tap(TAP, tmp_path, config, run_class=TapRun, state=state, args=args, timeout=timeout)
