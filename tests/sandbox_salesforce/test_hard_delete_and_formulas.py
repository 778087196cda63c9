"""Issue 11: what only a reconciliation notices. A hard delete (purge from the recycle bin) leaves no row for
queryAll, and a cross-object formula changes its value while the record's SystemModstamp stays put."""

from __future__ import annotations

from sf_helpers import SF


def test_purged_account_is_gone_even_for_query_all(sf: SF) -> None:
    sf.reset()
    soft, hard = (r["Id"] for r in sf.all_records("SELECT Id FROM Account ORDER BY Id LIMIT 2"))
    sf.admin("DELETE", f"records/Account/{soft}")
    sf.admin("DELETE", f"records/Account/{hard}")
    sf.admin("POST", f"records/Account/{hard}/purge")
    deleted = {r["Id"] for r in sf.all_records("SELECT Id FROM Account WHERE IsDeleted = true", all_rows=True)}
    assert soft in deleted and hard not in deleted
    assert hard not in {r["Id"] for r in sf.all_records("SELECT Id FROM Account", all_rows=True)}
    live = sf.all_records("SELECT Id FROM Account LIMIT 1")[0]["Id"]
    sf.admin("POST", f"records/Account/{live}/purge")  # a hard delete straight away (Bulk hardDelete)
    assert live not in {r["Id"] for r in sf.all_records("SELECT Id FROM Account", all_rows=True)}
    sf.admin("POST", f"records/Account/{live}/purge", expect=404)


def test_cross_object_formula_changes_without_moving_system_modstamp(sf: SF) -> None:
    sf.reset()
    describe = sf.get("/services/data/v61.0/sobjects/Account/describe").json()
    field = next(f for f in describe["fields"] if f["name"] == "OwnerName__c")
    assert field["calculated"] is True and field["calculatedFormula"] == "Owner.Name"
    soql = "SELECT Id, OwnerId, OwnerName__c, SystemModstamp FROM Account ORDER BY Id LIMIT 1"
    before = sf.all_records(soql)[0]
    owner = sf.admin("GET", "records/User")["records"]
    name = next(u["Name"] for u in owner if u["Id"] == before["OwnerId"])
    assert before["OwnerName__c"] == name
    sf.admin("PATCH", f"records/User/{before['OwnerId']}", {"LastName": "Renamed"})
    after = sf.all_records(soql)[0]
    assert after["OwnerName__c"].endswith("Renamed")
    assert after["SystemModstamp"] == before["SystemModstamp"]
