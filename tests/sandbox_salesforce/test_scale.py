"""Real-org limits and metadata changes of the stand-in (issue 16): URI limit, QUERY_TIMEOUT above a row count,
Bulk jobs failing for size, cursor lifetime and count, 800-field objects, deleted and retyped fields."""

from __future__ import annotations

import time

import pytest
from sf_helpers import API, SF

pytestmark = pytest.mark.usefixtures("restore_knobs")


@pytest.fixture
def restore_knobs(sf: SF):
    yield
    sf.admin("POST", "knobs", {"query_timeout_rows": None, "cursor_ttl_seconds": 900, "max_open_cursors": 0,
                               "fault_script": []})
    sf.reset()


def test_uri_past_16384_bytes_answers_414_and_is_logged(sf: SF) -> None:
    sf.reset(accounts=3)
    assert sf.query("SELECT Id, Name FROM Account").status_code == 200
    padding = " AND Name != 'x'" * 1200  # ~29 kB of query string
    too_long = sf.query(f"SELECT Id FROM Account WHERE Name != 'y'{padding}")
    assert too_long.status_code == 414
    log = sf.admin("GET", "requests")
    assert log["uri_limit"] == 16384
    assert log["over_limit"] == 1
    assert log["max_uri_bytes"] > 16384
    assert [r["status"] for r in log["requests"] if r["uri_bytes"] > 16384] == [414]


def test_uri_plus_headers_past_the_limit_answers_431(sf: SF) -> None:
    sf.reset(accounts=3)
    padding = " AND Name != 'x'" * 600  # a URI of ~14.5 kB: under the limit ...
    response = sf.query(f"SELECT Id FROM Account WHERE Name != 'y'{padding}", headers={"X-Pad": "p" * 4000})
    assert response.status_code == 431  # ... but not with these headers


def test_query_timeout_above_the_row_knob_rest_and_bulk(sf: SF) -> None:
    sf.reset(accounts=300)
    sf.admin("POST", "knobs", {"query_timeout_rows": 100})
    slow = sf.query("SELECT Id FROM Account")
    assert slow.status_code == 400
    assert slow.json() == [{"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}]
    narrow = sf.query_ok("SELECT Id FROM Account ORDER BY SystemModstamp LIMIT 100")
    assert len(narrow["records"]) == 100
    job = sf.request("POST", f"{API}/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Account"}).json()
    for _ in range(5):
        info = sf.get(f"{API}/jobs/query/{job['id']}").json()
        if info["state"] in ("JobComplete", "Failed"):
            break
    assert info["state"] == "Failed"
    assert "QUERY_TIMEOUT" in info["errorMessage"]


def test_cursor_expires_after_its_idle_lifetime(sf: SF) -> None:
    sf.reset(accounts=500)
    sf.admin("POST", "knobs", {"cursor_ttl_seconds": 1})
    first = sf.get(f"{API}/query", params={"q": "SELECT Id FROM Account"},
                   headers={"Sforce-Query-Options": "batchSize=200"}).json()
    time.sleep(2.2)
    expired = sf.get(first["nextRecordsUrl"])
    assert expired.status_code == 400
    assert expired.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_opening_more_cursors_than_allowed_releases_the_oldest(sf: SF) -> None:
    sf.reset(accounts=500)
    sf.admin("POST", "knobs", {"max_open_cursors": 2})
    pages = [sf.get(f"{API}/query", params={"q": "SELECT Id FROM Account"},
                    headers={"Sforce-Query-Options": "batchSize=200"}).json() for _ in range(3)]
    assert sf.get(pages[0]["nextRecordsUrl"]).json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert sf.get(pages[1]["nextRecordsUrl"]).status_code == 200
    assert sf.get(pages[2]["nextRecordsUrl"]).status_code == 200


def test_wide_account_has_800_fields_with_values(sf: SF) -> None:
    sf.reset(accounts=20, account_fields=800)
    describe = sf.get(f"{API}/sobjects/Account/describe").json()
    names = [f["name"] for f in describe["fields"]]
    assert len(names) == 800
    assert "Wide_Field_0001__c" in names
    rows = sf.query_ok("SELECT Id, Wide_Field_0001__c, Wide_Field_0700__c FROM Account")["records"]
    values = [r["Wide_Field_0001__c"] for r in rows]
    assert any(v is None for v in values) and any(v and v.startswith("w1") for v in values)
    sf.reset()
    assert len(sf.get(f"{API}/sobjects/Account/describe").json()["fields"]) < 100


def test_deleted_field_disappears_and_comes_back_with_its_data(sf: SF) -> None:
    sf.reset(accounts=10)
    before = {r["Id"]: r["Website"] for r in sf.query_ok("SELECT Id, Website FROM Account")["records"]}
    sf.admin("POST", "metadata/Account", {"delete": ["Website"]})
    assert "Website" not in [f["name"] for f in sf.get(f"{API}/sobjects/Account/describe").json()["fields"]]
    refused = sf.query("SELECT Id, Website FROM Account")
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Website'" in refused.json()[0]["message"]
    sf.admin("POST", "metadata/Account", {"restore": ["Website"]})
    after = {r["Id"]: r["Website"] for r in sf.query_ok("SELECT Id, Website FROM Account")["records"]}
    assert after == before


def test_retyped_number_field_is_described_and_answered_as_text(sf: SF) -> None:
    sf.reset(accounts=30)
    sf.admin("POST", "metadata/Account", {"retype": {"NumberofLocations__c": "string"}})
    field = next(f for f in sf.get(f"{API}/sobjects/Account/describe").json()["fields"]
                 if f["name"] == "NumberofLocations__c")
    assert field["type"] == "string"
    values = [r["NumberofLocations__c"] for r in sf.query_ok("SELECT NumberofLocations__c FROM Account")["records"]]
    assert all(v is None or (isinstance(v, str) and v.isdigit()) for v in values)
    refused = sf.admin("POST", "metadata/Account", {"retype": {"Name": "double"}}, expect=400)
    assert "not a number" in refused["error"]
