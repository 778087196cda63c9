"""target-salesforce-custom through real `meltano run tap-netsuite-custom target-salesforce-custom` (issue 28).

The tap reads NetSuite's customers; an inline stream map (the SDK's, on the tap) turns each customer whose
externalId is a Salesforce Account Id into a write-back of the NetSuite id, sync status and last sync time onto
that Account; the target updates the Accounts by Id. A customer NetSuite users created by hand (no externalId) is
filtered out; a customer whose Account the validation rule refuses is a dead letter with Salesforce's code, and the
run goes on. Meltano saves the target's STATE; a rerun with nothing changed re-reads the bookmark's window, sends
nothing (the target's write ledger: those values were accepted; updates by Id: nothing new is created, ever) and
leaves the bookmarks as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
from e2e_harness import MeltanoProject
from sandbox.client import NetSuiteClient, SalesforceClient
from sandbox.credentials import SALESFORCE

pytestmark = pytest.mark.e2e

STATE_ID = "dev:tap-netsuite-custom-to-target-salesforce-custom"
WRITE_BACK = {"customer": {
    "Id": "externalId",
    "NetSuite_Id__c": "str(id)",
    "NetSuite_Sync_Status__c": "'Synced'",
    "NetSuite_Last_Sync__c": "lastModifiedDate",
    "__filter__": "externalId is not None and externalId.startswith('001')",
    "__key_properties__": ["Id"],
    "__else__": None,
}}


def _accounts(url: str, ids: list[str]) -> dict[str, dict]:
    session = requests.Session()
    token = session.post(f"{url}/services/oauth2/token", timeout=60, data={
        "grant_type": "refresh_token", "client_id": SALESFORCE.client_id, "client_secret": SALESFORCE.client_secret,
        "refresh_token": SALESFORCE.refresh_token}).json()
    in_list = ", ".join(f"'{i}'" for i in ids)
    response = session.get(f"{url}/services/data/v61.0/query", timeout=60, headers={
        "Authorization": f"Bearer {token['access_token']}"}, params={"q": (
            "SELECT Id, NetSuite_Id__c, NetSuite_Sync_Status__c, NetSuite_Last_Sync__c, LastModifiedById "
            f"FROM Account WHERE Id IN ({in_list})")})
    return {r["Id"]: r for r in response.json()["records"]}


def test_meltano_run_writes_netsuite_ids_back_onto_accounts(tmp_path: Path) -> None:
    sf_url, ns_url = os.environ["SANDBOX_SALESFORCE_URL"], os.environ["SANDBOX_NETSUITE_URL"]
    salesforce, netsuite = SalesforceClient(sf_url), NetSuiteClient(ns_url)
    salesforce.reset(seed=28, accounts=6, contacts=0, products=0, opportunities=0, invoices=0)
    netsuite.reset()
    account_ids = [a["Id"] for a in salesforce.records("Account")][:4]
    customers = netsuite.create_records("customer", [
        *({"companyName": f"Synced Customer {n}", "subsidiary": {"id": "1"}, "externalId": account_id}
          for n, account_id in enumerate(account_ids)),
        {"companyName": "Walk-in Customer (made in NetSuite)", "subsidiary": {"id": "1"}},
    ])
    salesforce.validation_rule("Account", "NetSuite_Id__c", "Account locked for audit", equals=customers[3])
    project = MeltanoProject(tmp_path, env={
        "TAP_NETSUITE_CUSTOM_BASE_URL": ns_url,
        "TAP_NETSUITE_CUSTOM_LOOKBACK_SECONDS": "0",
        "TAP_NETSUITE_CUSTOM_STREAMS": json.dumps(["customer"]),
        "TAP_NETSUITE_CUSTOM_STREAM_MAPS": json.dumps(WRITE_BACK),
        "TARGET_SALESFORCE_CUSTOM_LOGIN_URL": sf_url,
        "TARGET_SALESFORCE_CUSTOM_STREAMS": json.dumps({"customer": {"sobject": "Account"}}),
        "TARGET_SALESFORCE_CUSTOM_DEAD_LETTER_PATH": str(tmp_path / "dead_letters"),
        "TARGET_SALESFORCE_CUSTOM_BACKOFF_FACTOR": "0.01",
    })
    try:
        first = project.meltano("run", "tap-netsuite-custom", "target-salesforce-custom")
        assert first.returncode == 0, first.stderr[-6000:]
        assert "Traceback" not in first.stderr
        written = _accounts(sf_url, account_ids)
        for account_id, customer_id in list(zip(account_ids, customers, strict=False))[:3]:
            assert written[account_id]["NetSuite_Id__c"] == customer_id
            assert written[account_id]["NetSuite_Sync_Status__c"] == "Synced"
            assert written[account_id]["NetSuite_Last_Sync__c"] is not None
            assert written[account_id]["LastModifiedById"].startswith("005")
        assert written[account_ids[3]]["NetSuite_Id__c"] is None  # the validation rule refused it
        letters = [json.loads(line) for path in (tmp_path / "dead_letters").glob("*.jsonl")
                   for line in path.read_text().splitlines()]
        assert [(d["key"], d["error_code"], d["message"]) for d in letters] == [
            (account_ids[3], "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Account locked for audit")]
        state = project.state(STATE_ID)
        assert state is not None and "customer" in state["singer_state"]["bookmarks"]

        second = project.meltano("run", "tap-netsuite-custom", "target-salesforce-custom")
        assert second.returncode == 0, second.stderr[-6000:]
        assert project.state(STATE_ID) == state
        assert len(salesforce.records("Account")) == 6  # updates by Id: nothing created, ever
    finally:
        salesforce.knobs(validation_rules=[])
        netsuite.reset()
