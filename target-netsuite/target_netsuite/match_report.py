"""`match_mode: report`: the matcher's judgement of every record, listed for a person, and nothing written.

The report sink (sinks.py) hands each batch here instead of writing it: per record, what the real run would do
(`would_update`, `would_create`, `would_adopt`, or a decision code such as `AMBIGUOUS_MATCH`), the candidate
(internal id, name, city, phone, status, subsidiary), the rule and the corroborating field, and the fields the first
write would change or empty. The list is written at the end of the run to `match_report_path` as
`match-<run id>.json`; with a `decision` set per record it is what `match_mode: approved` reads.

Invariants: nothing is written to NetSuite and no STATE is emitted (the run claims no progress); records whose
parent would be adopted in the same run are judged as the real run judges them (the planned adoptions stand in for
the internal ids NetSuite does not hold yet); the judgement is the matcher's own (matching.py), never a copy.
"""

from __future__ import annotations

import json
import logging
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from target_netsuite.matching import DECISION_CODES, Decision, Matcher, addresses

if t.TYPE_CHECKING:
    from target_netsuite.writes import Write

_LOGGER = logging.getLogger("target_netsuite.matching")  # the matcher's log, as before


@dataclass
class MatchReport:
    """What `match_mode: report` found, for the JSON list written at the end of the run."""

    entries: list[dict[str, t.Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **entry: t.Any) -> None:
        with self._lock:
            self.entries.append(entry)


class MatchReporter(Matcher):
    """The matcher of a `match_mode: report` run: judges as the matcher does, lists instead of adopting."""

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.report = MatchReport()
        self._planned: dict[tuple[str, str], str] = {}  # (type, eid) → internal id it would adopt

    def judge(self, stream: str, record_type: str, writes: list[Write]) -> None:
        """List what the real run would do with each upsert of these writes."""
        upserts = [write for write in writes if write.action == "upsert"]
        if not upserts:
            return
        known, _, decisions = self._decisions(record_type, upserts)
        self._report(stream, record_type, upserts, known, decisions)

    def _planned_adoption(self, ref: tuple[str, str]) -> str:
        with self._lock:
            return self._planned.get(ref, "")

    def write(self, directory: str, run_id: str, streams: dict[str, t.Any]) -> Path:
        """The list, `match-<run id>.json` in `directory`, with the run's counts."""
        path = Path(directory) / f"match-{run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = sorted(self.report.entries, key=lambda e: (e["record_type"], e["outcome"]))
        path.write_text(json.dumps({"run_id": run_id, "streams": streams, "records": entries},
                                   indent=2, ensure_ascii=False) + "\n")
        return path

    def _report(self, stream: str, record_type: str, writes: list[Write], known: dict[str, str],
                decisions: dict[str, Decision]) -> None:
        for write in writes:
            decision = Decision("update", [known[write.external_id]]) if write.external_id in known else \
                decisions.get(write.external_id, Decision("create"))
            key = {"update": "would_update", "create": "would_create", "adopt": "would_adopt"}.get(
                decision.outcome, decision.outcome)
            if decision.outcome == "adopt":  # a child of this record is judged as the real run judges it
                with self._lock:
                    self._planned[(record_type, write.external_id)] = decision.candidates[0]
            self.outcomes.count(stream, key)
            entry: dict[str, t.Any] = {
                "record_type": record_type, "externalId": write.external_id, "outcome": key,
                "internal_ids": decision.candidates, "name": _label(write.body),
            }
            if decision.rule:
                entry.update(rule="+".join(decision.rule), corroborated_by=decision.corroborated_by)
            if decision.candidates and decision.outcome != "update":
                entry["candidates"] = [self._describe(record_type, internal, decision.rows.get(internal, {}))
                                       for internal in decision.candidates]
            if decision.outcome == "adopt":
                entry.update(self._first_write(record_type, write, decision.candidates[0]))
                entry["decision"] = None  # for match_mode approved: adopt, create or skip
            elif decision.outcome in DECISION_CODES:
                entry["decision"] = None
            if decision.passed_over:
                entry["passed_over"] = decision.passed_over
            self.report.add(**entry)
            _LOGGER.info("match report: %s %s %s %s", record_type, write.external_id, key,
                         ",".join(decision.candidates))

    def _describe(self, record_type: str, internal_id: str, row: dict[str, t.Any]) -> dict[str, t.Any]:
        """What an administrator needs to recognise a candidate."""
        record = self._fetch(record_type, internal_id) or {}
        cities = sorted({a["city"] for a in addresses(record) if isinstance(a.get("city"), str)})
        subsidiary = record.get("subsidiary")
        return {
            "internal_id": internal_id,
            "name": row.get("companyname") or record.get("companyName") or row.get("itemid") or record.get("itemId")
            or row.get("memo") or record.get("tranId")
            or " ".join(filter(None, (record.get("firstName"), record.get("lastName")))) or None,
            "city": ", ".join(cities) or None,
            "phone": row.get("phone") or record.get("phone"),
            "email": row.get("email") or record.get("email"),
            "status": "inactive" if row.get("isinactive") == "T" or record.get("isInactive") is True else "active",
            "subsidiary": row.get("subsidiary") or (subsidiary.get("id") if isinstance(subsidiary, dict) else None),
            "externalId": row.get("externalid") or record.get("externalId"),
        }

    def _first_write(self, record_type: str, write: Write, internal_id: str) -> dict[str, t.Any]:
        """The top-level fields the first write would change, and those it would empty (create-only fields of an
        existing record are left out, as the real write leaves them out)."""
        record = self._fetch(record_type, internal_id) or {}
        owned = self.create_only.get(record_type, set())
        changes: dict[str, dict[str, t.Any]] = {}
        empties: list[str] = []
        for name, value in sorted(write.body.items()):
            if name in owned or isinstance(value, list) or name == "addressbook":
                continue
            current = record.get(name)
            if isinstance(value, dict) or isinstance(current, dict):
                new_id = value.get("id") if isinstance(value, dict) else None
                old_id = current.get("id") if isinstance(current, dict) else None
                if new_id is not None and str(new_id) != str(old_id):
                    changes[name] = {"netsuite": old_id, "salesforce": new_id}
                continue
            if value in (None, "") and current not in (None, ""):
                empties.append(name)
            elif value not in (None, "") and value != current:
                changes[name] = {"netsuite": current, "salesforce": value}
        if "addressbook" in write.body and addresses(record):
            changes["addressbook"] = {"netsuite": f"{len(addresses(record))} addresses",
                                      "salesforce": f"{len(addresses(write.body))} addresses"}
        return {"would_change": changes, "would_empty": empties}


def _label(body: dict[str, t.Any]) -> str | None:
    """A human-readable name of the payload for the report list."""
    for name in ("companyName", "itemId", "entityId", "email", "lastName", "memo"):
        if isinstance(body.get(name), str):
            return body[name]
    return None
