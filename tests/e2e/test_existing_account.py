"""Issue 11: a NetSuite account already in use. Records people entered without external ids are adopted (never
duplicated), ambiguous ones are dead letters naming their candidates, `match_mode: report` only reads, and
create-only fields keep finance's edits. All through real `meltano run` against the sandboxes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from e2e_harness import MELTANO, PIPELINE, ROOT, MeltanoProject, SandboxAdmin
from sandbox.netsuite.existing import seed_existing
from target_netsuite.matching import normalise_company, normalise_email, normalise_text

pytestmark = pytest.mark.e2e

VOLUMES = {"seed": 11, "accounts": 90, "contacts": 60, "products": 40, "opportunities": 0}
SELECT = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Contact.*", "Product2.*"]'}
TYPES = ("customer", "contact", "nonInventorySaleItem")
KEY = {"customer": ("companyName", normalise_company), "contact": ("email", normalise_email),
       "nonInventorySaleItem": ("itemId", normalise_text)}


@pytest.fixture
def existing(salesforce: SandboxAdmin, netsuite: SandboxAdmin, meltano_project: MeltanoProject) -> list[dict]:
    """Salesforce with accounts, contacts, products; NetSuite with about 140 of them already entered by hand."""
    salesforce.post("reset", VOLUMES)
    netsuite.post("reset", {"knobs": True})
    plan = seed_existing(netsuite.base_url, salesforce.base_url)
    assert 110 <= len(plan) <= 260
    meltano_project.env.update(SELECT)
    return plan


def _records(netsuite: SandboxAdmin) -> dict[str, list[dict]]:
    return {rtype: netsuite.records(rtype) for rtype in TYPES}


def _dead_letters(project: MeltanoProject) -> list[dict]:
    folder = project.tmp / "dead_letters"
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def _assert_adopted_without_duplicates(plan: list[dict], netsuite: SandboxAdmin, project: MeltanoProject) -> None:
    records = _records(netsuite)
    by_id = {(rtype, r["id"]): r for rtype, rs in records.items() for r in rs}
    letters = {(d["record_type"], d["externalId"]): d for d in _dead_letters(project)}
    for entry in plan:
        rtype, sf_id = entry["type"], entry["for"]
        stored = by_id[(rtype, entry["id"])]  # never deleted
        if entry["kind"] in ("exact", "near", "phone"):
            assert stored.get("externalId") == sf_id, entry
        elif entry["kind"] == "ambiguous":
            assert "externalId" not in stored, entry
            letter = letters[(rtype, sf_id)]
            assert letter["code"] == "AMBIGUOUS_MATCH"
            others = [e["id"] for e in plan if e["for"] == sf_id and e["type"] == rtype]
            assert all(record_id in letter["detail"] for record_id in others), letter
            assert not any(r.get("externalId") == sf_id for r in records[rtype])
        else:
            assert "externalId" not in stored
    # No duplicate of any pre-existing record: each planted key is held by exactly as many records as were planted.
    # (A customer adopted by its phone takes the Salesforce name, so it is checked by id above only.)
    planted = Counter(
        (e["type"], KEY[e["type"]][1](e["body"][KEY[e["type"]][0]])) for e in plan if e["kind"] != "phone")
    for rtype, rs in records.items():
        field, norm = KEY[rtype]
        keys = Counter(norm(r[field]) for r in rs if r.get(field))
        dupes = {k: (keys[k], n) for (t, k), n in planted.items() if t == rtype and keys[k] != n}
        assert not dupes, (rtype, dupes)


def test_first_run_adopts_existing_records_and_second_run_changes_nothing(
    existing: list[dict], meltano_project: MeltanoProject, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    project.run_pipeline()
    _assert_adopted_without_duplicates(existing, netsuite, project)
    adopted = sum(1 for e in existing if e["kind"] in ("exact", "near", "phone"))
    assert sum(1 for rs in _records(netsuite).values() for r in rs if r.get("externalId")) > adopted

    before = _records(netsuite)
    writes_before = netsuite.get("stats")["writes"]
    letters_before = len(_dead_letters(project))
    project.run_pipeline()
    after = _records(netsuite)
    strip = lambda rs: {r["id"]: {k: v for k, v in r.items() if k != "lastModifiedDate"} for r in rs}  # noqa: E731
    assert {t: strip(rs) for t, rs in after.items()} == {t: strip(rs) for t, rs in before.items()}
    writes_after = netsuite.get("stats")["writes"]
    assert writes_after["created"] == writes_before["created"]
    assert writes_after["updated"] == writes_before["updated"]
    assert len(_dead_letters(project)) == letters_before  # nothing re-read, nothing new refused
    _assert_adopted_without_duplicates(existing, netsuite, project)


def test_report_mode_only_reads_and_lists_what_would_happen(
    existing: list[dict], meltano_project: MeltanoProject, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    reports = project.tmp / "reports"
    before = _records(netsuite)
    log_start = len(netsuite.get("requests"))
    project.run_pipeline(
        env={"TARGET_NETSUITE_MATCH_MODE": "report", "TARGET_NETSUITE_MATCH_REPORT_PATH": str(reports)})
    assert _records(netsuite) == before
    methods = Counter(entry["method"] for entry in netsuite.get("requests")[log_start:])
    assert set(methods) <= {"POST", "GET"}, methods  # SuiteQL, and reads of the candidates (issue 24)
    assert all("/query/v1/suiteql" in entry["path"] for entry in netsuite.get("requests")[log_start:]
               if entry["method"] == "POST")
    assert project.state() is None  # nothing written, so no progress claimed
    (report_file,) = reports.glob("match-*.json")
    listed = {(r["record_type"], r["externalId"]): r for r in json.loads(report_file.read_text())["records"]}
    for entry in existing:
        if entry["for"] is None:
            continue
        outcome = listed[(entry["type"], entry["for"])]["outcome"]
        expected = {"exact": "would_adopt", "near": "would_adopt", "phone": "would_adopt",
                    "ambiguous": "AMBIGUOUS_MATCH"}[entry["kind"]]
        assert outcome == expected, (entry, outcome)
        if expected == "would_adopt":
            assert listed[(entry["type"], entry["for"])]["internal_ids"] == [entry["id"]]
    assert any(r["outcome"] == "would_create" for r in listed.values())


def _start_run(project: MeltanoProject) -> subprocess.Popen[str]:
    # --force: a SIGKILLed run leaves its job marked running, which would refuse the next run for 5 minutes.
    return subprocess.Popen([str(MELTANO), "run", "--force", *PIPELINE], cwd=ROOT, env=project.base_env(), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_killed_first_runs_never_duplicate(
    existing: list[dict], meltano_project: MeltanoProject, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    netsuite.post("knobs", {"write_latency_ms": 30})  # writes take time, so kills land between them
    rng = random.Random(11)
    killed_mid_run = 0
    for _ in range(3):
        run = _start_run(project)
        deadline = time.monotonic() + 120
        threshold = netsuite.get("stats")["requests"] + rng.randint(3, 40)
        while time.monotonic() < deadline and run.poll() is None:
            if netsuite.get("stats")["requests"] >= threshold:
                break
            time.sleep(0.05)
        if run.poll() is None:
            killed_mid_run += 1
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    assert killed_mid_run >= 2
    netsuite.post("knobs", {"write_latency_ms": None})
    project.run_pipeline("--force")
    _assert_adopted_without_duplicates(existing, netsuite, project)


def test_create_only_field_keeps_finance_edit(
    salesforce: SandboxAdmin, netsuite: SandboxAdmin, meltano_project: MeltanoProject, tmp_path: Path
) -> None:
    salesforce.post("reset", {**VOLUMES, "accounts": 5, "contacts": 0, "products": 0})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.env.update({"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'})
    project.run_pipeline()
    account = salesforce.records("Account")[0]
    customer = netsuite.get(f"records/customer/eid:{account['Id']}")
    # The mapping sends accountNumber; customer.accountNumber and creditLimit are create-only in meltano.yml.
    netsuite.patch(f"records/customer/{customer['id']}", {"accountNumber": "FIN-EDIT-1", "creditLimit": 5000})
    salesforce.patch(f"records/Account/{account['Id']}", {"Name": "Renamed by sales", "AccountNumber": "SF-CHANGE"})
    project.run_pipeline()
    after = netsuite.get(f"records/customer/eid:{account['Id']}")
    assert after["companyName"] == "Renamed by sales"
    assert after["accountNumber"] == "FIN-EDIT-1"
    assert after["creditLimit"] == 5000
    # A record created now still gets the create-only field.
    new_id = salesforce.post("records/Account", {"Name": "Brand new", "AccountNumber": "NEW-1"})["id"]
    project.run_pipeline()
    assert netsuite.get(f"records/customer/eid:{new_id}")["accountNumber"] == "NEW-1"


def test_new_account_named_like_a_synced_one_is_created_with_its_contact(
    salesforce: SandboxAdmin, netsuite: SandboxAdmin, meltano_project: MeltanoProject
) -> None:
    """Issue 24 (steady state): a branch or franchise with the name and phone of an Account already synced was a
    MATCH_CONFLICT on every run and its contact waited in parking until it expired. It is another record: created."""
    salesforce.post("reset", {**VOLUMES, "accounts": 6, "contacts": 0, "products": 0})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.env.update({"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Contact.*"]'})
    project.run_pipeline()
    synced = next(a for a in salesforce.records("Account") if a.get("Phone"))
    assert netsuite.get(f"records/customer/eid:{synced['Id']}")["companyName"] == synced["Name"]
    branch = salesforce.post("records/Account", {
        "Name": synced["Name"], "Phone": synced["Phone"], "Website": synced.get("Website"),
        "BillingCity": synced.get("BillingCity"), "BillingPostalCode": synced.get("BillingPostalCode"),
        "BillingCountry": synced.get("BillingCountry")})["id"]
    person = salesforce.post("records/Contact", {"LastName": "Branchmanager", "FirstName": "Bea",
                                                 "Email": "bea.branch@branch.example", "AccountId": branch})["id"]
    project.run_pipeline()
    created = netsuite.get(f"records/customer/eid:{branch}")
    assert created["companyName"] == synced["Name"]
    assert created["id"] != netsuite.get(f"records/customer/eid:{synced['Id']}")["id"]
    contact = netsuite.get(f"records/contact/eid:{person}")
    assert contact["company"]["id"] == created["id"]
    assert not [d for d in _dead_letters(project) if d["externalId"] in (branch, person)]
