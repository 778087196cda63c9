"""Unit tests of connector_kit's transport: the retry policy with an injected random source, clock and stop
signal (no real waiting), and the request loop with stubbed HTTP (`responses`)."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
import responses
from connector_kit.transport import (
    AdaptiveLimiter,
    RetryPolicy,
    Transport,
    Verdict,
    retry_after_seconds,
    tls_failure_line,
)

URL = "https://api.example.test/thing"


class ExhaustedError(Exception):
    pass


class FatalError(Exception):
    pass


def lowest(low: float, high: float) -> float:
    return low


def highest(low: float, high: float) -> float:
    return high


def test_full_jitter_bounds_and_cap() -> None:
    policy = RetryPolicy(max_retries=5, backoff_factor=0.5, cap=60.0)
    assert [policy.delay(n, uniform=highest) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    assert all(policy.delay(n, uniform=lowest) == 0 for n in range(9))  # full jitter: down to no wait at all
    assert policy.delay(10_000, uniform=highest) == 60  # no overflow however many attempts


def test_retry_after_is_a_floor_and_capped() -> None:
    policy = RetryPolicy(max_retries=5, backoff_factor=0.5, cap=60.0, retry_after_cap=300.0)
    assert policy.delay(0, retry_after=7, uniform=lowest) == 7  # never sooner than Retry-After
    assert policy.delay(0, retry_after=7, uniform=highest) == 7
    assert policy.delay(6, retry_after=7, uniform=highest) == 32  # the backoff when it is longer
    assert policy.delay(0, retry_after=86_400, uniform=highest) == 300  # an absurd Retry-After is capped


def test_retry_after_forms() -> None:
    def answer(value: str | None) -> requests.Response:
        response = requests.Response()
        if value is not None:
            response.headers["Retry-After"] = value
        return response

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(answer("3")) == 3
    assert retry_after_seconds(answer("0.5")) == 0.5
    assert retry_after_seconds(answer("-4")) == 0
    assert retry_after_seconds(answer("Thu, 01 Jan 2026 12:00:30 GMT"), now=lambda: now) == 30
    assert retry_after_seconds(answer("Thu, 01 Jan 2026 11:00:00 GMT"), now=lambda: now) == 0
    assert retry_after_seconds(answer("soon")) is None
    assert retry_after_seconds(answer(None)) is None


class FakeWaits(threading.Event):
    """A stop signal that records the waits asked of it instead of waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        return self.is_set()


def _transport(waits: FakeWaits, *, limiter: AdaptiveLimiter | None = None, **policy: float) -> Transport:
    settings = {"max_retries": 3, "backoff_factor": 1.0, **policy}
    return Transport(requests.Session(), RetryPolicy(**settings), service="Test", timeout=5, limiter=limiter,  # type: ignore[arg-type]
                     fatal_error=FatalError, exhausted_error=ExhaustedError, stopping=waits, uniform=highest)


def classify(response: requests.Response) -> Verdict:
    if response.status_code == 429:
        return Verdict.throttled("HTTP 429")
    if response.status_code >= 500:
        return Verdict.retry(f"HTTP {response.status_code}")
    if response.status_code == 400:
        return Verdict.fatal(FatalError("bad request"))
    return Verdict.done()


@responses.activate
def test_transient_failures_use_max_retries_with_backoff_and_retry_after() -> None:
    responses.get(URL, status=503, headers={"Retry-After": "9"})
    responses.get(URL, body=requests.exceptions.ChunkedEncodingError("cut"))
    responses.get(URL, body=requests.exceptions.ContentDecodingError("garbled"))
    responses.get(URL, status=200)
    waits = FakeWaits()
    transport = _transport(waits)
    assert transport.request("GET", URL, classify=classify).status_code == 200
    assert waits.waits == [9, 2, 4]  # max(Retry-After, 1), then the jittered (here: highest) backoff
    assert transport.stats.requests == 4 and transport.stats.retries == 3

    waits.waits.clear()
    responses.reset()
    responses.get(URL, status=500)
    with pytest.raises(ExhaustedError, match=r"Test GET api.example.test/thing failed after 4 attempts; .*HTTP 500"):
        transport.request("GET", URL, classify=classify)
    assert len(waits.waits) == 3


@responses.activate
def test_fatal_and_tls_failures_are_never_retried() -> None:
    responses.get(URL, status=400)
    waits = FakeWaits()
    transport = _transport(waits)
    with pytest.raises(FatalError, match="bad request"):
        transport.request("GET", URL, classify=classify)
    responses.reset()
    error = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                         "self-signed certificate in certificate chain (_ssl.c:1000)")
    responses.get(URL, body=error)
    with pytest.raises(FatalError) as raised:
        transport.request("GET", URL, classify=classify)
    assert str(raised.value) == tls_failure_line(URL, error) == (
        "TLS verification of api.example.test failed (set ca_bundle for a private CA): "
        "certificate verify failed: self-signed certificate in certificate chain")
    assert len(responses.calls) == 1 and waits.waits == []


@responses.activate
def test_throttles_draw_on_the_time_budget_not_on_max_retries() -> None:
    for _ in range(6):
        responses.get(URL, status=429, headers={"Retry-After": "10"})
    responses.get(URL, status=200)
    clock = iter(float(t) for t in range(0, 1000, 10))
    waits = FakeWaits()
    transport = Transport(requests.Session(), RetryPolicy(max_retries=1, backoff_factor=1.0, max_throttle_wait=100),
                          service="Test", timeout=5, fatal_error=FatalError, exhausted_error=ExhaustedError,
                          stopping=waits, uniform=lowest, clock=lambda: next(clock))
    assert transport.request("GET", URL, classify=classify).status_code == 200  # 6 throttles > max_retries 1
    assert waits.waits == [10] * 6 and transport.stats.throttled == 6

    responses.reset()
    for _ in range(30):
        responses.get(URL, status=429, headers={"Retry-After": "10"})
    with pytest.raises(ExhaustedError, match=r"still busy after waiting \d+s \(max_throttle_wait_seconds 100\)"):
        transport.request("GET", URL, classify=classify)


@responses.activate
def test_a_stopping_run_ends_a_wait_at_once() -> None:
    responses.get(URL, status=503)
    waits = FakeWaits()
    waits.set()
    transport = _transport(waits, backoff_factor=3600)
    with pytest.raises(ExhaustedError, match="not retried: the run is stopping"):
        transport.request("GET", URL, classify=classify)
    assert len(responses.calls) == 1


class EnteredEvent(threading.Event):
    """A real stop signal that also says when someone started waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.entered.set()
        return super().wait(timeout)


def test_stop_retrying_wakes_a_sleeping_request() -> None:
    """A request asleep in an hour-long backoff returns as soon as the run says it is ending."""
    stopping = EnteredEvent()
    transport = Transport(requests.Session(), RetryPolicy(max_retries=3, backoff_factor=3600), service="Test",
                          timeout=5, fatal_error=FatalError, exhausted_error=ExhaustedError, uniform=highest,
                          stopping=stopping)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            transport.request("GET", URL, classify=classify)
        except ExhaustedError as exc:
            outcome.append(exc)

    with responses.RequestsMock() as mock:
        mock.get(URL, status=503)
        worker = threading.Thread(target=call)
        worker.start()
        assert stopping.entered.wait(timeout=30)  # asleep in its backoff (an hour, at most)
        transport.stop_retrying()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert outcome and "the run is stopping" in str(outcome[0])


class Signer(requests.auth.AuthBase):
    """Counts signatures and invalidations."""

    def __init__(self) -> None:
        self.signed = 0
        self.invalidated = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.signed += 1
        request.headers["Authorization"] = f"Bearer token-{self.signed}"
        return request

    def invalidate(self) -> None:
        self.invalidated += 1


@responses.activate
def test_every_attempt_is_signed_anew_and_a_401_relogs_once() -> None:
    responses.get(URL, status=503)
    responses.get(URL, status=401)
    responses.get(URL, status=401)
    responses.get(URL, status=200)
    signer, waits = Signer(), FakeWaits()

    def refuse_401(response: requests.Response) -> Verdict:
        return Verdict.fatal(FatalError("refused")) if response.status_code == 401 else classify(response)

    with pytest.raises(FatalError, match="refused"):  # 503 retried, 401 re-logged once, the second 401 is final
        _transport(waits).request("GET", URL, classify=refuse_401, auth=signer)
    assert [c.request.headers["Authorization"] for c in responses.calls] == ["Bearer token-1", "Bearer token-2",
                                                                            "Bearer token-3"]
    assert signer.invalidated == 2 and len(waits.waits) == 1  # the re-login does not wait


@responses.activate
def test_slots_come_back_whatever_an_attempt_raises() -> None:
    class BoomError(Exception):
        pass

    responses.get(URL, body=requests.exceptions.ChunkedEncodingError("cut"))
    responses.get(URL, body=BoomError("a bug in a hook"))
    limiter = AdaptiveLimiter(1)
    transport = _transport(FakeWaits(), limiter=limiter)
    with pytest.raises(BoomError):
        transport.request("GET", URL, classify=classify)
    assert limiter.in_flight == 0

    def broken(response: requests.Response) -> Verdict:
        raise BoomError

    responses.reset()
    responses.get(URL, status=200)
    with pytest.raises(BoomError):
        transport.request("GET", URL, classify=broken)
    assert limiter.in_flight == 0
    responses.reset()
    responses.get(URL, body=requests.exceptions.ReadTimeout("slow"))
    responses.get(URL, status=200)
    assert transport.request("GET", URL, classify=classify).status_code == 200
    assert limiter.in_flight == 0  # a timed-out slot with no hold comes back at once


def test_a_timed_out_slot_is_held_then_freed() -> None:
    limiter = AdaptiveLimiter(2, timeout_hold=0.05)
    with limiter.slot() as slot:
        slot.timed_out = True
    assert limiter.window == 1  # congestion: the window is cut
    for _ in range(200):  # the hold ends within a few of its own lengths
        if limiter.in_flight == 0:
            break
        threading.Event().wait(0.05)
    assert limiter.in_flight == 0


def test_a_request_made_ahead_takes_the_next_free_slot_before_waiting_ordinary_ones() -> None:
    limiter = AdaptiveLimiter(1)
    order: list[str] = []

    def take(name: str) -> None:
        with limiter.ahead() if name == "ahead" else contextlib.nullcontext(), limiter.slot():
            order.append(name)

    held = limiter.slot()
    held.__enter__()  # the one slot is taken
    ordinary = threading.Thread(target=take, args=("ordinary",))
    ordinary.start()
    ordinary.join(timeout=0.2)  # waiting for the slot (the order holds however long it took to start)
    ahead = threading.Thread(target=take, args=("ahead",))
    ahead.start()
    deadline = time.monotonic() + 10
    while limiter._ahead_waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    held.__exit__(None, None, None)
    for thread in (ordinary, ahead):
        thread.join(timeout=10)
    assert order == ["ahead", "ordinary"]
    assert limiter.in_flight == 0
