"""Generated data (deterministic, varied, consistent, streamed) and the admin API/CLI that changes it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox.salesforce.cli import main as cli_main
from sandbox.salesforce.values import id_suffix
from sf_helpers import API, SF

PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "OpportunityLineItem": "00k", "Product2": "01t",
            "Pricebook2": "01s", "PricebookEntry": "01u", "User": "005", "Invoice__c": "a00"}


@pytest.fixture(scope="module", autouse=True)
def _org(sf: SF) -> None:
    sf.reset(accounts=500, contacts=400)


def test_same_seed_same_org_other_seed_other_org(sf: SF) -> None:
    first = sf.admin("GET", "records/Account")["records"]
    sf.reset(accounts=500, contacts=400)
    assert sf.admin("GET", "records/Account")["records"] == first
    sf.reset(seed=7, accounts=500, contacts=400)
    assert sf.admin("GET", "records/Account")["records"] != first
    sf.reset(accounts=500, contacts=400)


def test_ids_are_18_characters_with_key_prefix_and_checksum(sf: SF) -> None:
    assert id_suffix("001dM00003jU9Gy") == "QAK"  # a real id from the recorded query page
    for obj, prefix in PREFIXES.items():
        records = sf.admin("GET", f"records/{obj}?limit=20")["records"]
        assert records, obj
        for record in records:
            assert len(record["Id"]) == 18 and record["Id"].startswith(prefix)
            assert record["Id"][15:] == id_suffix(record["Id"][:15])


def test_data_has_the_variety_that_breaks_connectors(sf: SF) -> None:
    accounts = sf.admin("GET", "records/Account")["records"]
    countries = {a["BillingCountry"] for a in accounts}
    assert {"United States", "USA", "U.S.", "Deutschland", "UK", "Canada", "日本", None} <= countries
    states = {a["BillingState"] for a in accounts}
    assert {"CA", "Texas", "NY", "Ontario", "QC"} <= states
    names = [a["Name"] for a in accounts]
    assert any(not n.isascii() for n in names) and any("\n" in n for n in names) and any('"' in n for n in names)
    assert any(a["Description"] and len(a["Description"]) > 2000 for a in accounts)
    assert any(a["AccountNumber"] is None for a in accounts)
    assert any(a["BillingAddress"]["street"] and "\n" in a["BillingAddress"]["street"] for a in accounts)


def test_relationships_are_consistent(sf: SF) -> None:
    account_ids = {r["Id"] for r in sf.all_records("SELECT Id FROM Account")}
    contacts = sf.all_records("SELECT AccountId FROM Contact")
    assert all(c["AccountId"] in account_ids for c in contacts if c["AccountId"])
    lines = sf.all_records("SELECT OpportunityId, PricebookEntry.Product2Id, Product2Id, Quantity, UnitPrice, "
                           "Discount, TotalPrice FROM OpportunityLineItem")
    opportunities = {o["Id"]: o for o in sf.all_records("SELECT Id, Amount, IsWon, StageName FROM Opportunity")}
    assert lines and all(line["OpportunityId"] in opportunities for line in lines)
    assert all(line["PricebookEntry"]["Product2Id"] == line["Product2Id"] for line in lines)
    wrong = [line for line in lines if abs(line["TotalPrice"] - line["Quantity"] * line["UnitPrice"]
                                          * (1 - (line["Discount"] or 0) / 100)) > 0.0051]
    assert not wrong
    assert any(line["Discount"] for line in lines) and any(line["Quantity"] % 1 for line in lines)
    won = [o for o in opportunities.values() if o["IsWon"]]
    assert won and all(o["StageName"] == "Closed Won" for o in won)
    with_lines = {line["OpportunityId"] for line in lines}
    assert any(o["Id"] in with_lines for o in won)


def _soql_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def test_create_update_delete_undelete_stamp_the_commit_second(sf: SF) -> None:
    before = _soql_now()
    created = sf.admin("POST", "records/Account", {"Name": "Neu GmbH", "BillingCountry": "Deutschland"}, expect=201)
    stamps = [created["SystemModstamp"]]
    for n in range(20):  # a burst: each write is stamped with its commit second, never pushed into the future
        stamps.append(sf.admin("PATCH", f"records/Account/{created['id']}", {"Phone": f"+49 30 {n}"})["SystemModstamp"])
    after = _soql_now()
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    assert all(s.endswith(".000+0000") for s in stamps)  # second precision
    assert len(set(stamps)) < len(stamps)  # writes of one burst share seconds
    sf.admin("DELETE", f"records/Account/{created['id']}")
    again = sf.admin("DELETE", f"records/Account/{created['id']}", expect=404)
    assert again[0]["errorCode"] == "ENTITY_IS_DELETED"
    deleted = sf.query_ok(f"SELECT SystemModstamp, IsDeleted FROM Account WHERE Id = '{created['id']}'", True)
    assert deleted["records"][0]["IsDeleted"] and deleted["records"][0]["SystemModstamp"] >= stamps[-1]
    sf.admin("POST", f"records/Account/{created['id']}/undelete")
    record = sf.query_ok(f"SELECT Phone FROM Account WHERE Id = '{created['id']}'")["records"][0]
    assert record["Phone"] == "+49 30 19"


def test_admin_write_errors_use_salesforce_codes(sf: SF) -> None:
    assert sf.admin("POST", "records/Account", {"Nmae": "x"}, expect=400)[0]["errorCode"] == "INVALID_FIELD"
    missing = sf.admin("POST", "records/Contact", {"FirstName": "Ann"}, expect=400)[0]
    assert missing["errorCode"] == "REQUIRED_FIELD_MISSING" and missing["fields"] == ["LastName"]
    dangling = sf.admin("POST", "records/Contact", {"LastName": "X", "AccountId": "0015g0000099999AAA"}, expect=400)
    assert dangling[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert sf.admin("PATCH", "records/Account/0015g0000099999AAA", {"Name": "x"}, expect=404)[0]["errorCode"] == (
        "NOT_FOUND")
    assert sf.admin("PATCH", "records/Nope/0015g0000099999AAA", {"Name": "x"}, expect=404)


def test_late_commit_lands_behind_records_already_served(sf: SF) -> None:
    newest = sf.query_ok("SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp DESC LIMIT 1")["records"][0]
    target = sf.query_ok("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"]
    late = sf.admin("PATCH", f"records/Account/{target}", {"Name": "Committed late", "late_seconds": 3600})
    assert late["SystemModstamp"] < newest["SystemModstamp"]
    pinned = sf.admin("PATCH", f"records/Account/{target}", {"Name": "Pinned",
                                                              "system_modstamp": "2024-05-20T20:49:32Z"})
    assert pinned["SystemModstamp"] == "2024-05-20T20:49:32.000+0000"
    created = sf.admin("POST", "records/Account", {"Name": "Late insert", "late_seconds": 120}, expect=201)
    assert created["SystemModstamp"] < newest["SystemModstamp"] or newest["SystemModstamp"] < "2026"


def test_many_records_share_one_system_modstamp(sf: SF) -> None:
    shared = sf.admin("POST", "share_modstamp/Account", {"count": 250, "system_modstamp": "2022-02-02T02:02:02Z"})
    assert len(shared["ids"]) == 250
    same = sf.all_records(f"SELECT Id FROM Account WHERE SystemModstamp = {shared['SystemModstamp']}")
    assert {r["Id"] for r in same} == set(shared["ids"])


def test_discounted_line_totals_as_salesforce_computes_them(sf: SF) -> None:
    """TotalPrice = Quantity x UnitPrice x (1 - Discount/100), rounded once, half up, to the cent; the Amount is
    the exact sum of the lines."""
    opportunity = sf.query_ok("SELECT Id FROM Opportunity WHERE HasOpportunityLineItem = false LIMIT 1")["records"][0]
    entry = sf.query_ok("SELECT Id FROM PricebookEntry LIMIT 1")["records"][0]
    first = sf.admin("POST", "records/OpportunityLineItem", {
        "OpportunityId": opportunity["Id"], "PricebookEntryId": entry["Id"], "Quantity": 2.5, "UnitPrice": 19.99,
        "Discount": 12.25}, expect=201)
    sf.admin("POST", "records/OpportunityLineItem", {
        "OpportunityId": opportunity["Id"], "PricebookEntryId": entry["Id"], "Quantity": 3, "UnitPrice": 0.35,
        "Discount": 50}, expect=201)
    line = sf.query_ok(f"SELECT Subtotal, TotalPrice FROM OpportunityLineItem WHERE Id = '{first['id']}'")
    # 2.5 x 19.99 = 49.975; x 0.8775 = 43.8530625 -> 43.85. 3 x 0.35 x 0.5 = 0.525 -> 0.53 (half up, not even)
    assert (line["records"][0]["Subtotal"], line["records"][0]["TotalPrice"]) == (49.98, 43.85)
    amount = sf.query_ok(f"SELECT Amount FROM Opportunity WHERE Id = '{opportunity['Id']}'")["records"][0]["Amount"]
    assert amount == 44.38
    sf.admin("PATCH", f"records/OpportunityLineItem/{first['id']}", {"Discount": None})
    amount = sf.query_ok(f"SELECT Amount FROM Opportunity WHERE Id = '{opportunity['Id']}'")["records"][0]["Amount"]
    assert amount == 50.51  # 49.98 + 0.53


def test_line_item_changes_roll_up_into_their_opportunity(sf: SF) -> None:
    opportunity = sf.query_ok("SELECT Id, Amount, SystemModstamp FROM Opportunity WHERE HasOpportunityLineItem = true "
                              "LIMIT 1")["records"][0]
    entry = sf.query_ok("SELECT Id, UnitPrice FROM PricebookEntry LIMIT 1")["records"][0]
    line = sf.admin("POST", "records/OpportunityLineItem", {"OpportunityId": opportunity["Id"], "Quantity": 2,
                                                            "UnitPrice": 10.0, "PricebookEntryId": entry["Id"]},
                    expect=201)
    after = sf.query_ok(f"SELECT Amount, SystemModstamp FROM Opportunity WHERE Id = '{opportunity['Id']}'")
    assert after["records"][0]["Amount"] == pytest.approx(opportunity["Amount"] + 20.0)
    assert after["records"][0]["SystemModstamp"] > opportunity["SystemModstamp"]
    sf.admin("DELETE", f"records/Opportunity/{opportunity['Id']}")
    lines = sf.query_ok(f"SELECT Id, IsDeleted FROM OpportunityLineItem WHERE OpportunityId = '{opportunity['Id']}'",
                        True)["records"]
    assert line["id"] in {r["Id"] for r in lines} and all(r["IsDeleted"] for r in lines)


def test_cli_drives_the_admin_api(sf: SF, capsys: pytest.CaptureFixture[str]) -> None:
    target = sf.query_ok("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"]
    assert cli_main(["--url", sf.base, "update", "Account", target, "Name=Via CLI", "NumberOfEmployees=12"]) == 0
    record = sf.query_ok(f"SELECT Name, NumberOfEmployees FROM Account WHERE Id = '{target}'")["records"][0]
    assert record == {**record, "Name": "Via CLI", "NumberOfEmployees": 12}
    assert cli_main(["--url", sf.base, "knobs", "--latency-ms", '{"min": 0, "max": 1}']) == 0
    assert sf.admin("GET", "knobs")["latency_ms"] == {"min": 0, "max": 1}
    assert cli_main(["--url", sf.base, "knobs", "--latency-ms", "0"]) == 0
    assert cli_main(["--url", sf.base, "create", "Account", "Nmae=x"]) == 1
    assert cli_main(["--url", sf.base, "reset", "--accounts", "12", "--contacts", "3"]) == 0
    assert sf.admin("GET", "stats")["records"]["Account"] == {"total": 12, "deleted": 0}
    capsys.readouterr()
    assert cli_main(["--url", sf.base, "stats"]) == 0
    assert '"api_usage": 0' in capsys.readouterr().out
    sf.reset(accounts=500, contacts=400)


def test_generation_streams_in_flat_memory(tmp_path: Path) -> None:
    def peak_rss_kb(accounts: int) -> int:
        script = (
            "import resource, sys; from pathlib import Path; from sandbox.salesforce.store import Store; "
            "from sandbox.salesforce.data import Volumes; "
            f"Store(Path(sys.argv[1])).seed(Volumes(accounts={accounts}, contacts=0, opportunities=0, invoices=0)); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"org-{accounts}.sqlite3")],
                              capture_output=True, text=True, check=True)
        return int(done.stdout.strip())

    small, large = peak_rss_kb(6_000), peak_rss_kb(30_000)
    assert large < small * 1.2, (small, large)  # five times the rows, about the same peak


def test_describe_unknown_object_is_not_found(sf: SF) -> None:
    response = sf.get(f"{API}/sobjects/Nope__c/describe")
    assert response.status_code == 404 and response.json()[0]["errorCode"] == "NOT_FOUND"
