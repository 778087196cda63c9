"""tap-netsuite-custom through real `meltano run tap-netsuite-custom target-jsonl` against the NetSuite stand-in.

A full read lands every record and Meltano saves the tap's bookmarks; a rerun with nothing changed sends nothing
new (only the records of the bookmark's second again: `>=` at second precision) and leaves the state as it was;
a change made in NetSuite between runs arrives with the next run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from e2e_harness import MeltanoProject
from sandbox.client import NetSuiteClient

pytestmark = pytest.mark.e2e

STATE_ID = "dev:tap-netsuite-custom-to-target-jsonl"
SERVICE_ITEM = "499"


def _run(project: MeltanoProject, out: Path) -> dict[str, list[dict]]:
    out.mkdir()
    result = project.meltano("run", "tap-netsuite-custom", "target-jsonl",
                             env={"TARGET_JSONL_DESTINATION_PATH": str(out)})
    assert result.returncode == 0, result.stderr[-6000:]
    return {path.stem: [json.loads(line) for line in path.read_text().splitlines()] for path in out.glob("*.jsonl")}


def test_meltano_run_reads_incrementally_and_a_rerun_sends_nothing_new(tmp_path: Path) -> None:
    admin = NetSuiteClient(os.environ["SANDBOX_NETSUITE_URL"])
    admin.reset()
    customers = admin.create_records("customer", [
        {"companyName": f"E2E Customer {i}", "subsidiary": {"id": "1"}, "custentity_segment": "smb"}
        for i in range(4)])
    orders = admin.create_records("salesOrder", [
        {"entity": {"id": customers[0]}, "subsidiary": {"id": "1"}, "currency": {"id": "1"},
         "item": {"items": [{"item": {"id": SERVICE_ITEM}, "quantity": 1, "rate": 75.0}]}}])
    project = MeltanoProject(tmp_path, env={
        "TAP_NETSUITE_CUSTOM_BASE_URL": os.environ["SANDBOX_NETSUITE_URL"],
        "TAP_NETSUITE_CUSTOM_LOOKBACK_SECONDS": "0",
        "TAP_NETSUITE_CUSTOM_STREAMS": json.dumps(["customer", "contact", "salesOrder"]),
    })
    try:
        first = _run(project, tmp_path / "run1")
        assert sorted(r["id"] for r in first["customer"]) == sorted(customers)
        assert [r["id"] for r in first["salesOrder"]] == orders
        assert {r["custentity_segment"] for r in first["customer"]} == {"smb"}  # a discovered custom field
        state = project.state(STATE_ID)
        assert state is not None
        bookmarks = state["singer_state"]["bookmarks"]
        assert bookmarks["customer"]["replication_key_value"] == max(r["lastModifiedDate"] for r in first["customer"])

        second = _run(project, tmp_path / "run2")
        sent_before = {(r["id"], r["lastModifiedDate"]) for rows in first.values() for r in rows}
        assert all((r["id"], r["lastModifiedDate"]) in sent_before for rows in second.values() for r in rows)
        assert project.state(STATE_ID) == state

        admin.edit_record("customer", customers[2], {"phone": "555-0199"})
        third = _run(project, tmp_path / "run3")
        assert {r["id"]: r for r in third["customer"]}[customers[2]]["phone"] == "555-0199"
    finally:
        admin.reset()
