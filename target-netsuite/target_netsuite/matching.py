"""Adopting NetSuite records that exist without our external id, and keeping NetSuite's create-only fields.

Before a batch is written, `Matcher.prepare` asks NetSuite (batched SuiteQL, 200 external ids a query) which of
its external ids it already knows. Known records are updates: their `create_only_fields` are left out of the
body, whatever their value (an explicit null included). For the others, with `match_mode: adopt` (or
`approved`), the record type's match rules look for a record that a person or an earlier integration created.

The invariant: **only a record without an external id is ever adopted, and only when it is the same thing.**

- a NetSuite record whose external id has the form of a Salesforce Id of the mapped object (15/18 characters with
  the object's key prefix: `001` Account → customer, `003` Contact, `01t` Product2, `006` Opportunity) is another
  Salesforce record, ours: it is never a candidate (a new Account named like one already synced is created, never
  blocked). Any other external id is another integration's: a corroborated candidate carrying one is a
  `MATCH_CONFLICT` (a person decides), never adopted;
- a rule is a list of fields (`match_rules`); values are compared normalised (`match_keys`), a placeholder value
  (000-000-0000, `ap@...`, "n/a", `match_placeholders`) never matches. A rule may need corroboration
  (`match_corroboration`, per rule): the candidate must also agree on one of the listed fields (customer name:
  phone, city, postal code or web/email domain; contact email: the same company; a contact is moved to another
  company never).
  City and postal code come from the candidate's address book (one GET of the candidate). Items match only
  within the record type's item type (`itemtype`). SuiteQL fetches a superset; the exact comparison is here;
- the first rule that leaves a candidate decides: exactly one, without an external id, active, in the payload's
  subsidiary → adopt it (`PATCH .../<type>/<id> {"externalId": ...}`, then the usual `PUT eid:` upsert; a kill
  between the two leaves a record carrying our external id, which the rerun finds and upserts: never a second
  record). Several → `AMBIGUOUS_MATCH` (also when two payloads of a batch claim one record); inactive →
  `MATCH_INACTIVE`, another subsidiary → `MATCH_OTHER_SUBSIDIARY`: dead letters naming the candidates, nothing
  created, nothing reactivated or moved; the run goes on. No candidate → the upsert creates the record.

`match_mode: create` skips the candidate search (an empty account). `match_mode: report` judges the same way and
writes nothing (match_report.py). `match_mode: approved` adopts only the pairs an administrator approved in
`match_approvals_path` (the report file with `decision` set to `adopt`, `create` or `skip` per record); an
unapproved adoption is held back as `MATCH_NOT_APPROVED`, a skipped record is `MATCH_SKIPPED`. A SuiteQL failure
here is fatal: without it the target cannot tell an update from a create, nor find the records to adopt.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from target_netsuite.client import RECORD_PATH, FatalError, RecordError, error_details
from target_netsuite.lookups import is_lookup, key_of, unsupported
from target_netsuite.match_keys import (
    LEGAL_FORMS,
    PHONE_FIELDS,
    SALESFORCE_KEY_PREFIXES,
    Placeholders,
    domain,
    fold,
    normalise_company,
    normalise_email,
    normalise_phone,
    normalise_text,
    normaliser,
    owned_external_id,
)
from target_netsuite.references import is_reference, suiteql_source

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from concurrent.futures import ThreadPoolExecutor

    from target_netsuite.client import NetSuiteClient
    from target_netsuite.lookups import LookupResolver
    from target_netsuite.outcomes import Outcomes
    from target_netsuite.references import ReferenceResolver
    from target_netsuite.writes import Write

    DeadLetter = Callable[..., None]

__all__ = ["SALESFORCE_KEY_PREFIXES", "Matcher", "normalise_company", "normalise_email", "normalise_phone",
           "normalise_text", "owned_external_id"]

MATCH_MODES = ("adopt", "create", "report", "approved")
AMBIGUOUS_MATCH = "AMBIGUOUS_MATCH"
MATCH_CONFLICT = "MATCH_CONFLICT"
MATCH_INACTIVE = "MATCH_INACTIVE"
MATCH_OTHER_SUBSIDIARY = "MATCH_OTHER_SUBSIDIARY"
MATCH_NOT_APPROVED = "MATCH_NOT_APPROVED"
MATCH_SKIPPED = "MATCH_SKIPPED"
# Record-level decisions waiting for a person, never account errors.
DECISION_CODES = (AMBIGUOUS_MATCH, MATCH_CONFLICT, MATCH_INACTIVE, MATCH_OTHER_SUBSIDIARY, MATCH_NOT_APPROVED,
                  MATCH_SKIPPED)
# Shipped defaults (README: "Pointing it at a NetSuite account that is already in use"); a sales order is only
# ever ours, so it has no rule. A `match_rules` entry replaces the record type's default; `[]` switches it off.
DEFAULT_MATCH_RULES: dict[str, list[list[str]]] = {
    "customer": [["companyName"], ["email"], ["phone"]],
    "contact": [["email"], ["firstName", "lastName", "company"]],
    "nonInventorySaleItem": [["itemId"]],
    "salesOrder": [],
}
# Per record type, per rule ("+"-joined fields): the candidate must also agree on one of these ("a+b": on all of
# them). A rule not listed needs none. `match_corroboration` replaces a record type's entry.
CORROBORATORS = ("phone", "city", "zip", "domain", "company", "firstName", "lastName", "email")
DEFAULT_CORROBORATION: dict[str, dict[str, list[str]]] = {
    "customer": {"companyName": ["phone", "city", "zip", "domain"], "phone": ["domain"]},
    "contact": {"email": ["company"]},
}
# The `item` table holds every item type; a record type matches only its own.
ITEM_TYPES = {"nonInventorySaleItem": "NonInvtPart", "inventoryItem": "InvtPart", "serviceSaleItem": "Service",
              "otherChargeSaleItem": "OthCharge", "assemblyItem": "Assembly", "kitItem": "Kit",
              "discountItem": "Discount"}
_CANDIDATE_COLUMNS = {
    "customer": ("companyname", "phone", "url", "email", "isinactive", "subsidiary"),
    "contact": ("firstname", "lastname", "email", "company", "phone", "isinactive", "subsidiary"),
    "item": ("itemid", "itemtype", "isinactive"),
    "transaction": ("entity", "trandate", "memo", "otherrefnum", "subsidiary"),
}
_EID_CHUNK = 200
_PROBE_CHUNK = 50
_LOGGER = logging.getLogger("target_netsuite.matching")


def _probe_pattern(name: str) -> str:
    """The LIKE pattern SuiteQL looks for in the upper-cased name without punctuation: one word of the name (the
    one with most consonants, not a legal form or abbreviation) with every vowel and accented letter a wildcard,
    so transliterations (ü = ue = u) and accents on either side are found; the exact comparison is made here."""
    joined = re.sub("['\u2019`\u00b4./]", "", name.casefold())
    words = re.findall(r"\w+", joined)
    useful = [w for w in words if w not in LEGAL_FORMS and w not in ("the", "and") and w not in _ABBREVIATED] or words
    if not useful:
        return "%"

    def consonants(word: str) -> int:
        return sum(1 for ch in word if ch.isascii() and ch.isalnum() and ch not in "aeiouy")

    word = max(useful, key=consonants)
    pattern = "".join(ch.upper() if ch.isascii() and ch.isalnum() and ch not in "aeiouy" else "%" for ch in word)
    return "%" + re.sub("%+", "%", pattern).strip("%") + "%"


_ABBREVIATED = frozenset({"intl", "mfg", "mfrs", "svcs", "svc", "srvcs", "bros", "assoc", "assn", "dept", "grp",
                          "hldgs", "natl", "tech", "techs", "sys", "univ", "mgmt", "dist", "distr", "eng", "ind",
                          "inds", "international", "manufacturing", "services", "service", "brothers",
                          "associates", "technology", "systems", "management", "industries"})


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _place_key(value: str) -> str:
    return re.sub(r"[\W_]+", "", fold(value))


def _zip_key(value: str) -> str:
    key = re.sub(r"[\W_]+", "", value).upper()
    return key[:5] if key[:5].isdigit() else key


def addresses(record: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    book = record.get("addressbook") or record.get("addressBook") or {}
    items = book.get("items", []) if isinstance(book, dict) else book if isinstance(book, list) else []
    found = []
    for item in items:
        if isinstance(item, dict):
            address = item.get("addressbookaddress") or item.get("addressBookAddress") or {}
            if isinstance(address, dict):
                found.append(address)
    return found


@dataclass
class Decision:
    outcome: str  # "adopt", "create", or one of DECISION_CODES
    candidates: list[str] = field(default_factory=list)
    rule: list[str] = field(default_factory=list)
    corroborated_by: str | None = None
    rows: dict[str, dict[str, t.Any]] = field(default_factory=dict)  # candidate internal id → SuiteQL row
    passed_over: list[str] = field(default_factory=list)  # same key, but ours or not corroborated


@dataclass
class _Rule:
    fields: list[str]
    corroborators: list[list[str]]

    @property
    def name(self) -> str:
        return "+".join(self.fields)


class Matcher:
    """Built once per run from the settings; shared by every sink through the run's services."""

    def __init__(
        self,
        *,
        client: NetSuiteClient,
        resolver: ReferenceResolver,
        outcomes: Outcomes,
        executor: ThreadPoolExecutor,
        mode: str,
        rules: dict[str, list[list[str]]] | None,
        create_only: dict[str, list[str]] | None = None,
        corroboration: dict[str, dict[str, list[str]]] | None = None,
        placeholders: list[str] | None = None,
        approvals_path: str | None = None,
        before_adopting: Callable[[str, list[str]], None] | None = None,
        lookups: LookupResolver | None = None,
    ) -> None:
        if mode not in MATCH_MODES:
            msg = f"match_mode must be one of {', '.join(MATCH_MODES)}, got {mode!r}"
            raise FatalError(msg)
        self.client = client
        self.resolver = resolver
        self.lookups = lookups  # a subsidiary given by name (subsidiary routing) is compared by its internal id
        self.outcomes = outcomes
        self.executor = executor
        self.mode = mode
        self.before_adopting = before_adopting  # told (and done) before an adoption is sent: the merge's mark
        all_rules = {**DEFAULT_MATCH_RULES, **(rules or {})}
        for record_type, type_rules in all_rules.items():
            if not isinstance(type_rules, list) or not all(
                isinstance(rule, list) and rule and all(isinstance(name, str) for name in rule) for rule in type_rules
            ):
                msg = f"match_rules.{record_type} must be a list of non-empty lists of field names"
                raise FatalError(msg)
        corroborate = {**DEFAULT_CORROBORATION, **(corroboration or {})}
        for record_type, by_rule in corroborate.items():
            for rule_name, names in (by_rule or {}).items():
                bad = [n for name in names for n in name.split("+") if n not in CORROBORATORS]
                if bad:
                    msg = (f"match_corroboration.{record_type}.{rule_name}: unknown field {bad[0]!r} "
                           f"(one of {', '.join(CORROBORATORS)}, or several joined by +)")
                    raise FatalError(msg)
        self.rules = {
            record_type: [_Rule(rule, [name.split("+") for name in (corroborate.get(record_type) or {})
                                       .get("+".join(rule), [])]) for rule in type_rules]
            for record_type, type_rules in all_rules.items()
        }
        self.placeholders = Placeholders(placeholders or ())
        self.create_only = {record_type: set(names) for record_type, names in (create_only or {}).items()}
        self.approvals = self._load_approvals(approvals_path) if mode == "approved" else {}
        self._fetched: dict[tuple[str, str], dict[str, t.Any] | None] = {}  # candidates read (GET) this run
        self._lock = threading.Lock()

    @staticmethod
    def _load_approvals(path: str | None) -> dict[tuple[str, str], dict[str, t.Any]]:
        """The administrator's decisions: a match report whose records carry `decision` (adopt/create/skip)."""
        if not path:
            msg = "match_mode approved needs match_approvals_path (a match report with a decision per record)"
            raise FatalError(msg)
        try:
            records = json.loads(Path(path).read_text(encoding="utf-8"))["records"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            msg = f"match_approvals_path {path}: not a match report with a records list ({type(exc).__name__})"
            raise FatalError(msg) from None
        approvals: dict[tuple[str, str], dict[str, t.Any]] = {}
        for index, entry in enumerate(records):
            decision = entry.get("decision") if isinstance(entry, dict) else None
            if decision is None:
                continue
            internal = entry.get("approved_internal_id") or (entry.get("internal_ids") or [None])[0]
            if decision not in ("adopt", "create", "skip") or (decision == "adopt" and not internal):
                msg = (f"match_approvals_path {path}: record {index + 1} ({entry.get('externalId')}): decision must "
                       "be adopt (with an internal id), create or skip")
                raise FatalError(msg)
            approvals[(str(entry.get("record_type")), str(entry.get("externalId")))] = {
                "decision": decision, "internal_id": str(internal) if internal else None}
        return approvals

    # --- the one step a sink calls -----------------------------------------------------------------------

    def prepare(self, stream: str, record_type: str, writes: list[Write], dead_letter: DeadLetter) -> list[Write]:
        """The writes to send: create-only fields out of updates, adoptions done; dead-lettered ones removed."""
        upserts = [write for write in writes if write.action == "upsert"]
        if not upserts or not (self._searches(record_type) or self.create_only.get(record_type)):
            return writes  # nothing to decide (e.g. sales orders): plain upserts, no extra query
        known, unknown, decisions = self._decisions(record_type, upserts)
        adoptions = {eid: d.candidates[0] for eid, d in decisions.items() if d.outcome == "adopt"}
        adopted = self._adopt(stream, record_type, [w for w in unknown if w.external_id in adoptions], adoptions,
                              dead_letter)
        ready = []
        for write in writes:
            if write.action != "upsert":
                ready.append(write)
                continue
            decision = decisions.get(write.external_id)
            if decision is not None and decision.outcome in DECISION_CODES:
                dead_letter(write.record, decision.outcome, self._detail(record_type, decision))
                continue
            if decision is not None and decision.outcome == "adopt" and write.external_id not in adopted:
                continue  # the adoption failed and was dead-lettered
            write.exists = write.external_id in known or write.external_id in adopted
            write.adopted = write.external_id in adopted
            if write.exists:
                self._strip_create_only(stream, record_type, write)
            ready.append(write)
        return ready

    def _searches(self, record_type: str) -> bool:
        return self.mode != "create" and bool(self.rules.get(record_type))

    def _decisions(self, record_type: str, upserts: list[Write]
                   ) -> tuple[dict[str, str], list[Write], dict[str, Decision]]:
        """(external id → internal id of the upserts NetSuite holds, the others, a decision per other)."""
        known = self._known(record_type, [write.external_id for write in upserts])
        unknown = [write for write in upserts if write.external_id not in known]
        decisions: dict[str, Decision] = {}
        if self._searches(record_type) and unknown:
            decisions = self._decide(record_type, unknown)
        if self.mode == "approved":
            decisions = self._apply_approvals(record_type, unknown, decisions)
        return known, unknown, decisions

    # --- existence ---------------------------------------------------------------------------------------

    def _query(self, query: str) -> Iterable[dict[str, t.Any]]:
        try:
            yield from self.client.suiteql_rows(query)
        except RecordError as exc:
            msg = (f"SuiteQL needed to match existing NetSuite records failed ({exc.code}: {exc.detail[:200]}); "
                   "the role needs SuiteQL access, or set match_mode: create and no create_only_fields")
            raise FatalError(msg) from None

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

    def _reference_id(self, raw: t.Any) -> str:
        """Internal id of a reference value: known to NetSuite, or (report mode) adopted earlier in this run."""
        if is_reference(raw):
            ref = (raw["type"], raw["externalId"])
            found = next(iter(self.resolver.known([ref]).values()), "")
            return found or self._planned_adoption(ref)
        if isinstance(raw, dict) and "id" in raw:
            return str(raw["id"])
        if self.lookups is not None and is_lookup(raw) and unsupported(raw) is None:
            named = self.lookups.resolve([raw])[key_of(raw)]
            return named[0] if len(named) == 1 else ""
        return ""

    def _planned_adoption(self, ref: tuple[str, str]) -> str:
        """The internal id a record not in NetSuite by this external id will be adopted as ("": none known)."""
        return ""

    def _values(self, write: Write, rule: list[str]) -> dict[str, str] | None:
        """The rule's fields of a payload, normalised (references by internal id); None if one is empty or a
        placeholder."""
        values = {}
        for name in rule:
            raw = write.body.get(name)
            if isinstance(raw, dict):
                key = self._reference_id(raw)
            elif isinstance(raw, str):
                key = normaliser(name)(raw)
                if self.placeholders.is_placeholder(name, key, raw):
                    return None
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
            return f"UPPER(REGEXP_REPLACE({column}, '[^A-Za-z0-9]', '')) LIKE {_quote(_probe_pattern(raw))}"
        if name in PHONE_FIELDS:
            return f"REGEXP_REPLACE({column}, '[^0-9]', '') LIKE {_quote('%' + key + '%')}"
        return f"UPPER(TRIM({column})) = {_quote(key.upper())}"

    def _row_key(self, row: dict[str, t.Any], name: str, is_ref: bool) -> str:
        value = row.get(name.lower())
        if value is None:
            return ""
        return str(value) if is_ref else normaliser(name)(str(value))

    def _source(self, record_type: str) -> tuple[str, str]:
        table, condition = suiteql_source(record_type)
        if table == "item" and record_type in ITEM_TYPES:
            condition += f" AND itemtype = {_quote(ITEM_TYPES[record_type])}"
        return table, condition

    def _decide(self, record_type: str, writes: list[Write]) -> dict[str, Decision]:
        decisions: dict[str, Decision] = {}
        table, condition = self._source(record_type)
        pending = list(writes)
        passed_over: dict[str, list[str]] = {}
        for rule in self.rules.get(record_type, []):
            self.resolver.resolve({(value["type"], value["externalId"]) for write in pending for name in rule.fields
                                   if is_reference(value := write.body.get(name))})
            wanted = [(write, values) for write in pending if (values := self._values(write, rule.fields)) is not None]
            refs = {name for name in rule.fields if any(isinstance(w.body.get(name), dict) for w, _ in wanted)}
            probe_field = next((name for name in rule.fields if name in refs), rule.fields[0])
            wanted_columns = {name.lower() for name in rule.fields}
            wanted_columns |= set(_CANDIDATE_COLUMNS.get(table, ("isinactive",)))
            columns = ", ".join(["id", "externalid", *sorted(wanted_columns)])
            for start in range(0, len(wanted), _PROBE_CHUNK):
                chunk = wanted[start : start + _PROBE_CHUNK]
                probes = sorted({self._probe(probe_field, values[probe_field], str(write.body.get(probe_field)),
                                             probe_field in refs) for write, values in chunk})
                query = f"SELECT {columns} FROM {table} WHERE ({' OR '.join(probes)}){condition}"
                rows = list(self._query(query))
                for write, values in chunk:
                    hits = [row for row in rows
                            if all(self._row_key(row, name, name in refs) == values[name] for name in rule.fields)]
                    candidates, skipped = self._candidates(record_type, write, hits, rule)
                    passed_over.setdefault(write.external_id, []).extend(skipped)
                    if candidates:
                        decisions[write.external_id] = self._judge(write, candidates, rule)
            pending = [write for write in pending if write.external_id not in decisions]
        for write in pending:
            decisions[write.external_id] = Decision("create")
        for eid, decision in decisions.items():
            decision.passed_over = sorted(set(passed_over.get(eid, [])), key=lambda v: (len(v), v))
        claimed: dict[str, list[str]] = {}
        for eid, decision in decisions.items():
            if decision.outcome == "adopt":
                claimed.setdefault(decision.candidates[0], []).append(eid)
        for internal_id, eids in claimed.items():
            if len(eids) > 1:
                for eid in eids:
                    old = decisions[eid]
                    decisions[eid] = Decision(AMBIGUOUS_MATCH, [internal_id], old.rule, old.corroborated_by,
                                               old.rows)
        return decisions

    def _candidates(self, record_type: str, write: Write, hits: list[dict[str, t.Any]], rule: _Rule
                    ) -> tuple[list[tuple[dict[str, t.Any], str | None]], list[str]]:
        """The hits that are candidates, each with the field that corroborates it; and the internal ids passed
        over (records of ours, uncorroborated look-alikes)."""
        candidates: list[tuple[dict[str, t.Any], str | None]] = []
        skipped: list[str] = []
        for row in hits:
            other = row.get("externalid")
            if other is not None and str(other) != write.external_id and owned_external_id(record_type, str(other)):
                skipped.append(str(row["id"]))  # another Salesforce record of ours: never a candidate
                continue
            if not rule.corroborators:
                candidates.append((row, None))
                continue
            agreeing = self._corroboration(record_type, write, row, rule)
            if agreeing is None:
                skipped.append(str(row["id"]))
            else:
                candidates.append((row, agreeing))
        return candidates, skipped

    def _payload_corroborators(self, write: Write) -> dict[str, set[str]]:
        body = write.body
        found: dict[str, set[str]] = {"phone": set(), "city": set(), "zip": set(), "domain": set(), "company": set(),
                                      "firstName": set(), "lastName": set(), "email": set()}
        for name in ("phone", "altPhone", "mobilePhone"):
            raw = body.get(name)
            if isinstance(raw, str) and not self.placeholders.is_placeholder(name, normalise_phone(raw), raw):
                found["phone"].add(normalise_phone(raw))
        for name in ("url", "email"):
            raw = body.get(name)
            if isinstance(raw, str) and not (name == "email" and self.placeholders.email(normalise_email(raw))):
                found["domain"].add(domain(raw))
        raw_email = body.get("email")
        if isinstance(raw_email, str) and not self.placeholders.email(normalise_email(raw_email)):
            found["email"].add(normalise_email(raw_email))
        for address in addresses(body):
            if isinstance(address.get("city"), str):
                found["city"].add(_place_key(address["city"]))
            if isinstance(address.get("zip"), str):
                found["zip"].add(_zip_key(address["zip"]))
        company = self._reference_id(body.get("company"))
        if company:
            found["company"].add(company)
        for name in ("firstName", "lastName"):
            if isinstance(body.get(name), str):
                found[name].add(normalise_text(body[name]))
        return {name: {v for v in values if v and not self.placeholders.is_placeholder(name, v, v)}
                for name, values in found.items()}

    def _row_corroborators(self, row: dict[str, t.Any], record: dict[str, t.Any] | None) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {
            "phone": {normalise_phone(str(row["phone"]))} if row.get("phone") else set(),
            "domain": {domain(str(row[c])) for c in ("url", "email") if row.get(c)},
            "email": {normalise_email(str(row["email"]))} if row.get("email") else set(),
            "company": {str(row["company"])} if row.get("company") else set(),
            "firstName": {normalise_text(str(row["firstname"]))} if row.get("firstname") else set(),
            "lastName": {normalise_text(str(row["lastname"]))} if row.get("lastname") else set(),
            "city": set(), "zip": set(),
        }
        for address in addresses(record or {}):
            if isinstance(address.get("city"), str):
                found["city"].add(_place_key(address["city"]))
            if isinstance(address.get("zip"), str):
                found["zip"].add(_zip_key(address["zip"]))
        return found

    def _corroboration(self, record_type: str, write: Write, row: dict[str, t.Any], rule: _Rule) -> str | None:
        """The first corroborator on which payload and candidate agree (a placeholder never agrees); None."""
        mine = self._payload_corroborators(write)
        needs_address = any(name in ("city", "zip") for group in rule.corroborators for name in group)
        record = None
        for attempt in ("row", "record"):
            if attempt == "record":
                if not needs_address or not (mine["city"] or mine["zip"]):
                    return None
                record = self._fetch(record_type, str(row["id"]))
            theirs = self._row_corroborators(row, record)
            for group in rule.corroborators:
                if all(mine[name] & theirs[name] for name in group):
                    return "+".join(group)
        return None

    def _fetch(self, record_type: str, internal_id: str) -> dict[str, t.Any] | None:
        """The candidate as NetSuite holds it, address book included (None when it cannot be read); read once
        a run."""
        with self._lock:
            if (record_type, internal_id) in self._fetched:
                return self._fetched[(record_type, internal_id)]
        response = self.client.request("GET", f"{RECORD_PATH}/{record_type}/{internal_id}",
                                       params={"expandSubResources": "true"})
        if response.status_code >= 400:
            _LOGGER.warning("could not read %s %s for matching (HTTP %s)", record_type, internal_id,
                            response.status_code)
            return None
        body = response.json()
        record = body if isinstance(body, dict) else None
        with self._lock:
            self._fetched[(record_type, internal_id)] = record
        return record

    def _judge(self, write: Write, candidates: list[tuple[dict[str, t.Any], str | None]], rule: _Rule) -> Decision:
        rows = {str(row["id"]): row for row, _ in candidates}
        ids = sorted(rows, key=lambda value: (len(value), value))
        corroborated_by = candidates[0][1]
        if len(ids) > 1:
            return Decision(AMBIGUOUS_MATCH, ids, rule.fields, corroborated_by, rows)
        row = rows[ids[0]]
        other = row.get("externalid")
        if other is not None and str(other) != write.external_id:
            return Decision(MATCH_CONFLICT, ids, rule.fields, corroborated_by, rows)
        if row.get("isinactive") == "T":
            return Decision(MATCH_INACTIVE, ids, rule.fields, corroborated_by, rows)
        subsidiary = self._reference_id(write.body.get("subsidiary"))
        if subsidiary and row.get("subsidiary") is not None and str(row["subsidiary"]) != subsidiary:
            return Decision(MATCH_OTHER_SUBSIDIARY, ids, rule.fields, corroborated_by, rows)
        return Decision("adopt", ids, rule.fields, corroborated_by, rows)

    def _apply_approvals(self, record_type: str, writes: list[Write], decisions: dict[str, Decision]
                         ) -> dict[str, Decision]:
        """`match_mode: approved`: an adoption happens only as approved; a skip is held back."""
        result = dict(decisions)
        for write in writes:
            approval = self.approvals.get((record_type, write.external_id))
            found = decisions.get(write.external_id, Decision("create"))
            if approval is None:
                if found.outcome == "adopt":
                    result[write.external_id] = Decision(MATCH_NOT_APPROVED, found.candidates, found.rule,
                                                          found.corroborated_by, found.rows)
                continue
            if approval["decision"] == "skip":
                result[write.external_id] = Decision(MATCH_SKIPPED, found.candidates, found.rule)
            elif approval["decision"] == "create":
                result[write.external_id] = Decision("create")
            else:
                internal = approval["internal_id"]
                result[write.external_id] = self._approved_adoption(record_type, write, internal, found)
        return result

    def _approved_adoption(self, record_type: str, write: Write, internal: str, found: Decision) -> Decision:
        """The approved record, if it still carries no external id but ours (never take another's record)."""
        table, condition = self._source(record_type)
        rows = list(self._query(f"SELECT id, externalid FROM {table} WHERE id = {_quote(internal)}{condition}"))
        other = rows[0].get("externalid") if rows else None
        if not rows:
            return Decision(MATCH_CONFLICT, [internal], found.rule)
        if other is not None and str(other) != write.external_id:
            return Decision(MATCH_CONFLICT, [internal], found.rule)
        return Decision("adopt", [internal], found.rule, found.corroborated_by, found.rows)

    @staticmethod
    def _detail(record_type: str, decision: Decision) -> str:
        rule = "+".join(decision.rule) or "approval"
        first = decision.candidates[0] if decision.candidates else "?"
        if decision.outcome == MATCH_CONFLICT:
            return (f"the {record_type} that matches on {rule} (internal id {first}) already carries another "
                    "integration's external id; not adopted, not created")
        if decision.outcome == MATCH_INACTIVE:
            return (f"the {record_type} that matches on {rule} (internal id {first}) is inactive; not reactivated, "
                    "not created: reactivate it or tell it apart, then replay")
        if decision.outcome == MATCH_OTHER_SUBSIDIARY:
            return (f"the {record_type} that matches on {rule} (internal id {first}) is in another subsidiary; "
                    "not moved, not created")
        if decision.outcome == MATCH_NOT_APPROVED:
            return (f"{record_type} internal id {first} matches on {rule}; match_mode approved and this adoption is "
                    "not approved; not adopted, not created")
        if decision.outcome == MATCH_SKIPPED:
            return f"skipped as approved in match_approvals_path; nothing written (candidates {first})"
        if len(decision.candidates) == 1:
            return (f"{record_type} internal id {first} matches on {rule}, and so does another "
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
        if writes and self.before_adopting is not None:
            self.before_adopting(record_type, [write.external_id for write in writes])
        futures = {write.external_id: self.executor.submit(self._adopt_one, record_type, write.external_id,
                                                           adoptions[write.external_id]) for write in writes}
        adopted: set[str] = set()
        fatal: BaseException | None = None
        for write in writes:
            error = futures[write.external_id].exception()
            if error is None:
                adopted.add(write.external_id)
                self.resolver.remember((record_type, write.external_id), adoptions[write.external_id])
                self.outcomes.count(stream, "adopted")
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
        self.outcomes.count(stream, "create_only_skipped", len(dropped))
