"""The write modes (`write_mode`) as strategies behind one interface, chosen once (`writer_for`): writes in, futures
with final outcomes out. `SyncWriter` sends one request per record; `AsyncWriter` sends REST batch jobs run by the
account's async processors; `AutoWriter` keeps both pools busy. A job's lifecycle is batch_job.py's, a batch's
content and its nonce batches.py's.

Invariants (every mode):

- `send` returns a Future for every write, ending with that write's own outcome: None (written; the internal id of
  a batch task's result is remembered for children), a `RecordError` (NetSuite refused this record: the sink
  dead-letters it), or another exception (not the record's fault: the run stops before state advances). The sink
  waits for every future of a wave before `process_batch` returns, so STATE follows only final outcomes, polling
  included; the ledger records only what NetSuite accepted (sinks.py), never ahead of it.
- A batch's nonce is kept from just before its submission until every record of it has its outcome (batches.py);
  closing the writer while a job runs leaves it, so a rerun finds the job. The waves and batches other runs left
  unsettled are waited for before this run writes the same records (overtake.py).
- Job threads are daemons (a run that stops is not held by a job it will not read) and at most `OPEN_JOBS` jobs
  are open at once; deletes are always written synchronously.

`auto`: the synchronous workers take records one at a time from the front of the wave's queue; the job threads cut
jobs from its back, each sized by `job_size` from the two pools' measured rates and the backlog, so both pools run
out of work at about the same time and the run's tail is one small job, not one big one. A wave of fewer than
`MIN_ASYNC_BATCH` records goes synchronously (a parent a child needs right away is such a small wave: `_waves`
writes in-batch parents first). The job requests (a submission, the polls, the result reads) are short and the
processors or the sink wait on them, so they never queue behind the synchronous writes for a slot: they go ahead
of waiting writes (`AdaptiveLimiter.ahead`), and one synchronous worker stands back while one is made or due (a
job cut and not yet submitted, a job about to complete: `_pause_s`), so a slot is free when it comes. The wave's
first jobs are cut before its synchronous workers start, which would otherwise take every slot at once.
"""

from __future__ import annotations

import math
import threading
import time
import typing as t
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from target_netsuite.batch_job import AsyncPool, BatchJob, JobCounts
from target_netsuite.batches import (
    MAX_BATCH,
    MAX_POLL_S,
    MIN_ASYNC_BATCH,
    WRITE_MODES,
    Batch,
    Pair,
    SendOne,
    content_defined_chunks,
    replace_groups,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from concurrent.futures import ThreadPoolExecutor

    from target_netsuite.batches import SubmittedBatches
    from target_netsuite.client import NetSuiteClient
    from target_netsuite.references import ReferenceResolver
    from target_netsuite.writes import Write

#: `auto`, before the rates are known: one job at a time, of this size (at most 1/PROBE_SHARE of the backlog, so a
#: slow pool cannot hold a small wave open), finds the async pool's rate.
PROBE_JOB = 12  # whole rounds on 1, 2, 3, 4 or 6 processors
PROBE_SHARE = 4
#: `auto`: a smaller share of the backlog is left to the synchronous pool (a job costs a submit, polls and a read).
MIN_JOB = 5
#: Weight of the newest synchronous write's time in the measured per-record time.
SYNC_SMOOTHING = 0.2
#: `auto`: how long after a job's expected end the standing-back worker still waits for its poll to start.
DUE_GRACE_S = 0.5


def job_size(backlog: int, queued: int, sync_rate: float | None, async_rate: float | None) -> int:
    """How many of the `backlog` records not yet taken by either pool the next job takes (0: none now).

    Both pools busy to the end finish the backlog and the `queued` records (in open jobs) in
    T = (backlog + queued) / (sync_rate + async_rate) seconds; the async pool's share of what is left is
    async_rate * T - queued, which is what the async processors finish in the time the synchronous pool needs for the
    rest. The next job takes half of that share (at most `MAX_BATCH`, at least `MIN_JOB`): later jobs are sized with
    fresher rates, and the last ones are small, so the run's tail is a few records' time. A share under `MIN_JOB`
    is left to the synchronous pool. Rates are records a second; None: not measured yet, so a probe job (one at a
    time).
    """
    if backlog <= 0:
        return 0
    if sync_rate is None or async_rate is None:
        return 0 if queued else min(PROBE_JOB, max(1, backlog // PROBE_SHARE))
    remaining_s = (backlog + queued) / (sync_rate + async_rate)
    share = min(backlog, math.floor(async_rate * remaining_s - queued))
    if share < MIN_JOB:
        return 0
    return min(MAX_BATCH, share, max(MIN_JOB, math.ceil(share / 2)))


class Writer(ABC):
    """Sends the waves of every sink in one `write_mode`."""

    def __init__(self, *, client: NetSuiteClient, resolver: ReferenceResolver, executor: ThreadPoolExecutor,
                 workers: int, submitted: SubmittedBatches) -> None:
        self.client = client
        self.resolver = resolver
        self.executor = executor  # the sink's workers (one request each), shared by every stream
        self.workers = workers
        self.submitted = submitted
        self.counts = JobCounts()

    @abstractmethod
    def send(self, record_type: str, writes: list[Write], send_one: SendOne) -> dict[Future[None], Write]:
        """Start every write of a wave; each future ends with that write's own outcome."""

    @property
    def jobs_submitted(self) -> int:
        return self.counts.submitted

    @property
    def jobs_found(self) -> int:
        return self.counts.found

    def close(self) -> None:
        self.submitted.close()

    def _one_by_one(self, writes: list[Write], send_one: SendOne) -> dict[Future[None], Write]:
        return {self.executor.submit(send_one, write): write for write in writes}


class SyncWriter(Writer):
    """`sync`: one request per record, up to `max_concurrency` at once (about C/L records a second)."""

    def send(self, record_type: str, writes: list[Write], send_one: SendOne) -> dict[Future[None], Write]:
        return self._one_by_one(writes, send_one)


class _JobWriter(Writer):
    """A writer with job threads: each takes the next batch (`_next_batch`) and runs its job to the end, the next
    attempt included, until there is none; at most `OPEN_JOBS` at once."""

    OPEN_JOBS: int

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.pool = AsyncPool()
        self._cond = threading.Condition()
        self._pending: deque[Batch] = deque()  # batches waiting for a job thread
        self._threads = 0
        self._closed = threading.Event()

    @abstractmethod
    def _next_batch(self) -> Batch | None:
        """The next batch to submit, or None when there is none (caller holds `_cond`; may wait on it)."""

    def _job_requests(self) -> t.ContextManager[object]:
        """Held while a job makes requests."""
        return nullcontext()

    def _start_jobs(self) -> None:
        """Start job threads up to `OPEN_JOBS` (caller holds `_cond`)."""
        while self._threads < self.OPEN_JOBS:
            self._threads += 1
            threading.Thread(target=self._drive, name="netsuite-jobs", daemon=True).start()
        self._cond.notify_all()

    def _drive(self) -> None:
        while True:
            with self._cond:
                batch = None if self._closed.is_set() else self._next_batch()
                if batch is None:  # decided under the lock: a `send` after this starts a new thread
                    self._threads -= 1
                    return
                records = len(batch.writes)
            try:
                attempt: Batch | None = batch
                # A job's submit, polls and result reads are short, and the processors and the sink wait on them:
                # they take the next free slot before the synchronous writes waiting for one.
                with self.client.limiter.ahead():
                    while attempt is not None:
                        attempt = BatchJob(attempt, client=self.client, resolver=self.resolver,
                                           submitted=self.submitted, executor=self.executor, pool=self.pool,
                                           counts=self.counts, stopped=self._closed,
                                           requests=self._job_requests).run()
            finally:
                with self._cond:
                    self._finished(records)
                    self._cond.notify_all()

    def _finished(self, records: int) -> None:
        """Every write of a batch of this many records has its outcome, later attempts included (caller holds
        `_cond`)."""

    def close(self) -> None:
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        super().close()


class AsyncWriter(_JobWriter):
    """`async`: upserts in REST batch jobs with content-defined boundaries (a rerun forms the same batches, finds
    their keys), run by the account's async processors (about P/L records a second); deletes one by one."""

    OPEN_JOBS = 4  # enough to keep the processors busy while one job's results are read and the next submitted

    def send(self, record_type: str, writes: list[Write], send_one: SendOne) -> dict[Future[None], Write]:
        futures = self._one_by_one([w for w in writes if w.action != "upsert"], send_one)
        pairs = [(write, Future[None]()) for write in writes if write.action == "upsert"]
        futures.update({future: write for write, future in pairs})
        with self._cond:
            for group in replace_groups(pairs):
                for chunk in content_defined_chunks(group):
                    self._pending.append(Batch(record_type, group[0][0].replace, chunk, send_one))
            if self._pending:
                self._start_jobs()
        return futures

    def _next_batch(self) -> Batch | None:
        return self._pending.popleft() if self._pending else None


@dataclass
class _Wave:
    record_type: str
    send_one: SendOne
    queue: deque[Pair]  # records neither pool has taken yet: synchronous from the front, jobs from the back


class AutoWriter(_JobWriter):
    """`auto`: both pools at once (about (C + P)/L records a second), jobs sized by `job_size`."""

    OPEN_JOBS = 2

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self._waves: list[_Wave] = []
        self._sync_write_s: float | None = None  # measured seconds per synchronous write (one worker)
        self._in_jobs = 0  # records taken for jobs whose writes do not all have their outcomes yet
        self._requesting = 0  # job threads making requests now
        self._submitting = 0  # batches a job thread took and has not submitted yet
        self._job_thread = threading.local()  # `submitting`: this job thread's batch is not submitted yet

    def send(self, record_type: str, writes: list[Write], send_one: SendOne) -> dict[Future[None], Write]:
        upserts = [w for w in writes if w.action == "upsert"]
        if len(upserts) < MIN_ASYNC_BATCH:
            return self._one_by_one(writes, send_one)
        futures = self._one_by_one([w for w in writes if w.action != "upsert"], send_one)
        pairs = [(write, Future[None]()) for write in upserts]
        futures.update({future: write for write, future in pairs})
        queue = deque(pairs)
        with self._cond:
            self._waves.append(_Wave(record_type, send_one, queue))
            self._cut()  # before the synchronous workers start (see the module docstring)
            self._start_jobs()
        for index in range(min(self.workers, len(pairs))):
            self.executor.submit(self._take_one_by_one, queue, send_one, yields=index == 0)
        return futures

    def sync_rate(self) -> float | None:
        """Records a second the synchronous workers write, from the measured per-record time."""
        return None if self._sync_write_s is None else self.workers / self._sync_write_s

    # --- the synchronous pool ------------------------------------------------------------------------------

    def _take_one_by_one(self, queue: deque[Pair], send_one: SendOne, *, yields: bool = False) -> None:
        """A synchronous worker; the one that `yields` leaves its slot to the job threads while they have requests
        to make, so submits, polls and result reads are never starved by the synchronous writes."""
        while True:
            if yields:
                with self._cond:
                    while (pause := self._pause_s()) > 0:
                        self._cond.wait(timeout=pause)
            if self.client.stopping:  # the run is ending (a signal): start nothing more
                return
            try:
                write, future = queue.popleft()
            except IndexError:
                return
            if not future.set_running_or_notify_cancel():
                continue
            started = time.monotonic()
            try:
                send_one(write)
            except Exception as exc:  # the sink classifies it, as for any synchronous write
                future.set_exception(exc)
            else:
                future.set_result(None)
            took = time.monotonic() - started
            with self._cond:
                self._sync_write_s = took if self._sync_write_s is None else (
                    SYNC_SMOOTHING * took + (1 - SYNC_SMOOTHING) * self._sync_write_s)
                self._cond.notify_all()  # a job thread waiting for its share asks `job_size` again

    # --- the job threads -----------------------------------------------------------------------------------

    def _pause_s(self) -> float:
        """How long the standing-back worker waits before its next write (0: it may write now; caller holds
        `_cond`): while a job request is made or about to be (a batch cut or taken and not submitted), until
        woken; while the first open job is expected to complete before a write started now would end, until just
        after that (its poll is made then, and its result reads follow while it counts as requesting)."""
        if self._requesting or self._submitting or self._pending:
            return MAX_POLL_S
        write_s = self._sync_write_s
        due = self.pool.next_end()
        if write_s is None or due is None:
            return 0.0
        now = self.pool.clock()
        if due - write_s <= now <= due + DUE_GRACE_S:
            return min(1.0, due + DUE_GRACE_S - now)
        return 0.0

    @contextmanager
    def _requests(self) -> Iterator[None]:
        with self._cond:
            self._requesting += 1
        try:
            yield
        finally:
            with self._cond:
                self._requesting -= 1
                self._submitted()  # the first requests of a job thread's batch are its submission
                self._cond.notify_all()

    def _submitted(self) -> None:
        """This job thread's batch is submitted (or never will be); caller holds `_cond`."""
        if getattr(self._job_thread, "submitting", False):
            self._job_thread.submitting = False
            self._submitting -= 1

    def _job_requests(self) -> t.ContextManager[object]:
        return self._requests()

    def _next_batch(self) -> Batch | None:
        """The next job's batch: records from the back of the oldest wave, as many as `job_size` says; waits while
        it says none yet and the synchronous pool still has records to write."""
        while True:
            if self._pending:
                self._submitting += 1
                self._job_thread.submitting = True
                return self._pending.popleft()
            self._waves = [wave for wave in self._waves if wave.queue]
            if not self._waves or self._closed.is_set() or self.client.stopping:
                return None
            if self._cut():
                continue
            # The async pool has its share: ask again when a synchronous write or a job ends (or the queue empties).
            self._cond.wait(timeout=1.0)

    def _cut(self) -> bool:
        """Cut the next job from the back of the oldest wave into `_pending`, if `job_size` says so (caller holds
        `_cond`)."""
        self._waves = [wave for wave in self._waves if wave.queue]
        if not self._waves:
            return False
        backlog = sum(len(wave.queue) for wave in self._waves)
        size = job_size(backlog, self._in_jobs, self.sync_rate(), self.pool.rate)
        if not size:
            return False
        wave = self._waves[0]
        taken: list[Pair] = []
        while wave.queue and len(taken) < size:
            taken.append(wave.queue.pop())
        taken = [(w, f) for w, f in taken if not f.cancelled()]
        self._in_jobs += len(taken)
        for group in replace_groups(sorted(taken, key=lambda pair: pair[0].external_id)):
            self._pending.append(Batch(wave.record_type, group[0][0].replace, group, wave.send_one))
        return True

    def _finished(self, records: int) -> None:
        self._in_jobs -= records
        self._submitted()  # a batch that ended without a request (every write cancelled: the run is stopping)


WRITERS: dict[str, type[Writer]] = {"sync": SyncWriter, "async": AsyncWriter, "auto": AutoWriter}
assert tuple(WRITERS) == WRITE_MODES


def writer_for(write_mode: str, **kwargs: t.Any) -> Writer:
    """The writer of this `write_mode`, chosen once for the run."""
    return WRITERS[write_mode](**kwargs)
