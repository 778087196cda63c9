"""Soak with every feature on at once: real `meltano run`s under kills, faults and concurrent edits, then an oracle.

    .venv/bin/python bench/soak.py [--cycles 12] [--seed 23] [--minutes 15] [--out bench/results/soak.md]

What runs (each cycle is one `meltano run --force tap-salesforce-custom salesforce-to-netsuite target-netsuite`
in a private Meltano project context, write mode alternating `sync` / `auto`, the ledger `use`, `match_mode: adopt`,
the shipped `create_only_fields`, deletes as the mapping says):

- **The org**: a seeded Salesforce stand-in; the NetSuite stand-in already holds hand-entered customers, contacts
  and items without external ids (`sandbox.netsuite.existing.seed_existing`: exact copies, near matches, customers
  known by their phone, ambiguous pairs, a NetSuite-only customer).
- **Edits during runs**: a background thread changes Salesforce through the admin API while the pipeline reads it:
  renames, phones, addresses, cleared values, reparented contacts, new Accounts with their Contacts (the Contact
  often committed after the Account stream was read: parked), deletes and undeletes, quantities and new lines of won
  Opportunities, opportunities won.
- **Kills**: in a share of the cycles, once NetSuite has seen some of the run's requests, SIGKILL or SIGTERM of the
  whole `meltano run` process group or of the target process alone; a share of the cycles start a second run while
  the first is going (overlapping starts: the target's account lock must keep them apart).
- **Faults**: NetSuite 500s, 429s, dropped connections, drops after the write was applied, busy-record 400s, slow
  async processors (jobs that outlive their run); records NetSuite refuses (`reject_external_id_pattern`);
  Salesforce 503s, 500s and dropped connections. Seeded (`fault_seed`), different per cycle.
- **Planted scenarios** (deterministic, on by default): `twins` (a new Account named exactly like one already in
  NetSuite, with two Contacts: Salesforce holds duplicate companies), `service_deals` (won Opportunities without
  products interleaved with ones with products: the shipped mapping makes the first kind one-line orders of the
  `service_item_id` item, so every one must reach NetSuite; with `without_products: filter` none would), and
  `overtake` (a run in `async` mode SIGKILLed while its batch job is still queued, the same Accounts changed again,
  the next run writes them while the old job still runs), and `person_edits` (after the last disturbed cycle,
  people change customers' phones and items' Base Prices in NetSuite; Salesforce then changes the same value for
  half of them and another field for the rest: the person's value must stay, and each value changed on both sides
  must be a listed conflict).

At the end the faults stop, the pipeline runs until it is quiet, the async jobs settle, it runs once more, and the
oracle reads Salesforce in full through the real tap and the shipped mapping (`meltano invoke` with an empty system
database, piped through `netsuite-mapper`) and compares it with NetSuite (`Oracle`):

- **lost**: a mapped record that NetSuite does not hold;
- **duplicated**: two NetSuite records for one Salesforce Id, or a hand-entered record of a company that the pipeline
  should have adopted (exact, near or phone match) standing beside the one it created (or adopted by another Id);
- **stale**: a NetSuite value that differs from the mapped Salesforce value (create-only fields excepted; a
  NetSuite-owned value the pipeline overwrote counts too, and so does a person's edit it overwrote or a conflict
  it did not list);
- **wrong references**: a contact's company, an order's entity or an order line's item pointing at another record
  than the one with the referenced Salesforce Id.

Records the policy itself dead-letters are excluded, each with its reason (the waiting dead letter: ambiguous
matches, records NetSuite refuses, orders NetSuite refuses for want of lines; and children parked for such a
parent; the oracle reads the address lines the pipeline wrote, not those a person entered). Everything else
that is missing counts as lost, with what the target's stores say about it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sandbox.client import NetSuiteClient, SalesforceClient
from sandbox.netsuite.existing import seed_existing

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv" / "bin" / "meltano"
MAPPER = ROOT / ".venv" / "bin" / "netsuite-mapper"
PIPELINE = ("tap-salesforce-custom", "salesforce-to-netsuite", "target-netsuite")
CATEGORIES = ("lost", "duplicated", "stale", "wrong_references")
#: Record types the mapping writes, with the Salesforce object each comes from.
#: References the target writes without when their record is missing (its `optional_references` default).
OPTIONAL_REFERENCES = {("salesOrder", "createdFrom")}
OBJECTS = {"customer": "Account", "contact": "Contact", "nonInventorySaleItem": "Product2", "estimate": "Quote",
           "salesOrder": "Opportunity"}
OVERTAKE_TASK_MS = 6000  # a queued batch task of the planted overtake: long enough for the next run to write first
SERVICE_DEALS = 16  # above max_identical_errors (10) with a margin
REJECT_MARK = "REFUSED-BY-NETSUITE"  # Accounts whose Website carries this are refused by NetSuite (a validation rule)


@dataclass
class SoakConfig:
    seed: int = 23
    cycles: int = 8
    minutes: float | None = None  # if set, run cycles until this much time has passed (at least `cycles`)
    accounts: int = 30
    contacts: int = 45
    products: int = 6
    opportunities: int = 30
    edits_per_cycle: int = 14
    kill_share: float = 0.5  # of the cycles
    sigterm_share: float = 0.4  # of the kills (the rest SIGKILL)
    target_only_share: float = 0.5  # of the kills: the target process alone (else the whole job)
    overlap_share: float = 0.25  # of the cycles
    full_refresh_cycles: tuple[int, ...] = (3,)  # cycles run with --full-refresh (a replay)
    netsuite_faults: dict[str, Any] = field(default_factory=lambda: {
        "error_rate_500": 0.03, "error_rate_429": 0.04, "drop_rate": 0.02, "drop_after_rate": 0.03,
        "locked_rate": 0.02})
    salesforce_faults: dict[str, Any] = field(default_factory=lambda: {
        "error_rate_503": 0.03, "error_rate_500": 0.01, "drop_rate": 0.01})
    latency_ms: dict[str, Any] = field(default_factory=lambda: {"mean": 15, "jitter": 10})
    async_latency_ms: dict[str, Any] = field(default_factory=lambda: {"mean": 60, "jitter": 40})
    refused_accounts: int = 2  # Accounts NetSuite refuses for good (policy dead letters)
    planted: tuple[str, ...] = ("twins", "service_deals", "overtake", "person_edits")
    person_edits: int = 6  # customers' phones and items' Base Prices a person changes in NetSuite (each kind)
    run_timeout: float = 420.0


@dataclass
class Cycle:
    number: int
    write_mode: str
    full_refresh: bool
    returncode: int | None = None
    killed: str | None = None  # "SIGKILL job", "SIGTERM target", ...
    overlap_returncode: int | None = None
    seconds: float = 0.0
    edits: int = 0
    netsuite_faults: int = 0
    salesforce_faults: int = 0
    note: str = ""


@dataclass
class Verdict:
    lost: list[dict] = field(default_factory=list)
    duplicated: list[dict] = field(default_factory=list)
    stale: list[dict] = field(default_factory=list)
    wrong_references: list[dict] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)  # policy dead letters, with their reasons
    expected: int = 0
    checked: int = 0

    def counts(self) -> dict[str, int]:
        return {c: len(getattr(self, c)) for c in (*CATEGORIES, "excluded")}

    def clean(self) -> bool:
        return not any(getattr(self, c) for c in CATEGORIES)


# ------------------------------------------------------------------------------------------------------------
# The pipeline, as cron would run it
# ------------------------------------------------------------------------------------------------------------
class Project:
    """`meltano` in this repository with a private system database, dead letters, ledger, lock and catalog cache."""

    def __init__(self, work: Path, salesforce_url: str, netsuite_url: str) -> None:
        self.work = work
        self.dead_letters = work / "dead_letters"
        self.env = {
            **os.environ,
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_SALESFORCE_CUSTOM_LOGIN_URL": salesforce_url,
            "TAP_SALESFORCE_CUSTOM_CATALOG_CACHE_PATH": str(work / "catalog-cache.json"),
            "TAP_SALESFORCE_CUSTOM_MAX_RETRIES": "8",
            "TAP_SALESFORCE_CUSTOM_BACKOFF_FACTOR": "0.2",
            "TARGET_NETSUITE_BASE_URL": netsuite_url,
            "TARGET_NETSUITE_DEAD_LETTER_PATH": str(self.dead_letters),
            "TARGET_NETSUITE_LOCK_PATH": str(work / "netsuite.lock"),
            "TARGET_NETSUITE_CHECKPOINT_INTERVAL_SECONDS": "1",
            "TARGET_NETSUITE_BATCH_SIZE_ROWS": "40",
            "TARGET_NETSUITE_MAX_RETRIES": "8",
            "TARGET_NETSUITE_BACKOFF_FACTOR": "0.2",
            "TARGET_NETSUITE_LEDGER": "use",
            "TARGET_NETSUITE_MATCH_MODE": "adopt",
            "TARGET_NETSUITE_RUN_REPORT_PATH": str(work / "run-report.json"),
        }
        # Meltano's run directory (the tap's catalog, the plugins' config files) is per project: concurrent soaks
        # from one checkout would overwrite each other's files. Each gets its own, with the installed plugins.
        system = work / "meltano-system"
        system.mkdir(parents=True, exist_ok=True)
        for entry in (ROOT / ".meltano").iterdir():
            if entry.is_dir() and entry.name not in ("run", "logs"):
                (system / entry.name).symlink_to(entry)
        self.env["MELTANO_SYS_DIR_ROOT"] = str(system)
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.runs = 0

    def start(self, *, write_mode: str, full_refresh: bool = False) -> tuple[subprocess.Popen, Path]:
        self.runs += 1
        log = self.logs / f"run-{self.runs:03}.log"
        args = [str(MELTANO), "run", "--force", *(["--full-refresh"] if full_refresh else []), *PIPELINE]
        process = subprocess.Popen(args, cwd=ROOT, env={**self.env, "TARGET_NETSUITE_WRITE_MODE": write_mode},
                                   stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
        return process, log

    def run(self, *, write_mode: str, full_refresh: bool = False, timeout: float = 420) -> tuple[int, Path]:
        return run_to_end(*self.start(write_mode=write_mode, full_refresh=full_refresh), timeout)


def run_to_end(process: subprocess.Popen, log: Path, timeout: float) -> tuple[int, Path]:
    """A started run's exit code (-999: still going after `timeout`, then SIGKILLed) and its log."""
    try:
        return process.wait(timeout=timeout), log
    except subprocess.TimeoutExpired:
        kill_group(process, signal.SIGKILL)
        process.wait()
        return -999, log


def kill_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def target_process(process: subprocess.Popen) -> psutil.Process | None:
    """The target-netsuite process under a `meltano run` (None once it is gone or not started yet)."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(part.endswith("target-netsuite") for part in child.cmdline()[:2]):
                    return child
    return None


def dump_stacks(process: subprocess.Popen, log: Path) -> None:
    """Append the Python stacks of every process of a hung run to its log (needs `py-spy` on PATH; else nothing)."""
    spy = shutil.which("py-spy")
    if spy is None:
        return
    with contextlib.suppress(psutil.Error), log.open("a") as out:
        for child in [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]:
            out.write(f"\n==== py-spy dump {child.pid} {' '.join(child.cmdline()[:3])}\n")
            out.flush()
            subprocess.run([spy, "dump", "--pid", str(child.pid)], stdout=out, stderr=subprocess.STDOUT, timeout=60,
                           check=False)


def wait_for(condition: Any, timeout: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


# ------------------------------------------------------------------------------------------------------------
# Salesforce edits during runs
# ------------------------------------------------------------------------------------------------------------
CITIES = [("Austin", "TX", "US"), ("Toronto", "ON", "CA"), ("Berlin", None, "DE"), ("Denver", "CO", "US")]


class Editor:
    """Changes Salesforce through the admin API the way users do, from one seeded random sequence.

    Records the NetSuite account already held (`protected`: the adoption plan's) keep their matching fields (name,
    phone, e-mail), so whether they must be adopted stays decidable; any other field of them may change."""

    def __init__(self, salesforce: SalesforceClient, rng: random.Random, protected: set[str]) -> None:
        self.sf = salesforce
        self.rng = rng
        self.protected = protected
        self.created = 0
        self.deleted: dict[str, str] = {}  # Id -> object, in the recycle bin
        self.log: list[str] = []

    def live(self, obj: str) -> list[dict]:
        return [r for r in self.sf.records(obj) if not r.get("IsDeleted")]

    def edit(self) -> str:
        ops = [self.account_fields, self.account_fields, self.clear_values, self.contact_fields, self.reparent,
               self.new_account_with_contacts, self.new_account_with_contacts, self.delete, self.undelete,
               self.opportunity_lines, self.win_opportunity]
        op = self.rng.choice(ops)
        try:
            done = op()
        except Exception as exc:
            done = f"{op.__name__} refused: {str(exc)[:120]}"
        self.log.append(done)
        return done

    def _pick(self, obj: str, unprotected: bool = False) -> dict | None:
        rows = sorted(self.live(obj), key=lambda r: r["Id"])
        if unprotected:
            rows = [r for r in rows if r["Id"] not in self.protected]
        return self.rng.choice(rows) if rows else None

    def account_fields(self) -> str:
        account = self._pick("Account")
        if account is None:
            return "no account"
        city, state, country = self.rng.choice(CITIES)
        change: dict[str, Any] = {"Website": f"https://www.example{self.rng.randint(1, 9999)}.com",
                                  "BillingCity": city, "BillingState": state, "BillingCountry": country}
        if account["Id"] not in self.protected:
            change["Name"] = f"{account['Name'].split(' ~')[0]} ~{self.rng.randint(1, 999)}"
            change["Phone"] = f"+1 512 555 {self.rng.randint(100, 9999):04}"
        self.sf.update("Account", account["Id"], change)
        return f"Account {account['Id']} {sorted(change)}"

    def clear_values(self) -> str:
        account = self._pick("Account")
        if account is None:
            return "no account"
        cleared = self.rng.sample(["Website", "Fax", "BillingStreet", "ShippingCity", "ShippingStreet"], 2)
        if account["Id"] not in self.protected and self.rng.random() < 0.5:
            cleared.append("Phone")
        self.sf.update("Account", account["Id"], dict.fromkeys(cleared))
        return f"Account {account['Id']} cleared {cleared}"

    def contact_fields(self) -> str:
        contact = self._pick("Contact")
        if contact is None:
            return "no contact"
        change: dict[str, Any] = {"Title": self.rng.choice(["CFO", "Buyer", None, "Head of IT"]),
                                  "MobilePhone": self.rng.choice([None, f"+1 415 555 {self.rng.randint(1000, 9999)}"])}
        if contact["Id"] not in self.protected:
            change["Email"] = f"person{self.rng.randint(1, 99999)}@example.org"
        self.sf.update("Contact", contact["Id"], change)
        return f"Contact {contact['Id']} {sorted(change)}"

    def reparent(self) -> str:
        contact, account = self._pick("Contact", unprotected=True), self._pick("Account")
        if contact is None or account is None:
            return "nothing to reparent"
        self.sf.update("Contact", contact["Id"], {"AccountId": account["Id"]})
        return f"Contact {contact['Id']} moved to {account['Id']}"

    def new_account_with_contacts(self) -> str:
        self.created += 1
        n = self.created
        account = self.sf.create("Account", {"Name": f"Soak New Co {n} GmbH", "Phone": f"+49 30 {1000 + n}",
                                             "BillingCity": "Berlin", "BillingCountry": "DE"})["id"]
        for k in range(self.rng.randint(1, 3)):
            self.sf.create("Contact", {"LastName": f"Newperson{n}x{k}", "FirstName": "Nora", "AccountId": account,
                                       "Email": f"nora.{n}.{k}@soak-new-{n}.example"})
        return f"new Account {account} with contacts"

    def delete(self) -> str:
        obj = self.rng.choice(["Account", "Contact", "Contact", "Opportunity"])
        row = self._pick(obj, unprotected=True)
        if row is None:
            return f"no {obj} to delete"
        self.sf.delete_record(obj, row["Id"])
        self.deleted[row["Id"]] = obj
        return f"deleted {obj} {row['Id']}"

    def undelete(self) -> str:
        if not self.deleted:
            return "nothing to undelete"
        record_id = self.rng.choice(sorted(self.deleted))
        obj = self.deleted.pop(record_id)
        self.sf.undelete(obj, record_id)
        return f"undeleted {obj} {record_id}"

    def opportunity_lines(self) -> str:
        won = [o for o in self.live("Opportunity") if o.get("IsWon")]
        lines = [x for x in self.live("OpportunityLineItem") if x["OpportunityId"] in {o["Id"] for o in won}]
        if lines and self.rng.random() < 0.6:
            line = self.rng.choice(sorted(lines, key=lambda x: x["Id"]))
            self.sf.update("OpportunityLineItem", line["Id"], {"Quantity": float(self.rng.randint(1, 30))})
            return f"line {line['Id']} quantity"
        if not won:
            return "no won opportunity"
        opportunity = self.rng.choice(sorted(won, key=lambda o: o["Id"]))
        entries = sorted(e["Id"] for e in self.sf.records("PricebookEntry"))
        self.sf.create("OpportunityLineItem", {"OpportunityId": opportunity["Id"], "PricebookEntryId":
                                               self.rng.choice(entries), "Quantity": 2.0,
                                               "UnitPrice": round(self.rng.uniform(10, 500), 2)})
        return f"new line on {opportunity['Id']}"

    def win_opportunity(self) -> str:
        open_ones = [o for o in self.live("Opportunity") if not o.get("IsClosed")]
        if not open_ones:
            return "no open opportunity"
        opportunity = self.rng.choice(sorted(open_ones, key=lambda o: o["Id"]))
        self.sf.update("Opportunity", opportunity["Id"], {"StageName": "Closed Won"})
        return f"won {opportunity['Id']}"


# ------------------------------------------------------------------------------------------------------------
# The soak
# ------------------------------------------------------------------------------------------------------------
class Soak:
    def __init__(self, config: SoakConfig, salesforce_url: str, netsuite_url: str, work: Path) -> None:
        self.config = config
        self.sf = SalesforceClient(salesforce_url, timeout=300)
        self.ns = NetSuiteClient(netsuite_url, timeout=300)
        self.project = Project(work, salesforce_url, netsuite_url)
        self.work = work
        self.rng = random.Random(config.seed)
        self.cycles: list[Cycle] = []
        self.plan: list[dict] = []
        self.refused: set[str] = set()
        self.planted_notes: list[str] = []
        #: What people changed in NetSuite by hand: (record type, external id) -> {field: (their value, the value
        #: before it, the pipeline's)}
        self.person_edits: dict[tuple[str, str], dict[str, tuple[Any, bool]]] = {}
        self._ns_log_seen = ""
        self._sf_requests_seen = 0
        self.started = time.monotonic()

    # --- set-up ------------------------------------------------------------------------------------------
    def seed(self) -> None:
        c = self.config
        self.sf.reset(seed=c.seed, accounts=c.accounts, contacts=c.contacts, products=c.products,
                      opportunities=c.opportunities, invoices=0)
        self.ns.reset(knobs=True)
        self.plan = seed_existing(self.ns.base_url, self.sf.base_url)
        planned = {entry["for"] for entry in self.plan if entry["for"]}
        others = sorted(a["Id"] for a in self.sf.records("Account") if a["Id"] not in planned)
        self.refused = set(self.rng.sample(others, min(c.refused_accounts, len(others))))
        for account_id in sorted(self.refused):  # NetSuite refuses these for good: a validation rule of the account
            self.sf.update("Account", account_id, {"Website": f"https://{REJECT_MARK.lower()}.example/{account_id}"})
        self._refusal_knob()

    def _refusal_knob(self) -> None:
        self.ns.knobs(reject_external_id_pattern="^(" + "|".join(sorted(self.refused)) + ")$" if self.refused
                      else None)

    def faults(self, cycle: int, on: bool) -> None:
        c = self.config
        if on:
            self.ns.knobs(**c.netsuite_faults, latency_ms=c.latency_ms, async_latency_ms=c.async_latency_ms,
                          async_processors=2, fault_seed=c.seed * 100 + cycle)
            self.sf.knobs(**c.salesforce_faults, fault_seed=c.seed * 100 + cycle)
        else:
            self.ns.knobs(**{k: 0 for k in c.netsuite_faults}, latency_ms=0, async_latency_ms=None,
                          async_processors=2)
            self.sf.knobs(**{k: 0 for k in c.salesforce_faults})

    def count_faults(self, cycle: Cycle) -> None:
        entries = [e for e in self.ns.request_log() if str(e.get("time", "")) > self._ns_log_seen]
        if entries:
            self._ns_log_seen = max(str(e["time"]) for e in entries)
        cycle.netsuite_faults = sum(1 for e in entries if e.get("fault") or e.get("status") in (0, 429, 500))
        total = int(self.sf.stats()["requests"])
        fresh = total - self._sf_requests_seen
        self._sf_requests_seen = total
        log = self.sf.request_log()["requests"]
        cycle.salesforce_faults = sum(1 for e in log[-fresh:] if e.get("status") in (0, 500, 503)) if fresh else 0

    # --- planted scenarios ---------------------------------------------------------------------------------
    def plant_twins(self) -> bool:
        """A new Account named exactly like one NetSuite already holds for another Account (two companies, one name:
        branches, franchises), with two Contacts. False while no such customer is in NetSuite yet."""
        planned = {entry["for"] for entry in self.plan if entry["for"]}
        synced = {c["externalId"]: c for c in self.ns.records("customer") if c.get("externalId")}
        candidates = sorted(eid for eid in synced if eid not in planned and eid not in self.refused)
        if not candidates:
            return False
        name = synced[candidates[0]]["companyName"]
        twin = self.sf.create("Account", {"Name": name, "BillingCity": "Springfield", "BillingCountry": "US",
                                          "BillingState": "IL"})["id"]
        for k in range(2):
            self.sf.create("Contact", {"LastName": f"Twinbranch{k}", "FirstName": "Tim", "AccountId": twin})
        self.planted_notes.append(f"twins: new Account {twin} named {name!r} like {candidates[0]}, 2 contacts")
        return True

    def plant_service_deals(self) -> bool:
        """`SERVICE_DEALS` won deals without products interleaved with as many won deals with one line each, for
        customers and items already in NetSuite. False while there are none yet."""
        synced = {c["externalId"] for c in self.ns.records("customer") if c.get("externalId")}
        accounts = sorted(a["Id"] for a in self.sf.records("Account") if not a.get("IsDeleted")
                          and a["Id"] in synced)
        items = {i["externalId"] for i in self.ns.records("nonInventorySaleItem") if i.get("externalId")}
        entries = sorted(e["Id"] for e in self.sf.records("PricebookEntry") if e["Product2Id"] in items)
        if not accounts or not entries:
            return False
        for n in range(SERVICE_DEALS):
            account = accounts[n % len(accounts)]
            self.sf.create("Opportunity", {"Name": f"Service deal {n}", "StageName": "Closed Won",
                                           "CloseDate": "2026-11-20", "AccountId": account})
            with_lines = self.sf.create("Opportunity", {"Name": f"Product deal {n}", "StageName": "Closed Won",
                                                        "CloseDate": "2026-11-20", "AccountId": account})["id"]
            self.sf.create("OpportunityLineItem", {"OpportunityId": with_lines, "Quantity": 3.0, "UnitPrice": 99.5,
                                                   "PricebookEntryId": entries[n % len(entries)]})
        self.planted_notes.append(f"service_deals: {SERVICE_DEALS} won opportunities without products, as many with, "
                                  "interleaved")
        return True

    def plant_person_edits(self) -> None:
        """People at work in NetSuite between runs (no job of the pipeline in flight): a few customers' phones and
        items' Base Prices changed by hand. For half of them Salesforce then changes the same value (both changed:
        a conflict the target must list, keeping NetSuite's under the default `report` policy); for the other half
        Salesforce changes another field of the record (the record is written again, the person's value must stay
        untouched). Kept per value: the person's value and NetSuite's before it (the pipeline's, all settled), so
        the oracle expects a conflict exactly when Salesforce's final value differs from that one."""
        planned = {entry["for"] for entry in self.plan if entry["for"]}
        live = {a["Id"] for a in self.sf.records("Account") if not a.get("IsDeleted")}
        customers = sorted((c for c in self.ns.records("customer")
                            if c.get("externalId") in live and c["externalId"] not in planned | self.refused
                            and not c.get("isInactive")), key=lambda c: c["externalId"])
        for n, customer in enumerate(self.rng.sample(customers, min(self.config.person_edits, len(customers)))):
            eid, phone = customer["externalId"], f"+1 415 555 {7100 + n:04d}"
            self.ns.edit_record("customer", f"eid:{eid}", {"phone": phone})
            if n % 2 == 0:
                self.sf.update("Account", eid, {"Phone": f"+1 212 555 {7200 + n:04d}"})
            else:
                self.sf.update("Account", eid, {"Fax": f"+1 646 555 {7300 + n:04d}"})
            self.person_edits[("customer", eid)] = {"phone": (phone, customer.get("phone"))}
        standard = {b["Id"] for b in self.sf.records("Pricebook2") if b.get("IsStandard")}
        symbols = {str(c["id"]): c.get("symbol") for c in self.ns.records("currency")}
        entries = {(e["Product2Id"], e.get("CurrencyIsoCode")): e for e in self.sf.records("PricebookEntry")
                   if e.get("IsActive") and e.get("Pricebook2Id") in standard}
        products = {product for product, _ in entries}
        items = sorted((i for i in self.ns.records("nonInventorySaleItem") if i.get("externalId") in products
                        and i["externalId"] not in planned), key=lambda i: i["externalId"])
        for n, item in enumerate(self.rng.sample(items, min(self.config.person_edits, len(items)))):
            base = next((row for row in (item.get("price") or {}).get("items") or []
                         if str((row.get("priceLevel") or {}).get("id")) == "1"), None)
            if base is None:
                continue
            row = {"currencyPage": base["currencyPage"], "priceLevel": {"id": "1"}, "quantity": base["quantity"],
                   "price": 1000.0 + n}
            self.ns.edit_record("nonInventorySaleItem", f"eid:{item['externalId']}", {"price": {"items": [row]}})
            currency = symbols.get(str(base["currencyPage"]["id"]))
            entry = entries.get((item["externalId"], currency)) or entries.get((item["externalId"], None))
            if n % 2 == 0 and entry is not None:
                self.sf.update("PricebookEntry", entry["Id"], {"UnitPrice": 2000.0 + n})
            else:
                self.sf.update("Product2", item["externalId"], {"Description": f"Changed after a price edit {n}"})
            field = (f"price[currency={base['currencyPage']['id']};level=1;"
                     f"quantity={Oracle.price_key(row)[2]:g}]")
            self.person_edits[("nonInventorySaleItem", item["externalId"])] = {field: (row["price"], base["price"])}
        self.planted_notes.append(
            f"person_edits: {sum(1 for k in self.person_edits if k[0] == 'customer')} customers' phones and "
            f"{sum(1 for k in self.person_edits if k[0] != 'customer')} items' Base Prices changed in NetSuite by "
            "hand, then in Salesforce the same value for half of them (listed conflicts), another field for the rest")

    def plant_overtake(self, number: int) -> Cycle:
        """A run in `async` mode SIGKILLed while its batch job is queued; the same Accounts change again; the next
        cycle writes them while the old job still runs."""
        cycle = Cycle(number, "async", False, note="planted overtake")
        accounts = sorted(a["Id"] for a in self.sf.records("Account") if not a.get("IsDeleted")
                          and a["Id"] not in self.refused)[:30]
        for account_id in accounts:
            self.sf.update("Account", account_id, {"Fax": "+1 512 555 0001"})
        jobs_before = {j["id"] for j in self.ns.get("jobs")["jobs"]}
        self.ns.knobs(async_processors=1, async_latency_ms=OVERTAKE_TASK_MS, latency_ms=0)
        started = time.monotonic()
        process, _log = self.project.start(write_mode="async")

        def queued() -> bool:
            return any(j["id"] not in jobs_before and j["record_type"] == "customer"
                       and any(t.get("end_time") is None for t in j["tasks"]) for j in self.ns.get("jobs")["jobs"])

        if wait_for(queued, timeout=self.config.run_timeout, poll=0.2) and process.poll() is None:
            kill_group(process, signal.SIGKILL)
            cycle.killed = "SIGKILL job (async job queued)"
        cycle.returncode = process.wait()
        for account_id in accounts:
            self.sf.update("Account", account_id, {"Fax": "+1 512 555 0002"})
        cycle.seconds = time.monotonic() - started
        self.planted_notes.append(f"overtake: {len(accounts)} Accounts' Fax sent in a batch job, job SIGKILLed "
                                  f"({cycle.killed or 'not killed: no job seen'}), Fax changed again")
        return cycle

    # --- cycles --------------------------------------------------------------------------------------------
    def run_cycle(self, number: int, editor: Editor | None, *, write_mode: str | None = None,
                  disturb: bool = True, slow_async: bool = False, note: str = "") -> Cycle:
        """One scheduled run with edits during it; unless `disturb` is off, maybe an overlapping start and a kill."""
        c = self.config
        write_mode = write_mode or ("sync", "auto")[number % 2]
        cycle = Cycle(number, write_mode, number in c.full_refresh_cycles, note=note)
        self.faults(number, on=True)
        if slow_async:  # the killed run's job is still queued: keep it slow, so this run's writes come first
            self.ns.knobs(async_processors=1, async_latency_ms=OVERTAKE_TASK_MS)
        stop = threading.Event()
        edits: list[str] = []

        def edit_loop() -> None:
            for _ in range(c.edits_per_cycle):
                if stop.wait(self.rng.uniform(0.2, 1.5)) or editor is None:
                    return
                edits.append(editor.edit())

        thread = threading.Thread(target=edit_loop, daemon=True)
        started = time.monotonic()
        thread.start()
        process, _log = self.project.start(write_mode=write_mode, full_refresh=cycle.full_refresh)
        overlap = None
        overlap_draw, kill_draw = self.rng.random(), self.rng.random()
        if disturb and overlap_draw < c.overlap_share:
            wait_for(lambda: process.poll() is not None or target_process(process) is not None, 120)
            overlap, _ = self.project.start(write_mode=write_mode)
        if disturb and kill_draw < c.kill_share:
            signum = signal.SIGTERM if self.rng.random() < c.sigterm_share else signal.SIGKILL
            whole = self.rng.random() >= c.target_only_share
            baseline = self.ns.stats()["requests"]
            threshold = baseline + self.rng.randint(2, 60)
            wait_for(lambda: process.poll() is not None or self.ns.stats()["requests"] >= threshold,
                     c.run_timeout, poll=0.1)
            if process.poll() is None:
                victim = None if whole else target_process(process)
                if whole or victim is not None:
                    if victim is None:
                        kill_group(process, signum)
                    else:
                        with contextlib.suppress(psutil.Error):
                            victim.send_signal(signum)
                    cycle.killed = f"{signal.Signals(signum).name} {'job' if victim is None else 'target'}"
        try:
            cycle.returncode = process.wait(timeout=c.run_timeout)
        except subprocess.TimeoutExpired:
            cycle.note = (f"{cycle.note} HUNG: no end after {c.run_timeout:.0f} s (NetSuite in flight "
                          f"{self.ns.stats().get('in_flight')}), SIGKILLed; log {_log.name}").strip()
            dump_stacks(process, _log)
            kill_group(process, signal.SIGKILL)
            cycle.returncode = process.wait()
        if overlap is not None:
            try:
                cycle.overlap_returncode = overlap.wait(timeout=c.run_timeout)
            except subprocess.TimeoutExpired:
                dump_stacks(overlap, self.project.logs / f"run-{self.project.runs:03}.log")
                kill_group(overlap, signal.SIGKILL)
                cycle.overlap_returncode = overlap.wait()
                cycle.note = f"{cycle.note} overlapping run HUNG after {c.run_timeout:.0f} s, SIGKILLed".strip()
        stop.set()
        thread.join()
        cycle.edits = len(edits)
        cycle.seconds = time.monotonic() - started
        return cycle

    def settle_jobs(self, timeout: float = 600) -> bool:
        def settled() -> bool:
            return all(t.get("end_time") for j in self.ns.get("jobs")["jobs"] for t in j["tasks"])
        return wait_for(settled, timeout, poll=0.5)

    def finish(self) -> list[int]:
        """Faults off; a run; the async jobs settle; one more run (the next schedule)."""
        self.faults(0, on=False)
        code, _log = self.project.run(write_mode="sync", timeout=self.config.run_timeout)
        codes = [code]
        self.settle_jobs()
        if "person_edits" in self.config.planted:
            self.plant_person_edits()
        code, _log = self.project.run(write_mode="sync", timeout=self.config.run_timeout)
        codes.append(code)
        return codes

    def new_editor(self) -> Editor:
        """The Salesforce editor of the cycles; the planted Accounts and the refused ones are left alone."""
        planned = {entry["for"] for entry in self.plan if entry["for"]}
        return Editor(self.sf, random.Random(self.config.seed + 1), planned | self.refused)

    def run(self) -> Verdict:
        c = self.config
        self.seed()
        editor = self.new_editor()
        number = 0
        twins, deals, overtake = ("twins" in c.planted, "service_deals" in c.planted, "overtake" in c.planted)
        after_overtake = False
        while True:
            if number >= 1 and twins:
                twins = not self.plant_twins()
            if number >= 1 and deals and self.plant_service_deals():
                deals = False
                # written once undisturbed (interleaved with successes), then re-sent by the next runs' lookback
                cycle = self.run_cycle(number, editor, disturb=False, note="planted service deals")
            elif number >= 2 and overtake:
                cycle = self.plant_overtake(number)
                overtake, after_overtake = False, True
            elif after_overtake:
                cycle = self.run_cycle(number, editor, write_mode="sync", slow_async=True, disturb=False,
                                       note="after the planted overtake")
                after_overtake = False
            else:
                cycle = self.run_cycle(number, editor if number > 0 else None)
            self.count_faults(cycle)
            self.cycles.append(cycle)
            print(f"cycle {number}: {cycle}", flush=True)
            number += 1
            if number >= c.cycles and (c.minutes is None or time.monotonic() - self.started > c.minutes * 60):
                break
        self.final_codes = self.finish()
        verdict = Oracle(self).judge()
        return verdict


# ------------------------------------------------------------------------------------------------------------
# The oracle
# ------------------------------------------------------------------------------------------------------------
def mapped_salesforce(soak: Soak) -> dict[tuple[str, str], dict]:
    """Every record the shipped mapping makes of Salesforce now: a full read by the real tap (`meltano invoke`, empty
    system database, so no state) piped through `netsuite-mapper` with the shipped mapping; the last per key."""
    sys.path.insert(0, str(ROOT / "bench"))
    from mapper_bench import shipped_mapping

    work = soak.work / "oracle"
    work.mkdir(exist_ok=True)
    (work / "mapper.json").write_text(json.dumps(shipped_mapping()))
    env = {**soak.project.env, "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}"}
    soak.sf.calm()
    command = (f"set -o pipefail; '{MELTANO}' invoke tap-salesforce-custom"
               f" | '{MAPPER}' --config '{work / 'mapper.json'}' > '{work / 'mapped.jsonl'}'")
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"oracle read failed:\n{result.stderr[-4000:]}")
    mapped: dict[tuple[str, str], dict] = {}
    for line in (work / "mapped.jsonl").read_text().splitlines():
        message = json.loads(line)
        if message.get("type") == "RECORD":
            record = message["record"]
            # An opportunity that stopped being won arrives as its order's lifecycle decision (`_sdc_on_unwin`),
            # not as an order to hold: the lifecycle has its own tests (tests/target/test_order_lifecycle.py and
            # tests/e2e/test_order_lifecycle_pipeline.py).
            if record.get("externalId") and not record.get("_sdc_on_unwin"):
                mapped[(message["stream"], record["externalId"])] = record
    return mapped


def _digits(value: Any) -> str:
    """A phone number as NetSuite compares it: its digits (NetSuite formats phones on save)."""
    return re.sub(r"\D", "", str(value or ""))


def _same(expected: Any, actual: Any) -> bool:
    if expected in (None, "") and actual in (None, "", False):
        return True
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected) == bool(actual)
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float, str)):
        try:
            return abs(float(expected) - float(actual)) < 0.005
        except ValueError:
            return False
    return expected == actual


class Oracle:
    def __init__(self, soak: Soak) -> None:
        self.soak = soak
        # What a person typed into the records the pipeline must adopt: a value Salesforce leaves empty there was never
        # written by the pipeline, and NetSuite keeps it (merge.py: `netsuite_values_kept`).
        self.typed = {(e["type"], e["for"]): e["body"] for e in soak.plan
                      if e["kind"] in ("exact", "near", "phone") and e["for"]}
        project = yaml_project()
        loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-netsuite")
        self.create_only = {k: set(v) for k, v in loader["config"].get("create_only_fields", {}).items()}

    def letters(self) -> dict[tuple[str, str], dict]:
        from target_netsuite.dead_letters import read_letters, resolved_keys, waiting

        directory = self.soak.project.dead_letters
        files = sorted(directory.glob("*.jsonl"))
        return {(e["record_type"], e["externalId"]): e for e in waiting(read_letters(files), resolved_keys(directory))
                if e.get("externalId")} if files else {}

    def parked(self) -> dict[tuple[str, str], str]:
        from target_netsuite.parking import ParkedRecords

        path = self.soak.project.dead_letters / "parked.sqlite3"
        if not path.exists():
            return {}
        return {(p.record_type, p.external_id): p.waiting_for for p in ParkedRecords(path).all()}

    def policy_reason(self, key: tuple[str, str], letter: dict) -> str | None:
        """Why the policy itself dead-letters this record, or None when the letter is not the policy's."""
        code, detail = letter.get("code"), str(letter.get("detail", ""))
        reason = f"{code}: {detail[:160]}"
        if code == "AMBIGUOUS_MATCH":
            return reason
        if key[0] == "customer" and key[1] in self.soak.refused:
            return f"refused by NetSuite ({reason})"
        if key[0] == "salesOrder" and "line item" in detail:
            return f"order without lines ({reason})"
        return None

    def judge(self) -> Verdict:
        verdict = Verdict()
        ns = self.soak.ns
        mapped = mapped_salesforce(self.soak)
        records = {rtype: ns.records(rtype) for rtype in OBJECTS}
        by_eid: dict[tuple[str, str], dict] = {}
        by_id: dict[tuple[str, str], dict] = {}
        for rtype, rows in records.items():
            counts = Counter(r.get("externalId") for r in rows if r.get("externalId"))
            for eid, n in sorted(counts.items()):
                if n > 1:
                    verdict.duplicated.append({"record_type": rtype, "externalId": eid, "why": f"{n} records"})
            for row in rows:
                by_id[(rtype, str(row["id"]))] = row
                if row.get("externalId"):
                    by_eid[(rtype, row["externalId"])] = row
        letters, parked = self.letters(), self.parked()

        excluded: dict[tuple[str, str], str] = {}
        for key, letter in letters.items():
            reason = self.policy_reason(key, letter)
            if reason and key in mapped:
                excluded[key] = reason
        changed = True
        while changed:  # children waiting for an excluded parent are the policy's too
            changed = False
            for key, waiting_for in parked.items():
                parent = tuple(waiting_for.split(" ", 1))
                if key not in excluded and parent in excluded:
                    excluded[key] = f"parked for {waiting_for}, itself {excluded[parent]}"  # type: ignore[index]
                    changed = True
        verdict.excluded = [{"record_type": k[0], "externalId": k[1], "reason": r} for k, r in sorted(excluded.items())]
        verdict.expected = len(mapped)

        for key, payload in sorted(mapped.items()):
            if key in excluded:
                continue
            row = by_eid.get(key)
            if row is None:
                why = "not in NetSuite"
                if key in letters:
                    letter = letters[key]
                    why += f"; dead letter {letter.get('code')}: {str(letter.get('detail'))[:200]}"
                elif key in parked:
                    why += f"; parked, waiting for {parked[key]}"
                verdict.lost.append({"record_type": key[0], "externalId": key[1], "why": why})
                continue
            verdict.checked += 1
            self.compare(key, payload, row, by_eid, by_id, verdict)

        self.check_conflicts(mapped, excluded, verdict)
        for entry in self.soak.plan:  # the hand-entered records that should have been adopted
            if entry["kind"] not in ("exact", "near", "phone") or entry["for"] is None:
                continue
            key = (entry["type"], entry["for"])
            if key not in mapped or key in excluded:
                continue
            hand = by_id.get((entry["type"], str(entry["id"])))
            mine = by_eid.get(key)
            if hand is None:
                continue
            if hand.get("externalId") != entry["for"]:
                verdict.duplicated.append({"record_type": key[0], "externalId": key[1],
                                           "why": f"hand-entered {entry['kind']} match {entry['id']} not adopted "
                                                  f"(holds {hand.get('externalId')!r}); NetSuite record "
                                                  f"{mine and mine['id']} carries the Id"})
            if entry["body"].get("terms") and (hand.get("terms") or {}).get("id") != entry["body"]["terms"]["id"]:
                owned = {"terms (NetSuite-owned)": [entry["body"]["terms"], hand.get("terms")]}
                verdict.stale.append({"record_type": key[0], "externalId": key[1], "fields": owned})
        return verdict

    def compare(self, key: tuple[str, str], payload: dict, row: dict, by_eid: dict, by_id: dict,
                verdict: Verdict) -> None:
        rtype = key[0]
        diffs: dict[str, Any] = {}
        for name, expected in payload.items():
            if name in ("externalId",) or name.startswith("_sdc") or name in self.create_only.get(rtype, ()):
                continue
            actual = row.get(name)
            if isinstance(expected, dict) and set(expected) == {"subsidiaryOf"}:  # the parent's subsidiary
                parent = by_eid.get((expected["subsidiaryOf"]["type"], expected["subsidiaryOf"]["externalId"]))
                want = ((parent or {}).get("subsidiary") or {}).get("id")
                if parent is None or str((actual or {}).get("id")) != str(want):
                    diffs[name] = [f"the subsidiary of {expected['subsidiaryOf']['type']} "
                                   f"{expected['subsidiaryOf']['externalId']} ({want})", actual]
                continue
            if isinstance(expected, dict) and "externalId" in expected and "type" in expected:
                target = by_eid.get((expected["type"], expected["externalId"]))
                actual_id = (actual or {}).get("id") if isinstance(actual, dict) else actual
                if target is None and actual_id is None and (rtype, name) in OPTIONAL_REFERENCES:
                    continue  # an optional link to a record NetSuite lacks: the record is written without it
                if target is None or str(actual_id) != str(target["id"]):
                    verdict.wrong_references.append({
                        "record_type": rtype, "externalId": key[1], "field": name,
                        "expected": f"{expected['type']} {expected['externalId']} "
                                    f"({target['id'] if target else 'not in NetSuite'})",
                        "actual": actual_id})
                continue
            if expected is None and isinstance(actual, dict) and "id" in actual:
                verdict.wrong_references.append({"record_type": rtype, "externalId": key[1], "field": name,
                                                 "expected": None, "actual": actual.get("id")})
                continue
            if isinstance(expected, dict) and set(expected) == {"id"}:
                if str((actual or {}).get("id")) != str(expected["id"]):
                    diffs[name] = [expected, actual]
                continue
            if name == "addressbook":  # our lines only: NetSuite's own (a person's) are left alone (merge.py)
                ours = self.owned_lines(expected, actual)
                if self.addresses(expected) != self.addresses(ours):
                    diffs[name] = [self.addresses(expected), self.addresses(ours)]
                continue
            if name == "price":  # our Base Price rows, by key; the rows a person set stay beside them
                held = {self.price_key(row): row.get("price") for row in ((actual or {}).get("items") or [])}
                by_hand = {self.price_key(row): value for row, value in self.hand_prices(key)}
                for row in (expected or {}).get("items") or []:
                    price = by_hand.get(self.price_key(row), row.get("price"))  # a person's price stays (merged)
                    if not _same(price, held.get(self.price_key(row))):
                        diffs[name] = [expected, actual]
                        break
                continue
            if name == "item":
                want = self.lines(expected, by_eid)
                have = self.lines(actual, by_eid, by_id)
                if want != have:
                    diffs[name] = [want, have]
                continue
            if expected in (None, "") and name in self.typed.get(key, {}) and _same(self.typed[key][name], actual):
                continue  # NetSuite's own value, never the pipeline's to empty
            if name in self.soak.person_edits.get(key, {}):  # a person's edit stands (merged three ways)
                by_hand = self.soak.person_edits[key][name][0]
                if _digits(by_hand) != _digits(actual):
                    diffs[name] = [f"{by_hand} (a person's edit in NetSuite)", actual]
                continue
            if not _same(expected, actual):
                diffs[name] = [expected, actual]
        if diffs:
            verdict.stale.append({"record_type": rtype, "externalId": key[1], "fields": diffs})

    def hand_prices(self, key: tuple[str, str]) -> list[tuple[dict, Any]]:
        """The Base Price rows a person set on this item, as (row key fields, price)."""
        return self.hand_prices_of(self.soak.person_edits.get(key, {}))

    @staticmethod
    def hand_prices_of(fields: dict[str, tuple[Any, Any]]) -> list[tuple[dict, Any]]:
        found = []
        for name, (value, _) in fields.items():
            if not name.startswith("price["):
                continue
            key = dict(part.split("=", 1) for part in name[len("price["):-1].split(";"))
            found.append(({"currencyPage": {"id": key["currency"]}, "priceLevel": {"id": key["level"]},
                           "quantity": {"value": float(key["quantity"])}}, value))
        return found

    def check_conflicts(self, mapped: dict, excluded: dict, verdict: Verdict) -> None:
        """A value a person changed and Salesforce changed too (its final value is not the one the pipeline wrote
        before the person's edit) is a conflict the target lists (`pipeline-ops conflicts`); one not listed is
        reported stale, as a change nobody can see."""
        from target_netsuite.merge import MERGE_FILE

        if not self.soak.person_edits:  # not planted (the host soak: its store is PostgreSQL, not these files)
            return
        path = self.soak.project.dead_letters / MERGE_FILE
        listed: set[tuple[str, str, str]] = set()
        if path.exists():
            with contextlib.closing(sqlite3.connect(path)) as db:
                listed = {tuple(row) for row in db.execute("SELECT record_type, external_id, field FROM conflicts")}
        for key, fields in sorted(self.soak.person_edits.items()):
            if key not in mapped or key in excluded:
                continue
            for name, (value, before) in fields.items():
                if self.salesforce_changed(mapped[key], name, before) and (key[0], key[1], name) not in listed:
                    verdict.stale.append({"record_type": key[0], "externalId": key[1], "fields": {
                        f"{name} (conflict not listed)": [f"{value} kept, the conflict listed", "not listed"]}})

    def salesforce_changed(self, payload: dict, name: str, before: Any) -> bool:
        if not name.startswith("price["):
            return _digits(payload.get(name)) != _digits(before)
        wanted = {self.price_key(row): price for row, price in self.hand_prices_of({name: (None, None)})}
        rows = {self.price_key(row): row.get("price") for row in (payload.get("price") or {}).get("items") or []}
        return any(not _same(rows.get(key), before) for key in wanted)

    @staticmethod
    def price_key(row: dict) -> tuple[str, str, float]:
        """A price row's key: currency, price level, quantity tier (a row without a quantity is tier 0)."""
        quantity = (row.get("quantity") or {}).get("value") if isinstance(row.get("quantity"), dict) else None
        return (str((row.get("currencyPage") or {}).get("id")), str((row.get("priceLevel") or {}).get("id")),
                float(quantity or 0))

    @staticmethod
    def owned_lines(expected: Any, actual: Any) -> dict:
        """The lines of NetSuite's address book the pipeline wrote: labelled as synced, or as the payload labels
        them; a line a person entered (an adopted customer's) stays beside them."""
        from target_netsuite.merge import OWNED_LABEL_SUFFIX

        labels = {line.get("label") for line in ((expected or {}).get("items") or []) if line.get("label")}
        items = (actual or {}).get("items") or [] if isinstance(actual, dict) else []
        return {"items": [line for line in items if str(line.get("label") or "").endswith(OWNED_LABEL_SUFFIX)
                          or line.get("label") in labels]}

    @staticmethod
    def addresses(sublist: Any) -> list:
        items = (sublist or {}).get("items") or [] if isinstance(sublist, dict) else []
        out = []
        for line in items:
            address = {k: v for k, v in (line.get("addressbookaddress") or {}).items() if v not in (None, "")}
            out.append(json.dumps([bool(line.get("defaultBilling")), bool(line.get("defaultShipping")), address],
                                  sort_keys=True))
        return sorted(out)

    @staticmethod
    def lines(sublist: Any, by_eid: dict, by_id: dict | None = None) -> list:
        items = (sublist or {}).get("items") or [] if isinstance(sublist, dict) else []
        out = []
        for line in items:
            item = line.get("item") or {}
            if "externalId" in item:
                found = by_eid.get((item.get("type", "nonInventorySaleItem"), item["externalId"]))
                item_id = found["id"] if found else f"missing {item['externalId']}"
            else:
                item_id = item.get("id")
            quantity, rate = round(float(line.get("quantity") or 0), 4), round(float(line.get("rate") or 0), 2)
            out.append((str(item_id), quantity, rate, line.get("description") or None))
        return sorted(out, key=lambda x: json.dumps(x))


def yaml_project() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "meltano.yml").read_text())


# ------------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------------
def summary(soak: Soak, verdict: Verdict, wall: float) -> dict[str, Any]:
    cycles = soak.cycles
    return {
        "seed": soak.config.seed, "cycles": len(cycles), "wall_seconds": round(wall),
        "kills": sum(1 for c in cycles if c.killed),
        "sigkills": sum(1 for c in cycles if (c.killed or "").startswith("SIGKILL")),
        "sigterms": sum(1 for c in cycles if (c.killed or "").startswith("SIGTERM")),
        "target_only_kills": sum(1 for c in cycles if (c.killed or "").endswith("target")),
        "overlapping_starts": sum(1 for c in cycles if c.overlap_returncode is not None),
        "failed_runs": sum(1 for c in cycles if c.returncode not in (0, None) and not c.killed),
        "netsuite_faults": sum(c.netsuite_faults for c in cycles),
        "salesforce_faults": sum(c.salesforce_faults for c in cycles),
        "edits": sum(c.edits for c in cycles), "final_runs": getattr(soak, "final_codes", []),
        "expected_records": verdict.expected, "checked": verdict.checked, **verdict.counts(),
        "result": "clean" if verdict.clean() else "DEFECTS",
    }


def render(soak: Soak, verdict: Verdict, figures: dict[str, Any]) -> str:
    lines = ["# Soak: every feature on, kills, faults, edits during runs", "",
             f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `bench/soak.py` (module docstring: what runs, what"
             " the oracle counts).", "",
             "| cycles | kills (SIGKILL / SIGTERM; target only) | overlapping starts | NetSuite faults | "
             "Salesforce faults | edits | lost | duplicated | stale | wrong references | excluded (policy) | result |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
             f"| {figures['cycles']} | {figures['kills']} ({figures['sigkills']} / {figures['sigterms']}; "
             f"{figures['target_only_kills']}) | {figures['overlapping_starts']} | {figures['netsuite_faults']} | "
             f"{figures['salesforce_faults']} | {figures['edits']} | {figures['lost']} | {figures['duplicated']} | "
             f"{figures['stale']} | {figures['wrong_references']} | {figures['excluded']} | {figures['result']} |", "",
             f"Seed {figures['seed']}, {figures['wall_seconds']} s, {figures['expected_records']} mapped records "
             f"({figures['checked']} compared field by field), final runs' exit codes {figures['final_runs']}.", "",
             "Planted: " + ("; ".join(soak.planted_notes) or "none"), "", "## Cycles", "",
             "| # | mode | full refresh | exit | killed | overlap exit | s | edits | NS faults | SF faults | note |",
             "|---:|---|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for c in soak.cycles:
        lines.append(f"| {c.number} | {c.write_mode} | {'yes' if c.full_refresh else ''} | {c.returncode} | "
                     f"{c.killed or ''} | {'' if c.overlap_returncode is None else c.overlap_returncode} | "
                     f"{c.seconds:.0f} | {c.edits} | {c.netsuite_faults} | {c.salesforce_faults} | {c.note} |")
    return "\n".join([*lines, *findings(verdict)]) + "\n"


def findings(verdict: Verdict, most: int = 60) -> list[str]:
    """The verdict's categories as Markdown sections, `most` items each (every soak report ends with them)."""
    lines: list[str] = []
    for category in (*CATEGORIES, "excluded"):
        found = getattr(verdict, category)
        lines += ["", f"## {category.replace('_', ' ').capitalize()} ({len(found)})", ""]
        lines += [f"- `{json.dumps(item, default=str)[:400]}`" for item in found[:most]]
        if len(found) > most:
            lines.append(f"- ... and {len(found) - most} more")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=None, help="keep cycling until this much time has passed")
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--contacts", type=int, default=90)
    parser.add_argument("--products", type=int, default=8)
    parser.add_argument("--opportunities", type=int, default=60)
    parser.add_argument("--edits", type=int, default=20, help="Salesforce edits per cycle")
    parser.add_argument("--kill-share", type=float, default=0.5)
    parser.add_argument("--overlap-share", type=float, default=0.25)
    parser.add_argument("--fault-scale", type=float, default=1.0, help="multiply every fault rate")
    parser.add_argument("--planted", default=",".join(SoakConfig.planted),
                        help="planted scenarios, comma-separated (twins, service_deals, overtake, person_edits); "
                             "'' for none")
    parser.add_argument("--run-timeout", type=float, default=300, help="seconds before a run counts as hung")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.md")
    args = parser.parse_args(argv)
    config = SoakConfig(seed=args.seed, cycles=args.cycles, minutes=args.minutes, accounts=args.accounts,
                        contacts=args.contacts, products=args.products, opportunities=args.opportunities,
                        edits_per_cycle=args.edits, kill_share=args.kill_share, overlap_share=args.overlap_share,
                        full_refresh_cycles=(3, 9, 15), planted=tuple(p for p in args.planted.split(",") if p))
    config.netsuite_faults = {k: v * args.fault_scale for k, v in config.netsuite_faults.items()}
    config.salesforce_faults = {k: v * args.fault_scale for k, v in config.salesforce_faults.items()}
    sys.path.insert(0, str(ROOT / "bench"))
    from target_bench import Sandbox

    sandbox = Sandbox()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    started = time.monotonic()
    try:
        soak = Soak(config, sandbox.salesforce_url, sandbox.url, work)
        verdict = soak.run()
    finally:
        sandbox.stop()
    figures = summary(soak, verdict, time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(soak, verdict, figures))
    (work / "verdict.json").write_text(json.dumps({"figures": figures, **{c: getattr(verdict, c) for c in
                                                                          (*CATEGORIES, "excluded")}}, indent=1))
    print(json.dumps(figures), flush=True)
    print(f"report: {args.out}; work directory: {work}")
    return 0 if verdict.clean() else 1


if __name__ == "__main__":
    raise SystemExit(main())
