"""A pytest plugin that starts both stand-ins once per test session and hands tests typed admin clients.

Use it from a conftest (`from sandbox.pytest_plugin import *`, or `pytest -p sandbox.pytest_plugin`). The
sandbox process starts in `pytest_configure`, before collection, because the Singer SDK's standard test
classes run discovery at collection time; its URLs are exported as environment variables that every test
and every subprocess (e.g. `meltano run`) reads:

- `SANDBOX_SALESFORCE_URL`, `SANDBOX_NETSUITE_URL`: plain-HTTP base URLs;
- `SANDBOX_SALESFORCE_TLS_URL`, `SANDBOX_NETSUITE_TLS_URL`, `SANDBOX_CA_BUNDLE`: the HTTPS side and its CA;
- `SANDBOX_DATA_DIR`: the session's data directory (the process log is `sandbox.log` there).

Under pytest-xdist (`-n 2`) every worker starts its own sandbox (the controller starts none), so tests in
different workers never see each other's records or knobs; within a worker tests run one after another, as in a
plain session.

If `SANDBOX_SALESFORCE_URL` is already set, that running sandbox is used instead (handy when debugging; with one
worker only, `-n 0`, since tests reset it).
Fixtures: `salesforce_url`, `netsuite_url` (session URLs), `salesforce_admin`, `netsuite_admin` (clients).
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sandbox.client import NetSuiteClient, SalesforceClient

__all__ = ["netsuite_admin", "netsuite_url", "pytest_configure", "pytest_unconfigure", "salesforce_admin",
           "salesforce_url"]

_PROCESS: subprocess.Popen[bytes] | None = None


def free_port_block() -> int:
    """A port P such that P and P+10 are both free (plain HTTP and HTTPS sides)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


def start_sandbox(data_dir: Path, sf_port: int, ns_port: int) -> subprocess.Popen[bytes]:
    """`sandbox serve --tls` on the given ports, logging to `data_dir/sandbox.log`; returns once both answer."""
    log = data_dir / "sandbox.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--data-dir", str(data_dir), "--tls",
         "--salesforce-port", str(sf_port), "--netsuite-port", str(ns_port), "--log-level", "warning"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    for client in (SalesforceClient(f"http://127.0.0.1:{sf_port}"), NetSuiteClient(f"http://127.0.0.1:{ns_port}")):
        try:
            _wait(client, process, log)
        except BaseException:
            process.kill()
            raise
    if process.poll() is not None:  # what answered is another process on a port this one could not bind
        raise RuntimeError(f"sandbox exited early ({process.returncode}):\n{log.read_text()[-4000:]}")
    return process


def _wait(client: SalesforceClient | NetSuiteClient, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not client.health():
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited early ({process.returncode}):\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"sandbox at {client.base_url} not healthy after 60s:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


def _xdist_controller(config: pytest.Config) -> bool:
    """True in the controller of an xdist session: it runs no test, its workers start their own sandboxes."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return False
    return bool(config.getoption("numprocesses", None))


def start_sandbox_on_free_ports(data_dir: Path, attempts: int = 3) -> tuple[subprocess.Popen[bytes], int, int]:
    """Pick free port blocks and start the sandbox there, retrying on fresh ports if it cannot bind them.

    A machine-wide lock is held from picking the ports until the sandbox listens on them, so parallel workers
    (and other sessions using this plugin) never pick the same free port.
    """
    lock_path = Path(tempfile.gettempdir()) / "sfns-sandbox-ports.lock"
    for attempt in range(attempts):
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sf_port, ns_port = free_port_block(), free_port_block()
            if abs(sf_port - ns_port) in (0, 10):
                continue
            try:
                return start_sandbox(data_dir, sf_port, ns_port), sf_port, ns_port
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
    raise RuntimeError("no free port blocks for the sandbox")


def cache_bytecode_for_subprocesses() -> None:
    """Let this session's Python processes (workers, sandbox, every `meltano` and plugin) keep compiled bytecode.

    With `PYTHONDONTWRITEBYTECODE` set (as on the project's machines) and venvs installed without `.pyc` files,
    every `meltano run` compiles Meltano, the Singer SDK and their dependencies from source again: seconds of CPU
    per process. The bytecode goes to one cache folder beside the running venv (`PYTHONPYCACHEPREFIX`), never
    into the source tree; Python checks each file's source timestamp, so an edited module is compiled anew.
    """
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        del os.environ["PYTHONDONTWRITEBYTECODE"]
        os.environ["PYTHONPYCACHEPREFIX"] = str(Path(sys.prefix) / "pycache")


def pytest_configure(config: pytest.Config) -> None:
    global _PROCESS
    cache_bytecode_for_subprocesses()
    if os.environ.get("SANDBOX_SALESFORCE_URL") or _xdist_controller(config):
        return
    data_dir = Path(tempfile.mkdtemp(prefix="sfns-sandbox-"))
    _PROCESS, sf_port, ns_port = start_sandbox_on_free_ports(data_dir)
    os.environ["SANDBOX_DATA_DIR"] = str(data_dir)
    os.environ["SANDBOX_SALESFORCE_URL"] = f"http://127.0.0.1:{sf_port}"
    os.environ["SANDBOX_NETSUITE_URL"] = f"http://127.0.0.1:{ns_port}"
    os.environ["SANDBOX_SALESFORCE_TLS_URL"] = f"https://localhost:{sf_port + 10}"
    os.environ["SANDBOX_NETSUITE_TLS_URL"] = f"https://localhost:{ns_port + 10}"
    os.environ["SANDBOX_CA_BUNDLE"] = str(data_dir / "tls" / "ca.pem")


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


@pytest.fixture(scope="session")
def salesforce_admin(salesforce_url: str) -> SalesforceClient:
    """Admin client of the session's Salesforce stand-in (tests that change knobs put them back)."""
    return SalesforceClient(salesforce_url)


@pytest.fixture(scope="session")
def netsuite_admin(netsuite_url: str) -> NetSuiteClient:
    """Admin client of the session's NetSuite stand-in (tests that change knobs put them back)."""
    return NetSuiteClient(netsuite_url)
