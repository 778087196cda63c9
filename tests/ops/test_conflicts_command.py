"""`pipeline-ops conflicts`: the open conflicts of the target's three-way merge (target_netsuite/merge.py)."""

from __future__ import annotations

from pathlib import Path

from connector_kit.store import Store
from connector_kit.store_accounts import account_schema
from pipeline_ops.cli import main
from target_netsuite.merge import MERGE_FILE, MergeStore

#: The sandbox account's schema in a PostgreSQL store (one schema per NetSuite account).
STORE_SCHEMA = account_schema("1234567_SB1")


def test_conflicts_are_listed_by_type_field_and_policy(tmp_path: Path, capsys) -> None:
    path = tmp_path / MERGE_FILE
    assert main(["conflicts", "--path", str(path)]) == 0
    assert "No conflicts" in capsys.readouterr().out
    store = MergeStore(path, "acct")
    store.add_conflicts([
        {"record_type": "customer", "external_id": f"00100000000000{n}", "field": "phone", "incoming": "+1 2",
         "netsuite": "+1 9", "last_written": "+1 1", "policy": "report",
         "outcome": "NetSuite's value kept, listed until settled", "run_id": "r1"} for n in range(3)])
    store.settle("customer", [], [("001000000000001", "phone")], [])  # a later merge settled one
    store.close()
    assert main(["conflicts", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 conflicts" in out
    assert "customer                phone                   report                 2" in out
    assert "001000000000002 phone: Salesforce '+1 2', NetSuite '+1 9' (last written '+1 1')" in out


def test_an_unreadable_file_is_one_line_and_exit_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / MERGE_FILE
    path.write_text("not a database")
    assert main(["conflicts", "--path", str(path)]) == 1
    assert "cannot read the conflicts" in capsys.readouterr().err


def test_conflicts_are_read_from_the_targets_store(postgres_uri: str, capsys) -> None:
    assert main(["conflicts", "--store-uri", postgres_uri]) == 0
    assert "No conflicts" in capsys.readouterr().out
    store = Store.from_uri(postgres_uri, schema=STORE_SCHEMA)
    MergeStore(store, "acct").add_conflicts([
        {"record_type": "customer", "external_id": "001000000000009", "field": "phone", "incoming": "+1 2",
         "netsuite": "+1 9", "last_written": "+1 1", "policy": "report",
         "outcome": "NetSuite's value kept, listed until settled", "run_id": "r1"}])
    store.close()
    assert main(["conflicts", "--store-uri", postgres_uri]) == 0
    out = capsys.readouterr().out
    assert "1 conflicts in postgresql+psycopg://postgres@" in out
    assert "001000000000009 phone: Salesforce '+1 2'" in out
