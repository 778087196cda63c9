"""Issue 28 item 4 through real `meltano run`: the sync status from target-netsuite's own outcomes on the Salesforce
record. The job `sync-netsuite-to-salesforce` runs the write-back (tap-netsuite-custom → netsuite-to-salesforce →
target-salesforce-custom), then `tap-netsuite-sync-status target-salesforce-custom`.

NetSuite refuses an Account (the stand-in's `reject_external_ids`): after the job the Account shows `Error` and the
refusal's code and text, and its Contact, whose customer is not in NetSuite, shows `Waiting for parent`. A person
fixes the cause and edits the Account; the next sync writes the customer and the parked contact, and after the job
both show `Synced` with the error emptied (the write-back mapping writes `NetSuite_Last_Error__c` = null, and the
write ledger does not hide it: the status write changed the ledger's entry for the record).

Both tests start from one set-up (`refused_sync`, once per file: the reset, the first sync and the first job, about
25 CPU-seconds): the first test checks that set-up's outcome before it changes anything, so it comes first; the
conflict test needs only customers whose Accounts show `Synced`, which holds after the set-up and after the first
test alike (the refused Account is no customer until it is fixed, and `Synced` after that).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin, write_back_project

pytestmark = pytest.mark.e2e

STATUS_FIELDS = ("NetSuite_Sync_Status__c", "NetSuite_Last_Error__c", "NetSuite_Id__c")


def _status(salesforce: SandboxAdmin, sobject: str, record_id: str) -> tuple:
    [record] = [r for r in salesforce.records(sobject) if r["Id"] == record_id]
    return tuple(record.get(name) for name in STATUS_FIELDS)


def _job(project: MeltanoProject) -> str:
    job = project.meltano("run", "sync-netsuite-to-salesforce")
    assert job.returncode == 0, job.stderr[-6000:]
    assert "Traceback" not in job.stderr
    return job.stderr


@dataclass
class RefusedSync:
    """The shared set-up's project, the Account NetSuite refused, its Contact, and the first job's output."""

    project: MeltanoProject
    refused: str
    contact: dict
    job_output: str


@pytest.fixture(scope="module")
def refused_sync(
    tmp_path_factory: pytest.TempPathFactory, salesforce_url: str, netsuite_url: str
) -> Iterator[RefusedSync]:
    """6 Accounts and 8 Contacts; NetSuite refuses the Account of the first Contact that has one; the first sync
    and the first job of the write-back."""
    salesforce, netsuite = SandboxAdmin(salesforce_url), SandboxAdmin(netsuite_url)
    salesforce.post("reset", {"seed": 41, "accounts": 6, "contacts": 8, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    project = write_back_project(tmp_path_factory.mktemp("sync-status"), ("Account", "Contact"))
    contact = next(c for c in sorted(salesforce.records("Contact"), key=lambda c: c["Id"]) if c.get("AccountId"))
    refused = contact["AccountId"]
    netsuite.post("knobs", {"reject_external_ids": [refused]})
    project.run_pipeline()
    yield RefusedSync(project, refused, contact, _job(project))
    netsuite.post("knobs", {"reject_external_ids": []})


def test_refused_account_shows_error_its_contact_waits_and_both_show_synced_once_fixed(
    refused_sync: RefusedSync, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project, refused, contact = refused_sync.project, refused_sync.refused, refused_sync.contact
    customers = {c["externalId"] for c in netsuite.records("customer")}
    assert refused not in customers and customers
    assert contact["Id"] not in {c.get("externalId") for c in netsuite.records("contact")}

    output = refused_sync.job_output
    assert "1 Error," in output
    status, error, netsuite_id = _status(salesforce, "Account", refused)
    assert status == "Error" and netsuite_id is None
    assert error.startswith("USER_ERROR: ") and "reject" in error, error
    status, error, netsuite_id = _status(salesforce, "Contact", contact["Id"])
    assert (status, netsuite_id) == ("Waiting for parent", None)
    assert error == f"Waiting for parent: customer {refused}", error
    synced = sorted(customers)[0]
    assert _status(salesforce, "Account", synced)[:2] == ("Synced", None)  # the write-back's own, untouched

    # The status write moved the Account's SystemModstamp: the sync reads it again, and NetSuite gets nothing
    # (the unchanged refused payload is not sent while its letter waits). Then the cause is fixed and a person
    # corrects the Account (a field the mapping sends: an unchanged refused payload is not sent again while its
    # letter waits): the sync writes the customer, and the parked contact at the end of the run.
    writes = sum(netsuite.get("stats")["writes"].values())
    project.run_pipeline()
    assert sum(netsuite.get("stats")["writes"].values()) == writes
    netsuite.post("knobs", {"reject_external_ids": []})
    salesforce.patch(f"records/Account/{refused}", {"Website": "https://fixed-by-finance.example.com"})
    project.run_pipeline()
    assert refused in {c["externalId"] for c in netsuite.records("customer")}
    assert contact["Id"] in {c.get("externalId") for c in netsuite.records("contact")}

    output = _job(project)
    assert "0 Error, 0 Waiting for parent" in output
    status, error, netsuite_id = _status(salesforce, "Account", refused)
    assert (status, error) == ("Synced", None) and netsuite_id
    status, error, netsuite_id = _status(salesforce, "Contact", contact["Id"])
    assert (status, error) == ("Synced", None) and netsuite_id


def test_conflict_shows_on_the_record_fixing_clears_it_and_the_write_back_reconciliation_repairs(
    refused_sync: RefusedSync, tmp_path: Path, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    """Item 2: a person renames a customer in NetSuite while Salesforce renames the Account too; the merge keeps
    NetSuite's name and lists the conflict (policy `report`), and the Account shows `Conflict` naming the field, never
    its values. Item 3: a person breaks two Accounts' written-back fields in Salesforce; `pipeline-ops reconcile
    --direction netsuite-to-salesforce` reads both sides through the taps (real HTTP), lists them, and `--repair`
    re-sends exactly those through the job's tasks. Then Salesforce takes NetSuite's name: the conflict is settled and
    the Account shows `Synced` again."""
    project = refused_sync.project  # its first sync and job done (and, after the first test, the refusal fixed)
    customers = {c["externalId"]: c for c in netsuite.records("customer") if c.get("externalId")}
    renamed, tampered_id, tampered_status, *_ = sorted(customers)
    assert {_status(salesforce, "Account", i)[0] for i in customers} == {"Synced"}

    netsuite.patch(f"records/customer/eid:{renamed}", {"companyName": "Renamed By Finance"})
    salesforce.patch(f"records/Account/{renamed}", {"Name": "Renamed By Sales"})
    project.run_pipeline()
    assert customers[renamed]["companyName"] != "Renamed By Sales"
    assert {c["externalId"]: c for c in netsuite.records("customer")}[renamed]["companyName"] == "Renamed By Finance"
    output = _job(project)
    assert "1 Conflict" in output
    status, error, _ = _status(salesforce, "Account", renamed)
    assert status == "Conflict" and error.startswith("Conflict: companyName changed in NetSuite and in Salesforce")
    assert "Renamed" not in error  # field names, never values

    # A person breaks written-back fields in Salesforce (the ledger cannot see it).
    salesforce.patch(f"records/Account/{tampered_id}", {"NetSuite_Id__c": "999999"})
    salesforce.patch(f"records/Account/{tampered_status}", {"NetSuite_Sync_Status__c": "Error",
                                                            "NetSuite_Last_Error__c": "typed by hand"})
    reconcile = ("invoke", "pipeline-ops", "reconcile", "--direction", "netsuite-to-salesforce",
                 "--reports-dir", str(tmp_path / "reports"))
    check = project.meltano(*reconcile)
    assert check.returncode == 3, check.stdout[-3000:] + check.stderr[-3000:]
    assert "Traceback" not in check.stderr
    report = json.loads((tmp_path / "reports" / "write-back-reconcile-latest.json").read_text())
    assert [(i["Id"], i["netsuite_id"], i["salesforce"], i["kind"]) for i in report["netsuite_id"]] == [
        (tampered_id, str(customers[tampered_id]["id"]), "999999", "differs")]
    assert sorted((i["Id"], i["field"], i["expected"]) for i in report["status"]) == [
        (tampered_status, "NetSuite_Last_Error__c", None), (tampered_status, "NetSuite_Sync_Status__c", "Synced")]
    assert report["no_record"] == []
    repair = project.meltano(*reconcile, "--repair")
    assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
    assert _status(salesforce, "Account", tampered_id)[2] == str(customers[tampered_id]["id"])
    assert _status(salesforce, "Account", tampered_status)[:2] == ("Synced", None)
    again = project.meltano(*reconcile)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

    # Salesforce takes NetSuite's name: the next sync's merge finds both sides equal and settles the conflict.
    salesforce.patch(f"records/Account/{renamed}", {"Name": "Renamed By Finance"})
    project.run_pipeline()
    _job(project)
    assert _status(salesforce, "Account", renamed)[:2] == ("Synced", None)
