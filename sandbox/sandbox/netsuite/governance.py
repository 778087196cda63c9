"""Account governance and realism: the concurrency pool, latency, injected faults, counters and request log.

NetSuite gives each account one pool of concurrent requests; a request beyond it is refused at once with 429
rather than queued. The pool here is counted per account, from admission to the end of the response, so
latency spent "inside" NetSuite holds a slot exactly as a slow real write does. Counters (requests, 429s,
peak concurrency, writes) and the request log are what tests and benchmarks read through `/__admin/`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.netsuite.knobs import ERROR_STATUSES, WRITE_ONLY_STEPS, Knobs
from sandbox.realism import FaultModel


@dataclass
class Counters:
    requests: int = 0
    count_429: int = 0
    peak_concurrency: int = 0
    in_flight: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "count_429": self.count_429,
            "peak_concurrency": self.peak_concurrency,
            "in_flight": self.in_flight,
            "writes": {
                "created": self.created,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "deleted": self.deleted,
            },
            "by_status": dict(sorted(self.by_status.items())),
        }


class Governor:
    """Per-account admission control plus the knobs-driven fault plan of each request."""

    def __init__(self, knobs: Knobs, default_account: str) -> None:
        self.knobs = knobs
        self.default_account = default_account
        self.counters: dict[str, Counters] = {}
        self.log: deque[dict[str, Any]] = deque(maxlen=knobs.request_log_limit)
        self.draws = FaultModel(knobs.fault_seed, ERROR_STATUSES)

    def reseed(self, *, seed_changed: bool = True) -> None:
        """Apply a changed `fault_seed` / `request_log_limit` knob (an unrelated knob keeps the fault sequence)."""
        if seed_changed:
            self.draws.reseed(self.knobs.fault_seed)
        if self.log.maxlen != self.knobs.request_log_limit:
            self.log = deque(self.log, maxlen=self.knobs.request_log_limit)

    def for_account(self, account: str) -> Counters:
        return self.counters.setdefault(account, Counters())

    def reset(self, account: str) -> None:
        self.counters[account] = Counters(in_flight=self.for_account(account).in_flight)
        # Unauthenticated requests (account None) belong to no account: any reset forgets them.
        self.log = deque((e for e in self.log if e.get("account") not in (account, None)),
                         maxlen=self.knobs.request_log_limit)

    def admit(self, account: str) -> bool:
        """Take a slot of the account's pool; False (answer 429 now) when the pool is full."""
        counters = self.for_account(account)
        if counters.in_flight >= self.knobs.concurrency_limit:
            return False
        counters.in_flight += 1
        counters.peak_concurrency = max(counters.peak_concurrency, counters.in_flight)
        return True

    def release(self, account: str) -> None:
        self.for_account(account).in_flight -= 1

    def next_fault(self, method: str, path: str, *, is_write: bool) -> str:
        """The fault this request suffers: the next scripted step if it fits, else one drawn by the rates."""
        step = self.draws.next_step(self.knobs, method, path,
                                    extra=(("locked", self.knobs.locked_rate if is_write else 0.0),))
        fault = "ok" if step is None else str(step.get("fault", "ok"))
        return "ok" if fault in WRITE_ONLY_STEPS and not is_write else fault

    def latency_s(self, *, is_write: bool) -> float:
        return self.draws.latency_ms(self.knobs.latency_spec(is_write=is_write)) / 1000.0

    def record(self, account: str | None, method: str, path: str, query: str, status: int, started: float,
               fault: str) -> None:
        # Requests that never authenticated (401s) are counted against the default account.
        counters = self.for_account(account or self.default_account)
        counters.requests += 1
        counters.by_status[str(status)] = counters.by_status.get(str(status), 0) + 1
        if status == 429:
            counters.count_429 += 1
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "account": account,
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if fault != "ok":
            entry["fault"] = fault
        self.log.append(entry)
