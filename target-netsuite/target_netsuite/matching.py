"""Adopting NetSuite records that exist without our external id, and keeping NetSuite's create-only fields.

Before a batch is written, `Matcher.prepare` asks NetSuite (batched SuiteQL, 200 external ids a query) which of
its external ids it already knows. Known records are updates: their `create_only_fields` are left out of the
body, whatever their value (an explicit null included). For the others, with `match_mode: adopt`, the record
type's match rules look for a record that a person or an earlier integration created:

- a rule is a list of fields; the first rule whose fields all have a value in the payload and that finds a
  candidate decides. Values are compared normalised (`normalise`); SuiteQL fetches a superset of the
  candidates (`UPPER`/`TRIM`/`REGEXP_REPLACE`, `LIKE`), one query per rule for up to 50 records, and the exact
  comparison is made here;
- exactly one candidate without an external id → adopt it: `PATCH .../<type>/<id> {"externalId": ...}`, then
  the usual `PUT eid:` upsert updates it (create-only fields left out). A kill between the two leaves a record
  that carries our external id: the rerun finds it by external id and upserts it; adopting twice sets the same
  value again. Never a second record;
- several candidates, one record claimed by two payloads of the batch → dead letter `AMBIGUOUS_MATCH`; the one
  candidate carries another external id → `MATCH_CONFLICT`; the candidates' internal ids are in the detail.
  Nothing is created for them and the run goes on;
- no candidate → the upsert creates the record.

`match_mode: create` skips the candidate search (an empty account); `match_mode: report` writes nothing, logs
and lists what would be adopted, created, updated, or is ambiguous (the target then emits no STATE either, so
the next real run sends the same records again). A SuiteQL failure here is fatal: without it the target cannot
tell an update from a create, nor find the records to adopt.
"""

from __future__ import annotations

import logging
import re
import threading
import typing as t
import unicodedata
from dataclasses import dataclass, field

from target_netsuite.client import RECORD_PATH, FatalError, RecordError, error_details
from target_netsuite.references import is_reference, suiteql_source

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from concurrent.futures import ThreadPoolExecutor

    from target_netsuite.client import NetSuiteClient
    from target_netsuite.dead_letters import RunSummary
    from target_netsuite.references import ReferenceResolver
    from target_netsuite.writes import Write

    DeadLetter = Callable[..., None]

MATCH_MODES = ("adopt", "create", "report")
AMBIGUOUS_MATCH = "AMBIGUOUS_MATCH"
MATCH_CONFLICT = "MATCH_CONFLICT"
# Shipped defaults (README: "Pointing it at a NetSuite account that is already in use"); a sales order is only
# ever ours, so it has no rule. A `match_rules` entry replaces the record type's default; `[]` switches it off.
DEFAULT_MATCH_RULES: dict[str, list[list[str]]] = {
    "customer": [["companyName"], ["email"], ["phone"]],
    "contact": [["email"], ["firstName", "lastName", "company"]],
    "nonInventorySaleItem": [["itemId"]],
    "salesOrder": [],
}
_EID_CHUNK = 200
_PROBE_CHUNK = 50
_LOGGER = logging.getLogger("target_netsuite.matching")

# Legal-form words dropped from the END of a company name ("Acme, Inc." == "ACME Inc" == "acme"). Only trailing
# words, and never the whole name: "Company Inc" stays "company".
LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company", "plc", "lp", "llp",
    "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "pty", "pte", "kk",
})
_NON_ALNUM = re.compile(r"[\W_]+")


def _fold(value: str) -> str:
    """Case and accents folded: "Müller" == "MULLER"."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise_company(value: str) -> str:
    """Case, accents, punctuation and surrounding/duplicate spaces ignored; trailing legal forms dropped."""
    words = _NON_ALNUM.sub(" ", _fold(value).replace("&", " and ")).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def normalise_email(value: str) -> str:
    return value.strip().casefold()


def normalise_phone(value: str) -> str:
    """Digits only, compared on the last 10 (so "+1 415-555-0100" == "(415) 555 0100"); shorter: all digits."""
    digits = re.sub(r"\D", "", value)
    return digits[-10:] if len(digits) >= 10 else digits


def normalise_text(value: str) -> str:
    return value.strip().casefold()


_PHONE_FIELDS = frozenset({"phone", "altPhone", "mobilePhone", "homePhone", "officePhone", "fax"})


def normaliser(field_name: str) -> Callable[[str], str]:
    if field_name == "companyName":
        return normalise_company
    if field_name in ("email", "altEmail"):
        return normalise_email
    if field_name in _PHONE_FIELDS:
        return normalise_phone
    return normalise_text


def _probe_word(name: str) -> str:
    """The word of a company name that SuiteQL looks for: the longest one written without accents (SuiteQL's
    UPPER keeps them), not a legal form; the exact comparison of the candidates is made afterwards."""
    words = [w for w in re.findall(r"\w+", name.casefold()) if w not in LEGAL_SUFFIXES] or [name.strip().casefold()]
    plain = [w for w in words if w.isascii()]
    return max(plain or words, key=len)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class MatchReport:
    """What `match_mode: report` found, for the JSON list written at the end of the run."""

    entries: list[dict[str, t.Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **entry: t.Any) -> None:
        with self._lock:
            self.entries.append(entry)


@dataclass
class _Decision:
    outcome: str  # "adopt", "create", AMBIGUOUS_MATCH, MATCH_CONFLICT
    candidates: list[str] = field(default_factory=list)
    rule: list[str] = field(default_factory=list)


class Matcher:
    """Built once per run from the settings; shared by every sink through the run's services."""

    def __init__(
        self,
        *,
        client: NetSuiteClient,
        resolver: ReferenceResolver,
        summary: RunSummary,
        executor: ThreadPoolExecutor,
        mode: str,
        rules: dict[str, list[list[str]]] | None,
        create_only: dict[str, list[str]] | None = None,
    ) -> None:
        if mode not in MATCH_MODES:
            msg = f"match_mode must be one of {', '.join(MATCH_MODES)}, got {mode!r}"
            raise FatalError(msg)
        self.client = client
        self.resolver = resolver
        self.summary = summary
        self.executor = executor
        self.mode = mode
        self.rules = {**DEFAULT_MATCH_RULES, **(rules or {})}
        for record_type, type_rules in self.rules.items():
            if not isinstance(type_rules, list) or not all(
                isinstance(rule, list) and rule and all(isinstance(name, str) for name in rule) for rule in type_rules
            ):
                msg = f"match_rules.{record_type} must be a list of non-empty lists of field names"
                raise FatalError(msg)
        self.create_only = {record_type: set(names) for record_type, names in (create_only or {}).items()}
        self.report = MatchReport()

    # --- the one step a sink calls -----------------------------------------------------------------------

    def prepare(self, stream: str, record_type: str, writes: list[Write], dead_letter: DeadLetter) -> list[Write]:
        """The writes to send: create-only fields out of updates, adoptions done; dead-lettered ones removed.
        In report mode nothing is sent and the list is empty."""
        upserts = [write for write in writes if write.action == "upsert"]
        if not upserts:
            return [] if self.mode == "report" else writes
        searching = self.mode != "create" and bool(self.rules.get(record_type))
        if self.mode != "report" and not searching and not self.create_only.get(record_type):
            return writes  # nothing to decide (e.g. sales orders): plain upserts, no extra query
        known = self._known(record_type, [write.external_id for write in upserts])
        unknown = [write for write in upserts if write.external_id not in known]
        decisions: dict[str, _Decision] = {}
        if searching and unknown:
            decisions = self._decide(record_type, unknown)
        if self.mode == "report":
            self._report(stream, record_type, upserts, known, decisions)
            return []
        adoptions = {eid: d.candidates[0] for eid, d in decisions.items() if d.outcome == "adopt"}
        adopted = self._adopt(stream, record_type, [w for w in unknown if w.external_id in adoptions], adoptions,
                              dead_letter)
        ready = []
        for write in writes:
            if write.action != "upsert":
                ready.append(write)
                continue
            decision = decisions.get(write.external_id)
            if decision is not None and decision.outcome in (AMBIGUOUS_MATCH, MATCH_CONFLICT):
                dead_letter(write.record, decision.outcome, self._detail(record_type, decision))
                continue
            if decision is not None and decision.outcome == "adopt" and write.external_id not in adopted:
                continue  # the adoption failed and was dead-lettered
            write.exists = write.external_id in known or write.external_id in adopted
            if write.exists:
                self._strip_create_only(stream, record_type, write)
            ready.append(write)
        return ready

    # --- existence ---------------------------------------------------------------------------------------

    def _query(self, query: str) -> Iterable[dict[str, t.Any]]:
        offset = 0
        while True:
            try:
                page = self.client.suiteql(query, limit=1000, offset=offset)
            except RecordError as exc:
                msg = (f"SuiteQL needed to match existing NetSuite records failed ({exc.code}: {exc.detail[:200]}); "
                       "the role needs SuiteQL access, or set match_mode: create and no create_only_fields")
                raise FatalError(msg) from None
            items = page.get("items", [])
            yield from items
            if not page.get("hasMore") or not items:
                return
            offset += len(items)

    def _known(self, record_type: str, external_ids: list[str]) -> dict[str, str]:
        """External id → internal id of the ones NetSuite has (this run's cache first, then SuiteQL)."""
        refs = [(record_type, eid) for eid in external_ids]
        known = {ref[1]: internal for ref, internal in self.resolver.known(refs).items()}
        missing = sorted(set(external_ids) - known.keys())
        table, condition = suiteql_source(record_type)
        for start in range(0, len(missing), _EID_CHUNK):
            chunk = missing[start : start + _EID_CHUNK]
            query = (f"SELECT id, externalid FROM {table} WHERE externalid IN ({', '.join(map(_quote, chunk))})"
                     f"{condition}")
            for row in self._query(query):
                if "externalid" in row and "id" in row:
                    known[str(row["externalid"])] = str(row["id"])
                    self.resolver.remember((record_type, str(row["externalid"])), str(row["id"]))
        return known

    # --- candidates --------------------------------------------------------------------------------------

    def _values(self, write: Write, rule: list[str]) -> dict[str, str] | None:
        """The rule's fields of a payload, normalised (references by internal id); None if one is empty."""
        values = {}
        for name in rule:
            raw = write.body.get(name)
            if is_reference(raw):
                key = next(iter(self.resolver.known([(raw["type"], raw["externalId"])]).values()), "")
            elif isinstance(raw, dict) and "id" in raw:
                key = str(raw["id"])
            elif isinstance(raw, str):
                key = normaliser(name)(raw)
            elif isinstance(raw, int) and not isinstance(raw, bool):
                key = str(raw)
            else:
                key = ""
            if not key:
                return None
            values[name] = key
        return values

    @staticmethod
    def _probe(name: str, key: str, raw: str, is_ref: bool) -> str:
        """A SuiteQL condition true for every row whose normalised `name` equals `key` (and maybe a few more)."""
        column = name.lower()
        if is_ref:
            return f"{column} = {_quote(key)}"
        if name == "companyName":
            return f"UPPER({column}) LIKE {_quote('%' + _probe_word(raw).upper() + '%')}"
        if name in _PHONE_FIELDS:
            return f"REGEXP_REPLACE({column}, '[^0-9]', '') LIKE {_quote('%' + key)}"
        return f"UPPER(TRIM({column})) = {_quote(key.upper())}"

    def _row_key(self, row: dict[str, t.Any], name: str, is_ref: bool) -> str:
        value = row.get(name.lower())
        if value is None:
            return ""
        return str(value) if is_ref else normaliser(name)(str(value))

    def _decide(self, record_type: str, writes: list[Write]) -> dict[str, _Decision]:
        decisions: dict[str, _Decision] = {}
        table, condition = suiteql_source(record_type)
        pending = list(writes)
        for rule in self.rules.get(record_type, []):
            self.resolver.resolve({(value["type"], value["externalId"]) for write in pending for name in rule
                                   if is_reference(value := write.body.get(name))})
            wanted = [(write, values) for write in pending if (values := self._values(write, rule)) is not None]
            refs = {name for name in rule if any(isinstance(w.body.get(name), dict) for w, _ in wanted)}
            probe_field = next((name for name in rule if name in refs), rule[0])
            columns = ", ".join(["id", "externalid", *sorted({name.lower() for name in rule})])
            for start in range(0, len(wanted), _PROBE_CHUNK):
                chunk = wanted[start : start + _PROBE_CHUNK]
                probes = sorted({self._probe(probe_field, values[probe_field], str(write.body.get(probe_field)),
                                             probe_field in refs) for write, values in chunk})
                query = f"SELECT {columns} FROM {table} WHERE ({' OR '.join(probes)}){condition}"
                rows = list(self._query(query))
                for write, values in chunk:
                    hits = [row for row in rows
                            if all(self._row_key(row, name, name in refs) == values[name] for name in rule)]
                    if hits:
                        decisions[write.external_id] = self._judge(write.external_id, hits, rule)
            pending = [write for write in pending if write.external_id not in decisions]
        for write in pending:
            decisions[write.external_id] = _Decision("create")
        claimed: dict[str, list[str]] = {}
        for eid, decision in decisions.items():
            if decision.outcome == "adopt":
                claimed.setdefault(decision.candidates[0], []).append(eid)
        for internal_id, eids in claimed.items():
            if len(eids) > 1:
                for eid in eids:
                    decisions[eid] = _Decision(AMBIGUOUS_MATCH, [internal_id], decisions[eid].rule)
        return decisions

    @staticmethod
    def _judge(external_id: str, hits: list[dict[str, t.Any]], rule: list[str]) -> _Decision:
        ids = sorted({str(row["id"]) for row in hits}, key=lambda value: (len(value), value))
        if len(ids) > 1:
            return _Decision(AMBIGUOUS_MATCH, ids, rule)
        other = hits[0].get("externalid")
        if other is not None and str(other) != external_id:
            return _Decision(MATCH_CONFLICT, ids, rule)
        return _Decision("adopt", ids, rule)

    @staticmethod
    def _detail(record_type: str, decision: _Decision) -> str:
        rule = "+".join(decision.rule)
        if decision.outcome == MATCH_CONFLICT:
            return (f"the {record_type} that matches on {rule} (internal id {decision.candidates[0]}) already "
                    "carries another external id; not adopted, not created")
        if len(decision.candidates) == 1:
            return (f"{record_type} internal id {decision.candidates[0]} matches on {rule}, and so does another "
                    "record of this batch; not adopted, not created")
        return (f"{len(decision.candidates)} {record_type} records match on {rule}: internal ids "
                f"{', '.join(decision.candidates)}; not adopted, not created")

    # --- adopting ----------------------------------------------------------------------------------------

    def _adopt_one(self, record_type: str, external_id: str, internal_id: str) -> None:
        response = self.client.request("PATCH", f"{RECORD_PATH}/{record_type}/{internal_id}",
                                       body={"externalId": external_id})
        if response.status_code >= 400:
            raise RecordError(response.status_code, *error_details(response))

    def _adopt(self, stream: str, record_type: str, writes: list[Write], adoptions: dict[str, str],
               dead_letter: DeadLetter) -> set[str]:
        """Give each chosen record our external id, concurrently; a refusal is that record's dead letter."""
        futures = {write.external_id: self.executor.submit(self._adopt_one, record_type, write.external_id,
                                                           adoptions[write.external_id]) for write in writes}
        adopted: set[str] = set()
        fatal: BaseException | None = None
        for write in writes:
            error = futures[write.external_id].exception()
            if error is None:
                adopted.add(write.external_id)
                self.resolver.remember((record_type, write.external_id), adoptions[write.external_id])
                self.summary.add(stream, "adopted")
                _LOGGER.info("Adopted %s %s as externalId %s", record_type, adoptions[write.external_id],
                             write.external_id)
            elif isinstance(error, RecordError):
                dead_letter(write.record, error.code, f"adopting {record_type} {adoptions[write.external_id]}: "
                            f"{error.detail}", status=error.status, path=error.path)
            elif fatal is None:
                fatal = error
        if fatal is not None:
            raise fatal if isinstance(fatal, FatalError) else FatalError(f"{type(fatal).__name__}: {fatal}")
        return adopted

    def _strip_create_only(self, stream: str, record_type: str, write: Write) -> None:
        owned = self.create_only.get(record_type)
        if not owned:
            return
        dropped = [name for name in write.body if name in owned]
        if not dropped:
            return
        write.body = {name: value for name, value in write.body.items() if name not in owned}
        write.replace = [name for name in write.replace if name in write.body]
        write.refs = [(path, ref) for path, ref in write.refs if re.split(r"[.\[]", path, maxsplit=1)[0] in write.body]
        self.summary.add(stream, "create_only_skipped", len(dropped))

    # --- report mode -------------------------------------------------------------------------------------

    def _report(self, stream: str, record_type: str, writes: list[Write], known: dict[str, str],
                decisions: dict[str, _Decision]) -> None:
        for write in writes:
            if write.external_id in known:
                outcome, ids = "update", [known[write.external_id]]
            else:
                decision = decisions.get(write.external_id, _Decision("create"))
                outcome, ids = decision.outcome, decision.candidates
            key = {"update": "would_update", "create": "would_create", "adopt": "would_adopt"}.get(outcome, outcome)
            self.summary.add(stream, key)
            self.report.add(record_type=record_type, externalId=write.external_id, outcome=key,
                            internal_ids=ids, name=_label(write.body))
            _LOGGER.info("match report: %s %s %s %s", record_type, write.external_id, key, ",".join(ids))


def _label(body: dict[str, t.Any]) -> str | None:
    """A human-readable name of the payload for the report list."""
    for name in ("companyName", "itemId", "entityId", "email", "lastName", "memo"):
        if isinstance(body.get(name), str):
            return body[name]
    return None
