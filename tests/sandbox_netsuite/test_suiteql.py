"""SuiteQL over HTTP: the id lookups the target needs, paging and the recorded response shape."""

from __future__ import annotations

import json

import requests
from ns_helpers import RECORD, SUITEQL, Admin, customer, internal_id, sample

PREFER = {"Prefer": "transient"}


def _query(s: requests.Session, base: str, q: str, **params: int) -> requests.Response:
    return s.post(f"{base}{SUITEQL}", params=params or None, headers=PREFER, json={"q": q})


def _make_customers(s: requests.Session, base: str, count: int) -> dict[str, str]:
    return {f"E{i}": internal_id(s.post(f"{base}{RECORD}/customer", json=customer(f"E{i}"))) for i in range(count)}


def test_externalid_in_matches_the_recorded_shape(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    ids = _make_customers(ns, netsuite_url, 3)
    recorded = sample("suiteql.yaml")["samples"][0]["response"]
    response = _query(ns, netsuite_url, "SELECT id, externalid FROM customer WHERE externalid IN ('E0', 'E2', 'NOPE')",
                      limit=1000, offset=0)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == recorded["headers"]["Content-Type"]
    assert response.headers["Preference-Applied"] == "transient"
    body = response.json()
    assert list(body) == list(json.loads(recorded["body_raw"]))
    assert body == {
        "links": [{"rel": "self", "href": f"{netsuite_url}{SUITEQL}?limit=1000&offset=0"}],
        "count": 2, "hasMore": False,
        "items": [{"links": [], "id": ids["E0"], "externalid": "E0"},
                  {"links": [], "id": ids["E2"], "externalid": "E2"}],
        "offset": 0, "totalResults": 2,
    }


def test_equality_id_lookups_aliases_and_strings(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    ids = _make_customers(ns, netsuite_url, 3)
    one = _query(ns, netsuite_url, "SELECT c.id AS internalId FROM customer c WHERE c.externalId = 'E1'").json()
    assert one["items"] == [{"links": [], "internalid": ids["E1"]}]
    assert one["links"] == [{"rel": "self", "href": f"{netsuite_url}{SUITEQL}"}]
    by_id = _query(ns, netsuite_url, f"SELECT id, externalid, isinactive, subsidiary FROM customer "
                                     f"WHERE id IN ({ids['E0']}, '{ids['E1']}')").json()
    assert by_id["items"] == [
        {"links": [], "id": ids["E0"], "externalid": "E0", "isinactive": "F", "subsidiary": "1"},
        {"links": [], "id": ids["E1"], "externalid": "E1", "isinactive": "F", "subsidiary": "1"},
    ]
    either = _query(ns, netsuite_url, "SELECT externalid FROM customer WHERE externalid = 'E0' OR "
                                      "(externalid = 'E2' AND isinactive = 'F') ORDER BY externalid DESC").json()
    assert [row["externalid"] for row in either["items"]] == ["E2", "E0"]
    empty = _query(ns, netsuite_url, "SELECT id FROM customer WHERE externalid = 'missing'").json()
    assert empty["count"] == 0 and empty["items"] == [] and empty["totalResults"] == 0


def test_items_and_transactions_tables(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    item_body = {"itemId": "W", "externalId": "P1"}
    item = internal_id(ns.post(f"{netsuite_url}{RECORD}/nonInventorySaleItem", json=item_body))
    cust = internal_id(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("C1")))
    order = {"entity": {"id": cust}, "externalId": "O1", "tranDate": "2024-05-20",
             "item": {"items": [{"item": {"id": item}, "quantity": 1, "rate": 3}]}}
    ns.post(f"{netsuite_url}{RECORD}/salesOrder", json=order)
    items = _query(ns, netsuite_url, "SELECT id, itemtype FROM item WHERE externalid = 'P1'").json()["items"]
    assert items == [{"links": [], "id": item, "itemtype": "NonInvtPart"}]
    rows = _query(ns, netsuite_url, "SELECT id, entity, trandate, type FROM transaction "
                                    "WHERE externalid IN ('O1')").json()["items"]
    assert rows[0]["entity"] == cust and rows[0]["trandate"] == "5/20/2024" and rows[0]["type"] == "SalesOrd"


def test_paging(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    _make_customers(ns, netsuite_url, 5)
    first = _query(ns, netsuite_url, "SELECT id FROM customer ORDER BY id", limit=2, offset=0).json()
    assert first["count"] == 2 and first["hasMore"] is True and first["totalResults"] == 5
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert rels["next"].endswith("?limit=2&offset=2") and rels["self"].endswith("?limit=2&offset=0")
    last = _query(ns, netsuite_url, "SELECT id FROM customer ORDER BY id", limit=2, offset=4).json()
    assert last["count"] == 1 and last["hasMore"] is False and last["offset"] == 4


def test_errors(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    no_prefer = ns.post(f"{netsuite_url}{SUITEQL}", json={"q": "SELECT id FROM customer"})
    assert no_prefer.status_code == 400
    assert no_prefer.json()["o:errorDetails"][0]["o:errorHeader"] == "Prefer"
    for q in ("DELETE FROM customer", "SELECT id FROM nosuchtable", "SELECT FROM customer"):
        bad = _query(ns, netsuite_url, q)
        assert bad.status_code == 400, q
        assert bad.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
        assert bad.json()["o:errorDetails"][0]["o:errorQueryParam"] == "q"
    assert _query(ns, netsuite_url, "SELECT id FROM customer", limit=5000).status_code == 400
