"""Teams running Meltano on several hosts keep the system database (state, run history) in PostgreSQL.
This starts a real PostgreSQL server (Debian's packages) for the test and runs the pipeline against it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        pytest.fail(f"PostgreSQL server binary {name!r} not found: install Debian's `postgresql` package")
    return str(found)


def _as_server_user(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; CI runs as root, developers usually do not."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    # Not under pytest's tmp_path: that tree is private to the user running pytest, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="sfns-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        _as_server_user([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_server_user(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(base / "pg.log"),
                "-o",
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            _as_server_user([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "meltano"]),
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/meltano"
    finally:
        subprocess.run(_as_server_user([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_pipeline_state_in_postgres(
    meltano_project: MeltanoProject, postgres_uri: str, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 5, "accounts": 20, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.env.update({"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]', "MELTANO_DATABASE_URI": postgres_uri})

    project.run_pipeline()
    state = project.state()
    assert state["singer_state"]["bookmarks"]["Account"]["replication_key"] == "SystemModstamp"
    rows = subprocess.run(
        _as_server_user(["psql", postgres_uri.replace("+psycopg", ""), "-tAc", "select count(*) from runs"]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(rows.stdout.strip()) >= 1

    project.run_pipeline()
    assert len(netsuite.records("customer")) == 20
