"""Authentication as NetSuite does it: OAuth 1.0a TBA (HMAC-SHA256 + realm) and OAuth 2.0 M2M bearer tokens.

TBA is verified for real with oauthlib's signature helpers over the URL the client used (scheme and Host header
as received), the query parameters and the OAuth header parameters; a JSON body is not signed. Any failure is
`InvalidLoginError` (one generic 401 body), and the precise reason goes only to the sandbox log, never a secret.

M2M: the token endpoint checks a JWT client assertion (PS256/ES256 family, `kid` = certificate id, iss = client
id, aud = token URL, scope, lifetime at most an hour, header typ JWT, a `jti` accepted once) with PyJWT
against the client's configured public key and hands out an opaque bearer token stored in SQLite until it expires.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from typing import Any

import jwt
from oauthlib.oauth1.rfc5849 import signature, utils
from starlette.requests import Request

from sandbox.netsuite.config import Account, M2MClient
from sandbox.netsuite.knobs import Knobs
from sandbox.netsuite.store import Store

LOGGER = logging.getLogger("sandbox.netsuite.auth")

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
M2M_ALGORITHMS = ["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_REQUIRED_OAUTH = ("oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_timestamp", "oauth_nonce",
                   "oauth_signature")


class AuthenticationError(Exception):
    """Why a login failed; logged by the sandbox, answered to the client as the generic INVALID_LOGIN."""


class TokenError(Exception):
    """An OAuth 2.0 token-endpoint error (RFC 6749 `error` code)."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error


def request_url(request: Request) -> str:
    """The URL as the client addressed it: scheme of the connection, Host header, path as sent (no query).

    The raw path keeps the client's percent-encoding (e.g. in `eid:` values), which is what it signed.
    """
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    return f"{request.url.scheme}://{host}{path}"


class Authenticator:
    """Decides which account a request acts for, or raises AuthenticationError."""

    def __init__(self, accounts: dict[str, Account], store: Store, knobs: Knobs) -> None:
        self._accounts = accounts
        self._store = store
        self._knobs = knobs
        self._runtime_clients: dict[str, list[M2MClient]] = {}

    def add_m2m_client(self, account_id: str, client: M2MClient) -> None:
        """Register an M2M client at runtime (admin API), e.g. with a key pair a test generated."""
        clients = self._runtime_clients.setdefault(account_id, [])
        same = (client.client_id, client.certificate_id)
        clients[:] = [c for c in clients if (c.client_id, c.certificate_id) != same] + [client]

    def m2m_clients(self, account: Account) -> list[M2MClient]:
        return account.m2m_clients + self._runtime_clients.get(account.account_id, [])

    def authenticate(self, request: Request, form_body: list[tuple[str, str]] | None = None) -> str:
        header = request.headers.get("authorization", "")
        scheme = header.split(" ", 1)[0].lower()
        if scheme == "oauth":
            return self._verify_tba(request, header, form_body)
        if scheme == "bearer":
            token = header[len("bearer "):].strip()
            account = self._store.token_account(token) if token else None
            if account is None:
                raise AuthenticationError("unknown or expired bearer token")
            return account
        raise AuthenticationError("no OAuth or Bearer Authorization header")

    def _verify_tba(self, request: Request, header: str, form_body: list[tuple[str, str]] | None) -> str:
        try:
            # Values arrive percent-encoded (RFC 5849 3.5.1); compare and look up their decoded form.
            oauth = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        except (ValueError, KeyError) as exc:
            raise AuthenticationError("unparseable OAuth Authorization header") from exc
        missing = [name for name in ("realm", *_REQUIRED_OAUTH) if not oauth.get(name)]
        if missing:
            raise AuthenticationError(f"OAuth header lacks {', '.join(missing)}")
        account = self._accounts.get(oauth["realm"])
        if account is None:
            raise AuthenticationError(f"realm {oauth['realm']!r} is not an account of this sandbox")
        if oauth["oauth_signature_method"] != "HMAC-SHA256":
            method = oauth["oauth_signature_method"]
            raise AuthenticationError(f"signature method {method!r} refused (HMAC-SHA256 only)")
        if oauth.get("oauth_version", "1.0") != "1.0":
            raise AuthenticationError("oauth_version must be 1.0")
        credential = next(
            (c for c in account.tba
             if c.consumer_key == oauth["oauth_consumer_key"] and c.token_id == oauth["oauth_token"]),
            None,
        )
        if credential is None:
            raise AuthenticationError("unknown consumer key / token id for this account")
        try:
            timestamp = int(oauth["oauth_timestamp"])
        except ValueError as exc:
            raise AuthenticationError("oauth_timestamp is not an integer") from exc
        tolerance = self._knobs.timestamp_tolerance_seconds
        if abs(time.time() - timestamp) > tolerance:
            raise AuthenticationError(f"oauth_timestamp outside +-{tolerance}s of server time")

        try:
            params = signature.collect_parameters(
                uri_query=request.url.query, body=form_body, headers={"Authorization": header},
                exclude_oauth_signature=True, with_realm=False,
            )
        except ValueError as exc:
            raise AuthenticationError("query string cannot be normalised for signing") from exc
        base_string = signature.signature_base_string(
            request.method, signature.base_string_uri(request_url(request)), signature.normalize_parameters(params)
        )
        expected = signature.sign_hmac_sha256(base_string, credential.consumer_secret, credential.token_secret)
        if not hmac.compare_digest(expected, oauth["oauth_signature"]):
            raise AuthenticationError("signature mismatch (wrong secret, URL, method or parameters)")
        if not self._store.remember_nonce(
            account.account_id, credential.consumer_key, oauth["oauth_nonce"], timestamp, 2 * tolerance + 60
        ):
            raise AuthenticationError("nonce and timestamp already used")
        return account.account_id

    def issue_token(self, request: Request, form: dict[str, str]) -> dict[str, str]:
        """The client-credentials grant with a JWT client assertion; returns the token response body."""
        if form.get("grant_type") != "client_credentials":
            raise TokenError("unsupported_grant_type", f"grant_type {form.get('grant_type')!r}")
        if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
            raise TokenError("invalid_request", "client_assertion_type/client_assertion missing or wrong")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise TokenError("invalid_request", f"unreadable client assertion: {exc}") from exc
        if str(header.get("typ", "")).upper() != "JWT":
            raise TokenError("invalid_request", f"client assertion header typ must be JWT, got {header.get('typ')!r}")
        kid, issuer = header.get("kid"), claims.get("iss")
        match = [
            (account, client)
            for account in self._accounts.values()
            for client in self.m2m_clients(account)
            if client.certificate_id == kid and client.client_id == issuer
        ]
        if not match:
            raise TokenError("invalid_client", "no M2M client with this kid (certificate id) and iss (client id)")
        account, client = match[0]
        token_url = request_url(request)
        try:
            verified = jwt.decode(
                assertion, client.public_key, algorithms=M2M_ALGORITHMS, audience=token_url, issuer=client.client_id,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            # TypeError/ValueError: a key of another type than the assertion's algorithm (e.g. ES256 against
            # an RSA key) fails inside the crypto library; NetSuite answers that as a refused grant, not a 500.
            raise TokenError("invalid_grant", f"client assertion rejected: {type(exc).__name__}: {exc}") from exc
        if verified["exp"] - verified["iat"] > 3600:
            raise TokenError("invalid_grant", "client assertion lifetime exceeds 60 minutes")
        jti = verified.get("jti")
        if jti is not None and not self._store.remember_nonce(
            account.account_id, f"m2m:{client.client_id}", str(jti), int(verified["iat"]), 3600 + 300
        ):
            raise TokenError("invalid_grant", "client assertion jti already used (a replayed assertion)")
        scopes = _scopes(verified.get("scope"))
        if not scopes & {"rest_webservices", "restlets", "suite_analytics"}:
            raise TokenError("invalid_scope", "scope must include rest_webservices")
        ttl = self._knobs.token_ttl_seconds
        token = secrets.token_urlsafe(48)
        self._store.save_token(token, account.account_id, client.client_id, time.time() + ttl)
        return {"access_token": token, "expires_in": str(ttl), "token_type": "Bearer"}


def _scopes(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(value.replace(",", " ").split())
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()
