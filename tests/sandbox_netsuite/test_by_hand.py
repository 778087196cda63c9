"""Issue 11: an account already in use. Records created, edited and deleted "by hand" (the admin routes stand for
the NetSuite UI: validated, but not governed and not in the API request log), and the SuiteQL the target's
record matching sends (UPPER/LOWER/TRIM/REGEXP_REPLACE, LIKE)."""

from __future__ import annotations

import pytest
import requests
from ns_helpers import RECORD, SUITEQL, Admin
from sandbox.client import AdminError

PREFER = {"Prefer": "transient"}




def _ids(ns: requests.Session, base: str, q: str) -> list[str]:
    response = ns.post(f"{base}{SUITEQL}", headers=PREFER, json={"q": q})
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["items"]]


def test_records_by_hand_are_validated_and_not_in_the_request_log(admin: Admin, ns: requests.Session,
                                                                   netsuite_url: str) -> None:
    log_before = len(admin.request_log())
    first, second = admin.create_records("customer", [
        {"companyName": "Acme, Inc.", "subsidiary": {"id": "1"}, "phone": "(415) 555-0100"},
        {"companyName": "  ACME inc ", "subsidiary": {"id": "1"}, "email": " Billing@Acme.example "},
    ])
    assert [r.get("externalId") for r in admin.records("customer")] == [None, None]
    with pytest.raises(AdminError) as refused:
        admin.create_records("customer", [{"companyName": "No subsidiary"}])
    assert refused.value.status == 400 and "Subsidiary" in str(refused.value.body)

    edited = admin.edit_record("customer", first, {"creditLimit": 5000})
    assert edited["creditLimit"] == 5000
    admin.delete_record("customer", second)
    assert [r["id"] for r in admin.records("customer")] == [first]
    with pytest.raises(AdminError) as gone:
        admin.delete_record("customer", second)
    assert gone.value.status == 404
    assert len(admin.request_log()) == log_before  # a person, not the API
    assert ns.get(f"{netsuite_url}{RECORD}/customer/{second}").status_code == 404


def test_suiteql_string_functions_and_like(admin: Admin, ns: requests.Session, netsuite_url: str) -> None:
    ids = admin.create_records("customer", [
        {"companyName": "Acme, Inc.", "subsidiary": {"id": "1"}, "phone": "(415) 555-0100"},
        {"companyName": "Other Co", "subsidiary": {"id": "1"}, "email": " Billing@Acme.example "},
        {"companyName": "ACME Holdings", "subsidiary": {"id": "1"}, "externalId": "SF1"},
    ])
    q = "SELECT id FROM customer WHERE "
    assert _ids(ns, netsuite_url, q + "UPPER(companyname) LIKE '%ACME%'") == [ids[0], ids[2]]
    assert _ids(ns, netsuite_url, q + "UPPER(companyname) LIKE '%ACME%' AND externalid IS NULL") == [ids[0]]
    assert _ids(ns, netsuite_url, q + "companyname LIKE 'Acme_ Inc.'") == [ids[0]]
    assert _ids(ns, netsuite_url, q + "REGEXP_REPLACE(phone, '[^0-9]', '') LIKE '%4155550100'") == [ids[0]]
    assert _ids(ns, netsuite_url, q + "UPPER(TRIM(email)) IN ('BILLING@ACME.EXAMPLE')") == [ids[1]]
    assert _ids(ns, netsuite_url, q + "LOWER(companyname) = 'other co'") == [ids[1]]
    bad = ns.post(f"{netsuite_url}{SUITEQL}", headers=PREFER,
                  json={"q": q + "REGEXP_REPLACE(phone) = '1'"})
    assert bad.status_code == 400 and "INVALID_PARAMETER" in bad.text
