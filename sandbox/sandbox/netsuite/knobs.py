"""Realism knobs of the NetSuite stand-in: governance, latency, fault injection and rejection rules.

Every knob is also a config key (the `netsuite:` section of the sandbox config file) and can be changed on a
running server through `POST /__admin/knobs`, so one demo or test can make the account slow, busy or flaky
without a restart. Names, validation, the fault knobs and their draw are those of `sandbox.realism` (`FaultKnobs`,
`FaultModel`), shared with the Salesforce stand-in; `error_rate_<status>` covers the statuses NetSuite answers
(`ERROR_STATUSES`) (old names such as `random_seed` and `error_script` are accepted with a deprecation line).
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field, fields
from typing import Any

from sandbox import realism
from sandbox.realism import KnobError

__all__ = ["SCRIPT_STEPS", "WRITE_ONLY_STEPS", "KnobError", "Knobs"]

#: The error statuses NetSuite answers (`error_rate_<status>`), in the order the fault model draws them.
ERROR_STATUSES = ("500", "429")
SCRIPT_STEPS = ("ok", "500", "429", "drop", "drop_after", "slow", "locked", "record_locked", "html502", "html503",
                "html504", "401")
WRITE_ONLY_STEPS = ("locked", "record_locked")
POOL_EXHAUSTED_RESPONSES = ("429", "invalid_login")

_VALIDATORS: dict[str, realism.Validator] = {
    **realism.fault_validators(ERROR_STATUSES, SCRIPT_STEPS),
    "concurrency_limit": realism.positive_whole,
    "write_latency_ms": realism.nullable_latency,
    "locked_rate": realism.rate,
    "reject_external_ids": realism.strings,
    "reject_external_id_pattern": realism.pattern,
    "retry_after_seconds": realism.positive_whole,
    "timestamp_tolerance_seconds": realism.positive_whole,
    "token_ttl_seconds": realism.positive_whole,
    "request_log_limit": realism.positive_whole,
    "send_retry_after": realism.boolean,
    "pool_held_seconds": realism.number,
    "pool_exhausted_response": realism.one_of(*POOL_EXHAUSTED_RESPONSES),
    "pool_exhausted_delay_ms": realism.number,
    "forbidden_record_types": realism.strings,
    "suiteql_forbidden": realism.boolean,
    "async_processors": realism.positive_whole,
    "async_latency_ms": realism.nullable_latency,
    "async_fail_after": realism.optional_whole,
    "async_queue_held": realism.boolean,
    "held_writes": realism.whole,
}


@dataclass
class Knobs(realism.FaultKnobs):
    """Current knob values; defaults are those of a quiet standard (5-concurrent) account. The shared fault knobs
    (latency, drops, slow requests, seed, script) come from `realism.FaultKnobs`; these are NetSuite's own."""

    error_rate_500: float = 0.0
    error_rate_429: float = 0.0
    concurrency_limit: int = 5
    write_latency_ms: float | dict[str, float] | None = None
    locked_rate: float = 0.0
    reject_external_ids: list[str] = field(default_factory=list)
    reject_external_id_pattern: str | None = None
    retry_after_seconds: int = 1
    timestamp_tolerance_seconds: int = 300
    token_ttl_seconds: int = 3600
    request_log_limit: int = 10000
    send_retry_after: bool = True
    pool_held_seconds: float = 0.0
    pool_exhausted_response: str = "429"
    pool_exhausted_delay_ms: float = 0.0
    forbidden_record_types: list[str] = field(default_factory=list)
    suiteql_forbidden: bool = False
    # REST async processors (batch jobs; see jobs.py): how many tasks run at once, and how long each one takes.
    async_processors: int = 1
    async_latency_ms: float | dict[str, float] | None = None
    async_fail_after: int | None = None
    # The account's processors are busy with other work (another integration's long jobs, a scheduled script): queued
    # tasks wait, and start in submission order once it is released.
    async_queue_held: bool = False
    # The next N synchronous writes are received and then held, not executed, until the knob is set to 0 (NetSuite
    # busy with a request a killed client sent: it still lands, later than the requests that follow it).
    held_writes: int = 0

    def __post_init__(self) -> None:
        self._pool_held_until = 0.0
        self.writes_released = 0  # how many times held writes were released (set to 0)

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @staticmethod
    def check(values: dict[str, Any]) -> dict[str, Any]:
        """Validated values under their current names (KnobError naming the first bad one)."""
        return realism.validate(values, _VALIDATORS, "netsuite")

    def update(self, values: dict[str, Any]) -> dict[str, Any]:
        """Validate all values first, then apply them, so a bad request changes nothing; returns what was set."""
        checked = self.check(values)
        for name, value in checked.items():
            setattr(self, name, value)
        if "pool_held_seconds" in checked:
            self._pool_held_until = time.monotonic() + checked["pool_held_seconds"]
        if checked.get("held_writes") == 0:
            self.writes_released += 1
        return checked

    def take_write_hold(self) -> int | None:
        """For an arriving synchronous write: None to go on, else the release count to wait past (one hold used)."""
        if self.held_writes <= 0:
            return None
        self.held_writes -= 1
        return self.writes_released

    def pool_held(self) -> bool:
        """Another integration holds the whole pool (`pool_held_seconds` from when the knob was set)."""
        return time.monotonic() < self._pool_held_until

    def as_dict(self) -> dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    def latency_spec(self, *, is_write: bool) -> float | dict[str, float]:
        """Writes use `write_latency_ms` when set: real NetSuite writes take seconds, reads far less."""
        return self.write_latency_ms if is_write and self.write_latency_ms is not None else self.latency_ms

    def async_latency_spec(self) -> float | dict[str, float]:
        """One async task's time in a processor: `async_latency_ms`, else that of a synchronous write."""
        return self.latency_spec(is_write=True) if self.async_latency_ms is None else self.async_latency_ms

    def is_rejected(self, external_id: str | None) -> bool:
        """The rejection rule that lets tests force a permanent validation failure for chosen records."""
        if external_id is None:
            return False
        if external_id in self.reject_external_ids:
            return True
        pattern = self.reject_external_id_pattern
        return pattern is not None and re.search(pattern, external_id) is not None
