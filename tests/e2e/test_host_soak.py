"""Issue 27, item 6: the short multi-host soak. Three stateless hosts (a fresh run directory for every run) share
one real PostgreSQL server for Meltano's system database and the target's store; runs land on seeded random hosts
with Salesforce edits, NetSuite and Salesforce faults, a simultaneous start on two hosts and a kill; then the oracle
(`bench/soak.py`'s, reading the store) and the multi-host checks (`bench/host_soak.py`). The long form (20+ runs) is
`bench/host_soak.py`.

Marked `slow`: not in `make test`; `make soak` runs it and CI runs `make soak` after `make test`. In `make test`,
`test_several_hosts.py` covers each multi-host requirement one at a time (parked children, the ledger, the lock and
dead letters across hosts, nothing on a host's disk) and `test_postgres_systemdb.py` the shared system database;
faults and kills across hosts with the oracle's verdict are only here."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from e2e_harness import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from host_soak import HostSoak, StoreOracle, render, table
from soak import SoakConfig, Verdict

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # `make soak` (CI runs it after `make test`)

#: Runs: the initial load, the parked Contacts, two ledger steps, a simultaneous start on two hosts whose lock holder
#: is killed once the other has ended, then the soak's two final runs.
SHORT = SoakConfig(seed=2027, cycles=5, accounts=8, contacts=10, products=2, opportunities=4, edits_per_cycle=4,
                   kill_share=1.0, sigterm_share=0.0, overlap_share=0.0, full_refresh_cycles=(), planted=(),
                   run_timeout=300)


@pytest.fixture(scope="module")
def soaked(salesforce_url: str, netsuite_url: str, postgres_server: tuple[str, int],
           tmp_path_factory: pytest.TempPathFactory) -> tuple[HostSoak, Verdict]:
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_server import new_database

    uri = new_database(*postgres_server)
    work = tmp_path_factory.mktemp("host-soak")
    soak = HostSoak(SHORT, salesforce_url, netsuite_url, work, database_uri=uri, store_uri=uri, hosts=3,
                    simultaneous_every=4)
    verdict = soak.run()
    rendered = render(soak, verdict, time.monotonic() - soak.started)
    (work / "host_soak.md").write_text(rendered)
    print(rendered)
    yield soak, verdict
    soak.ns.reset(knobs=True)
    soak.sf.calm()


def test_every_requirement_holds_across_hosts(soaked: tuple[HostSoak, Verdict]) -> None:
    """0 lost, 0 duplicated, 0 stale, 0 wrong references; parked children survive a change of host; of two hosts
    started at once only one writes; the ledger spans hosts; dead letters are listed from every host; no host's
    disk keeps anything."""
    soak, verdict = soaked
    failed = [(requirement, observed) for requirement, observed, ok in table(soak, verdict) if not ok]
    details = {c: getattr(verdict, c)[:10] for c in ("lost", "duplicated", "stale", "wrong_references")}
    assert not failed, json.dumps({"failed": failed, **details}, default=str, indent=1)[:6000]


def test_the_soak_really_soaked(soaked: tuple[HostSoak, Verdict]) -> None:
    """Runs landed on every host, a kill landed, faults and edits happened, records were compared and the policy's
    dead letters (written on one host, listed on the others) exist."""
    soak, verdict = soaked
    assert {run.host for run in soak.project.history} == set(soak.project.names)
    assert any(c.killed for c in soak.cycles), [c.note for c in soak.cycles]
    assert sum(c.netsuite_faults for c in soak.cycles) > 0
    assert sum(c.edits for c in soak.cycles) > 0
    assert verdict.checked > 20 and verdict.excluded, verdict.excluded


def test_the_oracle_sees_a_lost_record(soaked: tuple[HostSoak, Verdict], tmp_path: Path) -> None:
    """The oracle can fail: a contact deleted by hand in NetSuite (a planted lost record) is found lost, and the
    table marks the requirement failed (runs last: it changes NetSuite)."""
    soak, before = soaked
    flagged = {(i["record_type"], i["externalId"]) for i in before.excluded}
    contact = next(c for c in sorted(soak.ns.records("contact"), key=lambda c: c.get("externalId") or "")
                   if c.get("externalId") and ("contact", c["externalId"]) not in flagged)
    soak.ns.delete_record("contact", contact["id"])
    after = StoreOracle(soak).judge()
    assert [i["externalId"] for i in after.lost] == [contact["externalId"]], after.lost
    assert not any(ok for requirement, _observed, ok in table(soak, after) if requirement.startswith("records lost"))
