"""OAuth 2.0 token endpoint and bearer-token checks, as Salesforce answers them.

Grants: `refresh_token` (optionally rotating the refresh token), JWT bearer (RS256 assertion verified with
PyJWT against the configured public key or certificate: iss = client id, sub = username, aud = a login host,
exp required) and `client_credentials`. Access tokens live in SQLite with an expiry (`token_ttl_seconds`), so a
restart keeps sessions and `expire_sessions` can invalidate them all mid-run. Tokens are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sandbox.salesforce.errors import OAuthError, invalid_session
from sandbox.salesforce.knobs import Realism
from sandbox.salesforce.store import Store
from sandbox.salesforce.values import make_id, now_ms, random_token

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
ORG_ID = make_id("00D", 1)


def _load_public_key(spec: str) -> Any:
    """A PEM public key or certificate, given inline or as a file path."""
    text = spec if "-----BEGIN" in spec else Path(spec).read_text(encoding="utf-8")
    data = text.encode()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


class Auth:
    """Issues and checks tokens for one org with one connected app (the demo credentials by default)."""

    def __init__(self, store: Store, realism: Realism, credentials: dict[str, Any]) -> None:
        self.store = store
        self.realism = realism
        self.client_id: str = credentials["client_id"]
        self.client_secret: str = credentials["client_secret"]
        self.refresh_token: str = credentials["refresh_token"]
        self.username: str = credentials["username"]
        key_spec = credentials.get("jwt_public_key")
        self.jwt_key = _load_public_key(key_spec) if key_spec else None

    # -- token endpoint ----------------------------------------------------------------------------------------
    def token(self, form: dict[str, str], base_url: str) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        if grant == "refresh_token":
            self._check_client(form, require_secret=True)
            new_refresh = self._use_refresh_token(form.get("refresh_token", ""))
            return self._issue(base_url, new_refresh)
        if grant == JWT_GRANT:
            self._check_assertion(form.get("assertion", ""), base_url)
            return self._issue(base_url, None)
        if grant == "client_credentials":
            self._check_client(form, require_secret=True)
            return self._issue(base_url, None)
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _check_client(self, form: dict[str, str], require_secret: bool) -> None:
        if not hmac.compare_digest(form.get("client_id", ""), self.client_id):
            raise OAuthError("invalid_client_id", "client identifier invalid")
        secret = form.get("client_secret")
        if (secret is None and require_secret) or (secret is not None and
                                                    not hmac.compare_digest(secret, self.client_secret)):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _use_refresh_token(self, presented: str) -> str | None:
        """Accept the configured refresh token or one issued by rotation; rotate if the knob says so."""
        conn = self.store.conn()
        issued = conn.execute("SELECT 1 FROM refresh_tokens WHERE token = ?", (presented,)).fetchone()
        retired = self.store.meta("retired_refresh_token") == "1"
        if not issued and not (hmac.compare_digest(presented, self.refresh_token) and not retired):
            raise OAuthError("invalid_grant", "expired access/refresh token")
        if not self.realism.knobs.rotate_refresh_tokens:
            return None
        fresh = "5Aep861" + random_token(80)
        with self.store.write() as wconn:
            wconn.execute("DELETE FROM refresh_tokens WHERE token = ?", (presented,))
            wconn.execute("INSERT INTO refresh_tokens (token, client_id) VALUES (?, ?)", (fresh, self.client_id))
            if not issued:
                self.store.set_meta(wconn, "retired_refresh_token", "1")
        return fresh

    def _check_assertion(self, assertion: str, base_url: str) -> None:
        if self.jwt_key is None:
            raise OAuthError("invalid_grant", "invalid assertion")
        try:
            claims = jwt.decode(
                assertion, self.jwt_key, algorithms=["RS256"], audience=[*LOGIN_AUDIENCES, base_url],
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims["iss"] != self.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims["sub"] != self.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")

    def _issue(self, base_url: str, new_refresh: str | None) -> dict[str, Any]:
        token = f"{ORG_ID[:15]}!AQ" + random_token(96)
        issued_at = now_ms()
        with self.store.write() as conn:
            conn.execute("DELETE FROM access_tokens WHERE expires_ms < ?", (issued_at,))
            conn.execute("INSERT INTO access_tokens (token, expires_ms) VALUES (?, ?)",
                         (token, issued_at + int(self.realism.knobs.token_ttl_seconds) * 1000))
        identity = f"{base_url}/id/{ORG_ID}/{make_id('005', 1)}"
        signature = base64.b64encode(
            hmac.new(self.client_secret.encode(), f"{identity}{issued_at}".encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {"access_token": token}
        if new_refresh:
            body["refresh_token"] = new_refresh
        body.update({"instance_url": base_url, "id": identity, "token_type": "Bearer",
                     "issued_at": str(issued_at), "signature": signature})
        return body

    # -- resource requests -------------------------------------------------------------------------------------
    def check(self, authorization: str | None) -> None:
        """Accept `Bearer <token>` or `OAuth <token>` for a live token; else 401 INVALID_SESSION_ID."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise invalid_session()
        found = self.store.conn().execute("SELECT expires_ms FROM access_tokens WHERE token = ?",
                                          (token.strip(),)).fetchone()
        if found is None or found[0] <= now_ms():
            raise invalid_session()

    def expire_all(self) -> None:
        """Invalidate every access token at once (an admin revoking sessions, or a session timeout policy)."""
        with self.store.write() as conn:
            conn.execute("DELETE FROM access_tokens")
