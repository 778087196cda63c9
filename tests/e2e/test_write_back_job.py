"""Issue 28 items 3, 5 and 6 through real `meltano run`: the job `sync-netsuite-to-salesforce`
(tap-netsuite-custom → mapping netsuite-to-salesforce → target-salesforce-custom), and no ping-pong.

The Salesforce → NetSuite sync creates the customers, contacts and sales orders (externalId = the Salesforce Id);
a person creates a customer in NetSuite by hand and bills an order. The write-back job then puts the NetSuite id,
link, sync status and last sync time on each Account, Contact and Opportunity, and the order's number, status and
total on the Opportunity; the hand-made customer reaches no Salesforce record.

No ping-pong: the write-back bumps SystemModstamp on every record it touched, so the next sync reads them again;
it must write nothing to NetSuite (the payloads it builds are the ones NetSuite already holds) and cost no more
Salesforce calls than a sync run with nothing changed (the same query per object, one page each). Counted on the
wire: the Salesforce stand-in's request log and the NetSuite stand-in's write counters.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_harness import SandboxAdmin, write_back_project
from sandbox.client import NetSuiteClient

pytestmark = pytest.mark.e2e

WRITE_BACK_STATE_ID = "dev:tap-netsuite-custom-to-target-salesforce-custom"
APP_URL = "https://1234567-sb1.app.netsuite.com"
SYNC_FIELDS = "Id, NetSuite_Id__c, NetSuite_Link__c, NetSuite_Sync_Status__c, NetSuite_Last_Sync__c, LastModifiedById"


def _netsuite_writes(netsuite: SandboxAdmin) -> int:
    return sum(netsuite.get("stats")["writes"].values())


def _salesforce_calls(salesforce: SandboxAdmin) -> list[dict]:
    return list(salesforce.get("requests")["requests"])


def _call(call: dict) -> str:
    """A call as method, path and the SOQL's shape (literals such as Id lists and times vary between runs)."""
    return f"{call['method']} {call['path']} {(call['q'] or '').split(' WHERE ')[0]}"


def _dml(calls: list[dict]) -> list[dict]:
    return [c for c in calls if c["method"] in ("PATCH", "POST", "PUT") and "/oauth2/" not in c["path"]]


def _by_id(salesforce: SandboxAdmin, sobject: str) -> dict[str, dict]:
    return {r["Id"]: r for r in salesforce.records(sobject) if not r.get("IsDeleted")}


def test_write_back_job_then_sync_writes_nothing_and_costs_an_idle_run(
    tmp_path: Path, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 28, "accounts": 8, "contacts": 6, "products": 4, "opportunities": 10})
    netsuite.post("reset", {"knobs": True})
    project = write_back_project(tmp_path, ("Account", "Contact", "Product2", "Opportunity"), NETSUITE_APP_URL=APP_URL)
    admin = NetSuiteClient(os.environ["SANDBOX_NETSUITE_URL"])
    project.run_pipeline()
    customers = netsuite.records("customer")
    orders = {o["externalId"]: o for o in netsuite.records("salesOrder")}
    contacts = {c["externalId"]: c for c in netsuite.records("contact") if c.get("externalId")}
    assert customers and orders and contacts
    [walk_in] = admin.create_records("customer", [{"companyName": "Walk-in Customer (made in NetSuite)",
                                                   "subsidiary": {"id": "1"}}])
    billed = sorted(orders)[0]
    admin.order_transition(f"eid:{billed}", "fulfil")
    admin.order_transition(f"eid:{billed}", "bill")
    project.run_pipeline()  # settles the sync: what it reads next is only what the write-back touches

    idle_before, writes_before = len(_salesforce_calls(salesforce)), _netsuite_writes(netsuite)
    project.run_pipeline()
    idle = _salesforce_calls(salesforce)[idle_before:]
    assert _netsuite_writes(netsuite) == writes_before

    accounts_before = _by_id(salesforce, "Account")
    before_job = len(_salesforce_calls(salesforce))
    job = project.meltano("run", "sync-netsuite-to-salesforce")
    assert job.returncode == 0, job.stderr[-6000:]
    print(f"FIGURES first write-back: {len(_dml(_salesforce_calls(salesforce)[before_job:]))} Salesforce DML calls, "
          f"{len(_salesforce_calls(salesforce)) - before_job} calls in all")
    assert "Traceback" not in job.stderr
    accounts = _by_id(salesforce, "Account")
    assert len(accounts) == len(accounts_before)  # updates by Id: nothing created
    by_external = {c["externalId"]: c for c in customers if c.get("externalId")}
    assert by_external
    for account_id, customer in by_external.items():
        account = accounts[account_id]
        assert account["NetSuite_Id__c"] == str(customer["id"])
        assert account["NetSuite_Link__c"] == f"{APP_URL}/app/common/entity/custjob.nl?id={customer['id']}"
        assert account["NetSuite_Sync_Status__c"] == "Synced"
        assert account["NetSuite_Last_Sync__c"] is not None
        assert account["LastModifiedById"].startswith("005")
    assert walk_in not in {a["NetSuite_Id__c"] for a in accounts.values()}  # NetSuite's own: never written
    untouched = set(accounts) - set(by_external)
    assert all(accounts[i]["NetSuite_Id__c"] is None for i in untouched)
    sf_contacts = _by_id(salesforce, "Contact")
    for contact_id, contact in contacts.items():
        assert sf_contacts[contact_id]["NetSuite_Id__c"] == str(contact["id"])
    opportunities = _by_id(salesforce, "Opportunity")
    for opportunity_id, order in orders.items():
        opportunity = opportunities[opportunity_id]
        assert opportunity["NetSuite_Id__c"] == str(order["id"])
        assert opportunity["NetSuite_Order_Number__c"] == order.get("tranId", f"SO{order['id']}")  # as assigned
        assert opportunity["NetSuite_Order_Total__c"] == pytest.approx(order["total"])
    assert opportunities[billed]["NetSuite_Order_Status__c"] == "Billed"
    products = _by_id(salesforce, "Product2")
    items = {i["externalId"] for i in netsuite.records("nonInventorySaleItem") if i.get("externalId")}
    assert items and all(products[i]["NetSuite_Sync_Status__c"] == "Synced" for i in items if i in products)
    # The flip-flop case: a record NetSuite holds (so the tap re-reads it in its lookback) whose last update NetSuite
    # refused (its dead letter waits) shows that, written by the status task alone.
    refused = [r for sobject in ("Account", "Contact", "Opportunity", "Product2")
               for r in _by_id(salesforce, sobject).values()
               if r.get("NetSuite_Sync_Status__c") not in (None, "Synced")]
    shown = [(r["Id"], r["NetSuite_Sync_Status__c"], r["NetSuite_Last_Error__c"]) for r in refused]
    print(f"FIGURES refused records: {shown}")
    assert any(r["NetSuite_Id__c"] for r in refused), refused
    assert {opportunities[o]["NetSuite_Order_Status__c"] for o in orders if o != billed} <= {
        "Pending Fulfillment", "Pending Approval", "Closed"}
    state = project.state(WRITE_BACK_STATE_ID)
    assert state is not None and set(state["singer_state"]["bookmarks"]) >= {"customer", "salesOrder"}
    assert project.state() is not None  # the sync's own state id is untouched by the write-back's

    # The sync after the write-back reads the touched records again and writes nothing to NetSuite, at the cost
    # of an idle run.
    after_write_back, writes_before = len(_salesforce_calls(salesforce)), _netsuite_writes(netsuite)
    project.run_pipeline()
    echo = _salesforce_calls(salesforce)[after_write_back:]
    echo_writes = _netsuite_writes(netsuite) - writes_before
    print(f"FIGURES idle run: {len(idle)} Salesforce calls; sync after write-back: {len(echo)} Salesforce calls, "
          f"{echo_writes} NetSuite writes")
    assert echo_writes == 0
    # The same calls as the idle run, plus at most one query of each re-read parent's children: the opportunities'
    # line items, the products' price book entries (and the price books they name).
    extra = [_call(c) for c in echo]
    for call in (_call(c) for c in idle):
        if call in extra:
            extra.remove(call)
    print(f"FIGURES extra calls: {extra}")
    children = ("FROM OpportunityLineItem", "FROM PricebookEntry", "FROM Pricebook2")
    assert len(extra) <= len(children) and all(any(c in call for c in children) for call in extra), extra
    assert len(set(extra)) == len(extra), extra

    # A rerun of the write-back with nothing changed in NetSuite re-reads its lookback window and writes nothing to
    # Salesforce (target-salesforce-custom's write ledger): no SystemModstamp moves, so the sync has nothing to read.
    stamps = {i: a["SystemModstamp"] for i, a in _by_id(salesforce, "Account").items()}
    before_rerun = len(_salesforce_calls(salesforce))
    rerun = project.meltano("run", "sync-netsuite-to-salesforce")
    assert rerun.returncode == 0, rerun.stderr[-6000:]
    rerun_dml = _dml(_salesforce_calls(salesforce)[before_rerun:])
    print(f"FIGURES write-back rerun: {len(rerun_dml)} Salesforce DML calls")
    # Exactly none: the status fields have one owner (tap-netsuite-sync-status), so a record whose dead letter waits
    # and that the NetSuite tap re-reads inside its lookback is not written `Synced` by one task and `Error` by the
    # other (2 calls each rerun before), and the per-field ledger keeps each task's fields apart.
    assert rerun_dml == [], rerun_dml
    assert {i: a["SystemModstamp"] for i, a in _by_id(salesforce, "Account").items()} == stamps
