"""Issue 24: the realistic "account in use" fixture (sandbox.fixtures.account_in_use) through real `meltano run`:
report-mode decisions equal the real run's, no wrong-company adoption, every README name form adopted, the
ground truth's dead letters, and a second run writes nothing."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin
from sandbox.fixtures.account_in_use import seed_account_in_use

pytestmark = pytest.mark.e2e

SELECT = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Contact.*", "Product2.*"]'}
TYPES = {"accounts": "customer", "contacts": "contact", "products": "nonInventorySaleItem"}


def _dead_letters(project: MeltanoProject) -> dict[str, dict]:
    folder = project.tmp / "dead_letters"
    return {d["externalId"]: d for f in sorted(folder.glob("*.jsonl"))
            for line in f.read_text().splitlines() if (d := json.loads(line))}


def test_account_in_use_report_equals_run_and_nothing_wrong_is_adopted(
    salesforce: SandboxAdmin, netsuite: SandboxAdmin, meltano_project: MeltanoProject
) -> None:
    plan = seed_account_in_use(salesforce.base_url, netsuite.base_url)
    project = meltano_project
    project.env.update(SELECT)
    reports = project.tmp / "reports"
    project.run_pipeline(env={"TARGET_NETSUITE_MATCH_MODE": "report",
                              "TARGET_NETSUITE_MATCH_REPORT_PATH": str(reports)})
    (report_file,) = reports.glob("match-*.json")
    reported = {r["externalId"]: r for r in json.loads(report_file.read_text())["records"]}

    project.run_pipeline()
    letters = _dead_letters(project)
    figures: Counter[str] = Counter()
    by_id = {r["id"]: r for rtype in (*TYPES.values(), "inventoryItem") for r in netsuite.records(rtype)}
    for group, rtype in TYPES.items():
        stored = netsuite.records(rtype)
        holders = Counter(r.get("externalId") for r in stored)
        for entry in plan[group]:
            sf_id, expect = entry["id"], entry["expect"]
            twin = entry["ns_id"]
            holder = next((r for r in stored if r.get("externalId") == sf_id), None)
            planted = {ns["id"] for ns in entry["ns"]}
            if expect == "adopt":
                assert holder is not None and holder["id"] == twin, (entry["kind"], entry["sf"], holder)
                figures["true_adoptions"] += 1
                outcome = "adopt"
            elif expect == "create":
                assert holder is not None and holder["id"] not in planted, (entry["kind"], entry["sf"])
                figures["created_as_expected"] += 1
                outcome = "create"
            else:
                assert holder is None and letters[sf_id]["code"] == expect, (entry["kind"], entry["sf"])
                assert all(ns_id in letters[sf_id]["detail"] for ns_id in planted), letters[sf_id]
                figures["dead_lettered_as_expected"] += 1
                outcome = expect
            assert holders[sf_id] <= 1
            for ns in entry["ns"]:  # a planted record is never taken for another Salesforce record
                eid = by_id[ns["id"]].get("externalId")
                assert eid in (None, ns.get("externalId")) or (eid == sf_id and ns["id"] == twin), (entry, eid)
                assert by_id[ns["id"]].get("isInactive", False) == ns.get("isInactive", False)
                assert by_id[ns["id"]].get("subsidiary", {}).get("id") == ns["subsidiary"]["id"]
            # the report said what the run did, including contacts whose customer is adopted in this run
            expected_report = {"adopt": "would_adopt", "create": "would_create"}.get(outcome, outcome)
            assert reported[sf_id]["outcome"] == expected_report, (entry["kind"], reported[sf_id])
            if outcome == "adopt":
                assert reported[sf_id]["internal_ids"] == [twin]
                candidate = reported[sf_id]["candidates"][0]
                assert candidate["internal_id"] == twin and candidate["status"] == "active"
                assert reported[sf_id]["corroborated_by"] or group != "accounts"
    # NetSuite's own data on adopted customers: a value Salesforce lacks, and every labelled address, stays
    sf_fields = {"phone": "Phone", "url": "Website", "fax": "Fax"}
    for entry in plan["accounts"]:
        if entry["expect"] != "adopt":
            continue
        planted = next(ns for ns in entry["ns"] if ns["id"] == entry["ns_id"])
        now = by_id[entry["ns_id"]]
        for field, sf_field in sf_fields.items():
            if planted.get(field) and not entry["sf"].get(sf_field):
                assert now.get(field) == planted[field], (entry["kind"], field, planted[field], now.get(field))
                figures["netsuite_values_kept"] += 1
        labels = {line.get("label") for line in (now.get("addressbook") or {}).get("items", [])}
        for line in (planted.get("addressbook") or {}).get("items", []):
            if line.get("label"):
                assert line["label"] in labels, (entry["kind"], line["label"], labels)
                figures["netsuite_addresses_kept"] += 1
    print("account in use figures:", dict(figures))
    assert figures["true_adoptions"] == sum(1 for g in TYPES for e in plan[g] if e["expect"] == "adopt")

    writes_before = netsuite.get("stats")["writes"]
    before = {rtype: netsuite.records(rtype) for rtype in TYPES.values()}
    project.run_pipeline()
    writes_after = netsuite.get("stats")["writes"]
    assert (writes_after["created"], writes_after["updated"]) == (writes_before["created"], writes_before["updated"])
    assert {rtype: netsuite.records(rtype) for rtype in TYPES.values()} == before
