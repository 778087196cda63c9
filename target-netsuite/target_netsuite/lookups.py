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
- Scoped by subsidiary (OneWorld): a looked-up employee, department, class or location must be available to the
  subsidiary of the record it is written into (its `subsidiary`, or a parent of it when `includechildren` is set);
  the same query reads those columns, so scoping costs no query but one read of the subsidiary tree per run. No
  candidate available there is `LOOKUP_FAILED` naming the value and the subsidiary. An account without the
  columns (no OneWorld) is looked up unscoped, with one warning.
"""

from __future__ import annotations

import logging
import re
import threading
import typing as t
from dataclasses import dataclass

from target_netsuite.client import FatalError, RecordError

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from target_netsuite.client import NetSuiteClient

_LOGGER = logging.getLogger(__name__)
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
#: Record types NetSuite makes available per subsidiary, and the SuiteQL columns that say to which.
SCOPED_COLUMNS: dict[str, tuple[str, ...]] = {
    "employee": ("subsidiary",),
    "department": ("subsidiary", "includechildren"),
    "classification": ("subsidiary", "includechildren"),
    "class": ("subsidiary", "includechildren"),
    "location": ("subsidiary",),
}


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
        #: (record type, internal id) → the subsidiaries it is available to, and whether to their children too.
        self._scopes: dict[tuple[str, str], tuple[frozenset[str], bool]] = {}
        self._unscoped: set[str] = set()  # tables whose subsidiary columns SuiteQL refused (no OneWorld)
        self._parents: dict[str, str] | None = None  # subsidiary → its parent, read once when needed
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
        scope = () if table in self._unscoped else SCOPED_COLUMNS.get(record_type, ())
        try:
            return self._query_columns(record_type, field, values, scope)
        except FatalError:
            if not scope:
                raise
            _LOGGER.warning("%s looked up without subsidiary scoping: SuiteQL has no %s columns here (no OneWorld?)",
                            table, "/".join(scope))
            with self._lock:
                self._unscoped.add(table)
            return self._query_columns(record_type, field, values, ())

    def _query_columns(self, record_type: str, field: str, values: list[str], scope: tuple[str, ...]
                       ) -> dict[str, list[str]]:
        table = LOOKUP_FIELDS[record_type].table
        column = f"UPPER(TRIM(REGEXP_REPLACE({field}, '\\s+', ' ')))"
        quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
        query = f"SELECT {', '.join(('id', field, *scope))} FROM {table} WHERE {column} IN ({quoted})"
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
                    if scope:
                        self._remember_scope(record_type, row)
            if not page.get("hasMore"):
                return matches
            offset += len(items) or 1000

    def _remember_scope(self, record_type: str, row: dict) -> None:
        """A candidate's subsidiaries (SuiteQL gives a multi-select as "1, 3"); none given: available to all."""
        subsidiaries = frozenset(part.strip() for part in str(row.get("subsidiary") or "").split(",") if part.strip())
        if subsidiaries:
            with self._lock:
                self._scopes[(record_type, str(row["id"]))] = (subsidiaries, row.get("includechildren") == "T")

    def available(self, marker: dict[str, str], ids: tuple[str, ...], subsidiary: str | None) -> tuple[str, ...]:
        """The candidates of a scoped lookup that the record's subsidiary may use (all, when unscoped)."""
        if subsidiary is None or marker["type"] not in SCOPED_COLUMNS:
            return ids
        with self._lock:
            scopes = {internal_id: self._scopes.get((marker["type"], internal_id)) for internal_id in ids}
        if any(scope is not None and scope[1] for scope in scopes.values()):
            lineage = self._lineage(subsidiary)
        else:
            lineage = [subsidiary]
        return tuple(internal_id for internal_id, scope in scopes.items()
                     if scope is None or subsidiary in scope[0] or (scope[1] and not scope[0].isdisjoint(lineage)))

    def _lineage(self, subsidiary: str) -> list[str]:
        """The subsidiary and its parents up to the root (one SuiteQL read of the tree per run)."""
        if self._parents is None:
            parents: dict[str, str] = {}
            for row in self._client.suiteql_rows("SELECT id, parent FROM subsidiary"):
                if row.get("parent") is not None:
                    parents[str(row["id"])] = str(row["parent"])
            with self._lock:
                self.queries += 1
                self._parents = parents
        chain, current = [subsidiary], subsidiary
        while current in self._parents and self._parents[current] not in chain:
            current = self._parents[current]
            chain.append(current)
        return chain

    @staticmethod
    def problem(marker: dict[str, str], ids: tuple[str, ...], subsidiary: str | None = None
                ) -> tuple[str, str] | None:
        """(code, detail) when a looked-up marker does not name exactly one record, else None (`ids`: the
        candidates available to the record's subsidiary, when the lookup is scoped)."""
        what = f"{marker['type']} with {marker['by']} {marker['value']!r}"
        if not ids and subsidiary is not None and marker["type"] in SCOPED_COLUMNS:
            return LOOKUP_FAILED, (f"no {what} available to subsidiary {subsidiary} in NetSuite (compared ignoring "
                                   f"case and spaces)")
        if not ids:
            return LOOKUP_FAILED, f"no {what} in NetSuite (compared ignoring case and spaces)"
        if len(ids) > 1:
            return LOOKUP_AMBIGUOUS, (f"{len(ids)} {marker['type']} records have {marker['by']} "
                                      f"{marker['value']!r} (internal ids {', '.join(ids[:10])}); not guessing")
        return None


def _numeric(internal_id: str) -> tuple[int, str]:
    return (int(internal_id), "") if re.fullmatch(r"\d+", internal_id) else (0, internal_id)
