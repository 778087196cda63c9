"""Issue 11, part 3: `pipeline-ops reconcile` compares both systems through real `meltano run`s and finds exactly
what differs (hard-deleted Accounts, customers deleted by hand in NetSuite, formula values that changed without
moving SystemModstamp, a dead-lettered record); `--repair` fixes all of it through mapper and target and a second
reconciliation finds nothing.

The shipped mapping maps no formula field (a real org's formula fields are its own), so the test runs in a copy of
the project whose meltano.yml maps the sandbox's `Account.OwnerName__c` formula and marks it as checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from e2e_harness import PIPELINE, ROOT, MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e

CHECKED = "custentity_sf_owner_name"


class ProjectCopy(MeltanoProject):
    """The repository's project with its own meltano.yml (plugins, venvs and code shared through symlinks)."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp=tmp, root=tmp / "project")
        self.root.mkdir()
        for entry in ROOT.iterdir():
            if entry.name not in ("meltano.yml", "reports", "dead_letters", "app.log", ".git", "output"):
                (self.root / entry.name).symlink_to(entry)
        project = yaml.safe_load((ROOT / "meltano.yml").read_text())
        mapping = project["plugins"]["mappers"][0]["mappings"][0]["config"]
        mapping["payloads"]["customer"][CHECKED] = "OwnerName__c"
        reconciling = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-netsuite--reconcile")
        reconciling["config"]["reconcile_fields"] = {"customer": [CHECKED]}
        (self.root / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False, allow_unicode=True))

    def reconcile(self, *extra: str) -> tuple[int, dict, str]:
        result = self.meltano("invoke", "pipeline-ops", "reconcile", *extra)
        latest = self.root / "reports" / "reconcile-latest.json"
        return result.returncode, json.loads(latest.read_text()), result.stdout + result.stderr


def _differences(report: dict) -> dict[str, set[str]]:
    found = report["record_types"]["customer"]
    return {kind: {item["externalId"] for item in found[kind]} for kind in ("missing", "orphaned", "stale")}


def test_reconcile_finds_exactly_what_differs_and_repair_fixes_it(
    tmp_path: Path, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 5, "accounts": 30, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    project = ProjectCopy(tmp_path)
    project.env.update({"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'})
    accounts = sorted(a["Id"] for a in salesforce.records("Account"))
    purged, by_hand, formula, refused = accounts[:3], accounts[3:5], accounts[5:9], accounts[9]
    owner = salesforce.post("records/User", {
        "Username": "finance.owner@example.com", "LastName": "Owner", "FirstName": "Fiona",
        "Email": "finance.owner@example.com", "Alias": "fowner", "IsActive": True,
        "TimeZoneSidKey": "Europe/London", "LanguageLocaleKey": "en_US"})["id"]
    for account_id in formula:
        salesforce.patch(f"records/Account/{account_id}", {"OwnerId": owner})
    netsuite.post("knobs", {"reject_external_ids": [refused]})

    result = project.meltano("run", *PIPELINE)
    assert result.returncode == 0, result.stderr[-4000:]
    customers = {c["externalId"]: c for c in netsuite.records("customer")}
    assert set(customers) == set(accounts) - {refused}
    assert customers[formula[0]][CHECKED] == "Fiona Owner"

    netsuite.post("knobs", {"reject_external_ids": []})  # the cause of the dead letter is fixed
    for account_id in purged:
        salesforce.post(f"records/Account/{account_id}/purge")
    for account_id in by_hand:
        netsuite.delete(f"records/customer/{customers[account_id]['id']}")
    salesforce.patch(f"records/User/{owner}", {"LastName": "Renamed"})  # no Account's SystemModstamp moves
    # Issue 24: another integration's customers, ids that look like Salesforce Ids but not of an Account: never
    # orphans, never inactivated by the repair.
    foreign = ["a0B5g00000AbCdE", "0035g00000XyZ12AAA", "006Hx00000Qq7Rs"]
    netsuite.post("records/customer", {"records": [
        {"companyName": f"Other integration {eid}", "externalId": eid, "subsidiary": {"id": "1"}} for eid in foreign]})
    sync_state = project.state()

    code, report, output = project.reconcile()
    assert code == 3, output[-4000:]
    assert _differences(report) == {"missing": {*by_hand, refused}, "orphaned": set(purged), "stale": set(formula)}
    reasons = {m["externalId"]: m["reason"] for m in report["record_types"]["customer"]["missing"]}
    assert reasons[refused].startswith("dead-lettered USER_ERROR")
    assert all("deleted there" in reasons[a] for a in by_hand)
    stale = report["record_types"]["customer"]["stale"]
    assert {(s["netsuite"], s["salesforce"]) for s in stale} == {("Fiona Owner", "Fiona Renamed")}
    assert "missing" in output and "orphaned" in output
    assert project.state() == sync_state  # the sync's state is untouched

    code, _report, output = project.reconcile("--repair")
    assert code == 0, output[-4000:]
    customers = {c["externalId"]: c for c in netsuite.records("customer")}
    assert set(by_hand) | {refused} <= set(customers)
    assert all(customers[a][CHECKED] == "Fiona Renamed" for a in formula)
    assert all(customers[a]["isInactive"] is True for a in purged)  # the mapping's delete action: inactivate
    assert len(netsuite.records("customer")) == len(accounts) + len(foreign)
    assert all(customers[eid].get("isInactive") is not True for eid in foreign)

    code, report, output = project.reconcile()
    assert code == 0, output[-4000:]
    assert _differences(report) == {"missing": set(), "orphaned": set(), "stale": set()}
    assert "agree" in output
    assert project.state() == sync_state
