"""Salesforce OAuth 2.0 authenticators (shared by tap-salesforce-custom and target-salesforce-custom): refresh
token, JWT bearer and client credentials.

All three share one token call (`POST <login_url>/services/oauth2/token`) and differ only in the form body.
The SDK's `OAuthAuthenticator` is the base, but its token call is replaced because Salesforce's answer
carries `instance_url` (the org's API host, which the SDK drops), has no `expires_in`, may rotate the
refresh token, and must go through the connector's transport (its retry policy, TLS rule and session, so `ca_bundle`
applies to the login host too). Data calls pass the authenticator as `auth=`: each attempt is signed anew.

Secrets travel over https only: a plain-http `login_url` or `instance_url` is refused unless its host is
loopback (the local sandbox). A rotated refresh token is kept in the token store (connector_kit/token_store.py):
the file `token_store_path` (0600, written through a fresh private temporary file, never read through a symlink;
a corrupt one is one line naming its path) or, with `store_uri`, a row of the shared store, refreshed under a lock
across hosts.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import typing as t
import uuid
from pathlib import Path
from urllib.parse import urlparse

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from singer_sdk import typing as th
from singer_sdk.authenticators import OAuthAuthenticator
from typing_extensions import override

from connector_kit.salesforce import QuotaGuard, SalesforceAPIError, SalesforceAuthError, SalesforceFatalError
from connector_kit.token_store import FileTokenStore, SharedTokenStore, TokenStore, TokenStoreError, grant_key
from connector_kit.transport import RetryPolicy, Transport, Verdict
from connector_kit.urls import insecure_url_reason

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
#: The settings of the three flows, the same in every Salesforce connector's `config_jsonschema`.
AUTH_PROPERTIES: tuple[th.Property, ...] = (
        th.Property("auth_flow", th.StringType, default="refresh_token",
                    allowed_values=["refresh_token", "jwt", "client_credentials"],
                    description="OAuth 2.0 flow: refresh_token, jwt (JWT bearer) or client_credentials (My Domain)."),
        th.Property("client_id", th.StringType, secret=True, description="Connected app consumer key."),
        th.Property("client_secret", th.StringType, secret=True,
                    description="Connected app consumer secret (refresh_token and client_credentials flows)."),
        th.Property("refresh_token", th.StringType, secret=True,
                    description="OAuth refresh token (refresh_token flow)."),
        th.Property("token_store_path", th.StringType,
                    description="File where a rotated refresh token is saved and read back on the next run. If "
                                "Salesforce refuses the saved token and refresh_token differs (re-authorised), "
                                "refresh_token is tried and, if accepted, saved there."),
        th.Property("username", th.StringType, description="Salesforce username, the JWT `sub` (jwt flow)."),
        th.Property("private_key", th.StringType, secret=True,
                    description="PEM private key text that signs the JWT assertion (jwt flow)."),
        th.Property("private_key_path", th.StringType, description="Path to the PEM private key (jwt flow)."),
        th.Property("login_url", th.StringType, default=DEFAULT_LOGIN_URL,
                    description="Login host: login.salesforce.com, test.salesforce.com (sandboxes) or the My Domain "
                                "URL (required for client_credentials)."),
)
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce accepts JWT assertions valid for at most 3 minutes; a short life limits replay.
JWT_LIFETIME_SECONDS = 180


def checked_url(url: str, setting: str) -> str:
    """`url` without a trailing slash, if it is https, or plain http to a loopback host (the local sandbox)."""
    reason = insecure_url_reason(url)
    if reason:
        raise SalesforceAuthError(f"{setting} {reason}")
    return url.rstrip("/")


def _oauth_error(response: requests.Response) -> str:
    """The OAuth `error` code of a token refusal (`invalid_grant`, ...), else ""."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def classify_token_response(response: requests.Response) -> Verdict:
    """The token endpoint: 429 and 5xx are retried; any other answer (200 or a refusal) is the caller's to read."""
    if response.status_code == 429 or response.status_code >= 500:
        return Verdict.retry(f"token endpoint answered HTTP {response.status_code}")
    return Verdict.done()


class SalesforceAuthenticator(OAuthAuthenticator, requests.auth.AuthBase):
    """Shared token handling: keeps `instance_url`, fails fast with a secret-free one-line message.

    A `requests` auth object: passed as `auth=`, it signs every prepared request (every attempt) itself.
    """

    flow = "base"

    def __init__(self, config: t.Mapping[str, t.Any], transport: Transport) -> None:
        """Keep the config and the transport of token calls (the connector's session: `ca_bundle` applies here too)."""
        login_url = checked_url(str(config["login_url"]), "login_url")
        super().__init__(
            auth_endpoint=f"{login_url}/services/oauth2/token",
            client_id=config.get("client_id"),
            client_secret=config.get("client_secret"),
        )
        self._transport = transport
        self.login_url = login_url
        self.instance_url: str | None = None

    def invalidate(self) -> None:
        """Forget the access token so the next request gets a new one (after a 401 INVALID_SESSION_ID)."""
        self.access_token = None
        self.last_refreshed = None

    def ensure_token(self) -> None:
        """Fetch a token if none is held yet (Salesforce sends no expiry; a 401 tells us when it ends)."""
        if not self.is_token_valid():
            self.update_access_token()

    def update_access_token(self) -> None:
        """Call the token endpoint; keep `access_token` and `instance_url`; raise one line on failure."""
        response = self._post_token()
        if response.status_code != 200:
            raise SalesforceAuthError(self._error_line(response))
        body = response.json()
        if not body.get("access_token") or not body.get("instance_url"):
            msg = f"Salesforce token response ({self.flow}) lacks access_token or instance_url"
            raise SalesforceAuthError(msg)
        self.instance_url = checked_url(str(body["instance_url"]), "the token response's instance_url")
        self.access_token = body["access_token"]
        self.expires_in = None
        self.last_refreshed = dt.datetime.now(dt.UTC)
        self.on_token_response(body)

    def _post_token(self) -> requests.Response:
        """POST the grant through the transport: 429/5xx, resets and timeouts are retried, any other answer is final."""
        return self._transport.request("POST", self.auth_endpoint, classify=classify_token_response,
                                       data=self.oauth_request_body, headers={"Accept": "application/json"})

    def on_token_response(self, body: dict[str, t.Any]) -> None:
        """Hook for flows that must act on the token response (refresh-token rotation)."""

    def _error_line(self, response: requests.Response) -> str:
        """Salesforce's `error: error_description` (never the request body, which holds the secrets)."""
        try:
            body = response.json()
            detail = f"{body.get('error')}: {body.get('error_description')}"
        except ValueError:
            detail = f"HTTP {response.status_code}"
        return f"Salesforce authentication failed ({self.flow} flow, HTTP {response.status_code}): {detail}"

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign one prepared request (every attempt, as `auth=`): log in first when no token is held."""
        self.ensure_token()
        request.headers["Authorization"] = f"Bearer {self.access_token}"
        return request


class RefreshTokenAuthenticator(SalesforceAuthenticator):
    """OAuth 2.0 refresh-token flow, with rotation kept when the org rotates refresh tokens.

    When Salesforce answers with a new `refresh_token`, the old one stops working. The new value is kept in
    memory for the rest of the run and, if `token_store_path` is set, written there (0600) so the next run
    reads it instead of the configured one. When Salesforce refuses the stored token (`invalid_grant`: revoked,
    expired) and a different `refresh_token` is configured (an admin re-authorised), the configured one is tried
    once; if it works it is saved to the store, and one warning line says so.
    """

    flow = "refresh_token"

    def __init__(self, config: t.Mapping[str, t.Any], transport: Transport) -> None:
        """Pick the newest refresh token: the token store's if present, else the configured one."""
        super().__init__(config, transport)
        configured = config.get("refresh_token")
        self._tokens = _token_store(config, configured, self.logger)
        stored = self._read_stored()
        #: The configured token, to try once if Salesforce refuses the stored one (None: nothing else to try).
        self._fallback: str | None = configured if stored and configured and stored != configured else None
        if self._fallback:
            self.logger.info(
                "Using the refresh token saved in %s (Salesforce rotated it), not the configured refresh_token; "
                "the configured one is tried if Salesforce refuses the saved one",
                self._where,
            )
        self.refresh_token = stored or configured
        self._save_current = False

    @property
    def _where(self) -> str:
        return self._tokens.location if self._tokens is not None else ""

    def _read_stored(self) -> str | None:
        try:
            return self._tokens.read() if self._tokens is not None else None
        except TokenStoreError as exc:
            raise SalesforceAuthError(str(exc)) from None

    @override
    def update_access_token(self) -> None:
        """Refresh under the token store's lock: another host may have rotated the token since it was read (a
        shared store), and the token Salesforce rotates it to is saved before another host reads it."""
        if self._tokens is None:
            super().update_access_token()
            return
        try:
            with self._tokens.exclusive():
                newest = self._read_stored()
                if newest and newest != self.refresh_token and not self._save_current:
                    self.refresh_token = newest
                super().update_access_token()
        except TokenStoreError as exc:
            raise SalesforceAuthError(str(exc)) from None

    @override
    def _post_token(self) -> requests.Response:
        """The grant; if Salesforce refuses the stored token and another is configured, the configured one."""
        response = super()._post_token()
        if self._fallback is None or response.status_code != 400 or _oauth_error(response) != "invalid_grant":
            return response
        self.refresh_token, self._fallback = self._fallback, None
        response = super()._post_token()
        if response.status_code == 200:
            self._save_current = True
            self.logger.warning(
                "Salesforce refused the refresh token saved in %s (invalid_grant); the configured refresh_token "
                "works and replaces it there",
                self._where,
            )
        return response

    @property
    def oauth_request_body(self) -> dict:
        """Form body of the refresh-token grant."""
        return {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }

    def on_token_response(self, body: dict[str, t.Any]) -> None:
        """Adopt a rotated refresh token (or the configured one that replaced a refused stored one) and persist it
        when a store is configured."""
        new_token = body.get("refresh_token")
        rotated = bool(new_token) and new_token != self.refresh_token
        if not rotated and not self._save_current:
            return
        self._save_current = False
        if rotated:
            self.refresh_token = new_token
        if self._tokens is None:
            self.logger.warning(
                "Salesforce rotated the refresh token; set token_store_path or store_uri (or update refresh_token) "
                "or the next run will fail to log in."
            )
            return
        self._tokens.save(str(self.refresh_token))
        if rotated:
            self.logger.info("Salesforce rotated the refresh token; the new one was saved to %s", self._where)


def _token_store(config: t.Mapping[str, t.Any], configured: str | None, logger: t.Any) -> TokenStore | None:
    """`store_uri`'s shared store (a file store `token_store_path` names is taken in once), else the file store,
    else none."""
    path = Path(config["token_store_path"]).expanduser() if config.get("token_store_path") else None
    if not config.get("store_uri"):
        return FileTokenStore(path) if path is not None else None
    try:
        shared = SharedTokenStore(str(config["store_uri"]),
                                  grant_key(str(config["login_url"]), config.get("client_id"), configured),
                                  encryption_key=config.get("token_store_encryption_key"))
        if path is not None and shared.take_in_file(path):
            logger.info("The refresh token saved in %s was taken into %s (the file is not read any more)",
                        path, shared.location)
    except TokenStoreError as exc:
        raise SalesforceAuthError(str(exc)) from None
    return shared


class JWTBearerAuthenticator(SalesforceAuthenticator):
    """OAuth 2.0 JWT bearer flow: an RS256 assertion with iss, sub, aud and a short exp (the SDK sends no sub).

    The key is loaded and a trial assertion signed at start-up, so a key that cannot sign (not PEM, encrypted,
    not RSA) is one line naming the setting before any call, never a traceback from the first token call.
    """

    flow = "jwt"

    def __init__(self, config: t.Mapping[str, t.Any], transport: Transport) -> None:
        """Load the private key once, from `private_key` text or `private_key_path`, and check it signs."""
        super().__init__(config, transport)
        setting = "private_key"
        key = config.get("private_key")
        if not key and config.get("private_key_path"):
            setting = f"private_key_path {config['private_key_path']}"
            try:
                key = Path(config["private_key_path"]).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                msg = f"{setting}: cannot read it ({type(exc).__name__})"
                raise SalesforceAuthError(msg) from None
        if not key or not config.get("username") or not self.client_id:
            msg = "auth_flow jwt needs client_id, username and private_key (or private_key_path)"
            raise SalesforceAuthError(msg)
        self._private_key = _rsa_private_key(str(key), setting)
        self._username = str(config["username"])
        try:
            _ = self.oauth_request_body
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            msg = f"{setting}: the key cannot sign an RS256 JWT ({type(exc).__name__})"
            raise SalesforceAuthError(msg) from None

    @property
    def oauth_request_body(self) -> dict:
        """Form body of the JWT bearer grant with a freshly signed assertion."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self._username,
            "aud": urlparse(self.login_url)._replace(path="").geturl(),
            "exp": now + JWT_LIFETIME_SECONDS,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        assertion = jwt.encode(claims, self._private_key, algorithm="RS256")
        return {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}


def _rsa_private_key(pem: str, setting: str) -> rsa.RSAPrivateKey:
    """The unencrypted RSA private key in `pem` (Salesforce signs JWT bearer assertions with RS256 only)."""
    try:
        key = load_pem_private_key(pem.encode("utf-8", "surrogatepass"), password=None)
    except (ValueError, TypeError) as exc:
        reason = "encrypted (give it without a passphrase)" if isinstance(exc, TypeError) else "not PEM key text"
        msg = f"{setting} is not a readable unencrypted PEM private key: {reason}"
        raise SalesforceAuthError(msg) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        msg = f"{setting} is not an RSA private key; Salesforce's JWT bearer flow signs with RS256"
        raise SalesforceAuthError(msg)
    return key


class ClientCredentialsAuthenticator(SalesforceAuthenticator):
    """OAuth 2.0 client-credentials flow; Salesforce serves it only on the org's My Domain login URL."""

    flow = "client_credentials"

    @property
    def oauth_request_body(self) -> dict:
        """Form body of the client-credentials grant."""
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }


AUTHENTICATORS: dict[str, type[SalesforceAuthenticator]] = {
    "refresh_token": RefreshTokenAuthenticator,
    "jwt": JWTBearerAuthenticator,
    "client_credentials": ClientCredentialsAuthenticator,
}


def build_authenticator(config: t.Mapping[str, t.Any], transport: Transport) -> SalesforceAuthenticator:
    """The authenticator for `auth_flow`, after checking the settings that flow needs."""
    flow = str(config["auth_flow"])
    if flow not in AUTHENTICATORS:
        msg = f"auth_flow must be one of {', '.join(AUTHENTICATORS)}; got {flow!r}"
        raise SalesforceAuthError(msg)
    required = {"refresh_token": ("client_id", "client_secret"), "client_credentials": ("client_id", "client_secret")}
    missing = [name for name in required.get(flow, ()) if not config.get(name)]
    if flow == "refresh_token" and not (config.get("refresh_token") or config.get("token_store_path")):
        missing.append("refresh_token")
    if missing:
        msg = f"auth_flow {flow} needs setting(s): {', '.join(missing)}"
        raise SalesforceAuthError(msg)
    return AUTHENTICATORS[flow](config, transport)


class ConnectionSettings(t.Protocol):
    """What a Salesforce connector's typed settings give its connection (the tap's and the target's do)."""

    @property
    def config(self) -> t.Mapping[str, t.Any]: ...
    @property
    def ca_bundle(self) -> str | None: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def backoff_factor(self) -> float: ...
    @property
    def request_timeout(self) -> float: ...
    @property
    def max_api_usage_percent(self) -> float: ...


class SalesforceConnection:
    """The session (TLS verification always on; `ca_bundle` adds a private CA), the shared transport with
    Salesforce's errors, the API-quota guard and the authenticator, built one way for every Salesforce connector."""

    def __init__(self, settings: ConnectionSettings, logger: t.Any) -> None:
        self.session = requests.Session()
        self.session.verify = settings.ca_bundle or True
        if isinstance(self.session.verify, str) and not os.access(self.session.verify, os.R_OK):
            msg = f"ca_bundle {self.session.verify}: not a readable file"
            raise SalesforceFatalError(msg)
        policy = RetryPolicy(max_retries=settings.max_retries, backoff_factor=settings.backoff_factor)
        self.transport = Transport(self.session, policy, service="Salesforce", timeout=settings.request_timeout,
                                   verify=self.session.verify, fatal_error=SalesforceAPIError,
                                   exhausted_error=SalesforceAPIError, logger=logger)
        self.quota = QuotaGuard(settings.max_api_usage_percent)
        self.auth: SalesforceAuthenticator = build_authenticator(settings.config, self.transport.unlimited())
