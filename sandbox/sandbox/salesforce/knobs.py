"""Configuration and realism knobs: latency, injected faults, API quota, token lifetime, Bulk pacing.

Every knob is also a config key (the `salesforce:` section of the sandbox config file) and can be changed at
run time with `POST /__admin/knobs`, so tests and benchmarks can make the server slow, flaky or stingy on
purpose. Faults apply only to the real API paths, never to `/__admin/`. Names, validation, the fault knobs and
their draw (`realism.FaultKnobs`, `realism.FaultModel`) and the fault-script format are those of `sandbox.realism`,
shared with the NetSuite stand-in; `error_rate_<status>` covers the statuses Salesforce answers (`ERROR_STATUSES`).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any

from sandbox import realism
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
class Knobs(realism.FaultKnobs):
    """Run-time behaviour; every field is a config key and a `POST /__admin/knobs` key. The shared fault knobs
    (latency, drops before and after applying, slow requests, seed, script) come from `realism.FaultKnobs`."""

    latency_ms: Any = 0
    slow_ms: float = 30000
    error_rate_503: float = 0.0
    error_rate_500: float = 0.0
    api_limit: int = 15000
    token_ttl_seconds: int = 7200
    rotate_refresh_tokens: bool = False
    bulk_polls_per_state: int = 1
    bulk_fail_message: str | None = None
    bulk_max_records: int = 50000
    query_timeout_rows: int | None = None  # scale.py: QUERY_TIMEOUT above this many matched rows
    cursor_ttl_seconds: int = 900  # scale.py: idle lifetime of a query locator
    max_open_cursors: int = 0  # scale.py: open locators kept per org (0: unlimited; real orgs: 10 per user)
    # dml.py: validation rules an admin added, [{"object", "field", "equals"?, "message"}]: a write setting `field`
    # (to `equals`, when given) fails FIELD_CUSTOM_VALIDATION_EXCEPTION with `message`
    validation_rules: list[dict[str, Any]] = field(default_factory=list)
    # dml.py: rows another transaction holds, {record Id or external id value: writes refused}: each write of the
    # row fails UNABLE_TO_LOCK_ROW and counts one down, until 0
    locked_records: dict[str, int] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


KNOB_KEYS = tuple(f.name for f in fields(Knobs))
CONFIG_KEYS = (*SEED_KEYS, *CREDENTIAL_DEFAULTS, *KNOB_KEYS)


def check_config(config: dict[str, Any]) -> None:
    """Refuse unknown keys with a message that lists the known ones (a typo must not be silently ignored)."""
    unknown = sorted(set(realism.canonical_names(config, "salesforce config")) - set(CONFIG_KEYS))
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


#: The error statuses Salesforce answers (`error_rate_<status>`), in the order the fault model draws them.
ERROR_STATUSES = ("503", "500")
_FAULT_STEPS = ("ok", "drop", "slow", "401", "500", "503", "html502", "html503", "html504", "expire_sessions")
_STEP_OPTIONS = ("status", "drop", "delay_ms", "html", "expire_sessions")


def _validation_rules(name: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(rule, dict) and isinstance(rule.get("field"), str)
                                              for rule in value):
        raise realism.KnobError(f'{name}: a list of {{"object", "field", "equals"?, "message"}} objects')
    return [dict(rule) for rule in value]


def _locked_records(name: str, value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not all(isinstance(v, int) and v >= 0 for v in value.values()):
        raise realism.KnobError(f"{name}: an object of record key -> writes to refuse (a whole number)")
    return {str(k): int(v) for k, v in value.items()}


_VALIDATORS: dict[str, realism.Validator] = {
    **realism.fault_validators(ERROR_STATUSES, _FAULT_STEPS, _STEP_OPTIONS),
    "api_limit": realism.whole,
    "token_ttl_seconds": realism.positive_whole,
    "rotate_refresh_tokens": realism.boolean,
    "bulk_polls_per_state": realism.whole,
    "bulk_fail_message": realism.optional_text,
    "bulk_max_records": realism.positive_whole,
    "query_timeout_rows": realism.optional_whole,
    "cursor_ttl_seconds": realism.positive_whole,
    "max_open_cursors": realism.whole,
    "validation_rules": lambda name, value: _validation_rules(name, value),
    "locked_records": lambda name, value: _locked_records(name, value),
    "api_usage": realism.whole,  # not a knob: the usage counter, settable to test the quota
}


def check_knobs(values: dict[str, Any]) -> dict[str, Any]:
    """Validated values under their current names; KnobError (a ValueError) naming the first bad one."""
    return realism.validate(values, _VALIDATORS, "salesforce")


@dataclass
class Fault:
    """What to do to one request: fail with a status (a JSON error, or a proxy's HTML page), drop the
    connection (before, or after the request was applied), delay it, expire sessions first."""

    status: int | None = None
    drop: bool = False
    drop_after: bool = False
    delay_ms: float = 0
    expire_sessions: bool = False
    html: bool = False


def _named_fault(name: str, slow_ms: float) -> Fault:
    if name == "drop":
        return Fault(drop=True)
    if name == "drop_after":
        return Fault(drop_after=True)
    if name == "slow":
        return Fault(delay_ms=slow_ms)
    if name == "expire_sessions":
        return Fault(expire_sessions=True)
    if name.startswith("html"):
        return Fault(status=int(name[4:]), html=True)
    return Fault(status=int(name)) if name.isdigit() else Fault()


class Realism:
    """Knob values plus the state they act on (api usage, request count, the fault script's position)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._lock = threading.Lock()
        self.knobs = self._initial_knobs()
        self._draws = realism.FaultModel(self.knobs.fault_seed, ERROR_STATUSES)
        self.api_usage = 0
        self.requests = 0

    def _initial_knobs(self) -> Knobs:
        checked = check_knobs({key: copy.deepcopy(value) for key, value in self._config.items()
                               if key in KNOB_KEYS or key in realism.RENAMED})
        return Knobs(**checked)

    def reset(self, keep_knobs: bool) -> None:
        with self._lock:
            if not keep_knobs:
                self.knobs = self._initial_knobs()
                self._draws.reseed(self.knobs.fault_seed)
            self.api_usage = 0
            self.requests = 0

    def update(self, changes: dict[str, Any]) -> None:
        checked = check_knobs(changes)
        with self._lock:
            for key, value in checked.items():
                if key == "api_usage":
                    self.api_usage = value
                else:
                    setattr(self.knobs, key, value)
            if "fault_seed" in checked:
                self._draws.reseed(self.knobs.fault_seed)

    def consume_api_call(self) -> bool:
        """Count one API call; False (and no count) once the daily quota is spent."""
        with self._lock:
            if self.api_usage >= self.knobs.api_limit:
                return False
            self.api_usage += 1
            return True

    def take_lock(self, key: str) -> bool:
        """Whether the row `key` is locked for this write (one refusal of `locked_records` used up)."""
        with self._lock:
            left = self.knobs.locked_records.get(key, 0)
            if left <= 0:
                return False
            self.knobs.locked_records[key] = left - 1
            return True

    def limit_info(self) -> str:
        return f"api-usage={self.api_usage}/{self.knobs.api_limit}"

    def latency_seconds(self) -> float:
        with self._lock:
            return self._draws.latency_ms(self.knobs.latency_ms) / 1000

    def next_fault(self, method: str, path: str) -> Fault | None:
        """The scripted step for this request if the script's head matches it, else a random fault by rate."""
        with self._lock:
            self.requests += 1
            step = self._draws.next_step(self.knobs, method, path)
            if step is None:
                return None
            fault = _named_fault(str(step.get("fault", "ok")), self.knobs.slow_ms)
            return Fault(status=step.get("status", fault.status), drop=bool(step.get("drop", fault.drop)),
                         drop_after=fault.drop_after, delay_ms=float(step.get("delay_ms", fault.delay_ms)),
                         expire_sessions=bool(step.get("expire_sessions", fault.expire_sessions)),
                         html=bool(step.get("html", fault.html)))


abort_connection = realism.drop_connection
