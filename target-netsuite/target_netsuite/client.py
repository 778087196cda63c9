"""HTTP client for the NetSuite REST Record and SuiteQL APIs: NetSuite's rules on the shared transport.

The waiting, retrying, slot keeping, TLS and re-signing rules are connector_kit's `Transport`; this module
brings NetSuite's `classify_netsuite` (which answers are throttling, transient, or a record's own error) and
the operations. The invariants below hold through the transport.

NetSuite gives an account a small pool of concurrent requests (5 on a standard account) shared by every
integration; past it the REST API answers 429. Each write takes seconds, so throughput is set by how well the
pool is kept busy. All streams therefore share one `AdaptiveLimiter`: at most `max_concurrency` requests in
flight, the window halved on a 429 (at most once per round trip) and regrown additively (AIMD), quickly up to
just below the level that was refused and slowly beyond it, so a limit lower than configured is found without
a storm of 429s and the window then stays near it.

A busy account is waited out, not counted out: 429s draw on a time budget (`max_throttle_wait_seconds`), not on
`max_retries`, and the log says how long the request has waited. A request that timed out may still be running
inside NetSuite, so its slot stays taken for another `request_timeout` (and the timeout cuts the window like a
429): the account never sees more than `max_concurrency` requests from us. Every slot is given back in a
`finally`, whatever an attempt raises. TLS verification failures are never retried.
"""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests
from connector_kit.transport import AdaptiveLimiter, RequestStats, RetryPolicy, Transport, Verdict
from connector_kit.urls import insecure_url_reason
from requests.adapters import HTTPAdapter

if t.TYPE_CHECKING:
    from target_netsuite.auth import MachineToMachineAuth, TokenBasedAuth

RECORD_PATH = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
#: Rows a SuiteQL page holds at most (NetSuite caps `limit` at 1,000).
SUITEQL_PAGE_SIZE = 1000
THROTTLE_STATUSES = frozenset({401, 429})
RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
#: Records NetSuite refuses for a moment only (another user, a workflow or a script holds the record): retried.
TRANSIENT_400 = re.compile(
    r"has been changed|record (?:is )?locked|locked by|RCRD_HAS_BEEN_CHANGED|RCRD_LOCKED|try again later",
    re.IGNORECASE,
)
#: Standard record types are camelCase (`customer`, `salesOrder`); custom ones are `customrecord_*` and
#: `customtransaction_*`. `\Z`, not `$`: a type is pasted into URL paths and SuiteQL, and `$` accepts a newline.
RECORD_TYPE_PATTERN = re.compile(r"(?:[a-z][A-Za-z0-9]*|custom(?:record|transaction)[a-z0-9_]+)\Z")
#: NetSuite account ids: `1234567`, `1234567_SB1` (sandbox), `1234567_RP` (release preview), `TSTDRV1234567`.
ACCOUNT_ID_PATTERN = re.compile(r"(?:TSTDRV)?[0-9]+(?:_(?:SB[0-9]+|RP|TD[0-9]+))?\Z", re.IGNORECASE)
_LOGGER = logging.getLogger("target_netsuite.client")


class FatalError(Exception):
    """The run cannot go on (bad credentials, unreachable host, bad settings). The message is one line, no secret."""


class RetriesExhausted(FatalError):  # noqa: N818 - named for what happened; shared, kept
    """A transient failure outlived every retry.

    This fails the run instead of dead-lettering the record: the cause (throttling, an outage) is not the
    record's fault and will clear, so the run must stop *without* advancing state and the next run resends.
    """


@dataclass(frozen=True)
class RecordError(Exception):
    """A permanent, per-record error from NetSuite (4xx): the record is dead-lettered and the run goes on."""

    status: int
    code: str
    detail: str
    path: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"


def checked_account_id(account_id: object) -> str:
    """The account id if it has one of NetSuite's forms; it becomes a host name and the OAuth realm."""
    if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.match(account_id):
        msg = (
            f"account_id {str(account_id)[:40]!r} is not a NetSuite account id "
            "(e.g. 1234567, 1234567_SB1, TSTDRV1234567)"
        )
        raise FatalError(msg)
    return account_id


def is_record_type(value: object) -> bool:
    """A NetSuite record type name (safe in a URL path and as a SuiteQL table)."""
    return isinstance(value, str) and RECORD_TYPE_PATTERN.match(value) is not None


def account_host(account_id: str) -> str:
    """`1234567_SB1` → `https://1234567-sb1.suitetalk.api.netsuite.com` (the realm keeps the id as given)."""
    checked_account_id(account_id)
    return f"https://{account_id.lower().replace('_', '-')}.suitetalk.api.netsuite.com"


def checked_base_url(base_url: str) -> str:
    """A `base_url` override must be https, unless it points at this machine (the sandbox, tests)."""
    reason = insecure_url_reason(base_url)
    if reason:
        raise FatalError(f"base_url {reason}")
    return base_url.rstrip("/")


def json_default(value: object) -> str | float:
    """JSON for what the SDK's record parsing produces (datetimes, dates, decimals)."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    msg = f"not JSON serializable: {type(value).__name__}"
    raise TypeError(msg)


def one_line(text: str, limit: int = 200) -> str:
    """Text as one short line: an HTML page becomes its title (or its text), whitespace collapsed."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = f"HTML page: {title.group(1)}"
    elif "<" in text and ">" in text:
        text = "HTML page: " + re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_details(response: requests.Response) -> tuple[str, str, str | None]:
    """(o:errorCode, detail, o:errorPath) of NetSuite's error body; a non-JSON body (a proxy's HTML page) gives
    `HTTP_<status>` and one short line of its text."""
    try:
        body = response.json()
        first = body["o:errorDetails"][0]
        detail = " ".join(str(first.get("detail", "")).split())
        return str(first.get("o:errorCode", "UNKNOWN")), detail, first.get("o:errorPath")
    except (ValueError, KeyError, IndexError, TypeError):
        return f"HTTP_{response.status_code}", one_line(response.text), None


def json_body(response: requests.Response, what: str) -> dict:
    """The JSON object of a 2xx answer; anything else is a one-line `FatalError` naming the request."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        msg = f"NetSuite answered {what} with HTTP {response.status_code} but no JSON object: {one_line(response.text)}"
        raise FatalError(msg)
    return body


def classify_netsuite(response: requests.Response) -> Verdict:
    """NetSuite's rules, as the SDK's `validate_response`: 429 (and a 401 once the credentials were proven) is
    throttling; 408, 5xx and a record locked for a moment are retried; any other 4xx is the record's error."""
    status = response.status_code
    if status < 400:
        return Verdict.done()
    code, detail, _ = error_details(response)
    reason = f"HTTP {status} {code}: {detail[:200]}"
    if status in THROTTLE_STATUSES:
        return Verdict.throttled(reason)
    if status in RETRYABLE_STATUSES or (status == 400 and TRANSIENT_400.search(detail)):
        return Verdict.retry(reason)
    return Verdict.record_error(reason)


def classify_netsuite_at_start_up(response: requests.Response) -> Verdict:
    """As `classify_netsuite`, but a 401 is an answer: bad credentials must stop the run at once."""
    if response.status_code == 401:
        return Verdict.record_error("HTTP 401")
    return classify_netsuite(response)


class NetSuiteClient:
    """One NetSuite account: a pooled session, the auth, and the shared transport (limiter, retry policy)."""

    def __init__(
        self,
        *,
        base_url: str,
        session: requests.Session,
        auth: TokenBasedAuth | MachineToMachineAuth,
        max_concurrency: int,
        timeout: float,
        max_retries: int,
        backoff_factor: float,
        max_throttle_wait: float = 300.0,
        verify: str | bool = True,
    ) -> None:
        self.base_url = base_url
        self.session = session
        self.auth = auth
        policy = RetryPolicy(max_retries=max_retries, backoff_factor=backoff_factor,
                             max_throttle_wait=max_throttle_wait)
        # A request that timed out may still run inside NetSuite: its slot stays taken another request_timeout.
        self.limiter = AdaptiveLimiter(max_concurrency, timeout_hold=timeout)
        self.transport = Transport(session, policy, service="NetSuite", timeout=timeout, verify=verify,
                                   limiter=self.limiter, fatal_error=FatalError, exhausted_error=RetriesExhausted,
                                   logger=_LOGGER)
        auth.use_transport(self.transport.unlimited())
        self._warned: set[tuple[str, str]] = set()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_concurrency + 2)
        session.mount("https://", adapter)
        session.mount("http://", adapter)

    @property
    def stats(self) -> RequestStats:
        """Requests, throttled answers and retries of this run (token calls not included)."""
        return self.transport.stats

    @property
    def stopping(self) -> bool:
        """The run is ending (`stop_retrying`): nothing new should be started."""
        return self.transport.stopping.is_set()

    @property
    def max_retries(self) -> int:
        """How many times a transient failure is retried (`max_retries`): also the resubmissions of a batch."""
        return self.transport.policy.max_retries

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
        attempts: int | None = None,
        retry_unauthorized: bool = True,
    ) -> requests.Response:
        """Send through the transport; returns the first answer `classify_netsuite` does not retry.

        Failures (5xx, timeouts, dropped or cut-off connections, a record locked for a moment) get `attempts`
        tries; throttling (429, and a 401 once the credentials have been proven) gets `max_throttle_wait`
        seconds of waiting instead. At start-up (`retry_unauthorized=False`) a 401 is answered at once.
        """
        data = None if body is None else json.dumps(body, default=json_default)
        send_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            send_headers.setdefault("Content-Type", "application/json")  # a batch is a collection (batches.py)
        return self.transport.request(
            method,
            f"{self.base_url}{path}",
            classify=classify_netsuite if retry_unauthorized else classify_netsuite_at_start_up,
            auth=self.auth,
            relogins=1 if retry_unauthorized else 0,
            max_retries=None if attempts is None else attempts - 1,
            params=params,
            data=data,
            headers=send_headers,
        )

    def stop_retrying(self) -> None:
        """A run that is failing should not linger in backoff sleeps: requests now fail at their next retry."""
        self.transport.stop_retrying()

    def close(self) -> None:
        self.stop_retrying()
        self.session.close()

    # --- the operations ------------------------------------------------------------------------------------

    @staticmethod
    def eid_path(record_type: str, external_id: str) -> str:
        return f"{RECORD_PATH}/{record_type}/eid:{quote(external_id, safe='')}"

    def upsert(self, record_type: str, external_id: str, payload: dict, replace: list[str]) -> str | None:
        """PUT by external id; returns the internal id when the Location header names one."""
        params = {"replace": ",".join(replace)} if replace else None
        response = self.request("PUT", self.eid_path(record_type, external_id), params=params, body=payload)
        if response.status_code >= 400:
            raise RecordError(response.status_code, *error_details(response))
        self._warn_unknown_fields(record_type, response)
        last = response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
        return last if last.isdigit() else None

    def _warn_unknown_fields(self, record_type: str, response: requests.Response) -> None:
        """NetSuite saves a record with unknown fields and only says so in a header: tell the operator, once."""
        header = response.headers.get("X-NetSuite-PropertyValidation")
        if header and (record_type, header) not in self._warned:
            self._warned.add((record_type, header))
            _LOGGER.warning("NetSuite ignored fields of %s: %s", record_type, header)

    def delete(self, record_type: str, external_id: str) -> None:
        """DELETE by external id; a record that is already gone (404) counts as deleted."""
        response = self.request("DELETE", self.eid_path(record_type, external_id))
        if response.status_code >= 400 and response.status_code != 404:
            raise RecordError(response.status_code, *error_details(response))

    def suiteql(self, query: str, *, limit: int = SUITEQL_PAGE_SIZE, offset: int = 0, start_up: bool = False) -> dict:
        """One page of a SuiteQL query (`Prefer: transient`, as the API requires).

        At start-up a 401 is final (bad credentials must stop the run at once) and a dead host is given up soon.
        """
        response = self.request(
            "POST",
            SUITEQL_PATH,
            params={"limit": str(limit), "offset": str(offset)},
            body={"q": query},
            headers={"Prefer": "transient"},
            attempts=3 if start_up else None,
            retry_unauthorized=not start_up,
        )
        if response.status_code >= 400:
            raise RecordError(response.status_code, *error_details(response))
        return json_body(response, "a SuiteQL query")

    def suiteql_rows(self, query: str) -> t.Iterator[dict]:
        """Every row of a SuiteQL query, page after page (offset paging, 1,000 rows a page).

        One stop rule for every reader: the last page is the one that says `hasMore: false`, or one with no rows
        (so an answer that claims more but sends nothing cannot loop for ever). A failed page raises `RecordError`
        from the generator; each caller decides what that failure means for its run.
        """
        offset = 0
        while True:
            page = self.suiteql(query, limit=SUITEQL_PAGE_SIZE, offset=offset)
            rows = page.get("items", [])
            yield from rows
            if not page.get("hasMore") or not rows:
                return
            offset += len(rows)

    def check_connection(self, account_id: str) -> None:
        """A cheap authenticated call at start-up, so bad credentials or a wrong host stop the run before any record.

        Any answer other than 401/404 proves the host and the credentials; a 400 (no `subsidiary` table on a
        non-OneWorld account) or a 403 (role without SuiteQL) is fine for writing records.
        """
        where = urlsplit(self.base_url).hostname
        try:
            self.suiteql("SELECT id FROM subsidiary", limit=1, start_up=True)
        except RecordError as exc:
            if exc.status == 401:
                msg = (
                    f"NetSuite refused the credentials for account {account_id} at {where} ({exc.code}): "
                    "check account_id and the consumer/token (or client/certificate) settings"
                )
                raise FatalError(msg) from None
            if exc.status == 404:
                msg = f"NetSuite REST API not found at {where} (HTTP 404): check account_id / base_url"
                raise FatalError(msg) from None
            if exc.status == 403:
                _LOGGER.warning("Role may not use SuiteQL (%s): references can only come from this run's writes",
                                exc.code)
        except RetriesExhausted as exc:
            msg = f"NetSuite not reachable for account {account_id}: {exc}"
            raise FatalError(msg) from None
