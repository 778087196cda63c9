"""Fixed ids: the internal ids a mapping writes as constants (`subsidiary: {id: '1'}`, `currency`, a line's item)
must exist in NetSuite, or nothing is written.

Such an id comes from configuration (the mapper's `subsidiary_id`, `currency_id`, `service_item_id`), so when it is
wrong every record carrying it would be refused, one dead letter after another. The stream's SCHEMA says which ids
are fixed: `const` on the reference's `id` (the mapper keeps `const` for leaves computed from settings alone).
Invariant: when a stream's sink starts (its SCHEMA, before any of its records), each fixed id of a checked field is
looked up once per run (one SuiteQL query per table and stream); one NetSuite does not hold stops the run with one
line naming the field, the record type and the id, before anything is written and before state advances. Ids that
come from the records (per-record routing) are not fixed: NetSuite's refusal dead-letters that record.
A SuiteQL refusal (no permission, no such table on this account) skips the check with a warning: NetSuite's own
refusal of the records then says the same.
"""

from __future__ import annotations

import logging
import threading
import typing as t

from target_netsuite.client import FatalError, RecordError

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from target_netsuite.client import NetSuiteClient

_LOGGER = logging.getLogger(__name__)
#: Body fields whose `{"id"}` is checked, and the SuiteQL table that holds them.
BODY_FIELDS = {"subsidiary": "subsidiary", "currency": "currency"}
#: Sublist line fields checked the same way (`item.items[].item`).
LINE_FIELDS = {("item", "item"): "item"}


def fixed_ids(schema: dict[str, t.Any]) -> Iterable[tuple[str, str, str]]:
    """(field path, SuiteQL table, internal id) of every checked reference whose `id` the stream's SCHEMA fixes
    (`{"properties": {"id": {"const": "1"}}}`: the mapper marks values that come from its settings so)."""
    properties = schema.get("properties") or {}

    def fixed(node: object) -> str | None:
        value = ((node or {}).get("properties") or {}).get("id", {}).get("const") if isinstance(node, dict) else None
        return None if value in (None, "") else str(value)

    for field, table in BODY_FIELDS.items():
        if (internal_id := fixed(properties.get(field))) is not None:
            yield field, table, internal_id
    for (sublist, field), table in LINE_FIELDS.items():
        lines = ((properties.get(sublist) or {}).get("properties") or {}).get("items") or {}
        line = lines.get("items") if isinstance(lines, dict) else None
        if isinstance(line, dict) and (internal_id := fixed((line.get("properties") or {}).get(field))) is not None:
            yield f"{sublist}.items[].{field}", table, internal_id


class FixedIdCheck:
    """Run-wide memory of the fixed ids found in NetSuite; `check` raises on the first one that is not."""

    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client
        self._exists: set[tuple[str, str]] = set()
        self._unchecked_tables: set[str] = set()
        self._lock = threading.Lock()

    def check(self, record_type: str, schema: dict[str, t.Any]) -> None:
        """Raise FatalError naming the first fixed id of this stream's SCHEMA that NetSuite does not hold."""
        wanted: dict[tuple[str, str], str] = {}
        for path, table, internal_id in fixed_ids(schema):
            wanted.setdefault((table, internal_id), path)
        with self._lock:
            new = {key: path for key, path in wanted.items()
                   if key not in self._exists and key[0] not in self._unchecked_tables}
            if not new:
                return
            for table in sorted({table for table, _ in new}):
                ids = sorted(internal_id for t_, internal_id in new if t_ == table)
                found = self._existing(table, ids)
                if found is None:
                    continue
                self._exists.update((table, internal_id) for internal_id in found)
                for internal_id in ids:
                    if internal_id not in found:
                        path = new[(table, internal_id)]
                        msg = (f"{record_type}.{path}: {table} {internal_id!r} does not exist in NetSuite (an id "
                               f"the mapping sets as a constant, e.g. subsidiary_id, currency_id or "
                               f"service_item_id); nothing written, state not advanced")
                        raise FatalError(msg)

    def _existing(self, table: str, ids: list[str]) -> set[str] | None:
        """The ids NetSuite holds, or None when the table cannot be queried (the check is skipped for it)."""
        numeric = [internal_id for internal_id in ids if internal_id.isdigit()]  # an internal id is a number
        if not numeric:
            return set()
        query = f"SELECT id FROM {table} WHERE id IN ({', '.join(numeric)})"
        try:
            page = self._client.suiteql(query, limit=1000)
        except RecordError as exc:
            _LOGGER.warning("Fixed %s ids not checked: SuiteQL refused (%s %s)", table, exc.status, exc.code)
            self._unchecked_tables.add(table)
            return None
        return {str(row["id"]) for row in page.get("items", []) if "id" in row}
