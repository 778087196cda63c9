"""Issue 2's end-to-end promise: Salesforce Accounts become NetSuite customers through real `meltano run`,
incrementally, idempotently, with state in Meltano, and a bad NetSuite credential stops the run cleanly."""

from __future__ import annotations

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e

ACCOUNTS = 40
ONLY_ACCOUNTS = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
# Fields NetSuite maintains itself; they say nothing about whether our write changed the customer.
VOLATILE = {"lastModifiedDate", "links"}


def _customers(netsuite: SandboxAdmin) -> dict[str, dict]:
    """NetSuite customers by externalId, without fields NetSuite stamps on every write."""
    return {
        record["externalId"]: {k: v for k, v in record.items() if k not in VOLATILE}
        for record in netsuite.records("customer")
    }


@pytest.fixture
def fresh_sandboxes(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> None:
    salesforce.post("reset", {"seed": 7, "accounts": ACCOUNTS, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})


@pytest.mark.usefixtures("fresh_sandboxes")
def test_accounts_flow_incrementally_and_idempotently(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    project.env.update(ONLY_ACCOUNTS)
    account_ids = {a["Id"] for a in salesforce.records("Account") if not a.get("IsDeleted")}
    assert len(account_ids) == ACCOUNTS

    # Run 1 creates one customer per Account, keyed by the Salesforce Id.
    project.run_pipeline()
    first = _customers(netsuite)
    assert set(first) == account_ids
    assert all(c["companyName"] and c["subsidiary"] for c in first.values())
    bookmark = project.state()["singer_state"]["bookmarks"]["Account"]
    assert bookmark["replication_key"] == "SystemModstamp"

    # Run 2: nothing new in Salesforce → no customer created and none changed (re-sent boundary rows are upserts).
    writes_before = netsuite.get("stats")["writes"]
    project.run_pipeline()
    assert _customers(netsuite) == first
    writes_after = netsuite.get("stats")["writes"]
    assert writes_after["created"] == writes_before["created"]
    assert writes_after["updated"] == writes_before["updated"]

    # Three Accounts change → exactly those three customers change, nothing is created.
    changed = sorted(account_ids)[:3]
    for n, account_id in enumerate(changed):
        salesforce.patch(
            f"records/Account/{account_id}", {"Name": f"Renamed Account {n}", "Phone": f"+1 415 555 010{n}"}
        )
    project.run_pipeline()
    third = _customers(netsuite)
    assert set(third) == account_ids
    differing = {eid for eid in account_ids if third[eid] != first[eid]}
    assert differing == set(changed)
    assert {third[eid]["companyName"] for eid in changed} == {f"Renamed Account {n}" for n in range(3)}
    new_bookmark = project.state()["singer_state"]["bookmarks"]["Account"]
    assert new_bookmark["replication_key_value"] > bookmark["replication_key_value"]

    # Replay from scratch: state cleared, everything re-sent, still exactly one customer per Account.
    assert project.meltano("state", "clear", "--force", "dev:tap-salesforce-custom-to-target-netsuite").returncode == 0
    assert project.state() is None
    project.run_pipeline()
    assert _customers(netsuite) == third
    assert (
        project.state()["singer_state"]["bookmarks"]["Account"]["replication_key_value"]
        == new_bookmark["replication_key_value"]
    )


@pytest.mark.usefixtures("fresh_sandboxes")
def test_wrong_netsuite_secret_fails_cleanly_and_keeps_state(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    project.env.update(ONLY_ACCOUNTS)
    project.run_pipeline()
    state_before = project.state()
    salesforce.patch(f"records/Account/{salesforce.records('Account')[0]['Id']}", {"Name": "Changed before bad run"})
    customers_before = _customers(netsuite)

    result = project.run_pipeline(env={"TARGET_NETSUITE_TOKEN_SECRET": "not-the-token-secret"}, check=False)

    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if "INVALID_LOGIN" in line]
    assert error_lines, result.stderr[-4000:]
    assert "not-the-token-secret" not in result.stderr + result.stdout
    assert project.state() == state_before
    assert _customers(netsuite) == customers_before
