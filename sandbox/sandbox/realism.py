"""Realism shared by both stand-ins: one set of knob names, one validator, one fault model (`FaultKnobs`,
`FaultModel`: latency, error rates by status, drops before and after applying, slow requests, the fault seed and
script), seeds and dropped connections.

Invariants:
- A knob has one name in both stand-ins (`fault_seed`, `fault_script`, `latency_ms`, `token_ttl_seconds`, ...).
  The names an earlier version used (`RENAMED`) are still accepted, with one deprecation log line, so a config
  file or test written against them keeps working; the knob listing shows only the current names.
- Validation is all-or-nothing and names the knob: an unknown name or a badly typed value is a `KnobError`, and
  nothing is applied, because a typo that silently does nothing makes a fault-injection test pass for the
  wrong reason.
- Every random draw (faults, latency) comes from one `random.Random` seeded by `fault_seed`, so a seeded run
  replays the same faults.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LOGGER = logging.getLogger("sandbox.realism")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Validator = Callable[[str, Any], Any]

# Old knob name -> current name, for both stand-ins.
RENAMED = {
    "random_seed": "fault_seed",
    "error_script": "fault_script",
    "token_ttl_s": "token_ttl_seconds",
    "retry_after_s": "retry_after_seconds",
    "timestamp_tolerance_s": "timestamp_tolerance_seconds",
    "pool_held_s": "pool_held_seconds",
}


class KnobError(ValueError):
    """A knob name or value that the sandbox cannot accept."""


# --- value validators: (knob name, raw value) -> value in its working type, or KnobError naming the knob --------

def number(name: str, value: Any, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KnobError(f"{name} must be a number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise KnobError(f"{name} must be {bounds}, got {value!r}")
    return float(value)


def rate(name: str, value: Any) -> float:
    """A share of requests, 0..1."""
    return number(name, value, maximum=1.0)


def whole(name: str, value: Any, *, minimum: int = 0) -> int:
    result = number(name, value, minimum=minimum)
    if result != int(result):
        raise KnobError(f"{name} must be a whole number, got {value!r}")
    return int(result)


def positive_whole(name: str, value: Any) -> int:
    return whole(name, value, minimum=1)


def optional_whole(name: str, value: Any) -> int | None:
    return None if value is None else whole(name, value, minimum=-(2**63))


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise KnobError(f"{name} must be true or false, got {value!r}")
    return value


def strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KnobError(f"{name} must be a list of strings, got {value!r}")
    return list(value)


def optional_text(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise KnobError(f"{name} must be a string or null, got {value!r}")
    return value


def pattern(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise KnobError(f"{name} must be a regular expression string, got {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise KnobError(f"{name} is not a valid regular expression: {exc}") from exc
    return value


def one_of(*choices: str) -> Validator:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise KnobError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        return str(value)
    return check


_LATENCY_FORMS = ({"min", "max"}, {"mean", "jitter"}, {"mean", "stddev"}, {"mean"})


def latency(name: str, value: Any, *, nullable: bool = False) -> float | dict[str, float] | None:
    """Milliseconds: a number, `{"min", "max"}` or `{"mean", "jitter"}` (uniform), `{"mean", "stddev"}` (normal)."""
    if value is None and nullable:
        return None
    if isinstance(value, dict):
        if set(value) not in _LATENCY_FORMS:
            raise KnobError(f'{name} must be a number, {{"min", "max"}}, {{"mean", "jitter"}} or '
                            f'{{"mean", "stddev"}}; got {value!r}')
        return {k: number(f"{name}.{k}", v) for k, v in value.items()}
    return number(name, value)


def nullable_latency(name: str, value: Any) -> float | dict[str, float] | None:
    return latency(name, value, nullable=True)


def fault_script(steps: Sequence[str], options: Sequence[str] = ()) -> Validator:
    """A list of steps consumed one per request: a step name, or `{"fault": name?, "match"?, "method"?, ...}`.

    `match` (a substring of the path) and `method` make the step wait for a request they fit; the other keys
    of an object are the stand-in's own step options (Salesforce: `status`, `drop`, `delay_ms`, `html`,
    `expire_sessions`), given as `options`."""
    allowed = ("fault", "match", "method", *options)

    def check(name: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise KnobError(f"{name} must be a list of steps ({', '.join(steps)} or objects); got {value!r}")
        for step in value:
            extra = sorted(set(step) - set(allowed)) if isinstance(step, dict) else []
            if extra:
                raise KnobError(f"{name}: unknown step option(s) {', '.join(extra)}; options: {', '.join(allowed)}")
            fault = step.get("fault", "ok") if isinstance(step, dict) else step
            if fault not in steps:
                raise KnobError(f"{name}: unknown step {step!r}; steps: {', '.join(steps)} (or an object)")
        return [dict(step) if isinstance(step, dict) else step for step in value]
    return check


# --- the one validator ---------------------------------------------------------------------------------------

def canonical_names(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """`values` with old knob names replaced by the current ones (one deprecation line per old name)."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        new = RENAMED.get(key)
        if new is not None:
            LOGGER.warning("sandbox %s: knob %r is deprecated, use %r", source, key, new)
            if new in values:
                raise KnobError(f"{key} and {new} are the same knob; give only {new}")
            key = new
        result[key] = value
    return result


def validate(values: Mapping[str, Any], validators: Mapping[str, Validator], source: str,
             *, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Check every value (old names accepted); KnobError for the first problem, naming the knob."""
    named = canonical_names(values, source)
    unknown = sorted(set(named) - set(validators) - set(extra))
    if unknown:
        known = ", ".join(sorted({*validators, *extra}))
        raise KnobError(f"unknown knob(s): {', '.join(unknown)}; known: {known}")
    return {key: (validators[key](key, value) if key in validators else value) for key, value in named.items()}


# --- draws -----------------------------------------------------------------------------------------------------

class Draws:
    """The seeded random source of one stand-in: faults by rate, latency samples."""

    def __init__(self, seed: int | None) -> None:
        self.rng = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        self.rng = random.Random(seed)

    def fault(self, rates: Sequence[tuple[str, float]]) -> str | None:
        """One roll over the rates taken in order (their shares add up); None = no fault. No roll if all are 0."""
        if not any(share for _, share in rates):
            return None
        roll = self.rng.random()
        for name, share in rates:
            if roll < share:
                return name
            roll -= share
        return None

    def latency_ms(self, spec: float | Mapping[str, float] | None) -> float:
        """One request's latency from a `latency` knob value (never negative)."""
        if spec is None:
            return 0.0
        if not isinstance(spec, Mapping):
            return max(0.0, float(spec))
        if "min" in spec:
            return max(0.0, self.rng.uniform(spec["min"], spec["max"]))
        if "jitter" in spec:
            return max(0.0, self.rng.uniform(spec["mean"] - spec["jitter"], spec["mean"] + spec["jitter"]))
        return max(0.0, self.rng.gauss(spec["mean"], spec.get("stddev", 0.0)))


# --- the one fault model -------------------------------------------------------------------------------------------

#: Script steps both stand-ins answer alike (each adds its error statuses and its own steps).
SHARED_STEPS = ("ok", "drop", "drop_after", "slow", "401", "html502", "html503", "html504")


@dataclass
class FaultKnobs:
    """The fault knobs both stand-ins share, with one meaning (sandbox/docs/*.md, "Faults"):

    - `latency_ms`: each request's delay (a number, `{"min", "max"}`, `{"mean", "jitter"}`, `{"mean", "stddev"}`);
    - `error_rate_<status>`: share of requests answered with that error status (each stand-in lists the statuses
      its real API sends: `FaultModel.statuses`; the fields live on the stand-in's own `Knobs`);
    - `drop_rate`: share whose connection is closed before the API acts on them (nothing is applied);
    - `drop_after_rate`: share that is applied (a write is saved) and then loses its response;
    - `slow_rate` / `slow_ms`: share delayed by `slow_ms` more;
    - `fault_seed`: seed of every draw (faults and latency), so a seeded run replays the same faults;
    - `fault_script`: steps consumed one per request before the rates (`fault_script` validator).
    """

    latency_ms: Any = 0.0
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 5000.0
    fault_seed: int | None = None
    fault_script: list[Any] = field(default_factory=list)


def fault_validators(statuses: Sequence[str], steps: Sequence[str],
                     options: Sequence[str] = ()) -> dict[str, Validator]:
    """Validators of the shared fault knobs; `statuses` are the stand-in's error statuses, `steps` and `options`
    its own script vocabulary (added to `SHARED_STEPS`)."""
    return {"latency_ms": latency, **{f"error_rate_{status}": rate for status in statuses},
            "drop_rate": rate, "drop_after_rate": rate, "slow_rate": rate, "slow_ms": number,
            "fault_seed": optional_whole,
            "fault_script": fault_script(tuple(dict.fromkeys((*steps, *SHARED_STEPS))), options)}


class FaultModel(Draws):
    """The draw of one request's fault, the same in both stand-ins: the fault script's head if it fits the
    request, else one roll over the rates in a fixed order: drop, drop_after, the error statuses (in the order
    the stand-in lists them), slow, then the stand-in's own faults (`extra`)."""

    def __init__(self, seed: int | None, statuses: Sequence[str]) -> None:
        super().__init__(seed)
        self.statuses = tuple(statuses)

    def next_step(self, knobs: FaultKnobs, method: str, path: str,
                  extra: Sequence[tuple[str, float]] = ()) -> dict[str, Any] | None:
        """This request's fault as a script step object (`{"fault": name, ...options}`), or None for none."""
        step = next_script_step(knobs.fault_script, method, path)
        if step is not None:
            return step
        drawn = self.fault((("drop", knobs.drop_rate), ("drop_after", knobs.drop_after_rate),
                            *((status, float(getattr(knobs, f"error_rate_{status}"))) for status in self.statuses),
                            ("slow", knobs.slow_rate), *extra))
        return None if drawn is None else {"fault": drawn}


def next_script_step(script: list[Any], method: str, path: str) -> dict[str, Any] | None:
    """Pop the script's head if it fits this request (`match` in the path, `method`); as an object."""
    if not script:
        return None
    head = script[0]
    step = dict(head) if isinstance(head, dict) else {"fault": head}
    if str(step.get("match", "")) not in path or str(step.get("method", method)).upper() != method:
        return None
    script.pop(0)
    return step


# --- connections -------------------------------------------------------------------------------------------------

async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the client's connection without any response, like a reset or a load balancer timeout.

    ASGI has no verb for this, so uvicorn's transport is reached through its request cycle (the owner of
    `receive`/`send`); on another server the response is cut off after its headers instead.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


# --- HTML error pages (what a proxy in front of the API answers during an outage) ----------------------------------

HTML_PAGES = {
    502: ("Bad Gateway", "The proxy server received an invalid response from an upstream server."),
    503: ("Service Unavailable", "The server is temporarily unable to service your request."),
    504: ("Gateway Timeout", "The proxy server did not receive a timely response from the upstream server."),
}


def html_page(status: int) -> str:
    title, text = HTML_PAGES[status]
    return (f"<!DOCTYPE html>\n<html>\n<head>\n<title>{status} {title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
            f"<p>{text}</p>\n</body>\n</html>\n")
