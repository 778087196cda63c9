"""HTTP access to one Salesforce org: auth, the API quota guard, REST query paging, describe.

One `SalesforceClient` is shared by every stream of a run so that the token (one token call per run), the
connection pool, the last-seen API usage and the quota-stop state are shared too. Waiting, retrying, TLS and
re-signing are connector_kit's `Transport`; this module brings Salesforce's `classify_salesforce`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import typing as t
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import msgspec
import requests
from connector_kit.transport import RetryPolicy, Transport, Verdict

from tap_salesforce_custom.auth import SalesforceAuthenticator, build_authenticator
from tap_salesforce_custom.errors import QuotaGuardStop, SalesforceAPIError, SalesforceFatalError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_salesforce_custom.settings import TapSettings

LOGGER = logging.getLogger("tap-salesforce-custom")

RETRY_STATUSES = frozenset({500, 502, 503, 504})
RETRY_ERROR_CODES = frozenset({"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
_USAGE = re.compile(r"(?P<kind>per-app-api-usage|api-usage)=(?P<used>\d+)/(?P<limit>\d+)")
_DECODER = msgspec.json.Decoder()


def parse_limit_info(header: str | None) -> list[tuple[str, int, int]]:
    """Every `(kind, used, limit)` in a `Sforce-Limit-Info` header.

    Forms seen: `api-usage=18/15000`, `api-usage=18/15000; per-app-api-usage=17/250(appName=x)`, and
    `api-usage=...; api-bursts=...` (bursts are not a daily quota and are ignored).
    """
    if not header:
        return []
    return [(m["kind"], int(m["used"]), int(m["limit"])) for m in _USAGE.finditer(header)]


def server_sent_time(response: requests.Response) -> dt.datetime | None:
    """Salesforce's clock when the request was sent, at the latest: its `Date` header minus the round trip.

    `Date` (second precision, floored) is written after the server started the work, so subtracting the whole
    round trip gives a time no later than the server's clock when the request arrived, whatever the local
    clock says. None without a usable `Date` header.
    """
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        stamp = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp - response.elapsed


def _error_code(response: requests.Response) -> tuple[str, str]:
    """`(errorCode, first line of message)` of a Salesforce error array (or object), else `("", "")`."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    first = body[0] if isinstance(body, list) and body else body
    if not isinstance(first, dict):
        return "", ""
    message = str(first.get("message") or "").strip().splitlines()
    return str(first.get("errorCode") or ""), (message[0] if message else "")


def classify_salesforce(response: requests.Response, method: str, url: str,
                        ok_statuses: t.Collection[int] = (200, 201, 204)) -> Verdict:
    """Salesforce's rules, as the SDK's `validate_response`: 429, 5xx, SERVER_UNAVAILABLE, UNABLE_TO_LOCK_ROW and
    a concurrent-request REQUEST_LIMIT_EXCEEDED are retried; the daily REQUEST_LIMIT_EXCEEDED is a clean
    `QuotaGuardStop`; anything else is a one-line `SalesforceAPIError` carrying the code and status."""
    if response.status_code in ok_statuses:
        return Verdict.done()
    code, message = _error_code(response)
    reason = f"HTTP {response.status_code} {code}".strip()
    if code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" not in message.lower():
        msg = f"quota guard: Salesforce answered REQUEST_LIMIT_EXCEEDED ({message}); stopped cleanly"
        return Verdict.fatal(QuotaGuardStop(msg))
    if response.status_code == 429 or code == "REQUEST_LIMIT_EXCEEDED":
        return Verdict.throttled(reason)
    if response.status_code in RETRY_STATUSES or code in RETRY_ERROR_CODES:
        return Verdict.retry(reason)
    detail = f"{code}: {message}" if code else response.text[:200].replace("\n", " ")
    msg = f"Salesforce {method} {url.split('?')[0]} failed: HTTP {response.status_code} {detail}"
    return Verdict.fatal(SalesforceAPIError(msg, code=code, status=response.status_code))


class SalesforceClient:
    """Authenticated, retried, quota-guarded requests to the org's REST and Bulk 2.0 APIs."""

    def __init__(self, settings: TapSettings, logger: logging.Logger = LOGGER) -> None:
        """Build the session (TLS verification always on; `ca_bundle` adds a private CA) and authenticator."""
        self.logger = logger
        self.session = requests.Session()
        self.session.verify = settings.ca_bundle or True
        if isinstance(self.session.verify, str) and not os.access(self.session.verify, os.R_OK):
            msg = f"ca_bundle {self.session.verify}: not a readable file"
            raise SalesforceFatalError(msg)
        self.session.headers["Accept-Encoding"] = "gzip"
        self.api_version = settings.api_version
        policy = RetryPolicy(max_retries=settings.max_retries, backoff_factor=settings.backoff_factor)
        self.transport = Transport(self.session, policy, service="Salesforce", timeout=settings.request_timeout,
                                   verify=self.session.verify, fatal_error=SalesforceAPIError,
                                   exhausted_error=SalesforceAPIError, logger=logger)
        self.max_usage_percent = settings.max_api_usage_percent
        self.auth: SalesforceAuthenticator = build_authenticator(settings.config, self.transport.unlimited())
        self.usage: dict[str, tuple[int, int]] = {}
        #: API calls sent (token calls are not API calls: they do not count against the org's quota).
        self.calls = 0
        #: Why the quota guard stopped this run (None while it goes on): every stream reads it and stops.
        self.quota_stop: str | None = None
        #: Salesforce's clock when the first call after `mark_read_start()` was sent (see `server_sent_time`).
        self.read_started: dt.datetime | None = None
        self._marking = False

    @property
    def data_url(self) -> str:
        """`<instance_url>/services/data/vXX.X` (logs in first if needed, for `instance_url`)."""
        self.auth.ensure_token()
        return f"{self.auth.instance_url}/services/data/v{self.api_version}"

    def check_quota(self) -> None:
        """Raise `QuotaGuardStop` if one more call would take usage past `max_api_usage_percent`."""
        for kind, (used, limit) in self.usage.items():
            if limit and (used + 1) * 100 > limit * self.max_usage_percent:
                msg = (
                    f"quota guard: Salesforce {kind} is {used}/{limit} ({used * 100 / limit:.1f}%), "
                    f"max_api_usage_percent is {self.max_usage_percent:g}; stopped cleanly with state saved"
                )
                raise QuotaGuardStop(msg)

    def _note_usage(self, response: requests.Response) -> None:
        for kind, used, limit in parse_limit_info(response.headers.get("Sforce-Limit-Info")):
            self.usage[kind] = (used, limit)
        if self._marking:
            self._marking = False
            self.read_started = server_sent_time(response)

    def mark_read_start(self) -> None:
        """Remember, as `read_started`, Salesforce's time at the next call (None if it sends no `Date`)."""
        self.read_started = None
        self._marking = True

    def request(
        self,
        method: str,
        path: str,
        *,
        params: t.Mapping[str, t.Any] | None = None,
        json: t.Any = None,
        headers: t.Mapping[str, str] | None = None,
        ok_statuses: t.Collection[int] = (200, 201, 204),
        guard_quota: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """Send one API call through the transport: re-login on a 401, retry what `classify_salesforce` retries.

        `path` is relative to the instance (`/services/data/...`, as `nextRecordsUrl` is) or to
        `data_url` when it does not start with `/services/`. `guard_quota=False` is only for clean-up calls
        (aborting a Bulk job) that must go out even after the quota guard stopped the run.
        """
        url = self._url(path)

        def before_attempt() -> None:
            if guard_quota:
                self.check_quota()
            self.calls += 1

        def classify(response: requests.Response) -> Verdict:
            self._note_usage(response)
            return classify_salesforce(response, method, url, ok_statuses)

        return self.transport.request(method, url, classify=classify, auth=self.auth, before_attempt=before_attempt,
                                      params=params, json=json, headers=headers, stream=stream)

    def _url(self, path: str) -> str:
        """The URL of an API path; an absolute URL (a `nextRecordsUrl`) only on the instance's own host, so the
        bearer token never goes anywhere else."""
        if "://" in path or path.startswith("//"):
            instance, other = urlsplit(self.data_url), urlsplit(path)
            if (other.scheme, other.netloc) != (instance.scheme, instance.netloc):
                msg = f"refusing to send the Salesforce token to {other.scheme}://{other.hostname}: not the instance"
                raise SalesforceAPIError(msg)
            return path
        if path.startswith("/services/"):
            return urljoin(f"{self.data_url}/", path)
        return f"{self.data_url}/{path.lstrip('/')}"

    def get_json(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> t.Any:
        """GET and decode JSON (msgspec: the decode is a large share of the tap's CPU time)."""
        return _DECODER.decode(self.request("GET", path, params=params).content)

    def query_pages(self, soql: str, *, include_deleted: bool, batch_size: int) -> Iterator[dict[str, t.Any]]:
        """Each page of a REST query (`/queryAll` to see deleted rows), following `nextRecordsUrl`."""
        endpoint = "queryAll" if include_deleted else "query"
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        response = self.request("GET", endpoint, params={"q": soql}, headers=headers)
        page = _DECODER.decode(response.content)
        while True:
            yield page
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = _DECODER.decode(self.request("GET", next_url, headers=headers).content)

    def describe_global(self) -> list[dict[str, t.Any]]:
        """The org's sObject list (`/sobjects/`)."""
        return list(self.get_json("sobjects/")["sobjects"])

    def describe(self, object_name: str) -> dict[str, t.Any]:
        """One object's describe (`/sobjects/<Object>/describe`)."""
        return t.cast("dict[str, t.Any]", self.get_json(f"sobjects/{object_name}/describe"))
