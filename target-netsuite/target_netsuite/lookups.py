"""Resolving lookup markers `{"type": "currency", "by": "symbol", "value": "EUR"}` to NetSuite ids `{"id": ...}`.

The mapper's `lookup()` names a NetSuite record by a name or code, not by an internal id (docs/interfaces.md).
Invariants:
- Only the record types and fields of `LOOKUP_FIELDS` are looked up: the SuiteQL table and column come from that
  allowlist, never from the input; the value is always a quoted SuiteQL string literal.
- Matching is case- and space-insensitive on both sides (`normalise`: spaces collapsed, trimmed, upper-cased).
- One SuiteQL query per record type and field per batch of up to `_CHUNK` distinct values (`IN (...)`), and every
  answer (found, several, none) is cached for the run, so a value is asked for at most once per run.
- A lookup resolves only to exactly one record: none gives `LOOKUP_FAILED`, several `LOOKUP_AMBIGUOUS`, both
  naming the record type, the field and the value, and the record is dead-lettered, never written with a guess.
- A SuiteQL refusal (no permission, no such table) is the account's problem, not the record's: it stops the run
  with one line before anything of the batch is written, and state does not advance.
"""

from __future__ import annotations

import re
import threading
import typing as t
from dataclasses import dataclass

from target_netsuite.client import FatalError, RecordError

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from target_netsuite.client import NetSuiteClient

LOOKUP_FAILED = "LOOKUP_FAILED"
LOOKUP_AMBIGUOUS = "LOOKUP_AMBIGUOUS"
LOOKUP_UNSUPPORTED = "LOOKUP_UNSUPPORTED"
_CHUNK = 200
_MAX_VALUE_LENGTH = 300


@dataclass(frozen=True)
class LookupTable:
    """Where SuiteQL holds a record type: its table and the columns a lookup may compare."""

    table: str
    fields: frozenset[str]


#: The allowlist: REST record type (as `lookup()` names it) → SuiteQL table and the fields it may be looked up by.
LOOKUP_FIELDS: dict[str, LookupTable] = {
    "currency": LookupTable("currency", frozenset({"symbol", "name"})),
    "subsidiary": LookupTable("subsidiary", frozenset({"name", "legalname"})),
    "employee": LookupTable("employee", frozenset({"email", "entityid"})),
    "term": LookupTable("term", frozenset({"name"})),
    "priceLevel": LookupTable("pricelevel", frozenset({"name"})),
    "department": LookupTable("department", frozenset({"name"})),
    "classification": LookupTable("classification", frozenset({"name"})),
    "class": LookupTable("classification", frozenset({"name"})),
    "location": LookupTable("location", frozenset({"name"})),
}

Key = tuple[str, str, str]  # (record type, field, normalised value)


def normalise(value: str) -> str:
    """The form both sides are compared in: runs of white space as one space, trimmed, upper case."""
    return " ".join(value.split()).upper()


def is_lookup(value: object) -> t.TypeGuard[dict[str, str]]:
    """The mapper's lookup marker: exactly `type`, `by` and `value`, all strings."""
    return (
        isinstance(value, dict)
        and value.keys() == {"type", "by", "value"}
        and all(isinstance(part, str) for part in value.values())
    )


def find_lookups(value: object, path: str = "") -> Iterator[tuple[str, dict[str, str]]]:
    """(path, marker) for every lookup marker anywhere in a payload, e.g. `currency` or `item.items[0].price`."""
    if is_lookup(value):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from find_lookups(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from find_lookups(child, f"{path}[{index}]")


def key_of(marker: dict[str, str]) -> Key:
    return marker["type"], marker["by"].lower(), normalise(marker["value"])


def substitute_lookups(value: object, ids: dict[Key, str]) -> object:
    """A copy of the payload with every lookup marker replaced by `{"id": ...}` (all must be in `ids`)."""
    if is_lookup(value):
        return {"id": ids[key_of(value)]}
    if isinstance(value, dict):
        return {key: substitute_lookups(child, ids) for key, child in value.items()}
    if isinstance(value, list):
        return [substitute_lookups(child, ids) for child in value]
    return value


def unsupported(marker: dict[str, str]) -> str | None:
    """Why a marker can never be looked up (a record type or field outside the allowlist), else None."""
    table = LOOKUP_FIELDS.get(marker["type"])
    if table is None:
        return (f"lookup of {marker['type'][:60]!r} is not supported (supported record types: "
                f"{', '.join(sorted(LOOKUP_FIELDS))})")
    if marker["by"].lower() not in table.fields:
        return (f"{marker['type']} cannot be looked up by {marker['by'][:60]!r} (only by "
                f"{', '.join(sorted(table.fields))})")
    if len(marker["value"]) > _MAX_VALUE_LENGTH:
        return f"{marker['type']} {marker['by']} value is longer than {_MAX_VALUE_LENGTH} characters"
    return None


class LookupResolver:
    """Run-wide cache of (record type, field, normalised value) → the internal ids NetSuite holds for it."""

    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client
        self._found: dict[Key, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.queries = 0  # SuiteQL requests made (the API cost of lookups, in the run summary)

    @property
    def values(self) -> int:
        """Distinct (record type, field, value) looked up this run."""
        with self._lock:
            return len(self._found)

    def resolve(self, markers: Iterable[dict[str, str]]) -> dict[Key, tuple[str, ...]]:
        """The ids each supported marker matches (empty: none), asking NetSuite only for values not yet cached."""
        wanted = {key_of(marker) for marker in markers if unsupported(marker) is None}
        with self._lock:
            missing = sorted(wanted - self._found.keys())
        by_field: dict[tuple[str, str], list[str]] = {}
        for record_type, field, value in missing:
            by_field.setdefault((record_type, field), []).append(value)
        for (record_type, field), values in by_field.items():
            for start in range(0, len(values), _CHUNK):
                chunk = values[start : start + _CHUNK]
                matches = self._query(record_type, field, chunk)
                with self._lock:
                    for value in chunk:
                        ids = sorted(set(matches.get(value, ())), key=_numeric)
                        self._found[(record_type, field, value)] = tuple(ids)
        with self._lock:
            return {key: self._found[key] for key in wanted}

    def _query(self, record_type: str, field: str, values: list[str]) -> dict[str, list[str]]:
        table = LOOKUP_FIELDS[record_type].table
        column = f"UPPER(TRIM(REGEXP_REPLACE({field}, '\\s+', ' ')))"
        quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
        query = f"SELECT id, {field} FROM {table} WHERE {column} IN ({quoted})"
        matches: dict[str, list[str]] = {}
        offset = 0
        while True:
            try:
                page = self._client.suiteql(query, limit=1000, offset=offset)
            except RecordError as exc:
                msg = (f"lookup of {record_type} by {field} failed: SuiteQL refused ({exc.status} {exc.code}: "
                       f"{exc.detail[:160]}); stopped without advancing state")
                raise FatalError(msg) from None
            with self._lock:
                self.queries += 1
            items = page.get("items", [])
            for row in items:
                if "id" in row and row.get(field) is not None:
                    matches.setdefault(normalise(str(row[field])), []).append(str(row["id"]))
            if not page.get("hasMore"):
                return matches
            offset += len(items) or 1000

    @staticmethod
    def problem(marker: dict[str, str], ids: tuple[str, ...]) -> tuple[str, str] | None:
        """(code, detail) when a looked-up marker does not name exactly one record, else None."""
        what = f"{marker['type']} with {marker['by']} {marker['value']!r}"
        if not ids:
            return LOOKUP_FAILED, f"no {what} in NetSuite (compared ignoring case and spaces)"
        if len(ids) > 1:
            return LOOKUP_AMBIGUOUS, (f"{len(ids)} {marker['type']} records have {marker['by']} "
                                      f"{marker['value']!r} (internal ids {', '.join(ids[:10])}); not guessing")
        return None


def _numeric(internal_id: str) -> tuple[int, str]:
    return (int(internal_id), "") if re.fullmatch(r"\d+", internal_id) else (0, internal_id)
