"""OneWorld subsidiaries: records that follow their parent's subsidiary, lookups scoped by subsidiary, and customers
shared with more subsidiaries (docs/interfaces.md, "Subsidiaries").

- `{"subsidiaryOf": {"externalId": ..., "type": "customer"}}` (the mapper's `subsidiary_of()`) is the subsidiary
  of that parent as NetSuite holds it now: read once per wave (one SuiteQL query per parent type and 200 parents),
  after the parent's own writes (parents are written first). The parent reference is also a reference, so a
  record whose parent is not in NetSuite yet is parked like any child; a parent NetSuite holds without a readable
  subsidiary dead-letters the record `SUBSIDIARY_UNKNOWN`. Never a guess, never the default.
- `_sdc_subsidiaries: {"additional": [...]}` on a customer (the mapper's `additional_subsidiaries()`) names the
  subsidiaries the customer is shared with, as `customerSubsidiaryRelationship` records. Additive only: the
  relationships NetSuite holds are read first and only missing ones are created (POST); none is ever changed or
  deleted, so a relationship a person added stays, and so does one the rule no longer names. A rerun creates
  nothing: what was made is in the write ledger (one entry per customer: a hash of the subsidiaries it is shared
  with), and without a ledger the read finds them. A POST whose answer was lost is checked by reading again, never
  sent twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
import typing as t

from target_netsuite.client import RECORD_PATH, FatalError, RecordError, error_details
from target_netsuite.lookups import Key, find_lookups, is_lookup, key_of, unsupported
from target_netsuite.references import suiteql_source

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from target_netsuite.client import NetSuiteClient
    from target_netsuite.ledger import WriteLedger
    from target_netsuite.lookups import LookupResolver
    from target_netsuite.outcomes import StreamOutcomes
    from target_netsuite.references import Ref, ReferenceResolver
    from target_netsuite.writes import Write

FOLLOW_KEY = "subsidiaryOf"
ADDITIONAL_KEY = "_sdc_subsidiaries"  # {"additional": [subsidiary id or lookup marker, ...]}
RELATIONSHIP = "customerSubsidiaryRelationship"
SUBSIDIARY_UNKNOWN = "SUBSIDIARY_UNKNOWN"
_CHUNK = 200

DeadLetter = t.Callable[..., None]


def is_follow(value: object) -> bool:
    return (isinstance(value, dict) and value.keys() == {FOLLOW_KEY} and isinstance(value[FOLLOW_KEY], dict)
            and isinstance(value[FOLLOW_KEY].get("type"), str) and isinstance(value[FOLLOW_KEY].get("externalId"), str))


def _follows(value: object, path: str = "") -> t.Iterator[tuple[str, Ref]]:
    if is_follow(value):
        assert isinstance(value, dict)
        yield path, (value[FOLLOW_KEY]["type"], value[FOLLOW_KEY]["externalId"])
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _follows(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _follows(child, f"{path}[{index}]")


def _replace_follows(value: object, subsidiaries: dict[Ref, str]) -> object:
    if is_follow(value):
        assert isinstance(value, dict)
        return {"id": subsidiaries[(value[FOLLOW_KEY]["type"], value[FOLLOW_KEY]["externalId"])]}
    if isinstance(value, dict):
        return {key: _replace_follows(child, subsidiaries) for key, child in value.items()}
    if isinstance(value, list):
        return [_replace_follows(child, subsidiaries) for child in value]
    return value


def routed_subsidiary(body: dict, looked_up: dict[Key, tuple[str, ...]]) -> str | None:
    """The internal id of the subsidiary a payload is routed to: its `subsidiary` id, or the one subsidiary its
    lookup marker names (`looked_up`: the wave's lookups); None when it names none (lookups then are unscoped)."""
    value = body.get("subsidiary")
    if is_lookup(value):
        found = looked_up.get(key_of(value), ())
        return found[0] if len(found) == 1 else None
    return str(value["id"]) if isinstance(value, dict) and value.get("id") not in (None, "") else None


class Subsidiaries:
    """Run-wide: parents' subsidiaries read per wave, and the relationships this run made."""

    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.queries = 0  # SuiteQL requests made for subsidiaries (run summary)
        self.relationships_created = 0

    # --- following a parent ------------------------------------------------------------------------------

    def follow(self, writes: list[Write], ids: dict[Ref, str], dead_letter: Callable[[Write, str, str, str], None]
               ) -> list[Write]:
        """Replace every `subsidiaryOf` of these writes (their references resolved: `ids`) by the parent's
        subsidiary; a write whose parent has none readable is dead-lettered, the rest returned."""
        wanted = {id(write): list(_follows(write.body)) for write in writes if write.action == "upsert"}
        parents = {ref for found in wanted.values() for _, ref in found if ref in ids}
        subsidiary_of = self._parents_subsidiaries({ref: ids[ref] for ref in parents})
        ready = []
        for write in writes:
            found = wanted.get(id(write)) or []
            missing = next(((path, ref) for path, ref in found if ref not in subsidiary_of), None)
            if missing is not None:
                path, (parent_type, parent_id) = missing
                dead_letter(write, SUBSIDIARY_UNKNOWN,
                            f"{path}: the subsidiary of {parent_type} {parent_id!r} (internal id "
                            f"{ids.get((parent_type, parent_id), '?')}) cannot be read from NetSuite; not guessed",
                            path)
                continue
            if found:
                write.body = t.cast("dict", _replace_follows(write.body, subsidiary_of))
            ready.append(write)
        return ready

    def _parents_subsidiaries(self, internal_ids: dict[Ref, str]) -> dict[Ref, str]:
        """(type, external id) → the subsidiary NetSuite holds for that parent now (absent: none readable)."""
        by_type: dict[str, dict[str, list[Ref]]] = {}
        for ref, internal_id in internal_ids.items():
            if internal_id.isdigit():
                by_type.setdefault(ref[0], {}).setdefault(internal_id, []).append(ref)
        found: dict[Ref, str] = {}
        for record_type, refs_by_id in by_type.items():
            table, condition = suiteql_source(record_type)
            numbers = sorted(refs_by_id, key=int)
            for start in range(0, len(numbers), _CHUNK):
                chunk = numbers[start : start + _CHUNK]
                query = f"SELECT id, subsidiary FROM {table} WHERE id IN ({', '.join(chunk)}){condition}"
                for row in self._rows(query, f"the subsidiary of {record_type} records"):
                    subsidiary = str(row.get("subsidiary") or "").split(",")[0].strip()
                    if subsidiary.isdigit():
                        for ref in refs_by_id.get(str(row.get("id")), []):
                            found[ref] = subsidiary
        return found

    def _rows(self, query: str, what: str) -> list[dict]:
        try:
            rows = list(self._client.suiteql_rows(query))
        except RecordError as exc:
            msg = (f"reading {what} failed: SuiteQL refused ({exc.status} {exc.code}: {exc.detail[:160]}); stopped "
                   f"without advancing state")
            raise FatalError(msg) from None
        with self._lock:
            self.queries += 1
        return rows

    # --- customers shared with more subsidiaries ---------------------------------------------------------

    def relate(self, writes: Iterable[Write], *, resolver: ReferenceResolver, lookups: LookupResolver,
               ledger: WriteLedger | None, outcomes: StreamOutcomes) -> None:
        """Create the `customerSubsidiaryRelationship` records these customers' rule names and NetSuite lacks; one
        that cannot be made is the customer's relationship dead letter, the customers made whole reach the ledger
        (both through `outcomes`)."""

        def dead_letter(write: Write, code: str, detail: str, path: str) -> None:
            outcomes.dead_letter_part(RELATIONSHIP, write, code, detail, path)

        asked = {write.external_id: write for write in writes if write.action == "upsert" and additional(write.record)}
        if not asked:
            return
        hashes = {eid: _hash(additional(write.record)) for eid, write in asked.items()}
        if ledger is not None and ledger.skips:
            done = ledger.known(RELATIONSHIP, list(asked))
            asked = {eid: write for eid, write in asked.items() if done.get(eid) != hashes[eid]}
            if not asked:
                return
        wanted = self._subsidiary_ids(asked, lookups, dead_letter)
        customers = resolver.resolve({("customer", eid) for eid in wanted})
        internal = {eid: customers[("customer", eid)] for eid in wanted if ("customer", eid) in customers}
        if not internal:
            return  # customers not in NetSuite (parked, dead-lettered): their next write relates them
        held = self._held(list(internal.values()))
        primaries = {ref[1]: sub for ref, sub in self._parents_subsidiaries(
            {("customer", eid): internal_id for eid, internal_id in internal.items()}).items()}
        settled = []
        for eid, internal_id in internal.items():
            failed = False
            for subsidiary in wanted[eid]:
                if subsidiary == primaries.get(eid) or (internal_id, subsidiary) in held:
                    continue
                failed = not self._create(internal_id, subsidiary, asked[eid], dead_letter) or failed
            if not failed:
                settled.append((eid, hashes[eid]))
        outcomes.parts_written(RELATIONSHIP, settled)

    def _subsidiary_ids(self, asked: dict[str, Write], lookups: LookupResolver,
                        dead_letter: Callable[[Write, str, str, str], None]) -> dict[str, list[str]]:
        """Each customer's additional subsidiaries as internal ids; one that names no single subsidiary
        dead-letters that customer's relationships (LOOKUP_FAILED/LOOKUP_AMBIGUOUS naming the value)."""
        markers = [marker for write in asked.values() for _, marker in find_lookups(additional(write.record))
                   if unsupported(marker) is None]
        found = lookups.resolve(markers)
        wanted: dict[str, list[str]] = {}
        for eid, write in asked.items():
            ids: list[str] = []
            for index, value in enumerate(additional(write.record)):
                path = f"{ADDITIONAL_KEY}.additional[{index}]"
                if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"].isdigit():
                    ids.append(value["id"])
                    continue
                why = unsupported(value) if isinstance(value, dict) and value.keys() == {"type", "by", "value"} \
                    else "not a subsidiary reference"
                problem = ("LOOKUP_UNSUPPORTED", why) if why else lookups.problem(value, found[key_of(value)])
                if problem is not None:
                    dead_letter(write, problem[0], f"{path}: {problem[1]}", path)
                    break
                ids.append(found[key_of(value)][0])
            else:
                wanted[eid] = list(dict.fromkeys(ids))
        return wanted

    def _held(self, internal_ids: list[str]) -> set[tuple[str, str]]:
        """(customer, subsidiary) pairs NetSuite relates already (a person's, another run's, the primary)."""
        held: set[tuple[str, str]] = set()
        numbers = sorted({i for i in internal_ids if i.isdigit()}, key=int)
        for start in range(0, len(numbers), _CHUNK):
            query = ("SELECT entity, subsidiary FROM customersubsidiaryrelationship WHERE entity IN "
                     f"({', '.join(numbers[start : start + _CHUNK])})")
            held |= {(str(row.get("entity")), str(row.get("subsidiary")))
                     for row in self._rows(query, "customer subsidiary relationships")}
        return held

    def _create(self, customer: str, subsidiary: str, write: Write,
                dead_letter: Callable[[Write, str, str, str], None]) -> bool:
        body = {"entity": {"id": customer}, "subsidiary": {"id": subsidiary}}
        response = self._client.request("POST", f"{RECORD_PATH}/{RELATIONSHIP}", body=body)
        if response.status_code < 400:
            with self._lock:
                self.relationships_created += 1
            return True
        status, (code, detail, _) = response.status_code, error_details(response)
        if (customer, subsidiary) in self._held([customer]):  # a retried POST whose first answer was lost
            return True
        dead_letter(write, code, f"{RELATIONSHIP} of subsidiary {subsidiary}: {detail} ({status})", ADDITIONAL_KEY)
        return False


def additional(record: dict) -> list:
    """The subsidiaries a customer record asks to be shared with (none: [])."""
    value = record.get(ADDITIONAL_KEY)
    items = value.get("additional") if isinstance(value, dict) else None
    return items if isinstance(items, list) else []


def _hash(subsidiaries: list) -> str:
    return hashlib.sha256(json.dumps(subsidiaries, sort_keys=True, default=str).encode()).hexdigest()
