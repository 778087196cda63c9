"""Issue 27: stateless hosts. Every "host" here is its own working directory with a fresh disk (its own dead-letter
folder, nothing of the other's files); the hosts share one real PostgreSQL server for Meltano's system database
(`MELTANO_DATABASE_URI`) and the target's store (`store_uri`), as containers without a volume would.

- Run 1 on host A reads Contacts whose Accounts are not in NetSuite yet: parked, state advances. Run 2 on host B
  reads Accounts and Contacts: every contact reaches NetSuite (before the store: 0 of them, both runs exit 0).
- The ledger spans hosts: host B writes v1, host A writes v2, Salesforce reverts to v1, host B sends v1.
- The account lock spans hosts: while one host holds it, a run on another host writes nothing and fails clearly.
- Dead letters are rows in the store: one written on host A is listed, replayed and then no longer listed on host B
  (`meltano invoke pipeline-ops dead-letters ...` piped into `meltano invoke target-netsuite`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from connector_kit.store import Store
from connector_kit.store_accounts import account_schema
from e2e_harness import MELTANO, ROOT, MeltanoProject, SandboxAdmin, run_summaries
from target_netsuite.services import account_lock_name

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")

pytestmark = pytest.mark.e2e

#: The dev environment's account (meltano.yml).
ACCOUNT_ID = "1234567_SB1"
#: The test server trusts every local connection: a password in the store URI is accepted and must never show.
PASSWORD = "s3cr3t-pw"


def _host(tmp_path: Path, name: str, postgres_uri: str) -> MeltanoProject:
    """A fresh host: its own (empty) working directory; the shared server for the system database and the store."""
    folder = tmp_path / name
    folder.mkdir()
    store_uri = postgres_uri.replace("://postgres@", f"://postgres:{PASSWORD}@")
    return MeltanoProject(tmp=folder, env={"MELTANO_DATABASE_URI": postgres_uri,
                                           "TARGET_NETSUITE_STORE_URI": store_uri})


def _local_files(project: MeltanoProject) -> list[str]:
    return sorted(p.name for p in (project.tmp / "dead_letters").glob("*.sqlite3"))


def test_parked_contacts_survive_a_change_of_host(tmp_path: Path, postgres_uri: str, salesforce: SandboxAdmin,
                                                  netsuite: SandboxAdmin) -> None:
    salesforce.post("reset", {"seed": 27, "accounts": 6, "contacts": 28, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    contacts = {c["Id"] for c in salesforce.records("Contact") if not c.get("IsDeleted")}
    with_account = {c["Id"] for c in salesforce.records("Contact") if not c.get("IsDeleted") and c.get("AccountId")}
    assert len(contacts) == 28 and len(with_account) > 20

    host_a = _host(tmp_path, "host-a", postgres_uri)
    first = host_a.run_pipeline(env={"TAP_SALESFORCE_CUSTOM__SELECT": '["Contact.*"]'})
    [summary] = run_summaries(first.stderr)
    assert {c["externalId"] for c in netsuite.records("contact")} == contacts - with_account
    assert summary["parked"] == len(with_account)
    assert "Contact" in host_a.state()["singer_state"]["bookmarks"]  # state moved on: the contacts are parked
    assert _local_files(host_a) == []  # nothing durable on host A's disk

    host_b = _host(tmp_path, "host-b", postgres_uri)  # a fresh disk; the same system database and store
    second = host_b.run_pipeline(env={"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Contact.*"]'})
    assert {c["externalId"] for c in netsuite.records("contact")} == contacts
    assert run_summaries(second.stderr)[0]["parked"] == 0
    assert _local_files(host_b) == []
    assert PASSWORD not in first.stderr + second.stderr


def test_the_ledger_spans_hosts(tmp_path: Path, postgres_uri: str, salesforce: SandboxAdmin,
                                netsuite: SandboxAdmin) -> None:
    """The README's case: host A writes v2, Salesforce reverts to v1, host B (whose last write was v1) sends v1."""
    salesforce.post("reset", {"seed": 28, "accounts": 5, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    select = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
    account = sorted(a["Id"] for a in salesforce.records("Account"))[0]
    host_a, host_b = _host(tmp_path, "host-a", postgres_uri), _host(tmp_path, "host-b", postgres_uri)

    def phone() -> str:
        [customer] = [c for c in netsuite.records("customer") if c["externalId"] == account]
        return str(customer.get("phone"))

    salesforce.patch(f"records/Account/{account}", {"Phone": "+1 512 555 0101"})
    host_b.run_pipeline(env=select)
    v1 = phone()
    salesforce.patch(f"records/Account/{account}", {"Phone": "+1 512 555 0202"})
    host_a.run_pipeline(env=select)
    v2 = phone()
    assert v1 != v2
    salesforce.patch(f"records/Account/{account}", {"Phone": "+1 512 555 0101"})
    third = host_b.run_pipeline(env=select)
    assert phone() == v1
    assert run_summaries(third.stderr)[0]["streams"]["customer"].get("written") == 1


def test_the_account_lock_spans_hosts(tmp_path: Path, postgres_uri: str, salesforce: SandboxAdmin,
                                      netsuite: SandboxAdmin) -> None:
    """Host A holds the account's lock (a run under way there); a run on host B stops before writing, state
    unchanged; once host A lets go, host B's next run writes."""
    salesforce.post("reset", {"seed": 29, "accounts": 8, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    select = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
    host_b = _host(tmp_path, "host-b", postgres_uri)
    host_a = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
    name = account_lock_name(os.environ["SANDBOX_NETSUITE_URL"].rstrip("/"), ACCOUNT_ID)
    try:
        with host_a.account_lock(name) as held:
            assert held
            blocked = host_b.run_pipeline(env=select, check=False)
    finally:
        host_a.close()
    assert blocked.returncode != 0
    assert "another target-netsuite run is writing to NetSuite account" in blocked.stderr
    assert PASSWORD not in blocked.stderr + blocked.stdout
    assert "postgres:***@" in blocked.stderr  # the store named, its password masked
    assert netsuite.records("customer") == []
    assert host_b.state() is None
    host_b.run_pipeline(env=select)
    assert len(netsuite.records("customer")) == 8


def test_a_dead_letter_written_on_one_host_is_listed_and_replayed_on_another(
        tmp_path: Path, postgres_uri: str, salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> None:
    salesforce.post("reset", {"seed": 30, "accounts": 6, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    select = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
    accounts = sorted(a["Id"] for a in salesforce.records("Account"))
    refused = accounts[2]
    netsuite.post("knobs", {"reject_external_ids": [refused]})
    host_a, host_b = _host(tmp_path, "host-a", postgres_uri), _host(tmp_path, "host-b", postgres_uri)
    first = host_a.run_pipeline(env=select)
    assert run_summaries(first.stderr)[0]["dead_letters"] == 1
    assert refused not in {c["externalId"] for c in netsuite.records("customer")}
    assert not (host_a.tmp / "dead_letters").exists()  # the letter is in the store, not on host A's disk

    listed = host_b.meltano("invoke", "pipeline-ops", "dead-letters")
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "1 dead letters waiting" in listed.stdout and refused in listed.stdout
    assert PASSWORD not in listed.stdout + listed.stderr

    netsuite.post("knobs", {"reject_external_ids": []})  # the cause is fixed
    replay = host_b.meltano("invoke", "pipeline-ops", "dead-letters", "replay")
    assert replay.returncode == 0, replay.stderr[-3000:]
    records = [json.loads(line) for line in replay.stdout.splitlines() if line.startswith("{")]
    assert [m["record"]["externalId"] for m in records if m["type"] == "RECORD"] == [refused]
    sent = subprocess.run([str(MELTANO), "invoke", "target-netsuite"], input=replay.stdout, cwd=ROOT,
                          env=host_b.base_env(), text=True, capture_output=True, timeout=600, check=False)
    assert sent.returncode == 0, sent.stderr[-3000:]
    assert refused in {c["externalId"] for c in netsuite.records("customer")}
    again = host_a.meltano("invoke", "pipeline-ops", "dead-letters")
    assert "No dead letters waiting" in again.stdout, again.stdout + again.stderr[-3000:]
    assert not (host_b.tmp / "dead_letters").exists()
