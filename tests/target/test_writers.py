"""The write modes as strategies (writers.py): the sizing rule of `auto`'s jobs, the async pool's model, and each
writer through the NetSuite stand-in over real HTTP (a real `NetSuiteClient`, the writer's futures as the sink
waits for them)."""

from __future__ import annotations

import threading
import time
import typing as t
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import pytest
from target_helpers import NetSuiteAdmin
from target_netsuite.batch_job import AsyncPool
from target_netsuite.batches import MAX_BATCH, SubmittedBatches
from target_netsuite.client import NetSuiteClient, RecordError
from target_netsuite.references import ReferenceResolver
from target_netsuite.services import TargetSettings, connect
from target_netsuite.target import TargetNetSuite
from target_netsuite.writers import (
    MIN_JOB,
    PROBE_JOB,
    PROBE_SHARE,
    AsyncWriter,
    AutoWriter,
    SyncWriter,
    Writer,
    job_size,
    writer_for,
)
from target_netsuite.writes import Write

# --- the sizing rule (no NetSuite) -------------------------------------------------------------------------------


def _plan(backlog: int, sync_rate: float, async_rate: float, open_jobs: int = 2) -> tuple[list[int], float, float]:
    """The jobs `job_size` cuts from a wave while both pools work at the given rates (a simulated clock, events in
    time order): the job sizes, and when each pool runs out of work."""
    now, left = 0.0, backlog
    jobs: list[int] = []
    open_ends: list[tuple[float, int]] = []  # (end, size), processors in submission order
    sync_done_at = 0.0
    next_sync = 0.0
    while left > 0 or open_ends:
        while left > 0 and len(open_ends) < open_jobs:
            size = job_size(left, sum(size for _, size in open_ends), sync_rate, async_rate)
            if not size:
                break
            start = max(now, open_ends[-1][0] if open_ends else now)
            open_ends.append((start + size / async_rate, size))
            jobs.append(size)
            left -= size
        events = [e for e in (open_ends[0][0] if open_ends else None, next_sync if left > 0 else None) if e is not None]
        if not events:
            break
        now = min(events)
        if open_ends and open_ends[0][0] == now:
            open_ends.pop(0)
        else:  # the synchronous pool writes one more record
            left -= 1
            sync_done_at = now + 1 / sync_rate
            next_sync = now + 1 / sync_rate
    async_done_at = max([0.0, *[end for end, _ in open_ends]])
    return jobs, sync_done_at, max(async_done_at, now if jobs else 0.0)


def test_unknown_rates_give_one_probe_job_at_a_time() -> None:
    assert job_size(500, 0, None, 4 / 3) == PROBE_JOB
    assert job_size(500, 0, 5 / 3, None) == PROBE_JOB
    assert job_size(500, PROBE_JOB, 5 / 3, None) == 0  # the probe is out: wait for its rate
    assert job_size(24, 0, None, None) == 24 // PROBE_SHARE  # a small wave is not held open by a slow pool
    assert job_size(0, 10, 1.0, 1.0) == 0


def test_the_async_share_is_what_the_processors_finish_while_the_sync_pool_writes_the_rest() -> None:
    # The account: 3 s writes, C = 5 (5/3 records a second), P = 4 (4/3). Of 167 records the async pool's
    # share is 167 * 4/9 = 74; the first job takes half of it (the old writer took 83 in one job).
    assert job_size(167, 0, 5 / 3, 4 / 3) == 37
    # With those 37 queued, the share left is 37: half of it again.
    assert job_size(130, 37, 5 / 3, 4 / 3) == 19
    # Jobs never exceed a batch, and a share under MIN_JOB is left to the synchronous pool.
    assert job_size(10_000, 0, 5 / 3, 4 / 3) == MAX_BATCH
    assert job_size(8, 0, 5 / 3, 4 / 3) == 0
    assert job_size(200, 170, 5 / 3, 4 / 3) == 0  # the processors already hold more than their share


@pytest.mark.parametrize(("backlog", "sync_rate", "async_rate"), [
    (167, 5 / 3, 4 / 3),  # the figures, one 60 s interval's changes
    (600, 5 / 3, 4 / 3),  # a backlog of several intervals
    (167, 5 / 10, 4 / 10),  # 10 s writes
    (1000, 5 / 0.15, 4 / 0.15),  # the scaled bench (x20)
    (300, 5 / 3, 1 / 3),  # one async processor
])
def test_both_pools_run_out_of_work_together_and_the_last_job_is_small(backlog: int, sync_rate: float,
                                                                       async_rate: float) -> None:
    jobs, sync_done, async_done = _plan(backlog, sync_rate, async_rate)
    ideal = backlog / (sync_rate + async_rate)
    assert jobs and max(jobs) <= MAX_BATCH
    assert jobs[-1] <= 2 * MIN_JOB  # the tail is a few records' time, not a 60-record job
    assert max(sync_done, async_done) <= ideal + 2 * MIN_JOB / async_rate + 1 / sync_rate
    assert abs(sum(jobs) / backlog - async_rate / (sync_rate + async_rate)) < 0.1


def test_the_pool_expects_jobs_in_submission_order_at_the_measured_rate() -> None:
    now = [100.0]
    pool = AsyncPool(clock=lambda: now[0])
    first, second, third = object(), object(), object()
    pool.opened(first, 12)
    assert pool.expected_end(first) is None  # no rate measured yet: plain backoff
    now[0] = 109.0
    pool.closed(first, completed=True)  # 12 records in 9 s
    assert pool.rate == pytest.approx(12 / 9)
    pool.opened(second, 8)
    now[0] = 110.0
    pool.opened(third, 4)
    assert pool.expected_end(second) == pytest.approx(109 + 8 * 9 / 12)  # started when the first one ended
    assert pool.expected_end(third) == pytest.approx(109 + 12 * 9 / 12)  # behind the second
    pool.closed(second, completed=False)  # gone: not measured
    assert pool.rate == pytest.approx(12 / 9)
    assert pool.expected_end(third) == pytest.approx(110 + 4 * 9 / 12)  # now first in line, from its submission


def test_jobs_sharing_the_processors_and_seen_complete_together_keep_the_pool_rate() -> None:
    """Two jobs open at once share the processors; a poll sees the second complete a moment after the first. The
    rate stays the pool's (4 processors, 3 s a task: 1.33 records a second), not 9 records in 0.1 s."""
    now = [100.0]
    pool = AsyncPool(clock=lambda: now[0])
    first, second = object(), object()
    pool.opened(first, 20)
    pool.opened(second, 9)
    now[0] = 121.7  # both done at 29 * 3 / 4 = 21.75 s; seen 21.7 s and 21.8 s after submission
    pool.closed(first, completed=True)
    now[0] = 121.8
    pool.closed(second, completed=True)
    assert pool.rate is not None and 1.0 < pool.rate < 1.6
    third = object()
    now[0] = 130.0  # idle in between: not counted
    pool.opened(third, 8)
    now[0] = 136.0
    pool.closed(third, completed=True)
    assert 1.0 < pool.rate < 1.6


# --- each writer through the stand-in ----------------------------------------------------------------------------

REFUSED = r"^[WV]\d*7$"


@pytest.fixture
def client(admin: NetSuiteAdmin, config: dict) -> Iterator[NetSuiteClient]:
    settings = TargetSettings.from_config(config, TargetNetSuite.config_jsonschema)
    netsuite = connect(settings)
    yield netsuite
    netsuite.close()


def _writer(mode: str, client: NetSuiteClient, executor: ThreadPoolExecutor, tmp_path: Path) -> Writer:
    return writer_for(mode, client=client, resolver=ReferenceResolver(client), executor=executor, workers=5,
                      submitted=SubmittedBatches(tmp_path / "async_batches.sqlite3", "account", "run-1"))


def _writes(count: int, prefix: str = "W") -> list[Write]:
    return [Write(f"{prefix}{i}", "upsert", {}, {"companyName": f"Company {prefix}{i}", "subsidiary": {"id": "1"}},
                  [], []) for i in range(count)]


def _send_one(client: NetSuiteClient) -> t.Callable[[Write], None]:
    def send(write: Write) -> None:  # what the sink's `_send` does
        if write.action == "delete":
            client.delete("customer", write.external_id)
        else:
            client.upsert("customer", write.external_id, write.body, write.replace)
    return send


def _outcomes(futures: dict[Future[None], Write]) -> dict[str, BaseException | None]:
    done, pending = wait(futures, timeout=120)
    assert not pending
    return {futures[future].external_id: future.exception() for future in done}


def _jobs(netsuite_url: str) -> list[dict]:
    return NetSuiteAdmin(netsuite_url).jobs()


def _synchronous_puts(admin: NetSuiteAdmin) -> list[str]:
    log = admin.request_log()
    return [e["path"].rsplit("eid:", 1)[-1] for e in log if e["method"] == "PUT" and "/eid:" in e["path"]]


def _check_outcomes(outcomes: dict[str, BaseException | None], admin: NetSuiteAdmin, count: int,
                    prefix: str = "W") -> None:
    """Every write accepted but those the account's rule refuses (ids ending in 7), each with its own error."""
    wanted = {f"{prefix}{i}" for i in range(count)}
    refused = {eid for eid in wanted if eid.endswith("7")}
    assert set(outcomes) == wanted
    assert {eid for eid, error in outcomes.items() if error is None} == wanted - refused
    for eid in refused:
        error = outcomes[eid]
        assert isinstance(error, RecordError) and error.code == "USER_ERROR"
    assert {eid for eid in admin.by_external_id("customer") if eid.startswith(prefix)} == wanted - refused


def test_sync_writer_one_request_per_record(admin: NetSuiteAdmin, client: NetSuiteClient, tmp_path: Path,
                                            netsuite_url: str) -> None:
    admin.knobs(reject_external_id_pattern=REFUSED)
    with ThreadPoolExecutor(5) as executor:
        writer = _writer("sync", client, executor, tmp_path)
        assert isinstance(writer, SyncWriter)
        outcomes = _outcomes(writer.send("customer", _writes(40), _send_one(client)))
        writer.close()
    _check_outcomes(outcomes, admin, 40)
    assert sorted(_synchronous_puts(admin)) == sorted(f"W{i}" for i in range(40))
    assert _jobs(netsuite_url) == [] and writer.jobs_submitted == 0


def test_async_writer_jobs_only_settled_at_the_end(admin: NetSuiteAdmin, client: NetSuiteClient, tmp_path: Path,
                                                  netsuite_url: str) -> None:
    admin.knobs(reject_external_id_pattern=REFUSED, async_processors=3, async_latency_ms=2)
    writes = [*_writes(250), Write("W-gone", "delete", {}, {}, [], [])]
    with ThreadPoolExecutor(5) as executor:
        writer = _writer("async", client, executor, tmp_path)
        assert isinstance(writer, AsyncWriter)
        outcomes = _outcomes(writer.send("customer", writes, _send_one(client)))
        writer.close()
    assert outcomes.pop("W-gone") is None
    _check_outcomes(outcomes, admin, 250)
    assert _synchronous_puts(admin) == []  # the upserts went in jobs, the delete alone
    assert [e["method"] for e in admin.request_log() if "/eid:" in e["path"]] == ["DELETE"]
    in_jobs = sorted(t["external_id"] for job in _jobs(netsuite_url) for t in job["tasks"])
    assert in_jobs == sorted(f"W{i}" for i in range(250))
    assert writer.jobs_submitted == len(_jobs(netsuite_url)) >= 3
    assert SubmittedBatches(tmp_path / "async_batches.sqlite3", "account", "run-2").others() == []  # all settled


def test_auto_writer_uses_both_pools_and_writes_each_record_once(admin: NetSuiteAdmin, client: NetSuiteClient,
                                                                 tmp_path: Path, netsuite_url: str) -> None:
    admin.knobs(reject_external_id_pattern=REFUSED, async_processors=4, async_latency_ms=20, write_latency_ms=20)
    with ThreadPoolExecutor(5) as executor:
        writer = _writer("auto", client, executor, tmp_path)
        assert isinstance(writer, AutoWriter)
        outcomes = _outcomes(writer.send("customer", _writes(300), _send_one(client)))
        second = _outcomes(writer.send("customer", _writes(100, prefix="V"), _send_one(client)))
        writer.close()
    _check_outcomes(outcomes, admin, 300)
    _check_outcomes(second, admin, 100, prefix="V")
    jobs = _jobs(netsuite_url)
    in_jobs = [t["external_id"] for job in jobs for t in job["tasks"]]
    synchronous = _synchronous_puts(admin)
    assert in_jobs and synchronous  # both pools took records
    assert sorted(in_jobs + synchronous) == sorted([f"W{i}" for i in range(300)] + [f"V{i}" for i in range(100)])
    assert all(len(job["tasks"]) <= MAX_BATCH for job in jobs)
    assert writer.sync_rate() is not None and writer.pool.rate is not None  # both measured, kept across waves
    assert SubmittedBatches(tmp_path / "async_batches.sqlite3", "account", "run-2").others() == []


def test_auto_submits_a_waves_first_job_before_its_synchronous_writes_take_the_slots(
        admin: NetSuiteAdmin, client: NetSuiteClient, tmp_path: Path, netsuite_url: str) -> None:
    """Five synchronous workers started together would hold all five slots for a whole write, and the job's
    submission (which the processors wait on) would queue behind them: the first job is cut before they start and
    one worker stands back until it is submitted, so NetSuite answers the submission before any write."""
    admin.knobs(write_latency_ms=1500, async_latency_ms=10)
    with ThreadPoolExecutor(5) as executor:
        writer = _writer("auto", client, executor, tmp_path)
        outcomes = _outcomes(writer.send("customer", _writes(20), _send_one(client)))
        writer.close()
    assert all(error is None for error in outcomes.values())
    log = [e for e in admin.request_log() if e["method"] == "PUT"]
    assert log[0]["path"] == "/services/rest/record/v1/customer"  # the job's submission, answered first
    assert len(_jobs(netsuite_url)) >= 1


def test_auto_writes_a_small_wave_synchronously(admin: NetSuiteAdmin, client: NetSuiteClient, tmp_path: Path,
                                                netsuite_url: str) -> None:
    with ThreadPoolExecutor(5) as executor:
        writer = _writer("auto", client, executor, tmp_path)
        outcomes = _outcomes(writer.send("customer", _writes(12), _send_one(client)))
        writer.close()
    assert all(error is None for error in outcomes.values())
    assert sorted(_synchronous_puts(admin)) == sorted(f"W{i}" for i in range(12))
    assert _jobs(netsuite_url) == []


def test_a_writer_closed_while_its_job_waits_keeps_the_nonce(admin: NetSuiteAdmin, client: NetSuiteClient,
                                                             tmp_path: Path, netsuite_url: str) -> None:
    """The run stops while NetSuite still holds its job: the nonce entry (with the job's path) stays, so a rerun
    finds the job instead of submitting it twice, and a later run knows those writes may still land."""
    admin.knobs(async_queue_held=True)
    with ThreadPoolExecutor(5) as executor:
        writer = _writer("async", client, executor, tmp_path)
        futures = writer.send("customer", _writes(15), _send_one(client))
        submitted = threading.Event()
        deadline = time.monotonic() + 60
        while not _jobs(netsuite_url):
            assert time.monotonic() < deadline
            submitted.wait(0.05)
        located: list = []
        while not located:  # the job's path is recorded right after NetSuite answers
            assert time.monotonic() < deadline
            located = [u for u in SubmittedBatches(tmp_path / "async_batches.sqlite3", "account", "run-2").others()
                       if u.job]
            submitted.wait(0.05)
        writer.close()
        for future in futures:
            future.cancel()
    admin.knobs(async_queue_held=False)
    [unsettled] = located
    assert unsettled.record_type == "customer" and set(unsettled.keys) == {f"W{i}" for i in range(15)}
    assert unsettled.job == f"/services/rest/async/v1/job/{_jobs(netsuite_url)[0]['id']}"
    after_close = SubmittedBatches(tmp_path / "async_batches.sqlite3", "account", "run-2").others()
    assert [u.digest for u in after_close] == [unsettled.digest]  # closing settled nothing
