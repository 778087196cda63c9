"""OAuth grants, token expiry and revocation, refresh-token rotation, and the daily API quota."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sf_helpers import API, DEMO, SF

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_token_ttl_knob_expires_sessions(sf: SF) -> None:
    sf.admin("POST", "knobs", {"token_ttl_seconds": 1})
    token = sf.token_response().json()["access_token"]
    assert sf.query("SELECT Id FROM Account LIMIT 1", token=token).status_code == 200
    time.sleep(1.2)
    expired = sf.query("SELECT Id FROM Account LIMIT 1", token=token)
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    sf.admin("POST", "knobs", {"token_ttl_seconds": 7200})


def test_expire_sessions_invalidates_every_token(sf: SF) -> None:
    tokens = [sf.token_response().json()["access_token"] for _ in range(2)]
    sf.admin("POST", "expire_sessions", {})
    assert all(sf.query("SELECT Id FROM Account", token=t).status_code == 401 for t in tokens)
    assert sf.query("SELECT Id FROM Account LIMIT 1", token=sf.token_response().json()["access_token"]).ok


def test_both_authorization_schemes_are_accepted(sf: SF) -> None:
    token = sf.token_response().json()["access_token"]
    for scheme in ("Bearer", "OAuth"):
        response = sf.session.get(f"{sf.base}{API}/limits", headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 200
    assert sf.session.get(f"{sf.base}{API}/limits").status_code == 401


def test_client_credentials_grant(sf: SF) -> None:
    form = {"grant_type": "client_credentials", "client_id": DEMO["client_id"], "client_secret": DEMO["client_secret"]}
    response = sf.session.post(f"{sf.base}/services/oauth2/token", data=form)
    assert response.status_code == 200 and "refresh_token" not in response.json()
    token = response.json()["access_token"]
    assert sf.query("SELECT Id FROM Account LIMIT 1", token=token).status_code == 200
    form["client_secret"] = "nope"
    assert sf.session.post(f"{sf.base}/services/oauth2/token", data=form).json()["error"] == "invalid_client"
    unsupported = sf.session.post(f"{sf.base}/services/oauth2/token", data={"grant_type": "password"})
    assert unsupported.json() == {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


def test_refresh_token_rotation(sf: SF) -> None:
    sf.admin("POST", "knobs", {"rotate_refresh_tokens": True})
    first = sf.token_response().json()
    rotated = first["refresh_token"]
    assert rotated != DEMO["refresh_token"]
    assert sf.token_response().json()["error"] == "invalid_grant"  # the original is spent
    second = sf.token_response(refresh_token=rotated).json()
    assert second["refresh_token"] not in (rotated, DEMO["refresh_token"])
    assert sf.token_response(refresh_token=rotated).status_code == 400
    sf.reset()  # a reset restores the demo refresh token and the knobs
    assert sf.token_response().status_code == 200 and "refresh_token" not in sf.token_response().json()


def test_api_usage_is_counted_and_the_quota_enforced(sf: SF) -> None:
    sf.reset()
    token = sf.token()
    sf.admin("GET", "stats")  # admin calls never count
    first = sf.query("SELECT Id FROM Account LIMIT 1", token=token)
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/15000"
    sf.query("SELECT Id FROM Account LIMIT 1", token=token)
    assert sf.admin("GET", "stats")["api_usage"] == 2
    sf.admin("POST", "knobs", {"api_limit": 3})
    assert sf.query("SELECT Id FROM Account LIMIT 1", token=token).headers["Sforce-Limit-Info"] == "api-usage=3/3"
    spent = sf.query("SELECT Id FROM Account LIMIT 1", token=token)
    assert spent.status_code == 403
    assert spent.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert spent.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    assert sf.token_response().status_code == 200  # logging in is not an API call
    sf.admin("POST", "knobs", {"api_limit": 15000, "api_usage": 0})


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _certificate(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox jwt")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _assertion(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    body = {"iss": DEMO["client_id"], "sub": "integration@example.com", "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 180, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm="RS256")


@pytest.mark.parametrize("as_certificate", [False, True])
def test_jwt_bearer_grant_checks_signature_and_claims(private_server: Callable[[dict[str, Any]], SF],
                                                      tmp_path: Any, as_certificate: bool) -> None:
    key = _rsa_key()
    pem_file = tmp_path / "jwt.pem"
    pem_file.write_text(_certificate(key) if as_certificate else _pem(key))
    server = private_server({"jwt_public_key": str(pem_file), "accounts": 3, "contacts": 0, "opportunities": 0})

    def grant(assertion: str) -> Any:
        return server.session.post(f"{server.base}/services/oauth2/token",
                                   data={"grant_type": JWT_GRANT, "assertion": assertion})

    ok = grant(_assertion(key))
    assert ok.status_code == 200 and ok.json()["instance_url"] == server.base
    assert server.query("SELECT Id FROM Account", token=ok.json()["access_token"]).json()["totalSize"] == 3
    assert grant(_assertion(key, aud=server.base)).status_code == 200
    failures = {
        "wrong key": (_assertion(_rsa_key()), "invalid_grant"),
        "expired": (_assertion(key, exp=int(time.time()) - 60), "invalid_grant"),
        "wrong audience": (_assertion(key, aud="https://evil.example.com"), "invalid_grant"),
        "wrong issuer": (_assertion(key, iss="other-app"), "invalid_client_id"),
        "unknown user": (_assertion(key, sub="nobody@example.com"), "invalid_grant"),
        "no subject": (_assertion(key, sub=None), "invalid_grant"),
        "HS256": (jwt.encode({"iss": DEMO["client_id"], "sub": "integration@example.com",
                              "aud": "https://login.salesforce.com", "exp": int(time.time()) + 60},
                             "secret-secret-secret-secret-secret", algorithm="HS256"), "invalid_grant"),
    }
    for reason, (assertion, error) in failures.items():
        response = grant(assertion)
        assert response.status_code == 400 and response.json()["error"] == error, reason


def test_unknown_config_keys_are_refused(private_server: Callable[[dict[str, Any]], SF]) -> None:
    with pytest.raises(ValueError, match=r"unknown config key.*acounts"):
        private_server({"acounts": 5})
