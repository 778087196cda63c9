"""Issue 15: `write_mode: auto` through real `meltano run` (the setting as Meltano passes it): Accounts, Contacts,
Products and Opportunities reach NetSuite through both pools, parents before children, state saved, a rerun
changes nothing."""

from __future__ import annotations

import json

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin
from sandbox.client import NetSuiteClient

pytestmark = pytest.mark.e2e


@pytest.fixture
def org(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> None:
    salesforce.post("reset", {"seed": 15, "accounts": 80, "contacts": 120, "products": 10, "opportunities": 150})
    netsuite.post("reset", {"knobs": True})
    netsuite.post("knobs", {"async_processors": 2, "async_latency_ms": 5, "write_latency_ms": 5})
    yield
    netsuite.post("reset", {"knobs": True})


@pytest.mark.usefixtures("org")
def test_auto_write_mode_pipeline(meltano_project: MeltanoProject, salesforce: SandboxAdmin,
                                  netsuite: SandboxAdmin, netsuite_url: str) -> None:
    project = meltano_project
    project.env["TARGET_NETSUITE_WRITE_MODE"] = "auto"
    project.run_pipeline()

    accounts = {a["Id"] for a in salesforce.records("Account") if not a.get("IsDeleted")}
    contacts = {c["Id"]: c for c in salesforce.records("Contact") if not c.get("IsDeleted")}
    customers = {r["externalId"]: r for r in netsuite.records("customer")}
    written_contacts = {r["externalId"]: r for r in netsuite.records("contact")}
    assert set(customers) == accounts
    assert set(written_contacts) == set(contacts)
    for eid, contact in written_contacts.items():  # parents' internal ids, whichever pool wrote them
        account = contacts[eid].get("AccountId")
        if account:
            assert contact["company"]["id"] == customers[account]["id"]
    jobs = NetSuiteClient(netsuite_url, timeout=30).jobs()
    assert {job["record_type"] for job in jobs} >= {"customer", "contact"}
    assert project.state() is not None
    # the only dead letters: won opportunities without line items, which NetSuite refuses as orders in every mode
    with_lines = {r["OpportunityId"] for r in salesforce.records("OpportunityLineItem") if not r.get("IsDeleted")}
    letters = [json.loads(line) for f in (project.tmp / "dead_letters").glob("*.jsonl")
               for line in f.read_text().splitlines()]
    assert all(letter["record_type"] == "salesOrder" and "line item" in letter["detail"]
               and letter["externalId"] not in with_lines for letter in letters)

    before = netsuite.get("stats")["writes"]
    project.run_pipeline()  # nothing new: no record created, none changed
    after = netsuite.get("stats")["writes"]
    assert (after["created"], after["updated"]) == (before["created"], before["updated"])
    assert sorted(customers) == sorted(r["externalId"] for r in netsuite.records("customer"))
