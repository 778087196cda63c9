"""HTTP access to one Salesforce org: auth, the API quota guard, REST query paging, describe.

One `SalesforceClient` is shared by every stream of a run so that the token (one token call per run), the
connection pool, the last-seen API usage and the quota-stop state are shared too. Waiting, retrying, TLS and
re-signing are connector_kit's `Transport`; Salesforce's `classify_salesforce`, the quota guard and the
authenticators are connector_kit's too (`salesforce`, `salesforce_auth`), shared with target-salesforce-custom.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import msgspec
import requests
from connector_kit.salesforce import SalesforceAPIError, classify_salesforce
from connector_kit.salesforce_auth import SalesforceAuthenticator, SalesforceConnection
from connector_kit.transport import Verdict

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_salesforce_custom.settings import TapSettings

LOGGER = logging.getLogger("tap-salesforce-custom")

_DECODER = msgspec.json.Decoder()


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


class SalesforceClient:
    """Authenticated, retried, quota-guarded requests to the org's REST and Bulk 2.0 APIs."""

    def __init__(self, settings: TapSettings, logger: logging.Logger = LOGGER) -> None:
        """Build the session (TLS verification always on; `ca_bundle` adds a private CA) and authenticator."""
        self.logger = logger
        connection = SalesforceConnection(settings, logger)
        self.session, self.transport, self.quota = connection.session, connection.transport, connection.quota
        self.auth: SalesforceAuthenticator = connection.auth
        self.session.headers["Accept-Encoding"] = "gzip"
        self.api_version = settings.api_version
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

    def _note_usage(self, response: requests.Response) -> None:
        self.quota.note(response)
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
                self.quota.check()
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
