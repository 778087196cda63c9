"""The ledger never claims NetSuite holds a payload a killed run's write may still overtake (overtake.py).

Real path: `target-netsuite` subprocesses, a real SIGKILL while the run's batch job is still queued in the NetSuite
stand-in (`async_queue_held`: the account's processors busy with other work), then a rerun that writes the record's
new payload synchronously; the held job is released before or after the rerun's write."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sandbox.client import NetSuiteClient
from target_helpers import CUSTOMER_SCHEMA, TARGET_EXE, NetSuiteAdmin, customer, run_target, state
from target_netsuite.batches import SubmittedBatches

OLD, NEW = "555-0001", "555-0002"
X = "X007"


def _jobs(base_url: str) -> list[dict]:
    return NetSuiteClient(base_url, timeout=10).jobs()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _killed_with_job_queued(admin: NetSuiteAdmin, config: dict, tmp_path: Path, netsuite_url: str) -> None:
    """Run 1 (`write_mode: async`) sends 30 customers, X with the OLD phone, in batch jobs the stand-in holds; it is
    SIGKILLed once it polls them (the job's path is then committed in the nonce store)."""
    admin.knobs(async_queue_held=True)
    config_file = tmp_path / "run1-config.json"
    config_file.write_text(json.dumps({**config, "write_mode": "async"}))
    records = [customer(f"X{i:03}", phone=OLD) for i in range(30)]
    stdin = "".join(json.dumps(m) + "\n" for m in [CUSTOMER_SCHEMA, *records, state(1)])
    process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    assert process.stdin is not None
    process.stdin.write(stdin)
    process.stdin.close()  # the run drains and polls its jobs, which stay queued

    def polled() -> bool:
        assert process.poll() is None, "run 1 ended before it could be killed"
        carrying = [job["id"] for job in _jobs(netsuite_url) if any(t["external_id"] == X for t in job["tasks"])]
        return bool(carrying) and any(e["method"] == "GET" and e["path"].endswith(f"/job/{carrying[0]}")
                                      for e in admin.request_log())
    _wait(polled, "run 1 to poll its job carrying X")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    queued = [t for job in _jobs(netsuite_url) for t in job["tasks"] if t["external_id"] == X]
    assert queued and queued[0]["progress"] == "pending"  # the killed run's OLD payload is still in NetSuite's queue


def _phone(admin: NetSuiteAdmin) -> str:
    return str(admin.by_external_id("customer")[X]["phone"])


def _all_jobs_done(netsuite_url: str) -> bool:
    return all(t["progress"] in ("succeeded", "failed") for job in _jobs(netsuite_url) for t in job["tasks"])


def _report(config: dict) -> dict:
    return json.loads(Path(config["run_report_path"]).read_text())


@pytest.mark.parametrize("rerun_mode", ["sync", "auto"])
def test_a_killed_runs_job_landing_after_the_rerun_is_never_hidden_by_the_ledger(
        admin: NetSuiteAdmin, config: dict, tmp_path: Path, netsuite_url: str, rerun_mode: str) -> None:
    """The killed run's job is still queued when the rerun's wait for it runs out: the rerun writes X's NEW payload
    without recording it; the job then lands the OLD one; the next re-send of NEW is sent, not skipped as
    unchanged, and NetSuite ends with NEW."""
    _killed_with_job_queued(admin, config, tmp_path, netsuite_url)
    rerun = {**config, "write_mode": rerun_mode, "max_throttle_wait_seconds": 0}
    new = [CUSTOMER_SCHEMA, customer(X, phone=NEW), state(2)]
    run = run_target(rerun, new, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _phone(admin) == NEW
    warned = "not recorded in the ledger" in run.stderr

    admin.knobs(async_queue_held=False)  # the processors get to the killed run's job
    _wait(lambda: _all_jobs_done(netsuite_url), "the killed run's jobs to run")
    assert _phone(admin) == OLD  # overtaken: NetSuite holds the killed run's OLD payload

    run = run_target(rerun, new, tmp_path)  # the lookback re-sends NEW
    assert run.returncode == 0, run.stderr[-3000:]
    assert _report(config)["streams"]["customer"].get("unchanged", 0) == 0
    assert _phone(admin) == NEW

    run = run_target(rerun, new, tmp_path)  # settled now: the ledger holds NEW, and skips it
    assert run.returncode == 0, run.stderr[-3000:]
    assert _report(config)["streams"]["customer"]["unchanged"] == 1
    assert _phone(admin) == NEW
    assert warned  # the rerun said why it did not record X


def test_a_value_cleared_by_the_rerun_and_overtaken_by_the_killed_runs_job_is_cleared_again(
        admin: NetSuiteAdmin, config: dict, tmp_path: Path, netsuite_url: str) -> None:
    """The three-way merge beside the overtake (merge.py keeps the pending values): the rerun clears X's phone
    while the killed run's job still carries OLD; the job lands OLD. The next re-send of the cleared phone must
    clear it again: the merge must not take the overtaken value for a person's edit and leave the unchanged (empty)
    field out."""
    _killed_with_job_queued(admin, config, tmp_path, netsuite_url)
    rerun = {**config, "write_mode": "sync", "max_throttle_wait_seconds": 0}
    cleared = [CUSTOMER_SCHEMA, customer(X, phone=None), state(2)]
    run = run_target(rerun, cleared, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    admin.knobs(async_queue_held=False)
    _wait(lambda: _all_jobs_done(netsuite_url), "the killed run's jobs to run")
    assert _phone(admin) == OLD  # overtaken

    run = run_target(rerun, cleared, tmp_path)  # the lookback re-sends the cleared phone
    assert run.returncode == 0, run.stderr[-3000:]
    assert admin.by_external_id("customer")[X].get("phone") in (None, "")
    assert _report(config)["streams"]["customer"].get("netsuite_edits_kept", 0) == 0


def test_the_rerun_waits_for_the_killed_runs_job_then_writes_after_it(
        admin: NetSuiteAdmin, config: dict, tmp_path: Path, netsuite_url: str) -> None:
    """The job settles while the rerun waits for it: the rerun's NEW lands after the OLD one and is recorded;
    NetSuite holds NEW at the end of the rerun, and a later re-send is skipped."""
    _killed_with_job_queued(admin, config, tmp_path, netsuite_url)
    rerun = {**config, "write_mode": "sync", "max_throttle_wait_seconds": 120}
    new = [CUSTOMER_SCHEMA, customer(X, phone=NEW), state(2)]
    def job_polls() -> int:
        return sum(e["method"] == "GET" and "/async/v1/job/" in e["path"] for e in admin.request_log())
    before = job_polls()
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(run=run_target(rerun, new, tmp_path)))
    runner.start()
    _wait(lambda: job_polls() > before, "the rerun to ask NetSuite about the killed run's job")
    assert X not in admin.by_external_id("customer")  # the rerun has not written X yet: it waits for the job
    admin.knobs(async_queue_held=False)
    runner.join(timeout=180)
    assert not runner.is_alive()
    run = result["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert _all_jobs_done(netsuite_url)
    assert _phone(admin) == NEW
    assert "Waiting up to" in run.stderr and "not recorded in the ledger" not in run.stderr

    run = run_target(rerun, new, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _report(config)["streams"]["customer"]["unchanged"] == 1
    assert _phone(admin) == NEW



def test_nonce_store_of_an_older_version_gains_the_columns_and_other_runs_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "async_batches.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE submitted (account TEXT NOT NULL, digest TEXT NOT NULL, nonce TEXT NOT NULL, "
                "submitted_at REAL NOT NULL, PRIMARY KEY (account, digest))")
    old.execute("INSERT INTO submitted VALUES ('acct', 'd0', 'n0', ?)", (time.time(),))
    old.commit()
    old.close()
    killed = SubmittedBatches(path, "acct", "run-1")
    killed.nonce("d1", "customer", {"X1": "h1", "X2": None})
    killed.located("d1", "/services/rest/async/v1/job/7")
    wave = killed.start_wave("customer", {"X3": "h3"})
    killed.close()
    rerun = SubmittedBatches(path, "acct", "run-2")
    others = {u.digest: u for u in rerun.others()}
    assert others["d0"].keys == {} and others["d0"].job is None  # written before keys were kept: carries nothing known
    assert others["d1"].keys == {"X1": "h1", "X2": None} and others["d1"].job == "/services/rest/async/v1/job/7"
    seen = rerun.others_in_flight(bound_s=60)
    assert [(w.row, w.keys) for w in seen] == [(wave, {"X3": "h3"})]
    assert rerun.others_in_flight(bound_s=60)[0].seen_at == seen[0].seen_at  # stamped once
    assert rerun.others_in_flight(bound_s=-1) == []  # past the bound: dropped
    assert rerun.others_in_flight(bound_s=60) == []
    rerun.nonce("d1")  # the rerun forms the same batch: it takes the entry over
    assert "d1" not in {u.digest for u in rerun.others()}


def test_a_killed_runs_synchronous_request_landing_after_the_rerun_is_never_hidden_by_the_ledger(
        admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    """Run 1 (`write_mode: sync`) is SIGKILLed while NetSuite holds its write of X's OLD payload (received, not yet
    executed); the rerun writes NEW, and NetSuite applies the dead request after it. The rerun's write was not
    recorded (the killed run's wave was under way), so the next re-send of NEW is sent and NetSuite ends with NEW."""
    admin.knobs(held_writes=1)  # run 1's one request waits until released, however slowly the rerun starts
    config_file = tmp_path / "run1-config.json"
    config_file.write_text(json.dumps({**config, "write_mode": "sync"}))
    stdin = "".join(json.dumps(m) + "\n" for m in [CUSTOMER_SCHEMA, customer(X, phone=OLD), state(1)])
    process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    assert process.stdin is not None
    process.stdin.write(stdin)
    process.stdin.close()
    store = Path(config["dead_letter_path"]) / "async_batches.sqlite3"

    def writing() -> bool:  # the wave is marked (committed before its first request) and NetSuite holds a request
        assert process.poll() is None, "run 1 ended before it could be killed"
        if not store.exists():
            return False
        try:
            with sqlite3.connect(store) as db:
                marked = db.execute("SELECT COUNT(*) FROM in_flight").fetchone()[0]
        except sqlite3.OperationalError:  # the file is being created
            return False
        return bool(marked) and admin.stats()["in_flight"] > 0
    _wait(writing, "run 1's write of X to be under way")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)

    rerun = {**config, "write_mode": "sync"}
    new = [CUSTOMER_SCHEMA, customer(X, phone=NEW), state(2)]
    run = run_target(rerun, new, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    warned = "not recorded in the ledger" in run.stderr
    assert _phone(admin) == NEW  # the rerun's write landed while run 1's was held
    admin.knobs(held_writes=0)  # NetSuite now executes the dead request
    admin.wait_until_idle()
    assert _phone(admin) == OLD  # the dead request landed last

    run = run_target(rerun, new, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _report(config)["streams"]["customer"].get("unchanged", 0) == 0
    assert _phone(admin) == NEW
    assert warned


def test_a_killed_runs_job_landing_later_is_healed_with_nothing_sent_again(
        admin: NetSuiteAdmin, config: dict, tmp_path: Path, netsuite_url: str) -> None:
    """State moved past X's NEW payload while the killed run's job still held the OLD one: X stays parked after
    NetSuite accepted NEW, so a run whose input holds nothing of X (Salesforce sent nothing new) still heals it once
    the job has landed, and X then leaves the parking."""
    _killed_with_job_queued(admin, config, tmp_path, netsuite_url)
    rerun = {**config, "write_mode": "sync", "max_throttle_wait_seconds": 0}
    run = run_target(rerun, [CUSTOMER_SCHEMA, customer(X, phone=NEW), state(2)], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.states[-1]["bookmarks"]["customer"]["position"] == 2  # state moved past X
    admin.knobs(async_queue_held=False)
    _wait(lambda: _all_jobs_done(netsuite_url), "the killed run's jobs to run")
    assert _phone(admin) == OLD  # overtaken

    run = run_target(rerun, [CUSTOMER_SCHEMA, state(3)], tmp_path)  # nothing of X in the input
    assert run.returncode == 0, run.stderr[-3000:]
    assert _phone(admin) == NEW
    assert _report(config)["parked"] == 0
