"""A client written by hand on requests-oauthlib (no NetSuite library), with inputs the other tests do not use:
external ids made of every character Oracle's help allows (letters, digits, `_`, `-`) plus URL-reserved ones the
target percent-encodes, and SuiteQL paged by following the `next` links until `hasMore` is false.
"""

from __future__ import annotations

import string
from urllib.parse import quote

import requests
from ns_helpers import RECORD, SUITEQL, Admin, customer, tba

ALLOWED = string.ascii_letters + string.digits + "_-"
EXTERNAL_IDS = [ALLOWED, ALLOWED[::-1], "A-1_b", "x" * 255, "a/b", "a#b", "a?b", "a%b", "a b", "a+b", "a&b=c",
                "ümlaut", "a.b:c;d"]


def _signed() -> requests.Session:
    s = requests.Session()
    s.auth = tba()
    return s


def test_every_allowed_character_round_trips_through_url_body_and_suiteql(netsuite_url: str, admin: Admin) -> None:
    s = _signed()
    for external_id in EXTERNAL_IDS:
        response = s.put(f"{netsuite_url}{RECORD}/customer/eid:{quote(external_id, safe='')}", json=customer())
        assert response.status_code == 204, (external_id, response.text)
    assert sorted(admin.by_external_id("customer")) == sorted(EXTERNAL_IDS)
    for external_id in EXTERNAL_IDS:
        got = s.get(f"{netsuite_url}{RECORD}/customer/eid:{quote(external_id, safe='')}")
        assert got.status_code == 200 and got.json()["externalId"] == external_id
        literal = external_id.replace("'", "''")
        query = f"SELECT id FROM customer WHERE externalid = '{literal}'"
        found = s.post(f"{netsuite_url}{SUITEQL}", json={"q": query}, headers={"Prefer": "transient"})
        assert found.status_code == 200 and found.json()["count"] == 1, external_id
    assert admin.record("customer", f"eid:{EXTERNAL_IDS[4]}")["externalId"] == "a/b"


def test_suiteql_paging_follows_next_links_until_has_more_is_false(netsuite_url: str, admin: Admin) -> None:
    s = _signed()
    for n in range(7):
        assert s.post(f"{netsuite_url}{RECORD}/customer", json=customer(f"PAGE-{n}")).status_code == 204
    url: str | None = f"{netsuite_url}{SUITEQL}?limit=3&offset=0"
    seen: list[str] = []
    offsets: list[int] = []
    while url:
        page = s.post(url, json={"q": "SELECT id, externalid FROM customer ORDER BY id"},
                      headers={"Prefer": "transient"})
        assert page.status_code == 200, page.text
        body = page.json()
        offsets.append(body["offset"])
        seen += [row["externalid"] for row in body["items"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        assert body["hasMore"] == ("next" in links)
        url = links.get("next")
    assert offsets == [0, 3, 6]
    assert seen == [f"PAGE-{n}" for n in range(7)]
