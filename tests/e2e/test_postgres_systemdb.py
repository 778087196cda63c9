"""Teams running Meltano on several hosts keep the system database (state, run history) in PostgreSQL.
This runs the pipeline against a real PostgreSQL server (tests/postgres_server.py)."""

from __future__ import annotations

import subprocess

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin
from postgres_server import as_server_user

pytestmark = pytest.mark.e2e


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
        as_server_user(["psql", postgres_uri.replace("+psycopg", ""), "-tAc", "select count(*) from runs"]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(rows.stdout.strip()) >= 1

    project.run_pipeline()
    assert len(netsuite.records("customer")) == 20
