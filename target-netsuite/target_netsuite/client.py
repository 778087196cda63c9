"""HTTP client for the NetSuite REST Record and SuiteQL APIs: timeouts, retries, and one shared concurrency window.

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
`finally`, whatever the transport raises. TLS verification failures are never retried.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import logging
import random
import re
import threading
import time
import typing as t
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

if t.TYPE_CHECKING:
    from target_netsuite.auth import MachineToMachineAuth, TokenBasedAuth

RECORD_PATH = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
RETRYABLE_STATUSES = frozenset({401, 408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 300.0
MAX_BACKOFF_S = 60.0
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
_TRANSIENT_EXCEPTIONS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_LOGGER = logging.getLogger("target_netsuite.client")


class FatalError(Exception):
    """The run cannot go on (bad credentials, unreachable host, bad settings). The message is one line, no secret."""


class RetriesExhausted(FatalError):
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


@dataclass
class RequestStats:
    """Counters for the run report and the benchmark."""

    requests: int = 0
    throttled: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, throttled: bool = False, retry: bool = False) -> None:
        with self.lock:
            self.requests += 1
            self.throttled += throttled
            self.retries += retry


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
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        msg = f"base_url must use https (plain http is allowed only for loopback hosts): {parts.scheme}://{host}"
        raise FatalError(msg)
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


class AdaptiveLimiter:
    """Requests-in-flight window shared by all streams: halved on a 429, regrown fast up to just below the level
    that was refused, then only slowly probed above it (one more request per `PROBE_WINDOWS` windows of
    successes), so the window settles at the account's free capacity with about one 429 per probe."""

    PROBE_WINDOWS = 32

    def __init__(self, ceiling: int) -> None:
        self._ceiling = float(ceiling)
        self._window = float(ceiling)
        self._refused_at = float(ceiling) + 1  # the window at the last 429: the known limit is below it
        self._in_flight = 0
        self._last_cut = 0.0
        self._cond = threading.Condition()

    @property
    def window(self) -> float:
        return self._window

    @property
    def ceiling(self) -> int:
        return int(self._ceiling)

    def acquire(self) -> float:
        """Wait for a free slot; returns the start time, to be passed back to `release`."""
        with self._cond:
            while self._in_flight >= int(self._window):
                self._cond.wait()
            self._in_flight += 1
            return time.monotonic()

    def release(self, started: float, *, throttled: bool) -> None:
        """Give a slot back: a 429 cuts the window, a success regrows it."""
        with self._cond:
            self._in_flight -= 1
            if throttled:
                self._cut(started)
            elif self._window < self._refused_at - 1:
                self._window = min(self._ceiling, self._window + 1.0 / self._window)
            else:
                self._window = min(self._ceiling, self._window + 1.0 / (self._window * self.PROBE_WINDOWS))
            self._cond.notify_all()

    def timed_out(self, started: float, hold: float) -> None:
        """A request timed out: congestion (cut the window now), and its slot stays taken for `hold` seconds more,
        because NetSuite may still be working on it and counts it against the account's pool."""
        with self._cond:
            self._cut(started)
        timer = threading.Timer(hold, self._free)
        timer.daemon = True
        timer.start()

    def _free(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _cut(self, started: float) -> None:
        # Requests already in flight when the window was cut would cut it again for the same congestion.
        if started >= self._last_cut:
            self._refused_at = self._window
            self._window = max(1.0, self._window / 2)
            self._last_cut = time.monotonic()


class NetSuiteClient:
    """One NetSuite account: a pooled session, the auth, the shared limiter, and the retry policy."""

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
        # Passed on every request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override `session.verify`.
        self.verify = verify
        self.session = session
        self.auth = auth
        self.limiter = AdaptiveLimiter(max_concurrency)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.max_throttle_wait = max_throttle_wait
        self.stats = RequestStats()
        self._closing = threading.Event()
        self._warned: set[tuple[str, str]] = set()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_concurrency + 2)
        session.mount("https://", adapter)
        session.mount("http://", adapter)

    # --- the transport -------------------------------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (half fixed, half random, capped), never sooner than Retry-After."""
        ceiling = min(MAX_BACKOFF_S, self.backoff_factor * 2**attempt)
        backoff = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            return min(MAX_RETRY_AFTER_S, retry_after) + backoff / 4
        return backoff

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return max(0.0, (when - datetime.datetime.now(tz=datetime.UTC)).total_seconds())

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
        """Send with retries; returns the first non-retryable response, raises `RetriesExhausted` otherwise.

        Failures (5xx, timeouts, dropped or cut-off connections, a record locked for a moment) get `attempts`
        tries; throttling (429, and a 401 once the credentials have been proven) gets `max_throttle_wait`
        seconds of waiting instead. Every attempt is a new `session.request`, so the auth object signs it anew
        (fresh TBA nonce/timestamp).
        """
        attempts = attempts or self.max_retries + 1
        data = None if body is None else json.dumps(body, default=json_default)
        send_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            send_headers.setdefault("Content-Type", "application/json")  # a batch is a collection (batches.py)
        host = urlsplit(self.base_url).hostname
        reason = ""
        failures = throttles = sent = 0
        throttled_since: float | None = None
        while True:
            started = self.limiter.acquire()
            retry_after = None
            throttled = timed_out = False
            response: requests.Response | None = None
            try:
                response = self.session.request(
                    method,
                    f"{self.base_url}{path}",
                    params=params,
                    data=data,
                    headers=send_headers,
                    auth=self.auth,
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except requests.exceptions.SSLError as exc:
                cause = re.search(r"certificate verify failed[^)'\"]*|hostname .{0,80}? doesn't match[^)'\"]*", str(exc))
                msg = (
                    f"TLS verification of {host} failed (set ca_bundle for a private CA): "
                    f"{cause.group(0) if cause else type(exc).__name__}"
                )
                raise FatalError(msg) from None
            except requests.exceptions.ReadTimeout:
                timed_out = True
                reason = f"no answer from {host} within request_timeout {self.timeout:g}s"
            except _TRANSIENT_EXCEPTIONS as exc:
                reason = f"{type(exc).__name__} talking to {host}"
            else:
                status = response.status_code
                code, detail, _ = error_details(response) if status >= 400 else ("", "", None)
                throttled = status == 429 or (status == 401 and retry_unauthorized)
                transient = status in RETRYABLE_STATUSES or (status == 400 and TRANSIENT_400.search(detail))
                if status == 401 and not retry_unauthorized or not transient:
                    return response
                reason = f"HTTP {status} {code}: {detail[:200]}"
                retry_after = self._retry_after(response)
                if status == 401:
                    self.auth.invalidate()
            finally:
                sent += 1
                self.stats.count(throttled=throttled, retry=sent > 1)
                if timed_out:
                    self.limiter.timed_out(started, hold=self.timeout)
                else:
                    self.limiter.release(started, throttled=throttled)
            if throttled:
                now = time.monotonic()
                throttled_since = throttled_since or now
                delay = self._delay(throttles, retry_after)
                throttles += 1
                waited = now - throttled_since
                if waited + delay > self.max_throttle_wait:
                    msg = (
                        f"{method} {path}: NetSuite still busy after waiting {waited:.0f}s "
                        f"(max_throttle_wait_seconds {self.max_throttle_wait:g}); last answer: {reason}"
                    )
                    raise RetriesExhausted(msg)
                _LOGGER.info(
                    "NetSuite busy (%s): waited %.0fs of %gs so far; retrying %s %s in %.1fs",
                    reason, waited, self.max_throttle_wait, method, path, delay,
                )
            else:
                failures += 1
                if failures >= attempts:
                    msg = f"{method} {path} failed after {failures} attempts; last error: {reason}"
                    raise RetriesExhausted(msg)
                delay = self._delay(failures - 1, retry_after)
                _LOGGER.info("Retrying %s %s in %.2fs after %s", method, path, delay, reason)
            if self._closing.wait(delay):
                msg = f"{method} {path} not retried: the run is stopping; last error: {reason}"
                raise RetriesExhausted(msg)

    def stop_retrying(self) -> None:
        """A run that is failing should not linger in backoff sleeps: requests now fail at their next retry."""
        self._closing.set()

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

    def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0, start_up: bool = False) -> dict:
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
