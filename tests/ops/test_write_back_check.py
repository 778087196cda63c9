"""`pipeline-ops reconcile --direction netsuite-to-salesforce` (issue 28 item 6): the comparison as a function (what
the taps read on each side, what the store says), and the repair's drop of target-salesforce-custom's ledger entries
(the target's own ledger class writes them). The whole path, through both taps and real HTTP:
tests/e2e/test_sync_status_job.py."""

from __future__ import annotations

from pathlib import Path

from pipeline_ops.sync_status import Status
from pipeline_ops.write_back_check import compare, forget_entries
from target_salesforce_custom.ledger import WriteLedger

A1, A2, A3, A4 = "001000000000001AAA", "001000000000002AAA", "001000000000003AAA", "001000000000004AAA"
CONTACT, ORDER = "003000000000001AAA", "006000000000001AAA"
STAMP = "2026-12-07T10:00:00Z"


def _salesforce(sobject: str, record_id: str, **fields: object) -> dict:
    return {"Id": record_id, "IsDeleted": False, "NetSuite_Id__c": None, "NetSuite_Sync_Status__c": None,
            "NetSuite_Last_Error__c": None, "NetSuite_Last_Sync__c": None, **fields}


def test_netsuite_ids_and_status_fields_that_differ_are_listed() -> None:
    netsuite = {
        "customer": [{"id": "11", "externalId": A1}, {"id": "12", "externalId": A2},
                     {"id": "13", "externalId": A3[:15]}, {"id": "14", "externalId": A4},
                     {"id": "15", "externalId": None},
                     {"id": "16", "externalId": "CUST-0042"}, {"id": "17", "externalId": CONTACT}],
        "contact": [{"id": "21", "externalId": CONTACT}],
        "salesOrder": [{"id": "31", "externalId": ORDER}],
    }
    salesforce = {
        "Account": [_salesforce("Account", A1, NetSuite_Id__c="11", NetSuite_Sync_Status__c="Synced",
                                NetSuite_Last_Sync__c="2026-12-07T10:00:00.000+0000"),
                    _salesforce("Account", A2, NetSuite_Id__c="99"),  # changed by a person
                    _salesforce("Account", A3, NetSuite_Id__c="13"),  # NetSuite holds the 15-character Id
                    _salesforce("Account", A4, IsDeleted=True)],  # deleted: no record to write onto
        "Contact": [_salesforce("Contact", CONTACT)],  # never written back
        "Opportunity": [_salesforce("Opportunity", ORDER, NetSuite_Id__c="31", NetSuite_Sync_Status__c="Synced")],
    }
    expected = [Status("Account", A1, "Synced", None, STAMP),  # the same instant, another notation: agrees
                Status("Opportunity", ORDER, "Conflict", "ORDER_LOCKED: billed"),
                Status("Account", A4, "Error", "USER_ERROR: x")]  # no Salesforce record: nothing to compare
    report = compare(netsuite, salesforce, expected)
    assert report["netsuite_id"] == [
        {"sobject": "Account", "Id": A2, "netsuite_id": "12", "salesforce": "99", "kind": "differs"},
        {"sobject": "Contact", "Id": CONTACT, "netsuite_id": "21", "salesforce": None, "kind": "missing"},
    ]
    assert report["no_record"] == [{"sobject": "Account", "Id": A4, "netsuite_id": "14"}]
    assert report["status"] == [
        {"sobject": "Opportunity", "Id": ORDER, "field": "NetSuite_Sync_Status__c", "expected": "Conflict",
         "salesforce": "Synced"},
        {"sobject": "Opportunity", "Id": ORDER, "field": "NetSuite_Last_Error__c",
         "expected": "ORDER_LOCKED: billed", "salesforce": None},
    ]
    later = [Status("Account", A1, "Synced", None, "2026-12-07T10:05:00Z")]
    assert [i["field"] for i in compare({}, salesforce, later)["status"]] == ["NetSuite_Last_Sync__c"]


def test_repair_drops_exactly_the_differing_fields_ledger_entries(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = WriteLedger(path, "use")
    written = {A1: {"Id": A1, "NetSuite_Id__c": "11", "NetSuite_Sync_Status__c": "Synced"},
               A2: {"Id": A2, "NetSuite_Id__c": "12", "NetSuite_Sync_Status__c": "Synced"}}
    ledger.record("https://org", "Account", "Id", written)
    assert ledger.unchanged("https://org", "Account", "Id", written) == {A1, A2}
    report = {"netsuite_id": [{"sobject": "Account", "Id": A1[:15], "netsuite_id": "11", "salesforce": "9",
                               "kind": "differs"}],
              "status": [{"sobject": "Account", "Id": A2, "field": "NetSuite_Sync_Status__c", "expected": "Synced",
                          "salesforce": "Error"}], "no_record": []}
    assert forget_entries(path, report) == 2
    assert ledger.unchanged("https://org", "Account", "Id", written) == set()
    assert ledger.unchanged("https://org", "Account", "Id", {A1: {"Id": A1, "NetSuite_Sync_Status__c": "Synced"},
                                                             A2: {"Id": A2, "NetSuite_Id__c": "12"}}) == {A1, A2}
    ledger.close()
    assert forget_entries(tmp_path / "none.sqlite3", report) == 0
