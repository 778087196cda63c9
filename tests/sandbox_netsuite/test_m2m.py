"""OAuth 2.0 M2M: JWT client assertions (PS256/ES256) checked with the client's public key; bearer expiry."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from ns_helpers import RECORD, Admin, customer

TOKEN = "/services/rest/auth/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _public_pem(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def clients(netsuite_url: str, admin: Admin) -> dict[str, tuple[str, Any, str]]:
    """Two registered M2M clients: name -> (client id, private key, algorithm); certificate id = name."""
    keys = {"ps": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
            "es": (ec.generate_private_key(ec.SECP256R1()), "ES256")}
    out = {}
    for name, (key, alg) in keys.items():
        client_id = f"client-{name}-{uuid.uuid4().hex[:8]}"
        admin.add_m2m_client(client_id, f"cert-{client_id}", _public_pem(key))
        out[name] = (client_id, key, alg)
    return out


def _assertion(base: str, client_id: str, key: Any, alg: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "scope": ["rest_webservices"], "aud": f"{base}{TOKEN}", "iat": now,
              "exp": now + 3000, **overrides}
    headers = {"kid": overrides.pop("kid", f"cert-{client_id}"), "typ": "JWT"}
    claims.pop("kid", None)
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _token(base: str, assertion: str, grant: str = "client_credentials") -> requests.Response:
    return requests.post(f"{base}{TOKEN}", data={"grant_type": grant, "client_assertion_type": ASSERTION_TYPE,
                                                  "client_assertion": assertion})


@pytest.mark.parametrize("name", ["ps", "es"])
def test_client_credentials_token_then_bearer_calls(netsuite_url: str, clients: dict, admin: Admin,
                                                    name: str) -> None:
    client_id, key, alg = clients[name]
    response = _token(netsuite_url, _assertion(netsuite_url, client_id, key, alg))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == "3600" and body["token_type"] == "Bearer"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    created = requests.post(f"{netsuite_url}{RECORD}/customer", json=customer(f"M2M-{name}"), headers=bearer)
    assert created.status_code == 204, created.text
    assert requests.get(f"{netsuite_url}{RECORD}/customer/eid:M2M-{name}", headers=bearer).status_code == 200


@pytest.mark.parametrize(("overrides", "error"), [
    ({"aud": "https://wrong.example/services/rest/auth/oauth2/v1/token"}, "invalid_grant"),
    ({"exp": int(time.time()) + 7200}, "invalid_grant"),
    ({"exp": int(time.time()) - 10, "iat": int(time.time()) - 100}, "invalid_grant"),
    ({"scope": ["something_else"]}, "invalid_scope"),
    ({"kid": "unknown-certificate"}, "invalid_client"),
])
def test_bad_assertions_are_refused(netsuite_url: str, clients: dict, overrides: dict, error: str) -> None:
    client_id, key, alg = clients["es"]
    response = _token(netsuite_url, _assertion(netsuite_url, client_id, key, alg, **overrides))
    assert response.status_code in (400, 401) and response.json() == {"error": error}


def test_assertion_signed_with_another_key_is_refused(netsuite_url: str, clients: dict) -> None:
    client_id, _, alg = clients["es"]
    stranger = ec.generate_private_key(ec.SECP256R1())
    response = _token(netsuite_url, _assertion(netsuite_url, client_id, stranger, alg))
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


def test_rs256_and_wrong_grant_are_refused(netsuite_url: str, clients: dict) -> None:
    client_id, key, _ = clients["ps"]
    assert _token(netsuite_url, _assertion(netsuite_url, client_id, key, "RS256")).json() == {
        "error": "invalid_grant"}
    assert _token(netsuite_url, _assertion(netsuite_url, client_id, key, "PS256"), grant="password").json() == {
        "error": "unsupported_grant_type"}


def test_bearer_tokens_expire(netsuite_url: str, clients: dict, admin: Admin) -> None:
    admin.knobs(token_ttl_s=1)
    client_id, key, alg = clients["es"]
    body = _token(netsuite_url, _assertion(netsuite_url, client_id, key, alg)).json()
    assert body["expires_in"] == "1"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(f"{netsuite_url}{RECORD}/subsidiary/1", headers=bearer).status_code == 200
    time.sleep(1.2)
    expired = requests.get(f"{netsuite_url}{RECORD}/subsidiary/1", headers=bearer)
    assert expired.status_code == 401
    assert expired.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    bogus = requests.get(f"{netsuite_url}{RECORD}/subsidiary/1", headers={"Authorization": "Bearer nope"})
    assert bogus.status_code == 401
