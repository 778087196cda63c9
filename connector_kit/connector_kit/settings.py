"""Settings as the plugins receive them from Meltano.

Invariant: a numeric setting given as text (`"80"`, `"0.5"`) reaches the schema check as the number it spells;
any other text reaches it unchanged, so the check refuses it naming the setting. A date setting that is not one is
refused in one line naming it.
"""

from __future__ import annotations

import datetime as dt
import math


def numbers_from_strings(config: dict | None, schema: dict) -> dict | None:
    """Numeric settings given as text (`.env`, the environment) as numbers.

    Meltano 4.4 cannot pass a `kind: decimal` setting read from `.env` or the environment (it fails with "Object
    of type Decimal is not JSON serializable" before the plugin starts), so meltano.yml declares those settings
    `kind: string` and the plugins accept `"0.5"` for `0.5`. Text that is not a finite number is left for the
    schema check to refuse, naming the setting.
    """
    if not config:
        return config
    converted = dict(config)
    for name, spec in schema.get("properties", {}).items():
        value = converted.get(name)
        if isinstance(value, str) and "number" in (spec.get("type") or []):
            try:
                number = float(value)
            except ValueError:
                continue
            if math.isfinite(number):
                converted[name] = number
    return converted


def parse_utc(value: str) -> dt.datetime:
    """An ISO 8601 date or date-time; a value without an offset is UTC."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def start_date(value: object, error: type[Exception]) -> dt.datetime | None:
    """The `start_date` setting as an aware date-time (None when unset); a value that is not one raises `error`
    with one line naming the setting."""
    if value is None:
        return None
    try:
        return parse_utc(str(value))
    except ValueError:
        msg = f"start_date {str(value)[:40]!r} is not an ISO 8601 date or date-time (e.g. 2024-01-01)"
        raise error(msg) from None
