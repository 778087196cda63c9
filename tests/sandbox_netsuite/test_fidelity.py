"""Where real NetSuite is strict, the stand-in is too (issue 14): each test here failed on the laxer stand-in.

Paths are dispatched on the raw path with each segment decoded; `|` is refused in external ids; SuiteQL
refuses an offset that is not a multiple of the limit and columns the table does not have; writes must be
JSON; M2M assertions need `typ: JWT`, a fresh `jti` and a key of the assertion's type; and the fault knobs
make the account answer what real accounts answer under stress (HTML 5xx pages, 429 without Retry-After,
INVALID_LOGIN for an exhausted pool, record changed/locked, per-record-type permissions).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from ns_helpers import RECORD, SUITEQL, Admin, customer

TOKEN = "/services/rest/auth/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _detail(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/vnd.oracle.resource+json; type=error")
    details = response.json()["o:errorDetails"]
    assert len(details) == 1
    return dict(details[0])


def _suiteql(ns: requests.Session, base: str, q: str, **params: Any) -> requests.Response:
    return ns.post(f"{base}{SUITEQL}", json={"q": q}, params=params, headers={"Prefer": "transient"})


# --- raw-path dispatch --------------------------------------------------------------------------------------

@pytest.mark.parametrize("external_id", ["acme/eu-1", "acme#42", "what?now", "a/b#c?d%e f"])
def test_external_id_with_reserved_characters_round_trips(ns: requests.Session, netsuite_url: str,
                                                          admin: Admin, external_id: str) -> None:
    url = f"{netsuite_url}{RECORD}/customer/eid:{quote(external_id, safe='')}"
    created = ns.put(url, json=customer())
    assert created.status_code == 204, created.text
    assert [r["externalId"] for r in admin.records("customer")] == [external_id]
    fetched = ns.get(url)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["externalId"] == external_id
    found = _suiteql(ns, netsuite_url, f"SELECT id FROM customer WHERE externalid = '{external_id}'")
    assert found.status_code == 200, found.text
    assert found.json()["count"] == 1
    # A second upsert finds the same record (no duplicate).
    assert ns.put(url, json=customer(companyName="Renamed")).status_code == 204
    assert len(admin.records("customer")) == 1


def test_pipe_in_external_id_is_refused(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/customer/eid:{quote('a|b', safe='')}"
    assert _detail(ns.put(url, json=customer()), 400)["o:errorCode"] == "INVALID_ID"
    detail = _detail(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("a|b")), 400)
    assert detail["o:errorPath"] == "externalId" and "pipe" in detail["detail"]
    assert admin.records("customer") == []


# --- SuiteQL -------------------------------------------------------------------------------------------------

def test_suiteql_offset_must_be_a_multiple_of_the_limit(ns: requests.Session, netsuite_url: str,
                                                        admin: Admin) -> None:
    detail = _detail(_suiteql(ns, netsuite_url, "SELECT id FROM subsidiary", limit=2, offset=3), 400)
    assert detail["o:errorCode"] == "INVALID_PARAMETER" and detail["o:errorQueryParam"] == "offset"
    page = _suiteql(ns, netsuite_url, "SELECT id FROM subsidiary", limit=2, offset=2)
    assert page.status_code == 200 and page.json()["offset"] == 2


@pytest.mark.parametrize("query", ["SELECT id, nosuchcolumn FROM customer",
                                   "SELECT id FROM customer WHERE nosuchcolumn = 'x'",
                                   "SELECT id FROM customer ORDER BY nosuchcolumn"])
def test_suiteql_unknown_column_is_an_error_not_null(ns: requests.Session, netsuite_url: str, admin: Admin,
                                                     query: str) -> None:
    detail = _detail(_suiteql(ns, netsuite_url, query), 400)
    assert detail["o:errorCode"] == "INVALID_PARAMETER" and detail["o:errorQueryParam"] == "q"
    assert "Field 'nosuchcolumn' for record 'customer' was not found" in detail["detail"]


def test_suiteql_known_columns_and_aliases_still_work(ns: requests.Session, netsuite_url: str,
                                                      admin: Admin) -> None:
    response = _suiteql(ns, netsuite_url, "SELECT s.id AS sid, name FROM subsidiary s WHERE s.country = 'US' "
                                          "ORDER BY sid")
    assert response.status_code == 200, response.text
    assert [row["sid"] for row in response.json()["items"]] == ["1", "2", "3"]


def test_suiteql_custom_field_columns_exist_before_any_record_holds_a_value(ns: requests.Session,
                                                                            netsuite_url: str, admin: Admin) -> None:
    """An account's custom fields are columns whether or not a record has a value: NULL (left out), not an error
    (as writes assume they exist)."""
    assert ns.put(f"{netsuite_url}{RECORD}/customer/eid:C1", json=customer()).status_code in (200, 204)
    response = _suiteql(ns, netsuite_url, "SELECT id, externalid, custentity_sf_owner_name FROM customer")
    assert response.status_code == 200, response.text
    [row] = response.json()["items"]
    assert row["externalid"] == "C1" and "custentity_sf_owner_name" not in row


# --- content type --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_write_with_a_non_json_content_type_is_refused(ns: requests.Session, netsuite_url: str, admin: Admin,
                                                       content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps(customer("CT-1")).encode()
    response = ns.post(f"{netsuite_url}{RECORD}/customer", data=body, headers=headers)
    if content_type is None:  # requests sends no Content-Type for raw bytes
        assert "Content-Type" not in response.request.headers
    detail = _detail(response, 415)
    assert detail["o:errorHeader"] == "Content-Type"
    assert admin.records("customer") == []
    vendor_json = ns.post(f"{netsuite_url}{RECORD}/customer", data=body,
                          headers={"Content-Type": "application/json; charset=UTF-8"})
    assert vendor_json.status_code == 204, vendor_json.text


# --- M2M -------------------------------------------------------------------------------------------------------

@pytest.fixture
def rsa_client(netsuite_url: str, admin: Admin) -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_id = f"client-fid-{uuid.uuid4().hex[:8]}"
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    admin.add_m2m_client(client_id, f"cert-{client_id}", pem)
    return client_id, key


def _assertion(base: str, client_id: str, key: Any, alg: str = "PS256", *, typ: str | None = "JWT",
               jti: str | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": client_id, "scope": ["rest_webservices"], "aud": f"{base}{TOKEN}",
                              "iat": now, "exp": now + 3000}
    if jti is not None:
        claims["jti"] = jti
    headers: dict[str, Any] = {"kid": f"cert-{client_id}", "typ": typ}
    token = jwt.encode(claims, key, algorithm=alg, headers=headers)
    if typ is None:  # PyJWT always writes typ unless told None; make sure it is absent
        assert "typ" not in jwt.get_unverified_header(token)
    return token


def _token(base: str, assertion: str) -> requests.Response:
    return requests.post(f"{base}{TOKEN}", data={"grant_type": "client_credentials",
                                                  "client_assertion_type": ASSERTION_TYPE,
                                                  "client_assertion": assertion}, timeout=10)


@pytest.mark.parametrize("typ", [None, "JWS"])
def test_assertion_without_typ_jwt_is_refused(netsuite_url: str, rsa_client: tuple[str, Any],
                                              typ: str | None) -> None:
    client_id, key = rsa_client
    response = _token(netsuite_url, _assertion(netsuite_url, client_id, key, typ=typ))
    assert response.status_code == 400 and response.json() == {"error": "invalid_request"}
    assert _token(netsuite_url, _assertion(netsuite_url, client_id, key)).status_code == 200


def test_replayed_assertion_jti_is_refused(netsuite_url: str, rsa_client: tuple[str, Any]) -> None:
    client_id, key = rsa_client
    assertion = _assertion(netsuite_url, client_id, key, jti=str(uuid.uuid4()))
    assert _token(netsuite_url, assertion).status_code == 200
    replay = _token(netsuite_url, assertion)
    assert replay.status_code == 400 and replay.json() == {"error": "invalid_grant"}
    fresh = _assertion(netsuite_url, client_id, key, jti=str(uuid.uuid4()))
    assert _token(netsuite_url, fresh).status_code == 200


def test_assertion_signed_with_another_key_type_is_a_refused_grant(netsuite_url: str,
                                                                   rsa_client: tuple[str, Any]) -> None:
    client_id, _ = rsa_client
    other = ec.generate_private_key(ec.SECP256R1())
    response = _token(netsuite_url, _assertion(netsuite_url, client_id, other, "ES256"))
    assert response.status_code in (400, 401), response.text
    assert response.json() == {"error": "invalid_grant"}


# --- fault knobs -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("step", "status", "title"), [("html502", 502, "Bad Gateway"),
                                                        ("html503", 503, "Service Unavailable"),
                                                        ("html504", 504, "Gateway Timeout")])
def test_html_5xx_pages(ns: requests.Session, netsuite_url: str, admin: Admin, step: str, status: int,
                        title: str) -> None:
    admin.knobs(fault_script=[step])
    response = ns.get(f"{netsuite_url}{RECORD}/subsidiary/1")
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html") and f"<h1>{title}</h1>" in response.text
    assert ns.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 200


def test_429_without_retry_after(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    admin.knobs(send_retry_after=False, fault_script=["429", "429"])
    first = ns.get(f"{netsuite_url}{RECORD}/subsidiary/1")
    assert first.status_code == 429 and "Retry-After" not in first.headers
    admin.knobs(send_retry_after=True)
    second = ns.get(f"{netsuite_url}{RECORD}/subsidiary/1")
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"


def test_pool_held_then_released(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    admin.knobs(pool_held_seconds=300)
    assert ns.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 429
    admin.knobs(pool_held_seconds=0)
    assert ns.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 200


def test_pool_exhaustion_answered_invalid_login_after_a_delay(ns: requests.Session, netsuite_url: str,
                                                              admin: Admin) -> None:
    admin.knobs(pool_held_seconds=300, pool_exhausted_response="invalid_login", pool_exhausted_delay_ms=200)
    response = ns.get(f"{netsuite_url}{RECORD}/subsidiary/1")
    assert response.status_code == 401
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    entry = admin.request_log()[-1]
    assert entry["status"] == 401 and entry["latency_ms"] >= 200  # the delay is spent before answering


def test_401_mid_run(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    admin.knobs(fault_script=["ok", "401", "ok"])
    statuses = [ns.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code for _ in range(3)]
    assert statuses == [200, 401, 200]


@pytest.mark.parametrize(("step", "words"), [("locked", "Record has been changed"),
                                             ("record_locked", "locked")])
def test_record_changed_and_locked_400s_on_writes_only(ns: requests.Session, netsuite_url: str, admin: Admin,
                                                       step: str, words: str) -> None:
    admin.knobs(fault_script=[step, step])
    assert ns.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 200  # a read consumes it as ok
    detail = _detail(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("L-1")), 400)
    assert detail["o:errorCode"] == "USER_ERROR" and words in detail["detail"]
    assert admin.records("customer") == []


def test_per_record_type_permission(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    admin.knobs(forbidden_record_types=["customer"])
    detail = _detail(ns.post(f"{netsuite_url}{RECORD}/customer", json=customer("P-1")), 403)
    assert detail["o:errorCode"] == "INSUFFICIENT_PERMISSION"
    assert ns.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 200


def test_script_steps_may_wait_for_a_matching_path(ns: requests.Session, netsuite_url: str, admin: Admin) -> None:
    admin.knobs(fault_script=[{"match": "/customer", "fault": "500"}])
    assert ns.get(f"{netsuite_url}{RECORD}/subsidiary/1").status_code == 200  # does not fit the step
    assert ns.get(f"{netsuite_url}{RECORD}/customer").status_code == 500
    assert ns.get(f"{netsuite_url}{RECORD}/customer").status_code == 200
