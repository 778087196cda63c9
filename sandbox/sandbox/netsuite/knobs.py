"""Realism knobs of the NetSuite stand-in: governance, latency, fault injection and rejection rules.

Every knob is also a config key (the `netsuite:` section of the sandbox config file) and can be changed on a
running server through `POST /__admin/knobs`, so one demo or test can make the account slow, busy or flaky
without a restart. Unknown keys and badly typed values are refused with a message naming the key, because a
typo that silently does nothing would make a fault-injection test pass for the wrong reason.
"""

from __future__ import annotations

import copy
import random
import re
import time
from dataclasses import dataclass, field, fields
from typing import Any

SCRIPT_STEPS = ("ok", "500", "429", "drop", "drop_after", "slow", "locked", "html502", "401")


class KnobError(ValueError):
    """A knob name or value that the sandbox cannot accept."""


def _number(name: str, value: Any, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KnobError(f"{name} must be a number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise KnobError(f"{name} must be {bounds}, got {value!r}")
    return float(value)


def _latency(name: str, value: Any) -> float | dict[str, float] | None:
    """A fixed delay in ms, or {"mean": ms, "jitter": ms} (uniform) or {"mean": ms, "stddev": ms} (normal).

    None is only meaningful for `write_latency_ms` (= use `latency_ms`) and `async_latency_ms` (= the write latency)."""
    if value is None and name in ("write_latency_ms", "async_latency_ms"):
        return None
    if isinstance(value, dict):
        unknown = set(value) - {"mean", "jitter", "stddev"}
        if unknown or "mean" not in value or ("jitter" in value and "stddev" in value):
            raise KnobError(f'{name} must be a number or {{"mean", "jitter"|"stddev"}}, got {value!r}')
        return {k: _number(f"{name}.{k}", v) for k, v in value.items()}
    return _number(name, value)


def _rate(name: str, value: Any) -> float:
    return _number(name, value, maximum=1.0)


def _script(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or any(step not in SCRIPT_STEPS for step in value):
        raise KnobError(f"{name} must be a list of {', '.join(SCRIPT_STEPS)}; got {value!r}")
    return list(value)


def _strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KnobError(f"{name} must be a list of strings, got {value!r}")
    return list(value)


def _pattern(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise KnobError(f"{name} must be a regular expression string, got {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise KnobError(f"{name} is not a valid regular expression: {exc}") from exc
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise KnobError(f"{name} must be true or false, got {value!r}")
    return value


def _optional_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    return int(_number(name, value))


def _positive_int(name: str, value: Any) -> int:
    number = _number(name, value, minimum=1)
    if number != int(number):
        raise KnobError(f"{name} must be a whole number, got {value!r}")
    return int(number)


_VALIDATORS = {
    "concurrency_limit": _positive_int,
    "latency_ms": _latency,
    "write_latency_ms": _latency,
    "error_rate_500": _rate,
    "error_rate_429": _rate,
    "drop_rate": _rate,
    "drop_after_rate": _rate,
    "slow_rate": _rate,
    "slow_ms": _number,
    "locked_rate": _rate,
    "error_script": _script,
    "reject_external_ids": _strings,
    "reject_external_id_pattern": _pattern,
    "retry_after_s": _positive_int,
    "timestamp_tolerance_s": _positive_int,
    "token_ttl_s": _positive_int,
    "request_log_limit": _positive_int,
    "random_seed": _optional_int,
    "send_retry_after": _bool,
    "pool_held_s": _number,
    "forbidden_record_types": _strings,
    "suiteql_forbidden": _bool,
    "async_processors": _positive_int,
    "async_latency_ms": _latency,
    "async_fail_after": _optional_int,
}


@dataclass
class Knobs:
    """Current knob values; defaults are those of a quiet standard (5-concurrent) account."""

    concurrency_limit: int = 5
    latency_ms: float | dict[str, float] = 0.0
    write_latency_ms: float | dict[str, float] | None = None
    error_rate_500: float = 0.0
    error_rate_429: float = 0.0
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 5000.0
    locked_rate: float = 0.0
    error_script: list[str] = field(default_factory=list)
    reject_external_ids: list[str] = field(default_factory=list)
    reject_external_id_pattern: str | None = None
    retry_after_s: int = 1
    timestamp_tolerance_s: int = 300
    token_ttl_s: int = 3600
    request_log_limit: int = 10000
    random_seed: int | None = None
    send_retry_after: bool = True
    pool_held_s: float = 0.0
    forbidden_record_types: list[str] = field(default_factory=list)
    suiteql_forbidden: bool = False
    # REST async processors (batch jobs; see jobs.py): how many tasks run at once, and how long each one takes.
    async_processors: int = 1
    async_latency_ms: float | dict[str, float] | None = None
    async_fail_after: int | None = None

    def __post_init__(self) -> None:
        self._pool_held_until = 0.0

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def update(self, values: dict[str, Any]) -> None:
        """Validate all values first, then apply them, so a bad request changes nothing."""
        unknown = set(values) - self.names()
        if unknown:
            raise KnobError(f"unknown knob(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(self.names()))}")
        checked = {name: _VALIDATORS[name](name, value) for name, value in values.items()}
        for name, value in checked.items():
            setattr(self, name, value)
        if "pool_held_s" in checked:
            self._pool_held_until = time.monotonic() + checked["pool_held_s"]

    def pool_held(self) -> bool:
        """Another integration holds the whole pool (`pool_held_s` seconds from when the knob was set)."""
        return time.monotonic() < self._pool_held_until

    def as_dict(self) -> dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}

    def sample_latency_ms(self, rng: random.Random, *, is_write: bool) -> float:
        """Draw one request's latency from the configured fixed value or distribution (never negative).

        Writes use `write_latency_ms` when set: real NetSuite writes take seconds, reads far less."""
        spec = self.write_latency_ms if is_write and self.write_latency_ms is not None else self.latency_ms
        return self._sample(rng, spec)

    def sample_async_latency_ms(self, rng: random.Random) -> float:
        """One async task's time in a processor: `async_latency_ms`, else that of a synchronous write."""
        if self.async_latency_ms is None:
            return self.sample_latency_ms(rng, is_write=True)
        return self._sample(rng, self.async_latency_ms)

    @staticmethod
    def _sample(rng: random.Random, spec: float | dict[str, float]) -> float:
        if not isinstance(spec, dict):
            return spec
        if "jitter" in spec:
            return max(0.0, rng.uniform(spec["mean"] - spec["jitter"], spec["mean"] + spec["jitter"]))
        return max(0.0, rng.gauss(spec["mean"], spec.get("stddev", 0.0)))

    def is_rejected(self, external_id: str | None) -> bool:
        """The rejection rule that lets tests force a permanent validation failure for chosen records."""
        if external_id is None:
            return False
        if external_id in self.reject_external_ids:
            return True
        pattern = self.reject_external_id_pattern
        return pattern is not None and re.search(pattern, external_id) is not None
