"""Reconciliation mode: compare what the mapping makes of Salesforce with what NetSuite holds, write nothing.

With `reconcile: true` the target is fed the mapper's output of a full read of Salesforce (deleted rows included;
`pipeline-ops reconcile` runs that pipeline under its own state id). It keeps, per record type, the external id and
action of every record it receives and the values of the `reconcile_fields`; at the end of input it pages through
the NetSuite records of those types that carry an external id (SuiteQL, 1,000 a page) and reports:

- **missing**: received as an upsert, not in NetSuite. The reason is the latest dead letter of that record under
  `dead_letter_path` when there is one, else "not in NetSuite (deleted there, or never written)";
- **orphaned**: in NetSuite, active, with an external id this pipeline writes: a Salesforce Id of the object
  mapped to the record type (its key prefix, `001` for customer; `match_keys.owned_external_id`) that also matches
  `reconcile_external_id_pattern`; and either not received at all (hard-deleted or purged in Salesforce) or
  received as a delete. Another integration's records (any other external id, a 15-character one included) are
  never orphans, so `--repair` never touches them;
- **stale**: a `reconcile_fields` field whose NetSuite value differs from the mapped one (values compared as
  SuiteQL renders them: strings, booleans `T`/`F`, references by internal id; an unresolved reference or a
  sublist is not comparable and is skipped).

Only record types that received at least one record are compared, so an unselected stream never makes its
NetSuite records look orphaned. Nothing is written to NetSuite, no dead letter is written, and no STATE is
emitted. The write ledger's entries of missing and stale records are dropped (ledger.py): the ledger said
NetSuite had them, so the next write of each (the repair's, or any later run's) is sent, not skipped. The report goes to
`<reconcile_report_path>/reconcile-<run id>.json`; the counts are logged as one line `Reconciliation: {...}`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import typing as t
from pathlib import Path

from target_netsuite.client import FatalError, RecordError
from target_netsuite.match_keys import SALESFORCE_KEY_PREFIXES, owned_external_id
from target_netsuite.references import is_reference, suiteql_source

if t.TYPE_CHECKING:
    from target_netsuite.client import NetSuiteClient
    from target_netsuite.dead_letters import DeadLetterStore
    from target_netsuite.ledger import WriteLedger

DEFAULT_EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$"  # a Salesforce Id
_LOGGER = logging.getLogger("target_netsuite.reconcile")
_NOT_COMPARABLE = object()


def comparable(value: t.Any) -> t.Any:
    """A payload value as SuiteQL shows it (None for empty); `_NOT_COMPARABLE` for sublists and references."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "T" if value else "F"
    if is_reference(value) or isinstance(value, list):
        return _NOT_COMPARABLE
    if isinstance(value, dict):
        return str(value["id"]) if "id" in value else _NOT_COMPARABLE
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Reconciler:
    """Collects the received records of one run, then compares them with NetSuite."""

    def __init__(
        self,
        *,
        client: NetSuiteClient,
        fields: dict[str, list[str]] | None,
        external_id_pattern: str | None,
        report_dir: Path,
        dead_letters: DeadLetterStore,
        ledger: WriteLedger | None = None,
    ) -> None:
        self.client = client
        self.fields = {rtype: list(names) for rtype, names in (fields or {}).items()}
        try:
            self.pattern = re.compile(external_id_pattern or DEFAULT_EXTERNAL_ID_PATTERN)
        except re.error as exc:
            msg = f"reconcile_external_id_pattern is not a regular expression: {exc}"
            raise FatalError(msg) from None
        self.report_dir = report_dir
        self.dead_letters = dead_letters
        self.ledger = ledger
        # record type → external id → (action, {field: comparable value})
        self.seen: dict[str, dict[str, tuple[str, dict[str, t.Any]]]] = {}
        self._lock = threading.Lock()

    def ours(self, record_type: str, external_id: str) -> bool:
        """An external id this pipeline writes: the pattern, and the mapped object's key prefix where known."""
        return bool(self.pattern.match(external_id)) and (
            record_type not in SALESFORCE_KEY_PREFIXES or owned_external_id(record_type, external_id))

    def observe(self, record_type: str, records: list[dict]) -> None:
        wanted = self.fields.get(record_type, [])
        with self._lock:
            seen = self.seen.setdefault(record_type, {})
            for record in records:
                eid = record.get("externalId")
                if isinstance(eid, int) and not isinstance(eid, bool):
                    eid = str(eid)
                if not isinstance(eid, str) or not eid:
                    continue
                action = record.get("_sdc_action") or "upsert"
                seen[eid] = (action, {name: comparable(record.get(name)) for name in wanted if name in record})

    # --- NetSuite side -----------------------------------------------------------------------------------

    def _rows(self, record_type: str) -> t.Iterator[dict[str, t.Any]]:
        table, condition = suiteql_source(record_type)
        columns = ["id", "externalid", *([] if table == "transaction" else ["isinactive"])]
        columns += [name.lower() for name in self.fields.get(record_type, []) if name.lower() not in columns]
        query = f"SELECT {', '.join(columns)} FROM {table} WHERE externalid IS NOT NULL{condition}"
        try:
            yield from self.client.suiteql_rows(query)
        except RecordError as exc:
            msg = f"reconciliation: SuiteQL on {table} failed ({exc.code}: {exc.detail[:200]})"
            raise FatalError(msg) from None

    def _dead_letter_reasons(self) -> dict[tuple[str, str], str]:
        reasons: dict[tuple[str, str], str] = {}
        for entry in self.dead_letters.letters(waiting_only=False):  # oldest first: the latest wins
            key = (str(entry.get("record_type")), str(entry.get("externalId")))
            reasons[key] = f"dead-lettered {entry.get('code')}: {entry.get('detail')} (run {entry.get('run_id')})"
        return reasons

    # --- the comparison ----------------------------------------------------------------------------------

    def compare(self, run_id: str) -> dict[str, t.Any]:
        """Compare every record type that received records; write and return the report."""
        reasons = self._dead_letter_reasons()
        types: dict[str, t.Any] = {}
        for record_type in sorted(self.seen):
            seen = self.seen[record_type]
            missing, orphaned, stale = [], [], []
            in_netsuite: set[str] = set()
            for row in self._rows(record_type):
                eid, internal_id = str(row.get("externalid")), str(row.get("id"))
                in_netsuite.add(eid)
                inactive = row.get("isinactive") == "T"
                got = seen.get(eid)
                if got is None or got[0] == "delete":
                    if not inactive and self.ours(record_type, eid):
                        reason = "deleted in Salesforce" if got else "not in Salesforce (hard-deleted or purged)"
                        orphaned.append({"externalId": eid, "internal_id": internal_id, "reason": reason})
                    continue
                for name, value in got[1].items():
                    if value is _NOT_COMPARABLE:
                        continue
                    current = row.get(name.lower())
                    if value != current:
                        stale.append({"externalId": eid, "internal_id": internal_id, "field": name,
                                      "salesforce": value, "netsuite": current})
            for eid, (action, _values) in sorted(seen.items()):
                if action != "delete" and eid not in in_netsuite:
                    reason = reasons.get((record_type, eid), "not in NetSuite (deleted there, or never written)")
                    missing.append({"externalId": eid, "reason": reason})
            types[record_type] = {
                "salesforce": len(seen), "netsuite": len(in_netsuite),
                "missing": missing, "orphaned": orphaned, "stale": stale,
            }
        if self.ledger is not None:  # the ledger says NetSuite has these; it does not: the next write must happen
            self.ledger.forget_keys(
                (rtype, item["externalId"]) for rtype, found in types.items()
                for kind in ("missing", "stale") for item in found[kind]
            )
        report = {
            "run_id": run_id,
            "counts": {rtype: {k: len(v[k]) for k in ("missing", "orphaned", "stale")} for rtype, v in types.items()},
            "record_types": types,
        }
        self.report_dir.mkdir(parents=True, exist_ok=True)
        path = self.report_dir / f"reconcile-{run_id}.json"
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        _LOGGER.info("Reconciliation: %s (report %s)", json.dumps(report["counts"], sort_keys=True), path)
        return report
