"""Issue 24 items 4 and 5 through real `meltano run`: the three-way merge (target_netsuite/merge.py).

A customer NetSuite already holds (entered by hand, adopted by name and city) keeps its NetSuite-only phone, url,
addresses and labels; hand edits of owned fields are decided by `conflict_policy` (one field per policy), counted
in the run summary and listed by `pipeline-ops conflicts`; a Salesforce phone change never rewrites a url a person
edited (the url case)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin, run_summaries

pytestmark = pytest.mark.e2e

ONLY_ACCOUNTS = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
POLICIES = {"customer": {"phone": "salesforce_wins", "fax": "netsuite_wins", "companyName": "report"}}
NO_ADDRESS = {f"{kind}{part}": None for kind in ("Billing", "Shipping")
              for part in ("Street", "City", "State", "PostalCode", "Country")}


@pytest.fixture(autouse=True)
def fresh_sandboxes(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> Iterator[None]:
    salesforce.post("reset", {"seed": 24, "accounts": 4, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    yield
    netsuite.post("reset", {"knobs": True})


def _customers(netsuite: SandboxAdmin) -> dict[str, dict]:
    return {record["externalId"]: record for record in netsuite.records("customer")}


def _lines(customer: dict) -> dict[str, dict]:
    return {line.get("label"): line for line in customer["addressbook"]["items"]}


def test_netsuite_data_kept_hand_edits_by_policy_and_the_url_case(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    project.env.update({**ONLY_ACCOUNTS, "TARGET_NETSUITE_CONFLICT_POLICY": json.dumps(POLICIES)})
    names = {a["Id"]: a["Name"] for a in salesforce.records("Account")}
    adopted, edited, url_case, _ = sorted(names)
    salesforce.patch(f"records/Account/{adopted}", {
        **NO_ADDRESS, "Phone": None, "Website": None,
        "ShippingStreet": "9 Dock Rd", "ShippingCity": "Reno", "ShippingCountry": "United States"})
    netsuite.post("records/customer", {"records": [{
        "companyName": names[adopted], "subsidiary": {"id": "1"},  # no external id: the matcher adopts it
        "phone": "+1 415 555 0100", "url": "https://netsuite-only.example",
        "addressbook": {"items": [
            {"label": "HQ", "defaultBilling": True, "addressbookaddress": {"addr1": "1 Main St", "city": "Austin"}},
            {"label": "Warehouse", "addressbookaddress": {"addr1": "5 Depot Ave", "city": "Reno"}}]},
    }]})
    for account_id in (edited, url_case):
        salesforce.patch(f"records/Account/{account_id}", {
            "Phone": "+1 512 555 0101", "Fax": "+1 512 555 0102", "Website": "https://sf.example"})
    project.run_pipeline()

    customer = _customers(netsuite)[adopted]
    assert customer["phone"] == "+1 415 555 0100" and customer["url"] == "https://netsuite-only.example"
    lines = _lines(customer)
    assert set(lines) == {"HQ", "Warehouse", "Shipping (synced)"}, lines
    assert lines["HQ"]["defaultBilling"] is True and lines["HQ"]["addressbookaddress"]["city"] == "Austin"
    assert lines["Warehouse"]["addressbookaddress"]["city"] == "Reno"
    assert lines["Shipping (synced)"]["addressbookaddress"]["city"] == "Reno"

    # People edit owned fields in NetSuite; Salesforce changes some of them too.
    netsuite.patch(f"records/customer/eid:{edited}", {
        "phone": "+1 999 555 0001", "fax": "+1 999 555 0002", "companyName": "Renamed In NetSuite"})
    netsuite.patch(f"records/customer/eid:{url_case}", {"url": "https://person.example"})
    salesforce.patch(f"records/Account/{edited}", {
        "Phone": "+1 512 555 0201", "Fax": "+1 512 555 0202", "Name": "Renamed In Salesforce"})
    salesforce.patch(f"records/Account/{url_case}", {"Phone": "+1 512 555 0301"})
    salesforce.patch(f"records/Account/{adopted}", {"ShippingCity": "Elko"})
    result = project.run_pipeline()

    customers = _customers(netsuite)
    assert customers[edited]["phone"] == "+1 512-555-0201"  # salesforce_wins
    assert customers[edited]["fax"] == "+1 999 555 0002"  # netsuite_wins
    assert customers[edited]["companyName"] == "Renamed In NetSuite"  # report: kept, listed
    assert customers[url_case]["phone"] == "+1 512-555-0301"
    assert customers[url_case]["url"] == "https://person.example"  # the url case: Salesforce's url did not change
    lines = _lines(customers[adopted])
    assert set(lines) == {"HQ", "Warehouse", "Shipping (synced)"}  # our line updated in place, theirs kept
    assert lines["Shipping (synced)"]["addressbookaddress"]["city"] == "Elko"
    assert customers[adopted]["phone"] == "+1 415 555 0100"
    [summary] = run_summaries(result.stdout + result.stderr)
    assert summary["streams"]["customer"]["conflicts"] == 3

    listed = project.meltano("invoke", "pipeline-ops", "conflicts")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "3 conflicts" in listed.stdout
    for field, policy in (("phone", "salesforce_wins"), ("fax", "netsuite_wins"), ("companyName", "report")):
        assert f"customer                {field:<24}{policy:<18}     1" in listed.stdout, listed.stdout
