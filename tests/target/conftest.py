"""Fixtures for target-netsuite tests: a reset sandbox account and target settings pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest
from target_helpers import DEMO_TBA, NetSuiteAdmin


@pytest.fixture
def admin(netsuite_url: str) -> NetSuiteAdmin:
    """Admin client on a freshly reset, quiet sandbox account."""
    client = NetSuiteAdmin(netsuite_url)
    client.reset()
    return client


@pytest.fixture
def config(netsuite_url: str, tmp_path: Path) -> dict:
    """Target settings for the sandbox over plain loopback HTTP, with fast retries."""
    return {
        **DEMO_TBA,
        "base_url": netsuite_url,
        "dead_letter_path": str(tmp_path / "dead_letters"),
        "run_report_path": str(tmp_path / "report.json"),
        "backoff_factor": 0.05,
        "max_concurrency": 5,
        "request_timeout": 10,
    }
