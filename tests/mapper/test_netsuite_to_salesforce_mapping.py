"""Issue 28 item 3: the mapping `netsuite-to-salesforce` as Meltano runs it (`meltano invoke`, meltano.yml).

Only a NetSuite record whose externalId is a Salesforce Id of the right object (its key prefix, 15 or 18 letters and
digits) is written back; NetSuite's own records (no externalId, an import key, a look-alike, another object's Id)
are dropped. The sales order's status code becomes NetSuite's label; the link needs NETSUITE_APP_URL. The status
fields (sync status, last error, last sync time) are never written here: tap-netsuite-sync-status owns them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAMP = "2026-12-07T10:00:00+00:00"


def _lines(stream: str, records: list[dict]) -> list[dict]:
    properties = {name: {"type": ["string", "number", "null"]} for r in records for name in r}
    return [{"type": "SCHEMA", "stream": stream, "key_properties": ["id"], "schema": {"properties": properties}},
            *({"type": "RECORD", "stream": stream, "record": r} for r in records)]


def test_only_salesforce_ids_are_written_back(tmp_path: Path) -> None:
    customers = [
        {"id": "11", "externalId": "001000000000001AAA", "lastModifiedDate": STAMP},   # an Account, 18 characters
        {"id": "12", "externalId": "001000000000002", "lastModifiedDate": STAMP},      # an Account, 15 characters
        {"id": "13", "externalId": None, "lastModifiedDate": STAMP},                   # made in NetSuite
        {"id": "14", "externalId": "CUST-0001", "lastModifiedDate": STAMP},            # an import's key
        {"id": "15", "externalId": "0010000000000", "lastModifiedDate": STAMP},        # 13 characters
        {"id": "16", "externalId": "001-00000000000AA", "lastModifiedDate": STAMP},    # not alphanumeric
        {"id": "17", "externalId": "003000000000001AAA", "lastModifiedDate": STAMP},   # a Contact's Id
    ]
    for customer in customers:  # the tap's customer schema has both (SuiteQL balancesearch, overduebalancesearch)
        customer.update(balance=None, overdueBalance=None)
    customers[0].update(balance=300, overdueBalance=125.5)
    orders = [{"id": "21", "externalId": "006000000000001AAA", "tranId": "SO21", "status": "G", "total": 1250.5,
               "fulfillmentState": "Fulfilled", "lastModifiedDate": STAMP},
              {"id": "22", "externalId": None, "tranId": "SO22", "status": "B", "total": 10, "lastModifiedDate": STAMP,
               "fulfillmentState": None}]
    invoice = {"id": "31", "externalId": None, "tranId": "INV31", "status": "A", "tranDate": "2026-11-02",
               "dueDate": "2026-12-02", "total": 500, "amountPaid": 200, "amountRemaining": 300,
               "salesOrderExternalId": "006000000000001AAA", "entityExternalId": "001000000000001AAA",
               "orderAmountInvoiced": 800, "orderAmountPaid": 500, "orderAmountRemaining": 300,
               "lastModifiedDate": STAMP}
    invoices = [invoice,
                # an invoice of an order made in NetSuite, and one whose customer is NetSuite's own
                {**invoice, "id": "32", "salesOrderExternalId": None, "entityExternalId": None},
                {**invoice, "id": "33", "status": "B", "entityExternalId": "CUST-7"}]
    messages = [*_lines("customer", customers), *_lines("salesOrder", orders),
                *_lines("invoice", invoices),
                {"type": "STATE", "value": {"bookmarks": {"customer": {"replication_key_value": STAMP}}}}]
    env = {**os.environ, "MELTANO_ENVIRONMENT": "dev", "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
           "NETSUITE_APP_URL": "https://1234567.app.netsuite.com"}
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "meltano"), "invoke", "netsuite-to-salesforce"],
                          input="".join(json.dumps(m) + "\n" for m in messages), text=True, cwd=ROOT, env=env,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    billed = {"Name": "INV31", "Opportunity__c": "006000000000001AAA", "Status__c": "Open",
              "Invoice_Date__c": "2026-11-02", "Due_Date__c": "2026-12-02", "Total__c": 500, "Amount_Paid__c": 200,
              "Amount_Remaining__c": 300, "NetSuite_Last_Sync__c": STAMP}
    summary = {"Id": "006000000000001AAA", "NetSuite_Amount_Invoiced__c": 800, "NetSuite_Amount_Paid__c": 500,
               "NetSuite_Amount_Remaining__c": 300}
    records = [(m["stream"], m["record"]) for m in out if m["type"] == "RECORD"]
    assert records == [
        ("Account", {"Id": "001000000000001AAA", "NetSuite_Id__c": "11",
                     "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id=11",
                     "NetSuite_Balance__c": 300, "NetSuite_Overdue_Balance__c": 125.5}),
        ("Account", {"Id": "001000000000002", "NetSuite_Id__c": "12",
                     "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id=12",
                     "NetSuite_Balance__c": None, "NetSuite_Overdue_Balance__c": None}),
        ("Opportunity", {"Id": "006000000000001AAA", "NetSuite_Id__c": "21",
                         "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/accounting/transactions/"
                                             "salesord.nl?id=21", "NetSuite_Order_Number__c": "SO21",
                         "NetSuite_Order_Status__c": "Billed", "NetSuite_Order_Total__c": 1250.5,
                         "NetSuite_Fulfillment_Status__c": "Fulfilled"}),
        ("NetSuite_Invoice__c", {**billed, "NetSuite_Id__c": "31", "Account__c": "001000000000001AAA",
                                 "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/accounting/transactions/"
                                                     "custinvc.nl?id=31"}),
        ("NetSuite_Invoice_Summary", summary),
        ("NetSuite_Invoice__c", {**billed, "NetSuite_Id__c": "33", "Account__c": None, "Status__c": "Paid In Full",
                                 "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/accounting/transactions/"
                                                     "custinvc.nl?id=33"}),
        ("NetSuite_Invoice_Summary", summary),
    ]
    assert {m["stream"] for m in out if m["type"] == "SCHEMA"} == {"Account", "Opportunity", "NetSuite_Invoice__c",
                                                                   "NetSuite_Invoice_Summary"}
    schemas = {m["stream"]: m for m in out if m["type"] == "SCHEMA"}
    assert schemas["NetSuite_Invoice__c"]["key_properties"] == ["NetSuite_Id__c"]
    assert schemas["NetSuite_Invoice_Summary"]["key_properties"] == ["Id"]
    # Amounts keep the tap's number type (the target sends them as numbers to currency fields).
    for stream, field in (("NetSuite_Invoice__c", "Amount_Remaining__c"), ("NetSuite_Invoice_Summary",
                                                                           "NetSuite_Amount_Paid__c"),
                          ("Account", "NetSuite_Overdue_Balance__c")):
        assert "number" in schemas[stream]["schema"]["properties"][field]["type"], (stream, field)
    status_fields = {"NetSuite_Sync_Status__c", "NetSuite_Last_Error__c", "NetSuite_Last_Sync__c"}
    # the status fields of synced records belong to the sync-status extractor alone (pipeline_ops/sync_status.py)
    assert not any(status_fields & set(m["schema"]["properties"]) for m in out
                   if m["type"] == "SCHEMA" and m["stream"] in ("Account", "Contact", "Opportunity", "Product2"))
    assert [m["value"] for m in out if m["type"] == "STATE"][-1]["bookmarks"]["customer"]
