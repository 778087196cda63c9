"""The one HTTP transport of the connectors: one retry policy, one list of transient failures, one TLS rule.

Each API brings only its rules, as one *classify* function (the SDK's `validate_response`, returning a verdict
instead of raising): a response is done, a record error (both handed back to the caller), to be retried, a
throttle, or fatal. Classify functions never sleep; only the transport waits.

Invariants:
- every attempt is a new `session.request(..., auth=auth)`, so the auth object signs each attempt anew (fresh
  OAuth 1.0a nonce, current bearer token); a 401 makes the transport call `auth.invalidate()` and, once per
  request, try again at once with a new signature or token;
- a wait is exponential backoff with full jitter, capped, and never sooner than the server's `Retry-After`;
  transient failures draw on `max_retries`, throttles on a time budget when the API has one;
- a slot of the shared limiter is given back in a `finally`, whatever an attempt raises (a body cut off
  mid-way, an error from the token call inside `auth=`, a bug): a leaked slot would hang the run;
- a TLS verification failure is never retried and ends in one line naming the host and the `ca_bundle` setting;
- once the run is ending (`stop_retrying()`), a wait stops at once and the request fails instead of retrying.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import random
import re
import threading
import time
import typing as t
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: Failures of the connection or of the body (cut off mid-way, undecodable): the request may be sent again.
#: `SSLError` is a `ConnectionError` too, but it is caught first and never retried.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: No wait is longer than this, whatever the attempt number.
BACKOFF_CAP_S = 60.0
#: A `Retry-After` longer than this is taken as this (a throttle budget still bounds the total wait).
RETRY_AFTER_CAP_S = 300.0
_TLS_CAUSE = re.compile(r"certificate verify failed[^()'\"]*|hostname .{0,80}? doesn't match[^()'\"]*")
LOGGER = logging.getLogger("connector_kit.transport")


class Action(enum.Enum):
    """What the transport does with a response, as an API's classify function decides."""

    DONE = "done"  #: hand the response back
    RECORD_ERROR = "record error"  #: hand the response back: the caller sets this one record aside
    RETRY = "retry"  #: a transient failure: wait, then send again (counts on `max_retries`)
    THROTTLED = "throttled"  #: the server is busy: wait, then send again (counts on the throttle budget)
    FATAL = "fatal"  #: raise `Verdict.error`


@dataclass(frozen=True)
class Verdict:
    """A classify function's answer; build it with the class methods."""

    action: Action
    reason: str = ""
    error: Exception | None = None

    @classmethod
    def done(cls) -> Verdict:
        return cls(Action.DONE)

    @classmethod
    def record_error(cls, reason: str = "") -> Verdict:
        return cls(Action.RECORD_ERROR, reason)

    @classmethod
    def retry(cls, reason: str) -> Verdict:
        return cls(Action.RETRY, reason)

    @classmethod
    def throttled(cls, reason: str) -> Verdict:
        return cls(Action.THROTTLED, reason)

    @classmethod
    def fatal(cls, error: Exception) -> Verdict:
        return cls(Action.FATAL, str(error), error)


Classify = t.Callable[[requests.Response], Verdict]


class Invalidatable(t.Protocol):
    """An auth object that can drop its cached credential after a 401 (a no-op for signatures)."""

    def invalidate(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before attempt `n + 1`, and how many attempts a transient failure gets.

    Full jitter: a wait is uniform in `[0, min(cap, backoff_factor * 2**n)]`, so clients that failed together
    spread out. A `Retry-After` (capped at `retry_after_cap`) is a floor under that wait. Throttles draw on
    `max_throttle_wait` seconds of waiting when it is set, on `max_retries` otherwise.
    """

    max_retries: int
    backoff_factor: float
    cap: float = BACKOFF_CAP_S
    retry_after_cap: float = RETRY_AFTER_CAP_S
    max_throttle_wait: float | None = None
    #: The setting an operator raises when the throttle budget ran out (named in the error).
    throttle_setting: str = "max_throttle_wait_seconds"

    def delay(self, attempt: int, retry_after: float | None = None,
              uniform: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds to wait after failed attempt number `attempt` (0 for the first)."""
        backoff = uniform(0.0, min(self.cap, self.backoff_factor * 2.0 ** min(attempt, 64)))
        if retry_after is None:
            return backoff
        return max(min(retry_after, self.retry_after_cap), backoff)


def retry_after_seconds(response: requests.Response, now: Callable[[], dt.datetime] | None = None) -> float | None:
    """The response's `Retry-After` in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now() if now else dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


def tls_failure_line(url: str, exc: BaseException) -> str:
    """The one line of a TLS verification failure, the same for every connector."""
    cause = _TLS_CAUSE.search(str(exc))
    host = urlsplit(url).hostname or url
    return (f"TLS verification of {host} failed (set ca_bundle for a private CA): "
            f"{cause.group(0).strip() if cause else type(exc).__name__}")


@dataclass
class RequestStats:
    """Attempts sent, throttled answers and retries, for the run report and the benchmarks."""

    requests: int = 0
    throttled: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, throttled: bool = False, retry: bool = False) -> None:
        with self.lock:
            self.requests += 1
            self.throttled += throttled
            self.retries += retry


@dataclass
class Slot:
    """One request's place in the limiter; the attempt says how it ended before the slot is given back."""

    started: float = 0.0
    throttled: bool = False
    timed_out: bool = False


class AdaptiveLimiter:
    """Requests-in-flight window shared by a run's threads (AIMD).

    The window is halved on a throttle (at most once per round trip) and regrown additively: quickly up to
    just below the level that was refused, then one more request per `PROBE_WINDOWS` windows of successes.
    A request that timed out may still run on the server, so its slot stays taken `timeout_hold` seconds more.
    `slot()` gives the slot back whatever happens inside it. Requests a thread makes inside `ahead()` take the next
    free slot before any ordinary request waiting for one: short requests that other work waits on (an async job's
    submission, its polls and result reads) do not queue behind a window full of slow writes.
    """

    PROBE_WINDOWS = 32

    def __init__(self, ceiling: int, *, timeout_hold: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ceiling = float(ceiling)
        self._window = float(ceiling)
        self._refused_at = float(ceiling) + 1  # the window at the last throttle: the known limit is below it
        self._in_flight = 0
        self._last_cut = 0.0
        self._timeout_hold = timeout_hold
        self._clock = clock
        self._cond = threading.Condition()
        self._ahead_waiting = 0
        self._thread = threading.local()

    @property
    def window(self) -> float:
        return self._window

    @property
    def ceiling(self) -> int:
        return int(self._ceiling)

    @property
    def in_flight(self) -> int:
        """Slots taken now (held slots of timed-out requests included)."""
        with self._cond:
            return self._in_flight

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """Wait for a free slot; give it back on the way out, however the block ends."""
        held = Slot(started=self.acquire())
        try:
            yield held
        finally:
            if held.timed_out:
                self.timed_out(held.started, hold=self._timeout_hold)
            else:
                self.release(held.started, throttled=held.throttled)

    @contextmanager
    def ahead(self) -> Iterator[None]:
        """This thread's requests inside take the next free slot before waiting ordinary requests."""
        before = getattr(self._thread, "ahead", False)
        self._thread.ahead = True
        try:
            yield
        finally:
            self._thread.ahead = before

    def acquire(self) -> float:
        """Wait for a free slot; returns the start time, to be passed back to `release`."""
        with self._cond:
            if getattr(self._thread, "ahead", False):
                self._ahead_waiting += 1
                try:
                    while self._in_flight >= int(self._window):
                        self._cond.wait()
                finally:
                    self._ahead_waiting -= 1
                    self._cond.notify_all()  # ordinary requests may take what is left
            else:
                while self._in_flight >= int(self._window) or self._ahead_waiting:
                    self._cond.wait()
            self._in_flight += 1
            return self._clock()

    def release(self, started: float, *, throttled: bool) -> None:
        """Give a slot back: a throttle cuts the window, a success regrows it."""
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
        """Congestion: cut the window now, and keep the slot taken `hold` seconds more."""
        with self._cond:
            self._cut(started)
        if hold <= 0:
            self._free()
            return
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
            self._last_cut = self._clock()


class Transport:
    """Sends requests for one connector: the policy, the limiter, the stop signal and the error types.

    `fatal_error` is raised for a TLS failure, `exhausted_error` when retries or the throttle budget ran out
    or the run is ending; both take the one-line message. `unlimited()` gives a transport for token calls:
    same session, policy and stop signal, no limiter (a token call made inside `auth=` of a request that holds
    a slot must not wait for another one) and its own counters.
    """

    def __init__(
        self,
        session: requests.Session,
        policy: RetryPolicy,
        *,
        service: str,
        timeout: float,
        verify: str | bool = True,
        limiter: AdaptiveLimiter | None = None,
        fatal_error: Callable[[str], Exception] = RuntimeError,
        exhausted_error: Callable[[str], Exception] = RuntimeError,
        logger: logging.Logger = LOGGER,
        stopping: threading.Event | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.policy = policy
        self.service = service
        self.timeout = timeout
        # Passed on every request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override `session.verify`.
        self.verify = verify
        self.limiter = limiter
        self.fatal_error = fatal_error
        self.exhausted_error = exhausted_error
        self.logger = logger
        self.stopping = stopping or threading.Event()
        self.stats = RequestStats()
        self._uniform = uniform
        self._clock = clock

    def unlimited(self) -> Transport:
        """A transport sharing everything but the limiter and the counters (for token calls)."""
        return Transport(self.session, self.policy, service=self.service, timeout=self.timeout, verify=self.verify,
                         fatal_error=self.fatal_error, exhausted_error=self.exhausted_error, logger=self.logger,
                         stopping=self.stopping, uniform=self._uniform, clock=self._clock)

    def stop_retrying(self) -> None:
        """The run is ending: waits stop at once and requests fail at their next retry."""
        self.stopping.set()

    def pause(self, seconds: float) -> bool:
        """Wait `seconds` unless the run is ending; True when it is (the caller stops)."""
        return self.stopping.wait(seconds)

    def request(
        self,
        method: str,
        url: str,
        *,
        classify: Classify,
        auth: requests.auth.AuthBase | None = None,
        relogins: int = 1,
        max_retries: int | None = None,
        before_attempt: Callable[[], None] | None = None,
        **kwargs: t.Any,
    ) -> requests.Response:
        """Send until `classify` says done (or record error); `kwargs` go to `session.request` as they are.

        `relogins`: how many 401s are answered by `auth.invalidate()` and an immediate new attempt.
        `max_retries` overrides the policy's for this request. `before_attempt` runs before every attempt
        (a quota check may raise there).
        """
        retries = self.policy.max_retries if max_retries is None else max_retries
        where = _where(url)
        failures = throttles = sent = 0
        throttled_since: float | None = None
        while True:
            if before_attempt is not None:
                before_attempt()
            retry_after: float | None = None
            throttled = False
            with self.limiter.slot() if self.limiter else nullcontext(Slot()) as slot:
                try:
                    response = self.session.request(method, url, auth=auth, timeout=self.timeout,
                                                    verify=self.verify, **kwargs)
                except requests.exceptions.SSLError as exc:
                    raise self.fatal_error(tls_failure_line(url, exc)) from None
                except requests.exceptions.ReadTimeout:
                    slot.timed_out = True
                    reason = f"no answer within request_timeout {self.timeout:g}s"
                except TRANSIENT_ERRORS as exc:
                    reason = type(exc).__name__
                else:
                    if response.status_code == 401 and auth is not None and hasattr(auth, "invalidate"):
                        t.cast("Invalidatable", auth).invalidate()
                        if relogins > 0:
                            relogins -= 1
                            self.logger.info("%s refused the credentials (HTTP 401); logging in again", self.service)
                            continue
                    verdict = classify(response)
                    if verdict.action in (Action.DONE, Action.RECORD_ERROR):
                        return response
                    if verdict.action is Action.FATAL:
                        raise verdict.error or self.fatal_error(verdict.reason)
                    reason = verdict.reason
                    retry_after = retry_after_seconds(response)
                    throttled = slot.throttled = verdict.action is Action.THROTTLED
                finally:
                    sent += 1
                    self.stats.count(throttled=throttled, retry=sent > 1)
            if throttled and self.policy.max_throttle_wait is not None:
                now = self._clock()
                throttled_since = throttled_since or now
                delay = self.policy.delay(throttles, retry_after, self._uniform)
                throttles += 1
                waited = now - throttled_since
                if waited + delay > self.policy.max_throttle_wait:
                    msg = (f"{method} {where}: {self.service} still busy after waiting {waited:.0f}s "
                           f"({self.policy.throttle_setting} {self.policy.max_throttle_wait:g}); "
                           f"last answer: {reason}")
                    raise self.exhausted_error(msg)
                self.logger.info("%s busy (%s): waited %.0fs of %gs so far; retrying %s %s in %.1fs", self.service,
                                 reason, waited, self.policy.max_throttle_wait, method, where, delay)
            else:
                failures += 1
                if failures > retries:
                    msg = f"{self.service} {method} {where} failed after {failures} attempts; last error: {reason}"
                    raise self.exhausted_error(msg)
                delay = self.policy.delay(failures - 1, retry_after, self._uniform)
                self.logger.warning("Retrying %s %s in %.1fs after %s (retry %d of %d)", method, where, delay,
                                    reason, failures, retries)
            if self.pause(delay):
                msg = f"{method} {where} not retried: the run is stopping; last error: {reason}"
                raise self.exhausted_error(msg)

    def backoff(self, attempt: int, what: str, reason: str) -> None:
        """Wait before re-reading something that failed outside `request` (a streamed body cut off mid-way).

        Raises `exhausted_error` when `attempt` (0 for the first failure) used the last retry, or the run is
        ending.
        """
        if attempt >= self.policy.max_retries:
            msg = f"{what} failed after {attempt + 1} attempts; last error: {reason}"
            raise self.exhausted_error(msg)
        delay = self.policy.delay(attempt, None, self._uniform)
        self.logger.warning("Retrying %s in %.1fs after %s (retry %d of %d)", what, delay, reason, attempt + 1,
                            self.policy.max_retries)
        if self.pause(delay):
            msg = f"{what} not retried: the run is stopping; last error: {reason}"
            raise self.exhausted_error(msg)


def _where(url: str) -> str:
    """`host/path` of a URL: enough to name the call in a log line, without the query (SOQL, paging tokens)."""
    parts = urlsplit(url)
    return f"{parts.hostname or ''}{parts.path}"
