"""Issue 24: the "account in use" fixture is deterministic, holds every case it promises, and is reachable from
the sandbox CLI with its ground truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from sandbox.client import NetSuiteClient, SalesforceClient
from sandbox.fixtures.account_in_use import NAME_FORMS, plan_account_in_use
from sandbox.netsuite.cli import main as netsuite_cli


def test_plan_is_deterministic_and_covers_every_case() -> None:
    assert plan_account_in_use() == plan_account_in_use()
    plan = plan_account_in_use()
    kinds = Counter(entry["kind"] for entry in plan["accounts"])
    assert kinds["name_form"] == len(NAME_FORMS) and kinds["variant"] >= 150
    assert {"lookalike", "placeholder", "switchboard", "ns_duplicate", "foreign_id", "other_org_account_id",
            "inactive", "other_subsidiary", "new"} <= set(kinds)
    assert len(plan["accounts"]) >= 240
    assert {e["kind"] for e in plan["contacts"]} == {"of_adopted", "shared_mailbox", "bookkeeper"}
    assert {e["kind"] for e in plan["products"]} == {"same_type", "other_type"}


def test_cli_seeds_both_stand_ins_and_writes_the_ground_truth(salesforce_url: str, netsuite_url: str,
                                                              tmp_path: Path, capsys) -> None:
    truth_file = tmp_path / "truth.json"
    assert netsuite_cli(["--url", netsuite_url, "seed-account-in-use", "--salesforce-url", salesforce_url,
                         "--ground-truth", str(truth_file)]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["accounts"]["name_form -> adopt"] == len(NAME_FORMS)
    truth = json.loads(truth_file.read_text())
    customers = {r["id"]: r for r in NetSuiteClient(netsuite_url).records("customer")}
    accounts = {r["Id"] for r in SalesforceClient(salesforce_url).records("Account")}
    assert {entry["id"] for entry in truth["accounts"]} == accounts
    for entry in truth["accounts"]:
        for ns in entry["ns"]:
            stored = customers[ns["id"]]
            assert stored.get("externalId") == ns.get("externalId")
            if entry["kind"] == "inactive":
                assert stored["isInactive"] is True
            if entry["kind"] == "other_subsidiary":
                assert stored["subsidiary"]["id"] == "4"
