"""Configuration and realism knobs: latency, injected faults, API quota, token lifetime, Bulk pacing.

Every knob is also a config key (the `salesforce:` section of the sandbox config file) and can be changed at
run time with `POST /__admin/knobs`, so tests and benchmarks can make the server slow, flaky or stingy on
purpose. Faults apply only to the real API paths, never to `/__admin/`.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any

from sandbox.credentials import SALESFORCE
from sandbox.salesforce.data import Volumes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SEED_KEYS = tuple(f.name for f in fields(Volumes))
CREDENTIAL_DEFAULTS: dict[str, Any] = {**SALESFORCE.as_dict(), "jwt_public_key": None}


@dataclass
class Knobs:
    """Run-time behaviour; every field is a config key and a `POST /__admin/knobs` key."""

    api_limit: int = 15000
    token_ttl_seconds: int = 7200
    latency_ms: Any = 0  # a number, {"min": a, "max": b} (uniform) or {"mean": m, "stddev": s} (normal)
    error_rate_503: float = 0.0
    error_rate_500: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: int = 30000
    fault_script: list[dict[str, Any]] = field(default_factory=list)
    fault_seed: int | None = None
    rotate_refresh_tokens: bool = False
    bulk_polls_per_state: int = 1
    bulk_fail_message: str | None = None
    bulk_max_records: int = 50000
    query_timeout_rows: int | None = None  # scale.py: QUERY_TIMEOUT above this many matched rows
    cursor_ttl_seconds: int = 900  # scale.py: idle lifetime of a query locator
    max_open_cursors: int = 0  # scale.py: open locators kept per org (0: unlimited; real orgs: 10 per user)

    def public(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


KNOB_KEYS = tuple(f.name for f in fields(Knobs))
CONFIG_KEYS = (*SEED_KEYS, *CREDENTIAL_DEFAULTS, *KNOB_KEYS)


def check_config(config: dict[str, Any]) -> None:
    """Refuse unknown keys with a message that lists the known ones (a typo must not be silently ignored)."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"salesforce sandbox: unknown config key(s) {', '.join(unknown)}; "
                         f"known keys: {', '.join(CONFIG_KEYS)}")


def volumes_from(config: dict[str, Any], overrides: dict[str, Any] | None = None) -> Volumes:
    values = {key: config[key] for key in SEED_KEYS if key in config}
    values.update({key: value for key, value in (overrides or {}).items() if key in SEED_KEYS})
    unknown = sorted(set(overrides or {}) - set(SEED_KEYS) - {"keep_knobs"})
    if unknown:
        raise ValueError(f"unknown reset key(s) {', '.join(unknown)}; known: {', '.join(SEED_KEYS)}")
    return Volumes(**{key: int(value) for key, value in values.items()})


_INT_KNOBS = {"api_limit", "token_ttl_seconds", "slow_ms", "bulk_polls_per_state", "bulk_max_records", "api_usage",
              "cursor_ttl_seconds", "max_open_cursors"}
_RATE_KNOBS = {"error_rate_503", "error_rate_500", "drop_rate", "slow_rate"}


def _checked_knob(key: str, value: Any) -> Any:
    """A knob value in its working type, or ValueError naming the knob (a bad value must not break every request)."""
    try:
        if key in _INT_KNOBS:
            return int(value)
        if key in _RATE_KNOBS:
            rate = float(value)
            if not 0 <= rate <= 1:
                raise ValueError("a rate is between 0 and 1")
            return rate
        if key == "latency_ms":
            if isinstance(value, dict):
                if set(value) - {"min", "max", "mean", "stddev"}:
                    raise ValueError("use {min, max} or {mean, stddev}")
                return {k: float(v) for k, v in value.items()}
            return float(value or 0)
        if key == "fault_script":
            if not isinstance(value, list) or not all(isinstance(step, dict) for step in value):
                raise ValueError("a list of objects")
            return [dict(step) for step in value]
        if key in ("fault_seed", "query_timeout_rows"):
            return None if value is None else int(value)
        if key == "rotate_refresh_tokens":
            return bool(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad value for knob {key}: {value!r} ({exc})") from None
    return value


@dataclass
class Fault:
    """What to do to one request: fail with a status, drop the connection, delay it, expire sessions first."""

    status: int | None = None
    drop: bool = False
    delay_ms: int = 0
    expire_sessions: bool = False


class Realism:
    """Knob values plus the state they act on (api usage, request count, the fault script's position)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._lock = threading.Lock()
        self.knobs = self._initial_knobs()
        self._random = random.Random(self.knobs.fault_seed)
        self.api_usage = 0
        self.requests = 0

    def _initial_knobs(self) -> Knobs:
        return Knobs(**{key: _checked_knob(key, copy.deepcopy(self._config[key])) for key in KNOB_KEYS
                        if key in self._config})

    def reset(self, keep_knobs: bool) -> None:
        with self._lock:
            if not keep_knobs:
                self.knobs = self._initial_knobs()
                self._random = random.Random(self.knobs.fault_seed)
            self.api_usage = 0
            self.requests = 0

    def update(self, changes: dict[str, Any]) -> None:
        unknown = sorted(set(changes) - set(KNOB_KEYS) - {"api_usage"})
        if unknown:
            raise ValueError(f"unknown knob(s) {', '.join(unknown)}; known: {', '.join(KNOB_KEYS)}, api_usage")
        checked = {key: _checked_knob(key, value) for key, value in changes.items()}
        with self._lock:
            for key, value in checked.items():
                if key == "api_usage":
                    self.api_usage = value
                else:
                    setattr(self.knobs, key, value)
            if "fault_seed" in changes:
                self._random = random.Random(self.knobs.fault_seed)

    def consume_api_call(self) -> bool:
        """Count one API call; False (and no count) once the daily quota is spent."""
        with self._lock:
            if self.api_usage >= self.knobs.api_limit:
                return False
            self.api_usage += 1
            return True

    def limit_info(self) -> str:
        return f"api-usage={self.api_usage}/{self.knobs.api_limit}"

    def latency_seconds(self) -> float:
        spec = self.knobs.latency_ms
        with self._lock:
            if isinstance(spec, dict):
                if "mean" in spec:
                    millis = self._random.gauss(float(spec["mean"]), float(spec.get("stddev", 0)))
                else:
                    millis = self._random.uniform(float(spec.get("min", 0)), float(spec.get("max", 0)))
            else:
                millis = float(spec or 0)
        return max(millis, 0.0) / 1000

    def next_fault(self, method: str, path: str) -> Fault | None:
        """The scripted step for this request if the script's head matches it, else a random fault by rate."""
        with self._lock:
            self.requests += 1
            script = self.knobs.fault_script
            if script:
                step = script[0]
                if str(step.get("match", "")) in path and step.get("method", method).upper() == method:
                    script.pop(0)
                    return Fault(status=step.get("status"), drop=bool(step.get("drop")),
                                 delay_ms=int(step.get("delay_ms", 0)),
                                 expire_sessions=bool(step.get("expire_sessions")))
            knobs = self.knobs
            roll = self._random.random()
            for rate, fault in ((knobs.drop_rate, Fault(drop=True)), (knobs.error_rate_503, Fault(status=503)),
                                (knobs.error_rate_500, Fault(status=500)),
                                (knobs.slow_rate, Fault(delay_ms=knobs.slow_ms))):
                if roll < rate:
                    return fault
                roll -= rate
        return None


async def abort_connection(receive: Receive, send: Send) -> None:
    """Close the client's connection without any response, like a reset or a load balancer timeout.

    ASGI has no verb for this, so the server's transport is reached through uvicorn's request cycle (the owner
    of `receive`); on another server the response is cut off after its headers instead.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
