"""`/query` and `/queryAll` paging: batch sizes, cursors, totals, deleted rows, snapshot semantics."""

from __future__ import annotations

import re

import pytest
from sf_helpers import API, SF


@pytest.fixture(scope="module", autouse=True)
def _bigger_org(sf: SF) -> None:
    sf.reset(accounts=2600, contacts=0, opportunities=0, invoices=0)


def _pages(sf: SF, soql: str, all_rows: bool = False, batch: int | None = None) -> list[dict]:
    headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
    response = sf.query(soql, all_rows, headers=headers)
    assert response.status_code == 200, response.text[:500]
    pages = [response.json()]
    while not pages[-1]["done"]:
        pages.append(sf.get(pages[-1]["nextRecordsUrl"]).json())
    return pages


def test_default_batch_is_2000_and_cursors_carry_the_offset(sf: SF) -> None:
    pages = _pages(sf, "SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
    assert [len(p["records"]) for p in pages] == [2000, 600]
    assert all(p["totalSize"] == 2600 for p in pages)
    assert re.fullmatch(rf"{API}/query/0r8\w{{15}}-2000", pages[0]["nextRecordsUrl"])
    assert "nextRecordsUrl" not in pages[-1] and pages[-1]["done"] is True
    ids = [r["Id"] for p in pages for r in p["records"]]
    assert len(ids) == len(set(ids)) == 2600
    stamps = [(r["SystemModstamp"], r["Id"]) for p in pages for r in p["records"]]
    assert stamps == sorted(stamps)


def test_long_text_selected_pages_at_1000(sf: SF) -> None:
    pages = _pages(sf, "SELECT Id, Name, Description FROM Account")
    assert [len(p["records"]) for p in pages] == [1000, 1000, 600]
    assert pages[0]["nextRecordsUrl"].endswith("-1000") and pages[1]["nextRecordsUrl"].endswith("-2000")


@pytest.mark.parametrize("asked, expected", [(500, 500), (100, 200), (5000, 2000)])
def test_batch_size_header_is_honoured_within_200_to_2000(sf: SF, asked: int, expected: int) -> None:
    pages = _pages(sf, "SELECT Id FROM Account", batch=asked)
    assert len(pages[0]["records"]) == expected
    assert sum(len(p["records"]) for p in pages) == 2600


def test_a_page_can_be_fetched_again_and_a_bad_locator_is_refused(sf: SF) -> None:
    first = sf.query_ok("SELECT Id FROM Account ORDER BY Id")
    once = sf.get(first["nextRecordsUrl"]).json()
    twice = sf.get(first["nextRecordsUrl"]).json()
    assert once == twice
    bad = sf.get(f"{API}/query/0r8AAAAAAAAAAAAAAA-2000")
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_cursor_is_a_snapshot_of_the_matching_rows(sf: SF) -> None:
    first = sf.query_ok("SELECT Id FROM Account ORDER BY Id")
    sf.admin("POST", "records/Account", {"Name": "Arrived after the query started"}, expect=201)
    rest = sf.get(first["nextRecordsUrl"]).json()
    assert rest["totalSize"] == first["totalSize"] and len(first["records"]) + len(rest["records"]) == 2600


def test_deleted_rows_only_in_query_all(sf: SF) -> None:
    victims = [r["Id"] for r in sf.query_ok("SELECT Id FROM Account ORDER BY Id LIMIT 3")["records"]]
    for victim in victims:
        sf.admin("DELETE", f"records/Account/{victim}")
    live = {r["Id"] for p in _pages(sf, "SELECT Id FROM Account") for r in p["records"]}
    everything = [r for p in _pages(sf, "SELECT Id, IsDeleted FROM Account", all_rows=True) for r in p["records"]]
    assert not live & set(victims)
    deleted = {r["Id"] for r in everything if r["IsDeleted"]}
    assert deleted == set(victims) and len(everything) == len(live) + 3
    via_all = sf.query_ok(f"SELECT Id, IsDeleted FROM Account WHERE Id = '{victims[0]}'", all_rows=True)
    assert via_all["records"][0]["IsDeleted"] is True
    assert via_all["records"][0]["attributes"]["url"] == f"{API}/sobjects/Account/{victims[0]}"
    assert sf.query_ok(f"SELECT Id FROM Account WHERE Id = '{victims[0]}'")["totalSize"] == 0
    sf.admin("POST", f"records/Account/{victims[0]}/undelete")
    assert sf.query_ok(f"SELECT Id FROM Account WHERE Id = '{victims[0]}'")["totalSize"] == 1


def test_any_api_version_is_accepted_and_echoed(sf: SF) -> None:
    response = sf.get("/services/data/v58.0/query", params={"q": "SELECT Id FROM Account LIMIT 1"})
    assert response.json()["records"][0]["attributes"]["url"].startswith("/services/data/v58.0/sobjects/")
    assert sf.get("/services/data/vbad/query", params={"q": "SELECT Id FROM Account"}).status_code == 404
