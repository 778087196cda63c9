"""Fixtures for the Salesforce stand-in's tests: admin calls, tokens, and private servers with their own config.

Most tests talk to the session's sandbox (started by the top-level conftest) over real HTTP. Tests of
start-up configuration (JWT keys, seed options) start a private uvicorn server in a thread, on a free port,
with its own data directory: still real HTTP, just a differently configured server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sandbox.salesforce.app import create_app
from sf_helpers import SF


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Volume tests here run only when asked for (`-m slow`), so the folder stays fast by default."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: opt in with -m slow")
    for item in items:
        if "sandbox_salesforce" in str(item.path) and item.get_closest_marker("slow"):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def sf(salesforce_url: str) -> Iterator[SF]:
    """The session sandbox, reset to the small default org at the start of each module."""
    client = SF(salesforce_url)
    client.reset()
    yield client
    client.admin("POST", "knobs", {"fault_script": [], "latency_ms": 0, "error_rate_503": 0, "error_rate_500": 0,
                                   "drop_rate": 0, "slow_rate": 0, "api_usage": 0})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], SF]]:
    """Start servers with a given config (each in its own data dir); all are stopped after the test."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(config: dict[str, Any]) -> SF:
        port = _free_port()
        app = create_app(tmp_path / f"data-{port}", config)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="off", date_header=False))  # the app writes `Date`
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "private sandbox did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        return SF(f"http://127.0.0.1:{port}")

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
