"""One REST async job, shaped like the tap's Bulk 2.0 query job (tap_salesforce_custom/bulk.py): submit → poll
with backoff → read the results → settle; and `AsyncPool`, the account's async processors as this run sees them.

NetSuite answers a batch submission with 202 and the job's Location; each task (one per record, in item order) ends
with that record's own result. Invariants:

- `BatchJob.run` gives every write of its batch an outcome, or hands the writes whose tasks failed for a reason
  that is not theirs (5xx: a job NetSuite stopped part-way; a job NetSuite no longer knows) back as the next
  attempt's batch (new key), at most `max_retries` times; a batch refused as a whole (a 4xx on the submission) is
  written one record per request instead. A failure of a submit, poll or result read is not the records' fault:
  every write of the batch fails the run (`FatalError`), before state advances.
- The nonce entry (batches.py) is committed before the submission and removed only once every record has its
  outcome (or the batch went to another attempt, or one record per request): a run that stops or is killed in
  between leaves it, and the rerun finds the job.
- Submits, polls and result reads go through `NetSuiteClient.request` (the shared concurrency window, its retry
  policy). A job is polled at its expected end (the pool's measured rate, jobs run in submission order), then with
  exponential backoff from `FIRST_POLL_S`; with no rate known yet, with that backoff from the start: polling never
  floods, and a job's end is seen soon after it comes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import typing as t
import uuid
from urllib.parse import urlsplit

from target_netsuite.batches import FIRST_POLL_S, MAX_POLL_S, POLL_GROWTH, Batch, Pair, settle
from target_netsuite.client import (
    RECORD_PATH,
    RETRYABLE_STATUSES,
    TRANSIENT_400,
    FatalError,
    RecordError,
    RetriesExhausted,
    error_details,
    json_body,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future, ThreadPoolExecutor

    from target_netsuite.batches import SubmittedBatches
    from target_netsuite.client import NetSuiteClient
    from target_netsuite.references import ReferenceResolver

COLLECTION_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=collection"
_KEY_NAMESPACE = uuid.UUID("5b0c7a3e-2f4d-4c61-9d0e-8a1f3b6c2e47")
_LOGGER = logging.getLogger("target_netsuite.batches")


class JobCounts:
    """Jobs this run submitted, and jobs NetSuite already had for a batch's key (a killed run's): the run summary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted = 0
        self.found = 0

    def add(self, *, found: bool) -> None:
        with self._lock:
            if found:
                self.found += 1
            else:
                self.submitted += 1


class AsyncPool:
    """The account's REST async processors as this run sees them: they run the tasks of open jobs in submission
    order, the last tasks of one job beside the first of the next; `rate` (records a second) is the records of the
    jobs that completed over the time the pool had a job open, both weighted to the recent jobs (each completion
    keeps `DECAY` of the totals before it). Not per job: two jobs that share the processors and are seen complete
    a moment apart would make the second look almost free, and a too-high rate gives the async pool more than it
    can finish while the synchronous pool idles. A job seen complete late (a poll after its end) only makes the
    rate lower. None until a job completed."""

    DECAY = 0.7  # share of the earlier totals each completion keeps

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rate: float | None = None
        self._lock = threading.Lock()
        self._open: list[tuple[object, int, float]] = []  # (job, records, submitted at), in submission order
        self._last_end = 0.0
        self._records = 0.0  # completed records, decayed
        self._busy_s = 0.0  # seconds with a job open up to the last completion, decayed
        self._busy_from = 0.0  # the open time not counted yet starts here

    def opened(self, job: object, records: int) -> None:
        with self._lock:
            now = self.clock()
            if not self._open:
                self._busy_from = now
            self._open.append((job, records, now))

    def next_end(self) -> float | None:
        """When the first open job should be complete (None: no job open, or no rate yet)."""
        with self._lock:
            first = self._open[0][0] if self._open else None
        return None if first is None else self.expected_end(first)

    def expected_end(self, job: object) -> float | None:
        """When this job should be complete: the jobs ahead of it first, each at the measured rate."""
        with self._lock:
            if self.rate is None:
                return None
            free_at = self._last_end
            for other, records, submitted_at in self._open:
                free_at = max(free_at, submitted_at) + records / self.rate
                if other is job:
                    return free_at
        return None

    def closed(self, job: object, *, completed: bool) -> None:
        """NetSuite says the job is complete (its records and the open time count), or it is gone, or a poll failed
        (the open time since the last count is left out)."""
        now = self.clock()
        with self._lock:
            entry = next((e for e in self._open if e[0] is job), None)
            if entry is None:
                return
            self._open.remove(entry)
            if completed and entry[1]:
                self._records = self.DECAY * self._records + entry[1]
                self._busy_s = self.DECAY * self._busy_s + max(1e-3, now - self._busy_from)
                self.rate = self._records / self._busy_s
                self._last_end = now
            self._busy_from = now


class BatchJob:
    """One batch as a NetSuite job; `run()` takes it from submission to every record's outcome."""

    def __init__(self, batch: Batch, *, client: NetSuiteClient, resolver: ReferenceResolver,
                 submitted: SubmittedBatches, executor: ThreadPoolExecutor, pool: AsyncPool, counts: JobCounts,
                 stopped: threading.Event,
                 requests: Callable[[], t.ContextManager[object]] = contextlib.nullcontext) -> None:
        self.batch = batch
        self.client = client
        self.resolver = resolver
        self.submitted = submitted
        self.executor = executor
        self.pool = pool
        self.counts = counts
        self.stopped = stopped  # the writer is closed: stop polling, leave the nonce (a rerun finds the job)
        self.requests = requests  # held while this job makes requests (auto: a synchronous worker stands back)
        self.path: str | None = None
        self.digest = ""

    def run(self) -> Batch | None:
        """Submit, wait, read, settle. Returns the next attempt's batch for the writes NetSuite failed for reasons
        not theirs (None: every write has its outcome, or the writer closed and the nonce stays for a rerun)."""
        try:
            if not self._submit():
                return None
            self.pool.opened(self, len(self.batch.writes))
            with contextlib.ExitStack() as requesting:  # from the poll that sees it complete to the last result
                try:
                    ending = self._wait(requesting)
                except Exception:
                    self.pool.closed(self, completed=False)
                    raise
                self.pool.closed(self, completed=ending == "complete")  # the processors moved on to the next job
                if ending == "closed":
                    return None
                if ending == "gone":
                    again = self._again(self.batch.writes)
                    self.submitted.settled(self.digest)
                    return again
                return self._read_results()
        except Exception as exc:  # every write of the batch must get an outcome
            self._fail(exc)
            return None

    # --- the steps -----------------------------------------------------------------------------------------

    def _submit(self) -> bool:
        """The job's Location (True), or the batch was written otherwise / has nothing left (False)."""
        batch = self.batch
        batch.writes = [(w, f) for w, f in batch.writes if not f.cancelled()]
        if not batch.writes:
            return False
        params = {"replace": ",".join(batch.replace)} if batch.replace else None
        self.digest = batch.content_digest()
        nonce = self.submitted.nonce(self.digest, batch.record_type, batch.keys())
        key = str(uuid.uuid5(_KEY_NAMESPACE, self.digest + nonce))
        with self.requests():
            response = self.client.request(
                "PUT", f"{RECORD_PATH}/{batch.record_type}", params=params, body={"items": batch.items()},
                headers={"Content-Type": COLLECTION_CONTENT_TYPE, "Prefer": "respond-async",
                         "X-NetSuite-idempotency-key": key},
            )
        location = urlsplit(response.headers.get("Location", "")).path
        code = error_details(response)[0] if response.status_code >= 400 else ""
        if response.status_code == 202 and location:
            self.counts.add(found=False)
        elif code == "IDEMPOTENCY_ERROR" and location:
            self.counts.add(found=True)
            _LOGGER.info("NetSuite already has the job for this batch of %d %s records (%s): reading its results",
                         len(batch.writes), batch.record_type, location)
        elif 400 <= response.status_code < 500:
            code, detail, _ = error_details(response)
            _LOGGER.warning("NetSuite refused a batch of %d %s records as a whole (%s: %s): writing them one by one",
                            len(batch.writes), batch.record_type, code, detail[:200])
            self._one_by_one()
            return False
        else:
            msg = f"NetSuite answered a batch submission with HTTP {response.status_code} and no job Location"
            raise FatalError(msg)
        self.submitted.located(self.digest, location)
        self.path = location
        return True

    def _wait(self, requesting: contextlib.ExitStack) -> t.Literal["complete", "gone", "closed"]:
        """Poll until the job is complete, or NetSuite no longer knows it (gone), or the writer closed. The poll
        that sees it complete leaves `requests()` entered on `requesting`, so the result reads follow it with no
        gap in which a synchronous write takes the slot they need."""
        backoff = FIRST_POLL_S
        while True:
            expected = self.pool.expected_end(self)
            ahead = None if expected is None else expected - self.pool.clock()
            if ahead is not None and ahead > FIRST_POLL_S:
                delay = min(MAX_POLL_S, ahead)  # nothing to see before the expected end; backoff starts there
            else:
                delay, backoff = backoff, min(MAX_POLL_S, backoff * POLL_GROWTH)
            if self.stopped.wait(delay):
                return "closed"
            with self.requests():
                response = self.client.request("GET", self.path or "")
                complete = response.status_code < 400 and json_body(response, f"GET {self.path}").get("completed")
                if complete:
                    requesting.enter_context(self.requests())
            if complete:
                return "complete"
            if response.status_code == 404:
                _LOGGER.warning("NetSuite no longer knows job %s: submitting its %d records again", self.path,
                                len(self.batch.writes))
                return "gone"
            if response.status_code >= 400:
                raise RecordError(response.status_code, *error_details(response))

    def _read_results(self) -> Batch | None:
        batch = self.batch
        response = self.client.request("GET", f"{self.path}/task")
        if response.status_code >= 400:
            raise RecordError(response.status_code, *error_details(response))
        tasks = json_body(response, f"GET {self.path}/task").get("items") or []
        if len(tasks) != len(batch.writes):
            self.submitted.settled(self.digest)  # the job itself is wrong: a rerun must not find it again
            msg = f"NetSuite job {self.path} lists {len(tasks)} tasks for a batch of {len(batch.writes)} records"
            raise FatalError(msg)
        # One task per item, numbered in item order (docs/interfaces.md): matched by number, never by list position.
        tasks = sorted(tasks, key=_task_number)
        transient: list[Pair] = []
        for (write, future), task in zip(batch.writes, tasks, strict=True):
            path = f"{self.path}/task/{task['id']}/result"
            result = self.client.request("GET", path)
            if result.status_code >= 400:
                raise RecordError(result.status_code, *error_details(result))
            outcome = json_body(result, f"GET {path}")
            details = outcome.get("o:errorDetails")
            if not details:
                internal_id = str(outcome.get("id") or "") or _last_segment(outcome)
                if internal_id.isdigit():
                    self.resolver.remember((batch.record_type, write.external_id), internal_id)
                settle(future)
                continue
            first = details[0] if isinstance(details, list) and details else {}
            status = int(outcome.get("status") or 400)
            error = RecordError(status, str(first.get("o:errorCode", "UNKNOWN")),
                                " ".join(str(first.get("detail", "")).split()), first.get("o:errorPath"))
            if status in RETRYABLE_STATUSES or (status == 400 and TRANSIENT_400.search(error.detail)):
                transient.append((write, future))
            else:
                settle(future, error)
        again = self._again(transient) if transient else None
        self.submitted.settled(self.digest)
        return again

    # --- the other ends ------------------------------------------------------------------------------------

    def _again(self, writes: list[Pair]) -> Batch | None:
        """These writes as a new batch (a new attempt, so a new idempotency key), unless the attempts are used up."""
        batch = self.batch
        if batch.attempt >= self.client.max_retries:
            error = RetriesExhausted(f"{len(writes)} {batch.record_type} records of NetSuite job {self.path} "
                                     f"failed {batch.attempt + 1} times for reasons that are not theirs")
            for _, future in writes:
                settle(future, error)
            return None
        return Batch(batch.record_type, batch.replace, writes, batch.send_one, attempt=batch.attempt + 1)

    def _one_by_one(self) -> None:
        self.submitted.settled(self.digest)
        for write, future in self.batch.writes:
            def copy(done: Future[None], target: Future[None] = future) -> None:
                if done.cancelled():  # the run is stopping: the record keeps no outcome, as the sink expects
                    target.cancel()
                    return
                settle(target, done.exception())
            self.executor.submit(self.batch.send_one, write).add_done_callback(copy)

    def _fail(self, error: BaseException) -> None:
        if isinstance(error, RecordError):  # NetSuite refused the job's own pages: a rerun submits anew
            self.submitted.settled(self.digest)
        if not isinstance(error, FatalError):
            error = FatalError(f"{type(error).__name__}: {error}")
        for _, future in self.batch.writes:
            settle(future, error)


def _task_number(task: dict) -> int:
    number = str(task.get("id", ""))
    return int(number) if number.isdigit() else 0


def _last_segment(outcome: dict) -> str:
    links = outcome.get("links") or []
    href = next((link.get("href", "") for link in links if isinstance(link, dict) and link.get("rel") == "self"), "")
    return str(href).rstrip("/").rsplit("/", 1)[-1]
