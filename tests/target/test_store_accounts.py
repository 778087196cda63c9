"""Issue 27: one store per NetSuite account. Two accounts share one real PostgreSQL store: the sandbox's account
runs the real target-netsuite (a customer written: a ledger entry; a contact whose customer is missing: parked; a
customer NetSuite refuses: a dead letter), while a second account (another NetSuite, whose target wrote through
the same table classes) has its own parked contact, ledger entry and dead letter. Neither ever sees the other's
rows: the target retries only its own parked record, `pipeline-ops` lists one account's letters and says which,
and refuses to guess when the store holds both. A store from before accounts is renamed by `pipeline-ops store
migrate --account`, and the target refuses to start on it until then (starting empty would strand its parked
records).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from connector_kit.store import Store, StoreError, Stores
from connector_kit.store_accounts import LEGACY_SCHEMA, account_schema, claim
from target_helpers import CUSTOMER_SCHEMA, DEMO_TBA, customer, run_target
from target_netsuite.dead_letters import DeadLetterStore
from target_netsuite.ledger import WriteLedger, account_key
from target_netsuite.parking import ParkedRecords

SANDBOX_ACCOUNT = str(DEMO_TBA["account_id"]).upper()
OTHER_ACCOUNT = "7654321"
PIPELINE_OPS = str(Path(sys.executable).with_name("pipeline-ops"))
CONTACT_SCHEMA = {
    "type": "SCHEMA", "stream": "contact", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {"externalId": {"type": "string"}, "lastName": {"type": "string"},
                                                "company": {"type": "object"}, "subsidiary": {"type": "object"}}},
}


def _contact(external_id: str, company: str) -> dict:
    return {"type": "RECORD", "stream": "contact", "record": {
        "externalId": external_id, "lastName": f"Contact {external_id}", "subsidiary": {"id": "1"},
        "company": {"externalId": company, "type": "customer"}}}


def _account_store(uri: str, account: str) -> Store:
    stores = Stores(uri, schema=account_schema(account), files={})
    claim(stores, account)
    return stores.part("parked")


def _other_accounts_run(uri: str) -> None:
    """What the second account's target left: a parked contact, a ledger entry and a dead letter."""
    store = _account_store(uri, OTHER_ACCOUNT)
    ParkedRecords(store).park(record_type="contact", external_id="OTHER-CONTACT", stream="contact",
                              record=_contact("OTHER-CONTACT", "OTHER-PARENT")["record"],
                              waiting_for="customer OTHER-PARENT")
    WriteLedger(store, account_key("https://7654321.suitetalk.api.netsuite.com", OTHER_ACCOUNT)).record(
        "customer", [("OTHER-CUSTOMER", "hash")])
    DeadLetterStore(store, "other-run").add(stream="customer", record_type="customer", external_id="OTHER-REFUSED",
                                            code="USER_ERROR", detail="refused in the other account",
                                            payload={"externalId": "OTHER-REFUSED"})
    store.close()


def _pipeline_ops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PIPELINE_OPS, *args], capture_output=True, text=True, timeout=120, check=False)


def test_two_accounts_share_one_postgres_store_and_never_meet(tmp_path: Path, postgres_uri: str,
                                                              netsuite_url: str) -> None:
    _other_accounts_run(postgres_uri)
    config = {**DEMO_TBA, "base_url": netsuite_url, "dead_letter_path": str(tmp_path / "dead_letters"),
              "store_uri": postgres_uri}
    messages = [CUSTOMER_SCHEMA, CONTACT_SCHEMA, customer("MINE-CUSTOMER"),
                {"type": "RECORD", "stream": "customer", "record": {"externalId": "MINE-REFUSED"}},  # no subsidiary
                _contact("MINE-CONTACT", "MINE-MISSING-PARENT"),
                {"type": "STATE", "value": {"bookmarks": {"all": {"done": True}}}}]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    # The target tried its own parked contact only: the other account's is in another schema.
    assert "Trying 1 parked records again" in run.stderr, run.stderr[-3000:]
    assert "1 records wait for a parent" in run.stderr

    mine, other = (Store.from_uri(postgres_uri, schema=account_schema(a)) for a in (SANDBOX_ACCOUNT, OTHER_ACCOUNT))
    try:
        assert [p.external_id for p in ParkedRecords(mine).all()] == ["MINE-CONTACT"]
        assert [p.external_id for p in ParkedRecords(other).all()] == ["OTHER-CONTACT"]
        mine_key = account_key(netsuite_url.rstrip("/"), SANDBOX_ACCOUNT)
        other_key = account_key("https://7654321.suitetalk.api.netsuite.com", OTHER_ACCOUNT)
        assert set(WriteLedger(mine, mine_key).known("customer", ["MINE-CUSTOMER", "OTHER-CUSTOMER"])) == {
            "MINE-CUSTOMER"}
        assert not WriteLedger(other, other_key).known("customer", ["MINE-CUSTOMER"])
        assert not WriteLedger(mine, other_key).known("customer", ["OTHER-CUSTOMER"])  # not even by its key
        assert {e["externalId"] for e in DeadLetterStore(mine, "reader").letters()} == {"MINE-REFUSED"}
        assert {e["externalId"] for e in DeadLetterStore(other, "reader").letters()} == {"OTHER-REFUSED"}
    finally:
        mine.close()
        other.close()

    # pipeline-ops: never a guess between two accounts; told one, it says the store holds others.
    guessed = _pipeline_ops("dead-letters", "--store-uri", postgres_uri)
    assert guessed.returncode == 1
    assert f"holds NetSuite accounts {SANDBOX_ACCOUNT}, {OTHER_ACCOUNT}: choose one with --account" in guessed.stderr
    for account, letter, absent in ((SANDBOX_ACCOUNT, "MINE-REFUSED", "OTHER-REFUSED"),
                                    (OTHER_ACCOUNT, "OTHER-REFUSED", "MINE-REFUSED")):
        listed = _pipeline_ops("dead-letters", "export", "--store-uri", postgres_uri, "--account", account)
        assert listed.returncode == 0, listed.stderr
        assert letter in listed.stdout and absent not in listed.stdout
        assert f"showing account {account}" in listed.stderr
    statuses = _pipeline_ops("--account", OTHER_ACCOUNT, "sync-status", "--store-uri", postgres_uri)
    assert statuses.returncode == 0, statuses.stderr
    assert "MINE-" not in statuses.stdout


def test_a_sqlite_store_file_is_one_accounts(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    _account_store(uri, SANDBOX_ACCOUNT).close()
    _account_store(uri, SANDBOX_ACCOUNT).close()  # its own account again: fine
    with pytest.raises(StoreError, match=f"is NetSuite account {SANDBOX_ACCOUNT}'s, not {OTHER_ACCOUNT}'s"):
        _account_store(uri, OTHER_ACCOUNT)


def test_a_store_from_before_accounts_is_renamed_by_migrate_and_twice_does_nothing(
    tmp_path: Path, postgres_uri: str, netsuite_url: str
) -> None:
    legacy = Store.from_uri(postgres_uri, schema=LEGACY_SCHEMA)
    ParkedRecords(legacy).park(record_type="contact", external_id="OLD-CONTACT", stream="contact",
                               record=_contact("OLD-CONTACT", "OLD-PARENT")["record"],
                               waiting_for="customer OLD-PARENT")
    legacy.close()
    config = {**DEMO_TBA, "base_url": netsuite_url, "dead_letter_path": str(tmp_path / "dead_letters"),
              "store_uri": postgres_uri}
    messages = [CUSTOMER_SCHEMA, customer("NEW-CUSTOMER"), {"type": "STATE", "value": {"bookmarks": {"a": 1}}}]

    refused = run_target(config, messages, tmp_path)
    assert refused.returncode != 0
    assert f"pipeline-ops store migrate --to <store_uri> --account {SANDBOX_ACCOUNT}" in refused.stderr
    assert "Traceback" not in refused.stderr and not refused.states  # nothing written, no state

    empty = tmp_path / "no-files"
    empty.mkdir()
    migrate = ("store", "migrate", "--to", postgres_uri, "--from", str(empty), "--account", SANDBOX_ACCOUNT)
    first = _pipeline_ops(*migrate)
    assert first.returncode == 0, first.stderr
    assert f"schema {LEGACY_SCHEMA} renamed {account_schema(SANDBOX_ACCOUNT)}" in first.stdout
    second = _pipeline_ops(*migrate)
    assert second.returncode == 0, second.stderr
    assert f"no schema {LEGACY_SCHEMA}" in second.stdout

    after = run_target(config, messages, tmp_path)
    assert after.returncode == 0, after.stderr[-3000:]
    assert "Trying 1 parked records again" in after.stderr  # the old store's parked contact, now the account's
