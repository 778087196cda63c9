"""OAuth 1.0a TBA verified for real: each way a login can be wrong gets NetSuite's one INVALID_LOGIN answer."""

from __future__ import annotations

import json
import os
import time

import pytest
import requests
from ns_helpers import ACCOUNT, RECORD, Admin, customer, sample, session
from oauthlib.oauth1 import Client

ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error; charset=UTF-8"


def _assert_invalid_login(response: requests.Response) -> None:
    recorded = sample("error_401_invalid_login.yaml")["samples"][0]["response"]["body_raw"]
    assert response.status_code == 401
    assert response.text == recorded
    assert response.headers["Content-Type"] == ERROR_CONTENT_TYPE
    assert "X-N-OperationId" in response.headers


def _signed_headers(url: str, method: str = "GET", **client_kwargs: object) -> dict[str, str]:
    client = Client("sandbox-consumer-key", "sandbox-consumer-secret", "sandbox-token-id", "sandbox-token-secret",
                    signature_method="HMAC-SHA256", realm=ACCOUNT, **client_kwargs)
    _, headers, _ = client.sign(url, method)
    return headers


def test_correct_signature_is_accepted(ns: requests.Session, netsuite_url: str) -> None:
    response = ns.get(f"{netsuite_url}{RECORD}/subsidiary/1", params={"fields": "name"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Parent Company"


@pytest.mark.parametrize("kwargs", [
    {"consumer_secret": "wrong"},
    {"token_secret": "wrong"},
    {"token_id": "other-token"},
    {"realm": "1234567_sb1"},
    {"realm": "1234567-SB1"},
    {"realm": "7654321"},
    {"signature_method": "HMAC-SHA1"},
])
def test_wrong_credentials_or_realm_are_invalid_login(netsuite_url: str, admin: Admin, kwargs: dict) -> None:
    response = session(**kwargs).post(f"{netsuite_url}{RECORD}/customer", json=customer("C1"))
    _assert_invalid_login(response)
    assert admin.records("customer") == []


def test_no_or_garbled_authorization(netsuite_url: str, admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/subsidiary/1"
    _assert_invalid_login(requests.get(url))
    _assert_invalid_login(requests.get(url, headers={"Authorization": "OAuth nonsense"}))
    _assert_invalid_login(requests.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}))


@pytest.mark.parametrize("skew", [-400, 400])
def test_stale_or_future_timestamp(netsuite_url: str, admin: Admin, skew: int) -> None:
    url = f"{netsuite_url}{RECORD}/subsidiary/1"
    headers = _signed_headers(url, timestamp=str(int(time.time()) + skew))
    _assert_invalid_login(requests.get(url, headers=headers))
    within = _signed_headers(url, timestamp=str(int(time.time()) - 200))
    assert requests.get(url, headers=within).status_code == 200


def test_reused_nonce_is_refused(netsuite_url: str, admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/subsidiary/1"
    headers = _signed_headers(url, nonce="fixednonce123", timestamp=str(int(time.time())))
    assert requests.get(url, headers=headers).status_code == 200
    _assert_invalid_login(requests.get(url, headers=headers))


def test_query_parameters_are_signed_but_json_body_is_not(netsuite_url: str, admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/subsidiary/1"
    headers = _signed_headers(url)  # signed without the query string
    _assert_invalid_login(requests.get(url, params={"fields": "name"}, headers=headers))

    post_url = f"{netsuite_url}{RECORD}/customer"
    headers = {**_signed_headers(post_url, "POST"), "Content-Type": "application/json"}
    response = requests.post(post_url, json=customer("C1"), headers=headers)
    assert response.status_code == 204, response.text


def test_signature_must_match_method_and_host(netsuite_url: str, admin: Admin) -> None:
    url = f"{netsuite_url}{RECORD}/subsidiary/1"
    _assert_invalid_login(requests.get(url, headers=_signed_headers(url, "DELETE")))
    other_host = url.replace("127.0.0.1", "localhost")
    _assert_invalid_login(requests.get(url, headers=_signed_headers(other_host)))
    assert requests.get(other_host, headers=_signed_headers(other_host)).status_code == 200


def test_tls_side_signs_over_https_and_verifies_the_certificate(admin: Admin) -> None:
    base, ca = os.environ["SANDBOX_NETSUITE_TLS_URL"], os.environ["SANDBOX_CA_BUNDLE"]
    s = session()
    # Per request: a REQUESTS_CA_BUNDLE in the environment would override Session.verify.
    response = s.post(f"{base}{RECORD}/customer", json=customer("TLS1"), verify=ca)
    assert response.status_code == 204, response.text
    assert response.headers["Location"].startswith(f"{base}{RECORD}/customer/")
    got = s.get(f"{base}{RECORD}/customer/eid:TLS1", verify=ca).json()
    assert got["links"][0]["href"].startswith("https://localhost:")


def test_secrets_never_reach_the_request_log(netsuite_url: str, admin: Admin) -> None:
    session(token_secret="wrong").get(f"{netsuite_url}{RECORD}/subsidiary/1")
    session().get(f"{netsuite_url}{RECORD}/subsidiary/1")
    text = json.dumps(admin.request_log())
    assert [e["status"] for e in admin.request_log()][-2:] == [401, 200]
    for secret in ("sandbox-consumer-secret", "sandbox-token-secret", "oauth_signature"):
        assert secret not in text

