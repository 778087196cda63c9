"""Issue 15, part 2, through real `meltano run`s: a `--full-refresh` of unchanged Accounts writes nothing to
NetSuite (the write ledger), `pipeline-ops report` counts them `unchanged`, a customer deleted by hand in NetSuite
stays missing (the ledger cannot see NetSuite) until `pipeline-ops reconcile --repair` writes it again, and a
changed Account is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from e2e_harness import PIPELINE, ROOT, SandboxAdmin
from test_reconcile import ProjectCopy

pytestmark = pytest.mark.e2e

ACCOUNTS = 15


def _netsuite_writes(netsuite: SandboxAdmin) -> int:
    return sum(1 for r in netsuite.get("requests") if r["method"] in ("PUT", "DELETE", "PATCH")
               and "/record/v1/" in r["path"])


def test_full_refresh_of_unchanged_records_writes_nothing_until_reconcile_finds_a_difference(
    tmp_path: Path, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 9, "accounts": ACCOUNTS, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    project = ProjectCopy(tmp_path)
    project.env.update({"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'})
    logging = yaml.safe_load((ROOT / "logging.yaml").read_text())
    log = tmp_path / "app.log"
    logging["handlers"]["file"]["filename"] = str(log)
    (tmp_path / "logging.yaml").write_text(yaml.safe_dump(logging))
    flag = f"--log-config={tmp_path / 'logging.yaml'}"

    first = project.meltano(flag, "run", *PIPELINE)
    assert first.returncode == 0, first.stderr[-4000:]
    customers = {c["externalId"]: c for c in netsuite.records("customer")}
    assert len(customers) == ACCOUNTS
    written = _netsuite_writes(netsuite)
    assert written == ACCOUNTS

    by_hand = sorted(customers)[:2]
    for eid in by_hand:
        netsuite.delete(f"records/customer/{customers[eid]['id']}")
    replay = project.meltano(flag, "run", "--full-refresh", *PIPELINE)
    assert replay.returncode == 0, replay.stderr[-4000:]
    assert _netsuite_writes(netsuite) == written  # NetSuite already has every payload: nothing sent
    assert {c["externalId"] for c in netsuite.records("customer")} == set(customers) - set(by_hand)

    reports = tmp_path / "reports"
    result = project.meltano(flag, "invoke", "pipeline-ops", "--log", str(log), "report", "--reports-dir",
                             str(reports))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "unchanged" in result.stdout
    latest = max((json.loads(p.read_text()) for p in reports.glob("*-*.json")), key=lambda r: r["started"])
    assert latest["loaded"]["customer"]["unchanged"] == ACCOUNTS
    assert latest["loaded"]["customer"]["written"] == 0

    code, report, output = project.reconcile("--repair")
    assert code == 0, output[-4000:]
    assert {m["externalId"] for m in report["record_types"]["customer"]["missing"]} == set(by_hand)
    assert {c["externalId"] for c in netsuite.records("customer")} == set(customers)
    after_repair = _netsuite_writes(netsuite)
    assert after_repair == written + len(by_hand)  # exactly the two missing records, nothing else

    changed = sorted(customers)[5]
    salesforce.patch(f"records/Account/{changed}", {"Phone": "+1 512 555 0199"})
    again = project.meltano(flag, "run", "--full-refresh", *PIPELINE)
    assert again.returncode == 0, again.stderr[-4000:]
    assert _netsuite_writes(netsuite) == after_repair + 1  # the changed Account only
