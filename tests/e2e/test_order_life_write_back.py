"""Issue 28 items 1, 3 and 7 through real `meltano run`: an order's life in NetSuite back on the Salesforce records.

The Salesforce → NetSuite sync creates the customers and sales orders. In NetSuite one order is fulfilled in full,
billed in part by an invoice dated in the past (so it is overdue) and that invoice is paid in part. The write-back
job (`sync-netsuite-to-salesforce`) then shows on the Opportunity the fulfilment and the invoice summary (amount
invoiced, paid, remaining), on the Account its balance and overdue balance, and the invoice as a
`NetSuite_Invoice__c` related to both, read back with simple-salesforce (an independent client). A payment alone
(it changes the invoice, not the order) reaches the Opportunity's summary on the next run, and a rerun with nothing
changed in NetSuite writes nothing to Salesforce (target-salesforce-custom's write ledger).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_harness import SandboxAdmin, write_back_project
from sandbox.client import NetSuiteClient

pytestmark = pytest.mark.e2e

INVOICE_FIELDS = ("Name, NetSuite_Id__c, Account__c, Opportunity__c, Status__c, Invoice_Date__c, Due_Date__c, "
                  "Total__c, Amount_Paid__c, Amount_Remaining__c")
SUMMARY = ("NetSuite_Fulfillment_Status__c", "NetSuite_Amount_Invoiced__c", "NetSuite_Amount_Paid__c",
           "NetSuite_Amount_Remaining__c")


def _salesforce(monkeypatch: pytest.MonkeyPatch) -> Any:
    """simple-salesforce over the stand-in's TLS port: a client that shares nothing with the target."""
    from simple_salesforce import Salesforce

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.environ["SANDBOX_CA_BUNDLE"])
    session = requests.Session()
    tls_url = os.environ["SANDBOX_SALESFORCE_TLS_URL"]
    token = session.post(f"{tls_url}/services/oauth2/token", timeout=60, data={
        "grant_type": "refresh_token", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret",
        "refresh_token": "sandbox-refresh-token"}).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                      version="61.0")


def _dml(salesforce: SandboxAdmin, since: int) -> list[dict]:
    calls = list(salesforce.get("requests")["requests"])[since:]
    return [c for c in calls if c["method"] in ("PATCH", "POST", "PUT") and "/oauth2/" not in c["path"]]


def _calls(salesforce: SandboxAdmin) -> int:
    return len(salesforce.get("requests")["requests"])


def test_fulfilled_partly_invoiced_and_paid_order_shows_in_salesforce(
    tmp_path: Path, salesforce: SandboxAdmin, netsuite: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    salesforce.post("reset", {"seed": 2828, "accounts": 4, "contacts": 2, "products": 3, "opportunities": 6})
    netsuite.post("reset", {"knobs": True})
    project = write_back_project(tmp_path, ("Account", "Contact", "Product2", "Opportunity"))
    admin = NetSuiteClient(os.environ["SANDBOX_NETSUITE_URL"])
    project.run_pipeline()
    orders = {o["externalId"]: o for o in netsuite.records("salesOrder") if o.get("status") == "B"}
    assert len(orders) >= 2, "the seed should give at least two approved orders"
    # The order with the most lines: fulfilled in full, its first line billed (dated long ago: overdue), paid in part.
    opportunity = max(sorted(orders), key=lambda eid: len(orders[eid]["item"]["items"]))
    order = orders[opportunity]
    first_line = order["item"]["items"][0]
    admin.order_transition(order["id"], "fulfil")
    admin.order_transition(order["id"], "bill", {str(first_line["line"]): first_line["quantity"]},
                           tranDate="2026-01-05", dueDate="2026-02-04")
    [invoice] = [i for i in netsuite.records("invoice") if i["createdFrom"]["id"] == order["id"]]
    invoiced = invoice["total"]
    assert invoiced > 0
    paid = round(invoiced / 4, 2)
    admin.pay_invoice(invoice["id"], paid)
    account_id = next(c["externalId"] for c in netsuite.records("customer") if c["id"] == order["entity"]["id"])

    sf_before, ns_before = _calls(salesforce), len(netsuite.get("requests"))
    job = project.meltano("run", "sync-netsuite-to-salesforce")
    assert job.returncode == 0, job.stderr[-6000:]
    assert "Traceback" not in job.stderr
    suiteql = [c for c in netsuite.get("requests")[ns_before:] if c["path"].endswith("/suiteql")]
    print(f"FIGURES first write-back: {len(suiteql)} SuiteQL calls, {_calls(salesforce) - sf_before} Salesforce "
          f"calls ({len(_dml(salesforce, sf_before))} DML)")
    client = _salesforce(monkeypatch)
    read = client.Opportunity.get(opportunity)
    assert read["NetSuite_Fulfillment_Status__c"] == "Fulfilled"
    # all shipped, the first line billed: NetSuite's status is Pending Billing (Billed if that was the only line)
    assert read["NetSuite_Order_Status__c"] == ("Pending Billing" if len(order["item"]["items"]) > 1 else "Billed")
    assert (read["NetSuite_Amount_Invoiced__c"], read["NetSuite_Amount_Paid__c"]) == pytest.approx((invoiced, paid))
    assert read["NetSuite_Amount_Remaining__c"] == pytest.approx(invoiced - paid)
    for other in set(orders) - {opportunity}:
        untouched = client.Opportunity.get(other)
        assert untouched["NetSuite_Fulfillment_Status__c"] == "Not Fulfilled"
        assert untouched["NetSuite_Amount_Invoiced__c"] is None  # no invoice: no summary written
    account = client.Account.get(account_id)
    assert account["NetSuite_Balance__c"] == pytest.approx(invoiced - paid)
    assert account["NetSuite_Overdue_Balance__c"] == pytest.approx(invoiced - paid)  # due 2026-02-04
    [row] = client.query_all(f"SELECT {INVOICE_FIELDS} FROM NetSuite_Invoice__c")["records"]
    assert row["NetSuite_Id__c"] == invoice["id"] and row["Name"] == f"INV{invoice['id']}"
    assert (row["Account__c"], row["Opportunity__c"]) == (account_id, opportunity)
    assert (row["Status__c"], row["Invoice_Date__c"], row["Due_Date__c"]) == ("Open", "2026-01-05", "2026-02-04")
    assert (row["Total__c"], row["Amount_Paid__c"], row["Amount_Remaining__c"]) == pytest.approx(
        (invoiced, paid, invoiced - paid))

    # A rerun with nothing changed in NetSuite re-reads its lookback window and writes nothing.
    before = _calls(salesforce)
    rerun = project.meltano("run", "sync-netsuite-to-salesforce")
    assert rerun.returncode == 0, rerun.stderr[-6000:]
    assert _dml(salesforce, before) == []

    # The rest is paid: only the invoice changes in NetSuite; the invoice object and the Opportunity's summary
    # follow, the Account's balance drops to 0 (the payment stamps the customer). Then again a rerun writes nothing.
    admin.pay_invoice(invoice["id"])
    paid_up = project.meltano("run", "sync-netsuite-to-salesforce")
    assert paid_up.returncode == 0, paid_up.stderr[-6000:]
    read = client.Opportunity.get(opportunity)
    assert (read["NetSuite_Amount_Paid__c"], read["NetSuite_Amount_Remaining__c"]) == pytest.approx((invoiced, 0))
    [row] = client.query_all(f"SELECT {INVOICE_FIELDS} FROM NetSuite_Invoice__c")["records"]
    assert row["Status__c"] == "Paid In Full" and row["Amount_Remaining__c"] == 0
    account = client.Account.get(account_id)
    assert (account["NetSuite_Balance__c"], account["NetSuite_Overdue_Balance__c"]) == (0, 0)
    before = _calls(salesforce)
    last = project.meltano("run", "sync-netsuite-to-salesforce")
    assert last.returncode == 0, last.stderr[-6000:]
    assert _dml(salesforce, before) == []
