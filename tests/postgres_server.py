"""A real PostgreSQL server for the tests (Debian's `postgresql` packages; `.ci/run` installs them when missing):
one server per test session, a fresh database per test (`postgres_uri`), so tests never see each other's rows.
`running_server` serves the benchmarks too (bench/store_cost.py).

Teams running on several hosts keep Meltano's system database and the target's store in PostgreSQL; the tests that
exercise that (tests/e2e/test_postgres_systemdb.py, tests/e2e/test_several_hosts.py, tests/kit/test_store.py) use
these fixtures, registered for every test by tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        pytest.fail(f"PostgreSQL server binary {name!r} not found: install Debian's `postgresql` package")
    return str(found)


def as_server_user(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; CI runs as root, developers usually do not."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def running_server() -> Iterator[tuple[str, int]]:
    """(host, port) of a PostgreSQL server started for the block (trust auth, user `postgres`), then stopped."""
    # Not under pytest's tmp_path: that tree is private to the user running pytest, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="sfns-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(as_server_user([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    subprocess.run(
        as_server_user([_pg_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(base / "pg.log"),
                        "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"]),
        check=True, capture_output=True,
    )
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(as_server_user([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def new_database(host: str, port: int) -> str:
    """A fresh, empty database on the server, as a SQLAlchemy URI (psycopg 3)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    subprocess.run(as_server_user([_pg_bin("createdb"), "-h", host, "-p", str(port), "-U", "postgres", name]),
                   check=True, capture_output=True)
    return f"postgresql+psycopg://postgres@{host}:{port}/{name}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[str, int]]:
    """(host, port) of a PostgreSQL server started for the session."""
    with running_server() as server:
        yield server


@pytest.fixture
def postgres_uri(postgres_server: tuple[str, int]) -> str:
    """A fresh, empty database on the session's server."""
    return new_database(*postgres_server)
