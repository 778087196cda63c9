"""Authentication for the NetSuite REST API (shared by target-netsuite and tap-netsuite-custom): OAuth 1.0a TBA and
OAuth 2.0 machine-to-machine.

Both are `requests` auth objects that are applied every time a request is *prepared*, so each retry of a request
carries a fresh signature (TBA: new nonce and timestamp, which NetSuite refuses to see twice) or a valid bearer
token (M2M: refreshed shortly before it expires). The M2M token call goes through the shared transport (its retry
policy, TLS rule and stop signal) without taking a slot of the limiter: it runs inside `auth=` of a request
that already holds one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

import jwt
import requests
import requests.auth
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from requests_oauthlib import OAuth1
from typing_extensions import override

from connector_kit.transport import RetryPolicy, Transport, Verdict

# oauthlib logs the signature base string and the signature itself at DEBUG, requests-oauthlib the signed
# headers. Signatures must never reach a log, whatever level the operator chooses: a logging config may set
# these loggers (or any child) to DEBUG after this module is imported, so `quiet_signing_loggers` runs again
# before every signature.
SIGNING_LOGGERS = ("oauthlib", "requests_oauthlib")


def quiet_signing_loggers() -> None:
    """Keep the signing libraries' loggers (and their children) at WARNING or above."""
    names = [name for name in logging.Logger.manager.loggerDict if name.split(".")[0] in SIGNING_LOGGERS]
    for name in {*SIGNING_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


quiet_signing_loggers()

M2M_SCOPES = ["restlets", "rest_webservices"]
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
_ASSERTION_LIFETIME_S = 300  # NetSuite accepts at most 60 min; the assertion is used once, at once.
_TOKEN_REFRESH_MARGIN_S = 120
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class AuthError(Exception):
    """Credentials are refused or unusable; the run cannot go on. The message never carries a secret."""


class TokenBasedAuth(requests.auth.AuthBase):
    """OAuth 1.0a token-based authentication (HMAC-SHA256, realm = account id) signed per prepared request."""

    def __init__(
        self,
        *,
        realm: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
    ) -> None:
        self._realm = realm
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token_id = token_id
        self._token_secret = token_secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        quiet_signing_loggers()
        # A new OAuth1 per request: oauthlib clients are not documented as thread-safe, and creating one is cheap.
        signer = OAuth1(
            self._consumer_key,
            client_secret=self._consumer_secret,
            resource_owner_key=self._token_id,
            resource_owner_secret=self._token_secret,
            signature_method="HMAC-SHA256",
            realm=self._realm,
        )
        return signer(request)

    def invalidate(self) -> None:
        """Nothing is cached for TBA; present so callers can treat both auth kinds alike."""

    def use_transport(self, transport: Transport) -> None:
        """TBA makes no call of its own; present so callers can treat both auth kinds alike."""


class MachineToMachineAuth(requests.auth.AuthBase):
    """OAuth 2.0 client credentials with a JWT client assertion; the bearer token is cached until near expiry."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        certificate_id: str,
        private_key_pem: str,
        session: requests.Session,
        timeout: float,
        verify: str | bool = True,
    ) -> None:
        self._token_url = token_url
        self._verify = verify
        self._client_id = client_id
        self._certificate_id = certificate_id
        self._session = session
        self._timeout = timeout
        try:
            key = load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            msg = "private_key (or the private_key_path file) is not a readable unencrypted PEM private key"
            raise AuthError(msg) from exc
        self._key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if isinstance(key, rsa.RSAPrivateKey):
            self._key, self._algorithm = key, "PS256"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGORITHMS:
            self._key, self._algorithm = key, _EC_ALGORITHMS[key.curve.name]
        else:
            curve = getattr(getattr(key, "curve", None), "name", None)
            kind = f"an EC {curve} key" if curve else f"a {type(key).__name__.lstrip('_')}"
            msg = (f"private_key (or the private_key_path file) is {kind}; NetSuite M2M needs RSA (PS256) or "
                   "EC P-256/P-384/P-521 (ES256/384/512)")
            raise AuthError(msg)
        try:  # a trial assertion: a key that loads but cannot sign is one line now, not a traceback at the first call
            self.client_assertion()
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            msg = (f"private_key (or the private_key_path file) cannot sign a {self._algorithm} JWT "
                   f"({type(exc).__name__})")
            raise AuthError(msg) from None
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._transport: Transport | None = None

    def use_transport(self, transport: Transport) -> None:
        """The transport of the token calls (the client's, without its limiter)."""
        self._transport = transport

    def client_assertion(self) -> str:
        """A signed JWT as NetSuite's token endpoint wants it (kid = certificate id, aud = token URL)."""
        now = int(time.time())
        claims = {
            "iss": self._client_id,
            "scope": M2M_SCOPES,
            "aud": self._token_url,
            "iat": now,
            "exp": now + _ASSERTION_LIFETIME_S,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._key, algorithm=self._algorithm, headers={"kid": self._certificate_id})

    def _fetch_token(self) -> None:
        transport = self._transport or Transport(self._session, RetryPolicy(max_retries=0, backoff_factor=1.0),
                                                 service="NetSuite", timeout=self._timeout, verify=self._verify,
                                                 fatal_error=AuthError, exhausted_error=AuthError)
        # Signed anew on every attempt (`auth=`): NetSuite refuses an assertion whose `jti` it has seen, and a
        # retried token call may follow one NetSuite processed before the answer was lost.
        response = transport.request("POST", self._token_url, classify=classify_token_response,
                                     auth=_FreshAssertion(self))
        try:
            body = response.json()
            self._token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            msg = "NetSuite token endpoint answered 200 without an access_token"
            raise AuthError(msg) from None
        self._expires_at = time.monotonic() + float(body.get("expires_in", 3600)) - _TOKEN_REFRESH_MARGIN_S

    def bearer_token(self) -> str:
        """The cached token, fetched anew when absent or about to expire."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the token after a 401, so the next attempt fetches a new one."""
        with self._lock:
            self._token = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.bearer_token()}"
        return request


def classify_token_response(response: requests.Response) -> Verdict:
    """NetSuite's token endpoint: 200 is done, 429/5xx are retried, any other answer refuses the assertion."""
    status = response.status_code
    if status == 200:
        return Verdict.done()
    if status == 429 or status >= 500:
        return Verdict.retry(f"token endpoint unavailable (HTTP {status})")
    msg = f"NetSuite token endpoint refused the client assertion (HTTP {status}{_oauth_error(response)})"
    return Verdict.fatal(AuthError(msg))


def _oauth_error(response: requests.Response) -> str:
    """`, invalid_client` (RFC 6749's error code) when the body carries one; never the assertion."""
    try:
        code = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f", {str(code)[:60]}" if isinstance(code, str) and code else ""


def read_private_key(private_key: str | None, private_key_path: str | None) -> str:
    """The PEM text from the inline setting or the file it names."""
    if private_key:
        return private_key
    if private_key_path:
        try:
            return Path(private_key_path).expanduser().read_text()
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"private_key_path {private_key_path}: cannot read it ({type(exc).__name__})"
            raise AuthError(msg) from None
    msg = "auth_method oauth2_m2m needs private_key or private_key_path"
    raise AuthError(msg)


class _FreshAssertion(requests.auth.AuthBase):
    """The token request's body, with a client assertion (new `jti`) made for each attempt."""

    def __init__(self, auth: MachineToMachineAuth) -> None:
        self._auth = auth

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.prepare_body({
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self._auth.client_assertion(),
        }, None)
        return request
