"""Test session set-up: one real sandbox process (both APIs) on free loopback ports.

The SDK's standard tap/target test classes run discovery at *collection* time, so the sandbox is started in
`pytest_configure`, before collection, and its URLs are exported as environment variables that every test
(and every subprocess, e.g. `meltano run`) reads:

- `SANDBOX_SALESFORCE_URL`, `SANDBOX_NETSUITE_URL`: plain-HTTP base URLs;
- `SANDBOX_SALESFORCE_TLS_URL`, `SANDBOX_NETSUITE_TLS_URL`, `SANDBOX_CA_BUNDLE`: the HTTPS side and its CA.

If `SANDBOX_SALESFORCE_URL` is already set, that running sandbox is used instead (handy when debugging).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

_PROCESS: subprocess.Popen[bytes] | None = None


def _free_port_block() -> int:
    """A port P such that P and P+10 are both free (plain HTTP and HTTPS sides)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited early ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if requests.get(f"{url}/__admin/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"sandbox at {url} not healthy after {timeout}s:\n{log.read_text()[-4000:]}")


def pytest_configure(config: pytest.Config) -> None:
    global _PROCESS
    if os.environ.get("SANDBOX_SALESFORCE_URL"):
        return
    data_dir = Path(tempfile.mkdtemp(prefix="sfns-sandbox-"))
    sf_port, ns_port = _free_port_block(), _free_port_block()
    log = data_dir / "sandbox.log"
    _PROCESS = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--data-dir",
            str(data_dir),
            "--tls",
            "--salesforce-port",
            str(sf_port),
            "--netsuite-port",
            str(ns_port),
            "--log-level",
            "warning",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    os.environ["SANDBOX_DATA_DIR"] = str(data_dir)
    os.environ["SANDBOX_SALESFORCE_URL"] = f"http://127.0.0.1:{sf_port}"
    os.environ["SANDBOX_NETSUITE_URL"] = f"http://127.0.0.1:{ns_port}"
    os.environ["SANDBOX_SALESFORCE_TLS_URL"] = f"https://localhost:{sf_port + 10}"
    os.environ["SANDBOX_NETSUITE_TLS_URL"] = f"https://localhost:{ns_port + 10}"
    os.environ["SANDBOX_CA_BUNDLE"] = str(data_dir / "tls" / "ca.pem")
    _wait_healthy(os.environ["SANDBOX_SALESFORCE_URL"], _PROCESS, log)
    _wait_healthy(os.environ["SANDBOX_NETSUITE_URL"], _PROCESS, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PROCESS is not None and _PROCESS.poll() is None:
        _PROCESS.terminate()
        try:
            _PROCESS.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _PROCESS.kill()


@pytest.fixture(scope="session")
def salesforce_url() -> str:
    """Plain-HTTP base URL of the Salesforce stand-in."""
    return os.environ["SANDBOX_SALESFORCE_URL"]


@pytest.fixture(scope="session")
def netsuite_url() -> str:
    """Plain-HTTP base URL of the NetSuite stand-in."""
    return os.environ["SANDBOX_NETSUITE_URL"]
