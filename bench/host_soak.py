"""The soak on several hosts (issue 27, item 6): `bench/soak.py`'s org, edits, kills, faults and oracle, with every
run on one of several stateless hosts that share one real PostgreSQL server.

    .venv/bin/python bench/host_soak.py [--hosts 3] [--cycles 20] [--seed 27] [--out bench/results/host_soak.md]

- **Hosts**: each host is its own folder, and every run gets a FRESH run directory in it (its own Meltano run
  directory, catalog cache, dead-letter folder, lock path and run report); older run directories are deleted before
  the next run starts, so no local file survives between runs. The hosts share one PostgreSQL server for Meltano's
  system database (`MELTANO_DATABASE_URI`) and the target's store (`TARGET_NETSUITE_STORE_URI`, schema
  `target_netsuite`). Runs land on random hosts (seeded), never on a host with a run in flight.
- **Disturbances** as in the single-host soak (`Soak.run_cycle`): SIGKILLs and SIGTERMs of the job or of the target
  alone, overlapping starts, NetSuite and Salesforce faults, Salesforce edits during runs.
- **Planted multi-host scenarios**, each checked where it happens:
  - `ledger`: the README's case. Host B writes v1 of an Account's phone, host A writes v2, Salesforce reverts to
    v1, host B must send v1 (NetSuite holds v1 again);
  - `parked`: a new Account with Contacts; a run on host X reads the Contacts only (parked, state moves on); the
    next run, on host Y, reads the Account: every parked Contact is in NetSuite under its company, none parked;
  - `simultaneous`: two hosts start at once. As soon as one target holds the account's advisory lock (pg_locks),
    that target is frozen (SIGSTOP: a stalled host) until the other job has ended, so the two surely overlap; the
    other must exit non-zero with the lock line (taken before any write) and without a STATE (Meltano's
    "Incremental state has been updated" line); then the holder resumes and finishes;
  - `dead letters from any host`: at the end, `meltano invoke pipeline-ops dead-letters export` on every host (a
    fresh run directory each) lists exactly the store's waiting letters, including those written on other hosts.
- **Oracle**: `soak.Oracle`, reading parked records and dead letters from the store instead of a folder: lost,
  duplicated, stale, wrong references. Plus: durable files (SQLite, JSON Lines) left in any run directory.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import (
    CATEGORIES,
    MELTANO,
    PIPELINE,
    ROOT,
    Cycle,
    Editor,
    Oracle,
    Project,
    Soak,
    SoakConfig,
    Verdict,
    findings,
    kill_group,
    run_to_end,
    summary,
    target_process,
    wait_for,
)

#: The dev environment's NetSuite account (meltano.yml).
ACCOUNT_ID = "1234567_SB1"
LOCK_LINE = "another target-netsuite run is writing to NetSuite account"
STATE_LINE = "Incremental state has been updated"
DURABLE_SUFFIXES = (".sqlite3", ".jsonl", ".ndjson")
LEDGER_V1, LEDGER_V2 = "+1 512 555 0101", "+1 512 555 0202"


@dataclass
class HostRun:
    number: int
    host: str
    directory: Path
    log: Path
    process: subprocess.Popen
    started: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    ended: str | None = None


class Hosts:
    """Stateless hosts sharing one PostgreSQL server; quacks like `soak.Project` (`start`, `run`, `env`, `logs`)."""

    def __init__(self, work: Path, names: list[str], salesforce_url: str, netsuite_url: str, database_uri: str,
                 store_uri: str, rng: random.Random) -> None:
        self.work = work
        self.names = names
        self.rng = rng
        self.database_uri = database_uri
        self.store_uri = store_uri
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.runs = 0
        self.history: list[HostRun] = []
        self.durable_files: list[str] = []  # durable files found in a finished run's directory (must stay empty)
        self.pin: str | None = None  # the next start's host (planted scenarios)
        self.extra_env: dict[str, str] = {}  # for the next start only
        self.salesforce_url, self.netsuite_url = salesforce_url, netsuite_url
        self.shared_env = {
            "MELTANO_DATABASE_URI": database_uri,
            "TARGET_NETSUITE_STORE_URI": store_uri,
        }
        # The oracle's full read (soak.mapped_salesforce) runs with this env and its own empty system database.
        self.env = self._fresh_environment(work / "oracle-host")

    def _fresh_environment(self, directory: Path) -> dict[str, str]:
        """A new, empty run directory (`soak.Project` lays it out: Meltano's run directory with the installed
        plugins linked, dead-letter folder, lock, catalog cache, run report) and the shared server's URIs."""
        return {**Project(directory, self.salesforce_url, self.netsuite_url).env, **self.shared_env}

    def _purge(self) -> None:
        """Delete the run directories of finished runs (a host's disk is gone after its run), noting any durable
        file the run left there."""
        for run in self.history:
            if run.process.poll() is None or not run.directory.exists():
                continue
            for folder, _dirs, files in os.walk(run.directory):  # not into the linked plugins
                for name in files:
                    if name.endswith(DURABLE_SUFFIXES):
                        path = Path(folder, name).relative_to(run.directory)
                        self.durable_files.append(f"{run.host} run {run.number}: {path}")
            shutil.rmtree(run.directory, ignore_errors=True)

    def busy(self) -> set[str]:
        return {run.host for run in self.history if run.process.poll() is None}

    def choose(self, host: str | None = None) -> str:
        if host is None:
            host, self.pin = self.pin, None
        if host is None:
            free = [name for name in self.names if name not in self.busy()] or self.names
            host = self.rng.choice(free)
        return host

    def start(self, *, write_mode: str, full_refresh: bool = False, host: str | None = None,
              env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
        self._purge()
        host = self.choose(host)
        self.runs += 1
        directory = self.work / host / f"run-{self.runs:03}"
        environment = self._fresh_environment(directory)
        log = self.logs / f"run-{self.runs:03}-{host}.log"
        extra, self.extra_env = {**self.extra_env, **(env or {})}, {}
        args = [str(MELTANO), "run", "--force", *(["--full-refresh"] if full_refresh else []), *PIPELINE]
        process = subprocess.Popen(args, cwd=ROOT, env={**environment, **extra,
                                                        "TARGET_NETSUITE_WRITE_MODE": write_mode},
                                   stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
        run = HostRun(self.runs, host, directory, log, process)
        self.history.append(run)
        threading.Thread(target=self._note_end, args=(run,), daemon=True).start()
        return process, log

    @staticmethod
    def _note_end(run: HostRun) -> None:
        run.process.wait()
        run.ended = dt.datetime.now(dt.UTC).isoformat()

    def run(self, *, write_mode: str, full_refresh: bool = False, timeout: float = 420) -> tuple[int, Path]:
        return run_to_end(*self.start(write_mode=write_mode, full_refresh=full_refresh), timeout)

    def invoke(self, host: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`meltano invoke ...` on a host, in a fresh run directory (deleted afterwards)."""
        self._purge()
        self.runs += 1
        directory = self.work / host / f"invoke-{self.runs:03}"
        environment = self._fresh_environment(directory)
        try:
            return subprocess.run([str(MELTANO), "invoke", *args], cwd=ROOT, env=environment,
                                  capture_output=True, text=True, timeout=600, check=False)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def finish(self) -> None:
        for run in self.history:
            if run.process.poll() is None:
                run.process.wait()
        self._purge()


@dataclass
class Check:
    """One required result of the multi-host soak, as the table shows it."""

    requirement: str
    observed: str = "not exercised"
    ok: bool = False


class StoreOracle(Oracle):
    """`soak.Oracle` reading the waiting dead letters and the parked records from the shared store."""

    def __init__(self, soak: HostSoak) -> None:
        super().__init__(soak)
        self.store_uri = soak.project.store_uri

    def letters(self) -> dict[tuple[str, str], dict]:
        return {(e["record_type"], e["externalId"]): e for e in store_letters(self.store_uri) if e.get("externalId")}

    def parked(self) -> dict[tuple[str, str], str]:
        return store_parked(self.store_uri)


def store_letters(store_uri: str) -> list[dict]:
    from connector_kit.store import Store
    from connector_kit.store_accounts import account_schema
    from target_netsuite.dead_letters import stored_letters

    store = Store.from_uri(store_uri, schema=account_schema(ACCOUNT_ID))
    try:
        return stored_letters(store)
    finally:
        store.close()


def store_parked(store_uri: str) -> dict[tuple[str, str], str]:
    from connector_kit.store import Store
    from connector_kit.store_accounts import account_schema
    from target_netsuite.parking import ParkedRecords

    store = Store.from_uri(store_uri, schema=account_schema(ACCOUNT_ID))
    try:
        return {(p.record_type, p.external_id): p.waiting_for for p in ParkedRecords(store).all()}
    finally:
        store.close()


class HostSoak(Soak):
    """The soak's cycles on stateless hosts (`Hosts`), with the planted multi-host scenarios."""

    project: Hosts  # type: ignore[assignment]

    def __init__(self, config: SoakConfig, salesforce_url: str, netsuite_url: str, work: Path, *, database_uri: str,
                 store_uri: str, hosts: int = 3, simultaneous_every: int = 6) -> None:
        super().__init__(config, salesforce_url, netsuite_url, work)
        names = [f"host-{chr(ord('a') + n)}" for n in range(hosts)]
        self.project = Hosts(work, names, salesforce_url, netsuite_url, database_uri, store_uri,
                             random.Random(config.seed + 27))
        self.netsuite_url = netsuite_url
        self.simultaneous_every = simultaneous_every
        self.checks = {
            "ledger": Check("the ledger spans hosts: B writes v1, A writes v2, Salesforce reverts, B sends v1"),
            "parked": Check("parked children survive a change of host"),
            "simultaneous": Check("two hosts start at once: one writes, the other exits with the lock line, "
                                  "no STATE"),
            "letters": Check("dead letters listed from any host (also those another host wrote)"),
            "disks": Check("no durable file on any host's disk (fresh run directory per run)"),
        }

    # --- the planted multi-host scenarios -----------------------------------------------------------------------
    def _cycle_on(self, number: int, editor: Editor | None, host: str, *, env: dict[str, str] | None = None,
                  note: str) -> Cycle:
        self.project.pin, self.project.extra_env = host, dict(env or {})
        return self.run_cycle(number, editor, disturb=False, note=f"{note} on {host}")

    def _phone(self, account: str) -> str | None:
        rows = [c for c in self.ns.records("customer") if c.get("externalId") == account]
        return str(rows[0].get("phone")) if rows else None

    def ledger_step(self, step: int, account: str, host: str) -> None:
        """Record NetSuite's phone after ledger step `step` (1: v1 on B, 2: v2 on A, 3: reverted, B again)."""
        self._phones.append((host, self._phone(account)))
        if step < 3:
            return
        (b1, v1), (a2, v2), (b3, v3) = self._phones
        check = self.checks["ledger"]
        check.ok = v1 is not None and v1 != v2 and v3 == v1
        check.observed = f"Account {account}: NetSuite phone {v1!r} after {b1}, {v2!r} after {a2}, {v3!r} after {b3}"

    def plant_parked(self, number: int, editor: Editor, host: str) -> tuple[Cycle, set[str], str]:
        """A new Account with 3 Contacts; a run on `host` reads the Contacts only: they are parked."""
        account = self.sf.create("Account", {"Name": f"Host Move Co {number} Ltd", "Phone": f"+44 20 7946 {number:04}",
                                             "BillingCity": "London", "BillingCountry": "GB"})["id"]
        contacts = {self.sf.create("Contact", {"LastName": f"Mover{number}x{k}", "FirstName": "Hana",
                                               "AccountId": account})["id"] for k in range(3)}
        editor.protected.update({account, *contacts})  # the check needs them as created
        cycle = self._cycle_on(number, editor, host, env={"TAP_SALESFORCE_CUSTOM__SELECT": '["Contact.*"]'},
                               note="parked: Contacts only")
        self._parked_on = (host, {key[1] for key in store_parked(self.project.store_uri) if key[0] == "contact"}
                           & contacts)
        return cycle, contacts, account

    def parked_settled(self, contacts: set[str], account: str, host: str) -> None:
        """After the next run (on another host): every parked Contact is in NetSuite under its company."""
        first, parked = self._parked_on
        customers = {c["externalId"]: c["id"] for c in self.ns.records("customer") if c.get("externalId")}
        arrived = {c["externalId"] for c in self.ns.records("contact") if c.get("externalId") in contacts
                   and str((c.get("company") or {}).get("id")) == str(customers.get(account))}
        still = {key[1] for key in store_parked(self.project.store_uri)} & contacts
        check = self.checks["parked"]
        check.ok = first != host and parked == contacts and arrived == contacts and not still
        check.observed = (f"{len(parked)}/{len(contacts)} Contacts parked on {first}; after the next run, on {host}: "
                          f"{len(arrived)} in NetSuite under their company, {len(still)} still parked")

    def _lock_holder(self, jobs: dict[str, subprocess.Popen]) -> list[tuple[str, psutil.Process]]:
        """The host and target process (of `jobs`) whose connection holds the account's advisory lock, if any."""
        from connector_kit.store import lock_key
        from target_netsuite.services import account_lock_name

        unsigned = lock_key(account_lock_name(self.netsuite_url.rstrip("/"), ACCOUNT_ID)) & 0xFFFFFFFFFFFFFFFF
        query = sa.text("SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                        "AND l.classid::bigint = :high AND l.objid::bigint = :low")
        with self._engine().connect() as conn:
            ports = {row[0] for row in conn.execute(query, {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF})}
        for host, process in jobs.items() if ports else ():
            target = target_process(process)
            with contextlib.suppress(psutil.Error):
                if target is not None and {c.laddr.port for c in target.net_connections("tcp")} & ports:
                    return [(host, target)]
        return []

    def _engine(self) -> sa.Engine:
        if not hasattr(self, "_pg"):
            self._pg = sa.create_engine(self.project.database_uri, poolclass=sa.pool.NullPool)
        return self._pg

    def simultaneous(self, number: int, editor: Editor) -> Cycle:
        """Two hosts start at once; the lock's holder is frozen until the other job has ended, then resumes (and, in
        `kill_share` of these cycles, is killed at once: SIGKILL or SIGTERM, of the job or of the target alone)."""
        c = self.config
        cycle = Cycle(number, ("sync", "auto")[number % 2], False)
        self.faults(number, on=True)
        hosts = self.project.rng.sample(self.project.names, 2)
        started = time.monotonic()
        jobs = {host: self.project.start(write_mode=cycle.write_mode, host=host)[0] for host in hosts}
        stop = threading.Event()
        edits: list[str] = []

        def edit_loop() -> None:
            for _ in range(c.edits_per_cycle):
                if stop.wait(self.rng.uniform(0.2, 1.5)):
                    return
                edits.append(editor.edit())

        thread = threading.Thread(target=edit_loop, daemon=True)
        thread.start()
        found: list[tuple[str, psutil.Process]] = []

        def locked() -> bool:
            if all(p.poll() is not None for p in jobs.values()):
                return True
            found.extend(self._lock_holder(jobs))
            return bool(found)

        wait_for(locked, c.run_timeout, poll=0.1)
        held_by, holder = found[0] if found else (None, None)
        outcome = "no target held the lock"
        if holder is not None and held_by is not None:
            other = next(h for h in hosts if h != held_by)
            with contextlib.suppress(psutil.Error):
                holder.suspend()  # a stalled host: it keeps the lock, writes nothing meanwhile
            try:
                other_code = jobs[other].wait(timeout=c.run_timeout)
            except subprocess.TimeoutExpired:
                kill_group(jobs[other], signal.SIGKILL)
                other_code = jobs[other].wait()
            finally:
                with contextlib.suppress(psutil.Error):
                    holder.resume()
            if self.rng.random() < c.kill_share:  # the holder dies mid-write: the next run, any host, goes on
                signum = signal.SIGTERM if self.rng.random() < c.sigterm_share else signal.SIGKILL
                if self.rng.random() < c.target_only_share:
                    with contextlib.suppress(psutil.Error):
                        holder.send_signal(signum)
                    cycle.killed = f"{signal.Signals(signum).name} target"
                else:
                    kill_group(jobs[held_by], signum)
                    cycle.killed = f"{signal.Signals(signum).name} job"
            log = next(r.log for r in reversed(self.project.history) if r.process is jobs[other]).read_text()
            refused = other_code != 0 and LOCK_LINE in log and STATE_LINE not in log
            outcome = (f"{held_by} held the lock and wrote; {other} exited {other_code}"
                       f"{' with the lock line' if LOCK_LINE in log else ' WITHOUT the lock line'}"
                       f"{', wrote a STATE' if STATE_LINE in log else ', no STATE'}")
            check = self.checks["simultaneous"]
            check.ok = refused and (check.ok or check.observed == "not exercised")
            check.observed = outcome if check.observed == "not exercised" else f"{check.observed}; {outcome}"
            cycle.overlap_returncode = other_code
        try:
            cycle.returncode = jobs[held_by or hosts[0]].wait(timeout=c.run_timeout)
        except subprocess.TimeoutExpired:
            kill_group(jobs[held_by or hosts[0]], signal.SIGKILL)
            cycle.returncode = jobs[held_by or hosts[0]].wait()
        for process in jobs.values():
            process.wait()
        stop.set()
        thread.join()
        cycle.edits, cycle.seconds = len(edits), time.monotonic() - started
        cycle.note = f"simultaneous start on {' and '.join(hosts)}: {outcome}"
        return cycle

    def list_letters_everywhere(self) -> None:
        """`pipeline-ops dead-letters export` on every host lists exactly the store's waiting letters, those written
        on other hosts included."""
        waiting = store_letters(self.project.store_uri)
        want = {(e["run_id"], e["seq"]) for e in waiting}
        writers = self._letter_hosts(waiting)
        results = []
        ok = bool(want) and len(self.project.names) > 1 and set(writers) == want
        for host in self.project.names:
            done = self.project.invoke(host, "pipeline-ops", "dead-letters", "export")
            listed = {(e["run_id"], e["seq"]) for line in done.stdout.splitlines() if line.startswith("{")
                      for e in [json.loads(line)]}
            foreign = sum(1 for key in listed if writers.get(key) not in (None, host))
            ok = ok and done.returncode == 0 and listed == want
            results.append(f"{host} lists {len(listed)} (exit {done.returncode}), {foreign} written on another host")
        check = self.checks["letters"]
        hosts = sorted(set(writers.values()))
        check.ok = ok
        check.observed = (f"{len(want)} waiting in the store, written on {', '.join(hosts) or 'no host'}; "
                          + "; ".join(results))

    def _letter_hosts(self, letters: list[dict]) -> dict[tuple[str, int], str]:
        """The host each letter was written on: the host of its run (the run id in the run's summary line; for a
        run killed before its summary, the only host with a run going when the letter was written)."""
        run_hosts = {}
        for run in self.project.history:
            for line in run.log.read_text(errors="replace").splitlines():
                if "Run summary: " in line:
                    run_hosts[json.loads(line.split("Run summary: ", 1)[1]).get("run_id")] = run.host
        found = {}
        for entry in letters:
            going = {r.host for r in self.project.history if r.started <= entry["time"] <= (r.ended or "9999")}
            host = run_hosts.get(entry["run_id"]) or (going.pop() if len(going) == 1 else None)
            if host is not None:
                found[(entry["run_id"], entry["seq"])] = host
        return found

    # --- the soak -------------------------------------------------------------------------------------------
    def run(self) -> Verdict:
        c = self.config
        self.seed()
        planned = {entry["for"] for entry in self.plan if entry["for"]}
        editor = self.new_editor()
        # The ledger's Account: the editor leaves its phone alone (the planted steps set it).
        account = sorted(a["Id"] for a in self.sf.records("Account")
                         if a["Id"] not in planned | self.refused and not a.get("IsDeleted"))[0]
        editor.protected.add(account)
        names = self.project.names
        host_a, host_b, host_c = names[0], names[1], names[2 % len(names)] if len(names) > 2 else names[1]
        self._phones: list[tuple[str, str | None]] = []
        self.sf.update("Account", account, {"Phone": LEDGER_V1})
        self._record(self._cycle_on(0, None, host_b, note="initial load; ledger step 1: Phone v1"))
        self.ledger_step(1, account, host_b)
        parked_cycle, contacts, parent = self.plant_parked(1, editor, host_c)
        self._record(parked_cycle)
        self.sf.update("Account", account, {"Phone": LEDGER_V2})
        self._record(self._cycle_on(2, editor, host_a, note="ledger step 2: Phone v2; the parked Contacts' next run"))
        self.ledger_step(2, account, host_a)
        self.parked_settled(contacts, parent, host_a)
        self.sf.update("Account", account, {"Phone": LEDGER_V1})
        self._record(self._cycle_on(3, editor, host_b, note="ledger step 3: Phone back to v1"))
        self.ledger_step(3, account, host_b)
        number = 4
        while True:
            if self.simultaneous_every and number % self.simultaneous_every == 0:
                cycle = self.simultaneous(number, editor)
            else:
                cycle = self.run_cycle(number, editor)
                cycle.note = f"{cycle.note} {self._hosts_since(cycle)}".strip()
            self._record(cycle)
            number += 1
            if number >= c.cycles and (c.minutes is None or time.monotonic() - self.started > c.minutes * 60):
                break
        self.final_codes = self.finish()
        self.project.finish()
        self.list_letters_everywhere()
        disks = self.checks["disks"]
        disks.ok = not self.project.durable_files
        disks.observed = (f"{len(self.project.history)} runs on {len(self.project.names)} hosts, each in a fresh "
                          f"run directory; durable files found: {self.project.durable_files or 0}")
        return StoreOracle(self).judge()

    def _hosts_since(self, cycle: Cycle) -> str:
        runs = [r.host for r in self.project.history[len(getattr(self, "_seen_runs", [])):]]
        return "on " + ", ".join(runs) if runs else ""

    def _record(self, cycle: Cycle) -> None:
        self.count_faults(cycle)
        self.cycles.append(cycle)
        self._seen_runs = list(self.project.history)
        print(f"cycle {cycle.number}: {cycle}", flush=True)


# ------------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------------
def table(soak: HostSoak, verdict: Verdict) -> list[tuple[str, str, bool]]:
    """(requirement, observed, ok) rows: the oracle's zeros first, then the multi-host checks."""
    figures = summary(soak, verdict, 0)
    rows = [(f"records {category.replace('_', ' ')}: 0", str(figures[category]), figures[category] == 0)
            for category in CATEGORIES]
    rows += [(check.requirement, check.observed, check.ok) for check in soak.checks.values()]
    return rows


def clean(soak: HostSoak, verdict: Verdict) -> bool:
    return all(ok for _, _, ok in table(soak, verdict))


def render(soak: HostSoak, verdict: Verdict, wall: float) -> str:
    f = summary(soak, verdict, wall)
    runs = soak.project.history
    by_host = {name: sum(1 for r in runs if r.host == name) for name in soak.project.names}
    lines = ["| required | observed | result |", "|---|---|---|"]
    lines += [f"| {req} | {obs} | {'ok' if ok else 'FAILED'} |" for req, obs, ok in table(soak, verdict)]
    lines += ["", f"Seed {f['seed']}, {f['cycles']} cycles, {len(runs)} `meltano run`s "
              f"({', '.join(f'{h} {n}' for h, n in by_host.items())}), {f['wall_seconds']} s; kills "
              f"{f['kills']} ({f['sigkills']} SIGKILL, {f['sigterms']} SIGTERM, {f['target_only_kills']} of the target "
              f"alone); overlapping starts {f['overlapping_starts']}; NetSuite faults {f['netsuite_faults']}, "
              f"Salesforce faults {f['salesforce_faults']}; Salesforce edits {f['edits']}; {f['expected_records']} "
              f"mapped records ({f['checked']} compared field by field, {f['excluded']} the policy's dead letters); "
              f"final runs' exit codes {f['final_runs']}."]
    return "\n".join(lines) + "\n"


def report(soak: HostSoak, verdict: Verdict, wall: float) -> str:
    lines = ["# Soak on several hosts: stateless hosts, one PostgreSQL server", "",
             f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `bench/host_soak.py` (module docstring: what runs, "
             "what is checked).", "", render(soak, verdict, wall), "## Cycles", "",
             "| # | mode | exit | killed | overlap exit | s | edits | NS faults | SF faults | note |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for c in soak.cycles:
        lines.append(f"| {c.number} | {c.write_mode} | {c.returncode} | {c.killed or ''} | "
                     f"{'' if c.overlap_returncode is None else c.overlap_returncode} | {c.seconds:.0f} | {c.edits} | "
                     f"{c.netsuite_faults} | {c.salesforce_faults} | {c.note} |")
    return "\n".join([*lines, *findings(verdict)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--cycles", type=int, default=20, help="cycles (a simultaneous start is one cycle)")
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--contacts", type=int, default=45)
    parser.add_argument("--opportunities", type=int, default=20)
    parser.add_argument("--edits", type=int, default=12, help="Salesforce edits per cycle")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "host_soak.md")
    args = parser.parse_args(argv)
    config = SoakConfig(seed=args.seed, cycles=args.cycles, accounts=args.accounts, contacts=args.contacts,
                        products=4, opportunities=args.opportunities, edits_per_cycle=args.edits,
                        full_refresh_cycles=(9,), planted=(), run_timeout=300)
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_server import new_database, running_server
    from target_bench import Sandbox

    sandbox = Sandbox()
    work = Path(tempfile.mkdtemp(prefix="host-soak-"))
    started = time.monotonic()
    try:
        with running_server() as server:
            uri = new_database(*server)
            soak = HostSoak(config, sandbox.salesforce_url, sandbox.url, work, database_uri=uri, store_uri=uri,
                            hosts=args.hosts)
            verdict = soak.run()
    finally:
        sandbox.stop()
    wall = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(soak, verdict, wall))
    print(render(soak, verdict, wall), flush=True)
    print(f"report: {args.out}; work directory: {work}")
    return 0 if clean(soak, verdict) else 1


if __name__ == "__main__":
    raise SystemExit(main())
