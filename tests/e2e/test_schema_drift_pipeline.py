"""Issue 16's drift promise through real `meltano run`: a mapped field deleted in Salesforce between runs stops
only its stream (Account) — its records are held and its state does not move — while Contact and Product2 keep
syncing with their state advancing; restoring the field resumes Account with nothing lost."""

from __future__ import annotations

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e

THREE_OBJECTS = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Contact.*", "Product2.*"]'}


def _bookmarks(project: MeltanoProject) -> dict[str, str]:
    state = project.state()
    assert state is not None
    return {name: mark.get("replication_key_value")
            for name, mark in state["singer_state"]["bookmarks"].items()}


def _by_external_id(netsuite: SandboxAdmin, kind: str) -> dict[str, dict]:
    return {record["externalId"]: record for record in netsuite.records(kind)}


@pytest.fixture
def fresh_sandboxes(salesforce: SandboxAdmin, netsuite: SandboxAdmin):
    salesforce.post("reset", {"seed": 16, "accounts": 8, "contacts": 8, "products": 4, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    yield
    salesforce.post("reset", {})


@pytest.mark.usefixtures("fresh_sandboxes")
def test_deleted_mapped_field_holds_only_its_stream(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    project.discover_every_run = True  # the subject: discovery sees the deleted and the restored field
    project.env.update(THREE_OBJECTS)
    project.run_pipeline()
    first = _bookmarks(project)
    assert set(first) >= {"Account", "Contact", "Product2"}

    account = next(a for a in salesforce.records("Account") if not a["IsDeleted"])
    contact = next(c for c in salesforce.records("Contact") if not c["IsDeleted"])
    product = next(p for p in salesforce.records("Product2") if not p["IsDeleted"])
    salesforce.patch(f"records/Account/{account['Id']}", {"Name": "Drift Renamed Account"})
    salesforce.patch(f"records/Contact/{contact['Id']}", {"LastName": "Drift-Renamed"})
    salesforce.patch(f"records/Product2/{product['Id']}", {"Name": "Drift Renamed Product"})
    salesforce.post("metadata/Account", {"delete": ["Website"]})  # mapped to customer.url

    failed = project.run_pipeline(check=False)
    assert failed.returncode != 0
    lines = [line for line in failed.stderr.splitlines() if "Mapping error" in line]
    assert lines, failed.stderr[-4000:]
    assert "'Website'" in lines[0] and "url:" in lines[0] and "stream 'Account' held" in lines[0]
    assert "Traceback" not in failed.stderr
    second = _bookmarks(project)
    assert second["Account"] == first["Account"], "the held stream's state does not move"
    assert second["Contact"] > first["Contact"]
    assert second["Product2"] > first["Product2"]
    assert _by_external_id(netsuite, "contact")[contact["Id"]]["lastName"] == "Drift-Renamed"
    assert _by_external_id(netsuite, "nonInventorySaleItem")[product["Id"]]["displayName"] == "Drift Renamed Product"
    assert _by_external_id(netsuite, "customer")[account["Id"]]["companyName"] != "Drift Renamed Account"

    salesforce.post("metadata/Account", {"restore": ["Website"]})
    project.run_pipeline()
    third = _bookmarks(project)
    assert third["Account"] > first["Account"]
    assert _by_external_id(netsuite, "customer")[account["Id"]]["companyName"] == "Drift Renamed Account"
