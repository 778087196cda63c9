"""Value forms: how a field's value is stored in SQLite and how Salesforce writes it on the wire.

Datetimes are stored as integer epoch milliseconds (cheap to index and compare, exact for SOQL literals in any
time zone) and written as `2024-05-20T20:49:32.000+0000` in REST JSON and `...000Z` in Bulk CSV, as the real
APIs do. Booleans are 0/1, dates `YYYY-MM-DD` text, structured values (json, complexvalue) JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import string
from typing import Any

from sandbox.salesforce.schema import NUMBER_TYPES, Field

UTC = dt.UTC
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$"
)
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM_CHARS = string.ascii_uppercase + "012345"


def parse_datetime_ms(text: str) -> int | None:
    """Epoch ms of a SOQL/ISO datetime (`Z`, `+0000`, `+00:00`, optional fraction); None if not one."""
    match = _DATETIME_RE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        tz = UTC
        if zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        value = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    except ValueError:
        return None
    millis = int((frac or "0").ljust(3, "0")[:3])
    return int(value.timestamp()) * 1000 + millis


def parse_date(text: str) -> str | None:
    """The `YYYY-MM-DD` text of a valid date literal, else None."""
    try:
        return dt.date.fromisoformat(text).isoformat() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def format_datetime(ms: int, bulk: bool = False) -> str:
    """`2024-05-20T20:49:32.000+0000` (REST) or `2024-05-20T20:49:32.000Z` (Bulk CSV)."""
    value = dt.datetime.fromtimestamp(ms // 1000, UTC)
    suffix = "Z" if bulk else "+0000"
    return f"{value:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}{suffix}"


def now_ms() -> int:
    return int(dt.datetime.now(UTC).timestamp() * 1000)


def to_wire(field: Field, value: Any, base: str, object_name: str, record_id: str | None) -> Any:
    """A stored value in the REST JSON form of its field type."""
    if value is None:
        return None
    kind = field.type
    if kind == "datetime":
        return format_datetime(value)
    if kind == "boolean":
        return bool(value)
    if kind in ("int", "long"):
        return int(value)
    if kind in NUMBER_TYPES:
        return float(value)
    if kind in ("json", "complexvalue"):
        return json.loads(value)
    if kind == "base64":
        # REST queries return the blob's URL, never its bytes.
        return f"{base}/sobjects/{object_name}/{record_id}/{field.name}"
    return number_text(value)


def number_text(value: Any) -> Any:
    """A number kept in a field retyped Number → Text, as Salesforce converts it (`12.0` → `"12"`)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def to_csv(field: Field, value: Any) -> str:
    """A stored value as Bulk API 2.0 writes it in a CSV cell (null → empty)."""
    if value is None:
        return ""
    kind = field.type
    if kind == "datetime":
        return format_datetime(value, bulk=True)
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("double", "currency", "percent"):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(number_text(value))


class FieldValueError(ValueError):
    """A value that does not fit its field (admin writes)."""


def from_input(field: Field, value: Any) -> Any:
    """A JSON value from an admin write in its stored form; raises FieldValueError when it does not fit."""
    if value is None:
        return None
    kind = field.type
    try:
        if kind == "datetime":
            ms = parse_datetime_ms(str(value))
            if ms is None:
                raise FieldValueError(f"'{value}' is not a valid value for the type xsd:dateTime")
            return ms
        if kind == "date":
            date = parse_date(str(value))
            if date is None:
                raise FieldValueError(f"'{value}' is not a valid value for the type xsd:date")
            return date
        if kind == "boolean":
            if isinstance(value, str):
                return 1 if value.lower() == "true" else 0
            return 1 if value else 0
        if kind in ("int", "long"):
            return int(value)
        if kind in NUMBER_TYPES:
            return float(value)
        if kind in ("json", "complexvalue"):
            return json.dumps(value if not isinstance(value, str) else json.loads(value))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FieldValueError):
            raise
        raise FieldValueError(f"'{value}' is not a valid value for the type {field.type}") from exc
    text = str(value)
    if text == "":
        return None  # Salesforce stores a blank text value as null
    if field.length and field.type not in ("id", "reference") and len(text) > field.length:
        raise FieldValueError(f"{field.label}: data value too large: {text[:30]}... (max length={field.length})")
    return text


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(_BASE62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def make_id(prefix: str, counter: int) -> str:
    """An 18-character Salesforce id: key prefix, pod `5g`, reserved `0`, 9 base-62 digits, case-safe suffix."""
    short = f"{prefix}5g0{base62(counter, 9)}"
    return short + id_suffix(short)


def id_suffix(short: str) -> str:
    """The three checksum characters that make a 15-character id case-insensitively unique (the public algorithm)."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(short[chunk * 5: chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _CHECKSUM_CHARS[bits]
    return suffix


def random_token(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))
