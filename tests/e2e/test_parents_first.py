"""Issue 20: a child never loses a parent not yet read, through real `meltano run`.

- An initial load with 1,200 Opportunities and a 100-record batch (the salesOrder sink drains several times
  before the run ends)
  writes every won opportunity with lines as a sales order: the tap reads parents first, and a child whose parent
  is not in NetSuite yet is parked, never dead-lettered.
- Forced mid-run checkpoints and a quota stop inside Opportunity lose nothing by the next run.
- A child whose parent reaches the pipeline only in a later run is written in that run, with no manual replay.
- Overlapping starts never both write; the README's backfill recipe beside the schedule waits its turn.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_harness import MELTANO, PIPELINE, ROOT, MeltanoProject, SandboxAdmin, run_summaries

pytestmark = pytest.mark.e2e

OPPORTUNITIES = 1200
BATCH_ROWS = 100  # the target's batch_size_rows: several salesOrder drains before the input ends
NO_CONTACTS = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Product2.*", "Opportunity.*"]'}


@pytest.fixture
def big_org(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> Iterator[set[str]]:
    """60 Accounts, 15 Products, 1,200 Opportunities; returns the won ones (each must become an order: one with
    lines as its lines, a service deal without products as one line of the service item)."""
    salesforce.post("reset", {"seed": 20, "accounts": 60, "contacts": 0, "products": 15,
                              "opportunities": OPPORTUNITIES})
    netsuite.post("reset", {"knobs": True})
    yield _won(salesforce)
    netsuite.post("reset", {"knobs": True})
    salesforce.post("knobs", {"api_usage": 0, "api_limit": 15000})


def _won_with_lines(salesforce: SandboxAdmin) -> set[str]:
    lines = {r["OpportunityId"] for r in salesforce.records("OpportunityLineItem") if not r.get("IsDeleted")}
    return {o["Id"] for o in salesforce.records("Opportunity")
            if o.get("IsWon") and not o.get("IsDeleted") and o["Id"] in lines}


def _won(salesforce: SandboxAdmin) -> set[str]:
    return {o["Id"] for o in salesforce.records("Opportunity") if o.get("IsWon") and not o.get("IsDeleted")}


def _sales_orders(netsuite: SandboxAdmin) -> set[str]:
    return {r["externalId"] for r in netsuite.records("salesOrder")}


def _dead_letters(project: MeltanoProject) -> list[dict]:
    directory = project.tmp / "dead_letters"
    return [json.loads(line) for f in sorted(directory.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_initial_load_writes_every_sales_order(meltano_project: MeltanoProject, netsuite: SandboxAdmin,
                                               big_org: set[str]) -> None:
    assert len(big_org) > 2 * BATCH_ROWS  # the salesOrder sink drains several times before the end of the input
    meltano_project.env.update({**NO_CONTACTS, "TARGET_NETSUITE_BATCH_SIZE_ROWS": str(BATCH_ROWS)})
    result = meltano_project.run_pipeline()
    assert _sales_orders(netsuite) == big_org
    assert [d for d in _dead_letters(meltano_project) if d["code"] == "UNRESOLVED_REFERENCE"] == []
    [summary] = run_summaries(result.stderr)
    assert summary["parked"] == 0


def test_mid_run_checkpoints_and_a_quota_stop_inside_opportunity_lose_nothing(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, big_org: set[str]
) -> None:
    project = meltano_project
    project.env.update({**NO_CONTACTS, "TARGET_NETSUITE_CHECKPOINT_INTERVAL_SECONDS": "0.5",
                        "TARGET_NETSUITE_BATCH_SIZE_ROWS": "200", "TAP_SALESFORCE_CUSTOM_PAGE_SIZE": "200"})
    # The guard stops at 80 of 100 calls: 18 left. Discovery and the three parent streams cost about 10, each
    # Opportunity page of 200 costs 2 (6 pages): it stops inside Opportunity.
    salesforce.post("knobs", {"api_limit": 100, "api_usage": 62})
    stopped = project.run_pipeline()
    assert "quota guard" in stopped.stderr
    bookmarks = project.state()["singer_state"]["bookmarks"]
    assert "Product2" in bookmarks and "Opportunity" in bookmarks  # stopped inside Opportunity, after Product2
    partial = _sales_orders(netsuite)
    assert partial < big_org and partial

    salesforce.post("knobs", {"api_usage": 0, "api_limit": 15000})
    project.run_pipeline()
    assert _sales_orders(netsuite) == big_org
    assert [d for d in _dead_letters(project) if d["code"] == "UNRESOLVED_REFERENCE"] == []


def test_child_whose_parent_comes_in_a_later_run(meltano_project: MeltanoProject, salesforce: SandboxAdmin,
                                                 netsuite: SandboxAdmin) -> None:
    """Products reach the pipeline only in run 2 (first left out of the selection): the orders of run 1 whose
    lines name products wait, parked, and are written at the end of run 2 without any replay (service deals, one
    line of the service item, need no product and are written in run 1)."""
    salesforce.post("reset", {"seed": 21, "accounts": 5, "contacts": 0, "products": 4, "opportunities": 40})
    netsuite.post("reset", {"knobs": True})
    expected, with_lines = _won(salesforce), _won_with_lines(salesforce)
    assert with_lines and expected - with_lines
    project = meltano_project
    first = project.run_pipeline(env={"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Opportunity.*"]'})
    assert _sales_orders(netsuite) == expected - with_lines
    [summary] = run_summaries(first.stderr)
    assert summary["streams"]["salesOrder"]["waiting"] == len(with_lines) and summary["parked"] == len(with_lines)
    assert "Opportunity" in project.state()["singer_state"]["bookmarks"]  # state moved on: the orders are parked

    second = project.run_pipeline(env=NO_CONTACTS)
    assert _sales_orders(netsuite) == expected
    assert run_summaries(second.stderr)[0]["parked"] == 0
    assert [d for d in _dead_letters(project) if d["code"] == "UNRESOLVED_REFERENCE"] == []


def _barrier_start(commands: list[list[str]], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Start the commands at the same instant (threads released by one barrier) and wait for all of them."""
    barrier = threading.Barrier(len(commands))
    results: list[subprocess.CompletedProcess[str] | None] = [None] * len(commands)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = subprocess.run(commands[i], cwd=ROOT, env=env, text=True, capture_output=True, timeout=600,
                                    check=False)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def _writers(results: list[subprocess.CompletedProcess[str]]) -> int:
    return sum(1 for r in results for s in run_summaries(r.stderr) if any(c.get("written") for c in
                                                                          s["streams"].values()))


@pytest.mark.parametrize("attempt", range(2))
def test_simultaneous_starts_never_both_write(meltano_project: MeltanoProject, salesforce: SandboxAdmin,
                                              netsuite: SandboxAdmin, attempt: int) -> None:
    """Two bare `meltano run`s released by one barrier: Meltano's own check can let both through; the target's
    account lock lets only one write. (10 tries: `tests/e2e/test_parents_first.py -m slow`.)"""
    _simultaneous(meltano_project, salesforce, netsuite, attempt)


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(2, 10))
def test_simultaneous_starts_never_both_write_ten_tries(meltano_project: MeltanoProject, salesforce: SandboxAdmin,
                                                        netsuite: SandboxAdmin, attempt: int) -> None:
    _simultaneous(meltano_project, salesforce, netsuite, attempt)


def _simultaneous(project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, attempt: int) -> None:
    salesforce.post("reset", {"seed": 30 + attempt, "accounts": 20, "contacts": 0, "products": 0,
                              "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    netsuite.post("knobs", {"latency_ms": 100})
    assert project.meltano("state", "list").returncode == 0  # the system database exists, as on any used host
    try:
        env = {**project.base_env(), "TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
        results = _barrier_start([[str(MELTANO), "run", *PIPELINE]] * 2, env)
    finally:
        netsuite.post("knobs", {"latency_ms": 0})
    assert _writers(results) <= 1
    assert len(netsuite.records("customer")) == 20 or any(r.returncode != 0 for r in results)
    losers = [r for r in results if r.returncode != 0]
    for loser in losers:
        assert any(reason in loser.stderr for reason in _LOSING_REASONS), loser.stderr[-3000:]
        assert _writers([loser]) == 0


# How the second of two simultaneous runs may stop, each before it writes: Meltano's own job check; the target's
# account lock; or Meltano's run files colliding (one `.meltano/run/<plugin>/` per project, so the first run's
# clean-up can delete the catalog the second one is about to pass to its tap, or its discovery can be half-way
# through writing it). The README's `flock` avoids all of them.
_LOSING_REASONS = ("already running", "another target-netsuite run", "tap.properties.json': No such file",
                   "Cannot start plugin tap-salesforce-custom: Invalid catalog")


@pytest.mark.parametrize("attempt", range(2))
def test_backfill_recipe_beside_the_schedule_waits_its_turn(meltano_project: MeltanoProject,
                                                            salesforce: SandboxAdmin, netsuite: SandboxAdmin,
                                                            tmp_path: Path, attempt: int) -> None:
    _backfill_beside_schedule(meltano_project, salesforce, netsuite, tmp_path, attempt)


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(2, 10))
def test_backfill_recipe_beside_the_schedule_ten_tries(meltano_project: MeltanoProject, salesforce: SandboxAdmin,
                                                       netsuite: SandboxAdmin, tmp_path: Path, attempt: int) -> None:
    _backfill_beside_schedule(meltano_project, salesforce, netsuite, tmp_path, attempt)


def _backfill_beside_schedule(meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin,
                              tmp_path: Path, attempt: int) -> None:
    """The README's cron line (`flock -n`) and backfill recipe (`flock`, waiting) on one lock file: the backfill
    starts while the scheduled run writes; both succeed, the backfill after the scheduled run. (More tries:
    `-m slow`.)"""
    salesforce.post("reset", {"seed": 40 + attempt, "accounts": 15, "contacts": 0, "products": 0,
                              "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    netsuite.post("knobs", {"latency_ms": 300})
    lock = tmp_path / "pipeline.lock"
    env = {**meltano_project.base_env(), "TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
    scheduled = subprocess.Popen(["flock", "-n", str(lock), str(MELTANO), "run", *PIPELINE], cwd=ROOT, env=env,
                                 text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: netsuite.get("stats")["requests"] >= 2)
        backfill = subprocess.run(
            ["flock", str(lock), str(MELTANO), "run", "--state-id-suffix", "backfill", "--full-refresh", *PIPELINE],
            cwd=ROOT, env=env, text=True, capture_output=True, timeout=600, check=False)
        assert scheduled.poll() is not None, "the backfill must wait until the scheduled run has finished"
        _, scheduled_err = scheduled.communicate(timeout=600)
    finally:
        netsuite.post("knobs", {"latency_ms": 0})
        if scheduled.poll() is None:
            scheduled.kill()
    assert scheduled.returncode == 0, scheduled_err[-3000:]
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    assert len(netsuite.records("customer")) == 15
    assert meltano_project.state() is not None
    assert meltano_project.state("dev:tap-salesforce-custom-to-target-netsuite:backfill") is not None


def _wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
