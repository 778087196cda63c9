"""Issue 25 item 5 through real `meltano run`: an order NetSuite has billed (in part) is not rewritten when its
opportunity changes, and the conflict is listed by `pipeline-ops dead-letters` (ORDER_LOCKED, counted `conflict`);
an opportunity no longer won closes its untouched order's lines and is reported when its order is billed."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from e2e_harness import ROOT, MeltanoProject, SandboxAdmin, run_summaries
from sandbox.client import NetSuiteClient

pytestmark = pytest.mark.e2e


def _letters(project: MeltanoProject) -> list[dict]:
    folder = project.tmp / "dead_letters"
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_billed_order_is_not_rewritten_and_unwin_closes_or_reports(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 25, "accounts": 6, "contacts": 0, "products": 5, "opportunities": 16})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.run_pipeline()
    admin = NetSuiteClient(os.environ["SANDBOX_NETSUITE_URL"])
    lines = [x for x in salesforce.records("OpportunityLineItem") if not x.get("IsDeleted")]
    orders = {o["externalId"]: o for o in netsuite.records("salesOrder")}
    with_lines = sorted({x["OpportunityId"] for x in lines} & set(orders))
    assert len(with_lines) >= 3, with_lines
    billed, untouched, billed_unwon = with_lines[:3]

    admin.order_transition(f"eid:{billed}", "bill", {"1": 1})          # part billed: status not B any more
    admin.order_transition(f"eid:{billed_unwon}", "fulfil")
    admin.order_transition(f"eid:{billed_unwon}", "bill")
    changed = next(x for x in lines if x["OpportunityId"] == billed)
    salesforce.patch(f"records/OpportunityLineItem/{changed['Id']}", {"Quantity": 77})
    for lost in (untouched, billed_unwon):
        salesforce.patch(f"records/Opportunity/{lost}", {"StageName": "Closed Lost"})

    result = project.run_pipeline()
    locked = netsuite.get(f"records/salesOrder/eid:{billed}")
    assert 77 not in [line.get("quantity") for line in locked["item"]["items"]]
    closed = netsuite.get(f"records/salesOrder/eid:{untouched}")
    assert closed["status"] == "H" and all(line["isClosed"] for line in closed["item"]["items"])
    kept = netsuite.get(f"records/salesOrder/eid:{billed_unwon}")
    assert kept["status"] == "G" and not any(line.get("isClosed") for line in kept["item"]["items"])

    codes = {(d["externalId"], d["code"]) for d in _letters(project)}
    assert (billed, "ORDER_LOCKED") in codes and (billed_unwon, "ORDER_LOCKED") in codes
    assert untouched not in {eid for eid, _ in codes}
    [summary] = run_summaries(result.stderr + result.stdout)[-1:]
    assert "conflict" in json.dumps(summary) and "closed" in json.dumps(summary)

    listing = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pipeline-ops"), "dead-letters", "--path", str(project.tmp / "dead_letters")],
        cwd=ROOT, text=True, capture_output=True, timeout=120, check=True,
    )
    assert "ORDER_LOCKED" in listing.stdout and billed in listing.stdout
