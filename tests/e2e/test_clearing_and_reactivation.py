"""Issue 19 through real `meltano run`: a value cleared in Salesforce is cleared in NetSuite (a field the mapping does
not own is left alone), and an Account deleted and then undeleted ends as an active customer with its current
values. Both also when the run that carries the change is SIGKILLed mid-write and run again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests
from e2e_harness import MELTANO, PIPELINE, ROOT, MeltanoProject, SandboxAdmin
from requests_oauthlib import OAuth1

pytestmark = pytest.mark.e2e

ACCOUNTS = 12
ONLY_ACCOUNTS = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
# The demo account's public sandbox credentials (meltano.yml, dev environment).
DEMO_TBA = OAuth1("sandbox-consumer-key", "sandbox-consumer-secret", "sandbox-token-id", "sandbox-token-secret",
                  signature_method="HMAC-SHA256", realm="1234567_SB1")
FILLED = {"Phone": "+1 512 555 0142", "Fax": "+1 512 555 0143", "Website": "https://filled.example",
          "AccountNumber": "CD424242", "BillingStreet": "1 Congress Ave\nSuite 200", "BillingCity": "Austin",
          "BillingState": "Texas", "BillingPostalCode": "78701", "BillingCountry": "United States"}
# Five mapped fields emptied (Phone, Fax, Website, the billing city and state) and one address line (the street's
# second line, addr2); AccountNumber too, but the shipped mapping makes `accountNumber` create-only
# (`create_only_fields`): NetSuite owns it once the customer exists, so it is never emptied.
CLEARED = {"Phone": None, "Fax": None, "Website": None, "AccountNumber": None, "BillingCity": None,
           "BillingState": None, "BillingStreet": "1 Congress Ave"}
BY_HAND = "kept: set by hand in NetSuite"


@pytest.fixture(autouse=True)
def fresh_sandboxes(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> Iterator[None]:
    salesforce.post("reset", {"seed": 19, "accounts": ACCOUNTS, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    yield
    netsuite.post("reset", {"knobs": True})


def _customers(netsuite: SandboxAdmin) -> dict[str, dict]:
    return {record["externalId"]: record for record in netsuite.records("customer")}


def _live_accounts(salesforce: SandboxAdmin) -> list[str]:
    return sorted(a["Id"] for a in salesforce.records("Account") if not a.get("IsDeleted"))


def _set_by_hand(external_id: str) -> None:
    """What a NetSuite user does in the UI: a field our mapping does not own gets a value."""
    url = f"{os.environ['SANDBOX_NETSUITE_URL']}/services/rest/record/v1/customer/eid:{external_id}"
    response = requests.patch(url, json={"comments": BY_HAND}, auth=DEMO_TBA, timeout=30)
    assert response.status_code == 204, response.text


def _run(project: MeltanoProject, netsuite: SandboxAdmin, *, killed: bool, writes: int) -> None:
    """One pipeline run; `killed`: SIGKILL the whole run (meltano, tap, mapper, target) once NetSuite has applied a
    few of its `writes` writes, as a crash or an OOM kill would, then run again (`--force`: the killed job never
    ended)."""
    if not killed:
        project.run_pipeline()
        return
    netsuite.post("knobs", {"write_latency_ms": 700})
    before = netsuite.get("stats")["writes"]["updated"]
    run = subprocess.Popen(
        [str(MELTANO), "run", *PIPELINE], cwd=ROOT, text=True, start_new_session=True,
        env={**project.base_env(), "TARGET_NETSUITE_MAX_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while netsuite.get("stats")["writes"]["updated"] < before + 2:
            assert run.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "NetSuite saw no writes"
            time.sleep(0.1)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    assert netsuite.get("stats")["writes"]["updated"] < before + writes, "every write landed before the kill"
    netsuite.post("knobs", {"write_latency_ms": None})
    project.run_pipeline("--force")


@pytest.mark.parametrize("killed", [False, True], ids=["plain", "killed-and-rerun"])
def test_values_cleared_in_salesforce_are_cleared_in_netsuite(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, killed: bool
) -> None:
    project = meltano_project
    project.env.update(ONLY_ACCOUNTS)
    cleared = _live_accounts(salesforce)[:5]
    for account_id in cleared:
        salesforce.patch(f"records/Account/{account_id}", FILLED)
    project.run_pipeline()
    before = _customers(netsuite)
    for account_id in cleared:
        customer = before[account_id]
        assert (customer["phone"], customer["fax"], customer["url"]) == (
            "+1 512-555-0142", "+1 512-555-0143", "https://filled.example")
        assert customer["accountNumber"] == "CD424242"
        [billing] = [line for line in customer["addressbook"]["items"] if line.get("defaultBilling")]
        assert billing["addressbookaddress"]["addr2"] == "Suite 200"
        assert billing["addressbookaddress"]["city"] == "Austin"
        _set_by_hand(account_id)

    for account_id in cleared:
        salesforce.patch(f"records/Account/{account_id}", CLEARED)
    _run(project, netsuite, killed=killed, writes=len(cleared))

    after = _customers(netsuite)
    assert set(after) == set(_live_accounts(salesforce))
    for account_id in cleared:
        customer = after[account_id]
        assert not {"phone", "fax", "url"} & set(customer), customer
        assert customer["accountNumber"] == "CD424242"  # create-only: never cleared
        [billing] = [line for line in customer["addressbook"]["items"] if line.get("defaultBilling")]
        address = billing["addressbookaddress"]
        assert not {"city", "state", "addr2"} & set(address), address
        assert address["addr1"] == "1 Congress Ave" and address["zip"] == "78701"  # the rest of the line is kept
        assert customer["comments"] == BY_HAND  # not a mapped field: never touched
        assert customer["companyName"] == before[account_id]["companyName"]
    untouched = set(after) - set(cleared)
    for external_id in untouched:
        assert {k: v for k, v in after[external_id].items() if k != "lastModifiedDate"} == {
            k: v for k, v in before[external_id].items() if k != "lastModifiedDate"}


@pytest.mark.parametrize("killed", [False, True], ids=["plain", "killed-and-rerun"])
def test_undeleted_accounts_come_back_as_active_customers_with_current_values(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, killed: bool
) -> None:
    project = meltano_project
    project.env.update(ONLY_ACCOUNTS)
    project.run_pipeline()
    chosen = _live_accounts(salesforce)[:3]
    assert all(_customers(netsuite)[account_id]["isInactive"] is False for account_id in chosen)

    # Run 2: deleted in Salesforce → inactive customers.
    for account_id in chosen:
        salesforce.delete(f"records/Account/{account_id}")
    project.run_pipeline()
    assert all(_customers(netsuite)[account_id]["isInactive"] is True for account_id in chosen)

    # Run 3: undeleted (and edited since) → active again, with the current values.
    for n, account_id in enumerate(chosen):
        salesforce.post(f"records/Account/{account_id}/undelete")
        salesforce.patch(f"records/Account/{account_id}", {"Name": f"Back Again {n}", "Phone": f"+1 512 555 01{n}0"})
    _run(project, netsuite, killed=killed, writes=len(chosen))

    customers = _customers(netsuite)
    assert len(customers) == ACCOUNTS  # undeleting never creates a second customer
    for n, account_id in enumerate(chosen):
        customer = customers[account_id]
        assert customer["isInactive"] is False
        assert (customer["companyName"], customer["phone"]) == (f"Back Again {n}", f"+1 512-555-01{n}0")
    assert all(customer["isInactive"] is False for customer in customers.values())
