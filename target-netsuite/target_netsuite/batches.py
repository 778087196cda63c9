"""How a wave of writes reaches NetSuite (`write_mode`): one request per record (`sync`), REST batch requests run by
the account's async processors (`async`), or both pools at once (`auto`).

A batch is up to 100 upserts of one record type (`PUT /record/v1/<type>`, collection body, `Prefer: respond-async`);
NetSuite answers 202 with the job's Location, and each task (one per record, in item order) ends with the record's
own result. Invariants:

- Every write gets a Future that ends with its own outcome: None (written; the internal id from the task result is
  remembered for children), a `RecordError` (NetSuite refused this record: the sink dead-letters it), or another
  exception (not the record's fault: the run stops before state advances). The sink waits for every future of a
  wave before `process_batch` returns, so STATE follows only final outcomes, polling included.
- The `X-NetSuite-idempotency-key` is a UUID derived from the batch's content (record type, `replace`, the items in
  order, the attempt number) and a nonce kept in `SubmittedBatches` (in the store, `store_uri`: a local SQLite file
  by default, or a PostgreSQL database every host shares) from just before the submission until every record of the
  batch has its outcome (settled): a rerun on another host finds it too. In `async` batch boundaries are
  content-defined (in `auto` they follow the two pools' rates, so a rerun may form other batches: upserts keep that
  harmless), so a target killed after submitting and rerun with the same records forms the same batches, finds their
  nonces, gets `400 IDEMPOTENCY_ERROR` with the job's Location and takes that job's results instead of submitting
  twice; the same content sent again once its batch was settled (a replay, a repair of a record edited in NetSuite)
  gets a new nonce, so NetSuite writes it again rather than answering from the old job.
- Submits and polls go through `NetSuiteClient.request` (the shared concurrency window, its retry policy). One
  thread submits and polls, each job with its own exponential backoff, so polling never floods.
- A task that failed for a reason that is not the record's (5xx: a job NetSuite stopped part-way), or a job NetSuite
  no longer knows, is submitted again as a new batch (next attempt, new key), at most `max_retries` times; a batch
  refused as a whole (a 4xx on the submission) is written one record per request instead.

`auto`: synchronous workers and the batch thread take records from one queue, so each pool takes what it can and
throughput approaches (C + P)/L. A wave of fewer than `MIN_ASYNC_BATCH` records, and deletes, go synchronously
(a parent a child needs right away is such a small wave: `_waves` writes in-batch parents first).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import typing as t
import uuid
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from connector_kit.store import Store, as_store

from target_netsuite.client import (
    RECORD_PATH,
    RETRYABLE_STATUSES,
    TRANSIENT_400,
    FatalError,
    RecordError,
    RetriesExhausted,
    error_details,
    json_body,
    json_default,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor

    from target_netsuite.client import NetSuiteClient
    from target_netsuite.references import ReferenceResolver
    from target_netsuite.writes import Write

WRITE_MODES = ("sync", "async", "auto")
MAX_BATCH = 100
MIN_ASYNC_BATCH = 20
#: Content-defined batch boundaries (see `content_defined_chunks`): about 60 records a batch on average.
MIN_CUT = 10
CUT_EVERY = 64
#: Jobs open at once (submitted, results not yet read): enough to keep the async processors busy while one
#: job's results are read and the next is submitted.
MAX_OPEN_JOBS = {"async": 4, "auto": 2}
FIRST_POLL_S = 0.1
POLL_GROWTH = 1.5
MAX_POLL_S = 30.0
COLLECTION_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=collection"
_KEY_NAMESPACE = uuid.UUID("5b0c7a3e-2f4d-4c61-9d0e-8a1f3b6c2e47")
_LOGGER = logging.getLogger("target_netsuite.batches")

SendOne = t.Callable[["Write"], None]


def _settle(future: Future[None], error: BaseException | None = None) -> None:
    """Give a write its outcome; a future the sink cancelled (the run is stopping) keeps no outcome."""
    try:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


@dataclass
class _Batch:
    record_type: str
    replace: list[str]
    writes: list[tuple[Write, Future[None]]]
    send_one: SendOne
    attempt: int = 0
    job_path: str | None = None
    next_poll: float = 0.0
    poll_delay: float = FIRST_POLL_S
    submitted_at: float = field(default_factory=time.monotonic)
    digest: str = ""  # of the content, set at submission (SubmittedBatches)

    def items(self) -> list[dict]:
        return [{"externalId": write.external_id, **write.body} for write, _ in self.writes]

    def content_digest(self) -> str:
        content = json.dumps({"type": self.record_type, "replace": self.replace, "items": self.items(),
                              "attempt": self.attempt}, sort_keys=True, default=json_default, ensure_ascii=False)
        return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class Unsettled:
    """A batch another run submitted (or was about to submit) and never settled: NetSuite may still run it."""

    digest: str
    record_type: str
    keys: dict[str, str | None]  # external id -> ledger hash of the payload it carries (None: not known)
    job: str | None  # the job's path once NetSuite answered the submission


@dataclass(frozen=True)
class InFlight:
    """Synchronous writes another run had started (a wave) and never finished: NetSuite may still execute them."""

    row: int
    record_type: str
    keys: dict[str, str | None]
    seen_at: float  # when a later run first saw them: the run that started them was gone by then


#: The nonces and waves in the store (`store_uri`); on SQLite the file `async_batches.sqlite3` as before.
METADATA = sa.MetaData()
SUBMITTED = sa.Table(
    "submitted", METADATA,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("digest", sa.Text, primary_key=True),
    sa.Column("nonce", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.Float, nullable=False),
    sa.Column("owner", sa.Text),
    sa.Column("record_type", sa.Text),
    sa.Column("keys", sa.Text),
    sa.Column("job", sa.Text),
)
IN_FLIGHT = sa.Table(
    "in_flight", METADATA,
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("record_type", sa.Text, nullable=False),
    sa.Column("keys", sa.Text, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seen_at", sa.Float),
    sqlite_autoincrement=True,
)


class SubmittedBatches:
    """The batches submitted and not yet settled, by content digest, each with the nonce of its idempotency key,
    the keys it carries (with their ledger hashes) and, once NetSuite answered, the job's path; and the synchronous
    waves under way (`in_flight`). Both are written by `owner` (the run id) and read by later runs (overtake.py).

    An entry is committed before its submission and removed once every record of the batch has its outcome (or the
    batch was handed to another attempt, or written one record per request). A run killed in between leaves it, so
    the rerun's identical batch reuses the nonce and finds the job. Entries older than `KEEP_DAYS` are dropped: by
    then the content is resent as a new job (an upsert: harmless).
    """

    KEEP_DAYS = 7

    def __init__(self, store: Store | Path, account: str, owner: str = "") -> None:
        self.store = as_store(store)
        self._owns_store = not isinstance(store, Store)
        self.account = account
        self.owner = owner
        self._lock = threading.Lock()
        self._opened = False

    def _db(self) -> t.ContextManager[sa.Connection]:
        """One committed transaction; on first use, older files are brought up to date and stale entries dropped."""
        if not self._opened:
            with self.store.begin(METADATA) as conn:
                # Tables written before these columns existed (an old file, or one `pipeline-ops store migrate`
                # copied): they gain them.
                columns = {c["name"] for c in sa.inspect(conn).get_columns("submitted", schema=self.store.schema)}
                table = f'"{self.store.schema}".submitted' if self.store.schema else "submitted"
                for column in ("owner", "record_type", "keys", "job"):
                    if column not in columns:
                        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
                conn.execute(SUBMITTED.delete().where(SUBMITTED.c.submitted_at < time.time() - self.KEEP_DAYS * 86400))
            self._opened = True
        return self.store.begin(METADATA)

    def _exists(self) -> bool:
        return self._opened or self.store.exists()

    def _this(self, digest: str) -> sa.ColumnElement[bool]:
        return sa.and_(SUBMITTED.c.account == self.account, SUBMITTED.c.digest == digest)

    def nonce(self, digest: str, record_type: str = "", keys: dict[str, str | None] | None = None) -> str:
        """The nonce of this content's unsettled batch, or a new one (committed before this returns). This run
        takes the entry over: it submits that content now and finds the job by its key."""
        insert = self.store.insert(SUBMITTED).values(
            account=self.account, digest=digest, nonce=uuid.uuid4().hex, submitted_at=time.time(),
            record_type=record_type, keys=json.dumps(keys or {}),
        ).on_conflict_do_nothing(index_elements=[SUBMITTED.c.account, SUBMITTED.c.digest])
        with self._lock, self._db() as db:
            db.execute(insert)
            db.execute(SUBMITTED.update().where(self._this(digest)).values(owner=self.owner))
            return str(db.execute(sa.select(SUBMITTED.c.nonce).where(self._this(digest))).scalar_one())

    def located(self, digest: str, job: str) -> None:
        """NetSuite answered the submission with this job: a later run can ask NetSuite about it."""
        with self._lock, self._db() as db:
            db.execute(SUBMITTED.update().where(self._this(digest)).values(job=job))

    def settled(self, digest: str) -> None:
        with self._lock:
            if self._exists():
                with self._db() as db:
                    db.execute(SUBMITTED.delete().where(self._this(digest)))

    def others(self) -> list[Unsettled]:
        """The unsettled batches of other runs (a killed one, or one that overlaps this one)."""
        with self._lock:
            if not self._exists():
                return []
            with self._db() as db:
                rows = db.execute(sa.select(
                    SUBMITTED.c.digest, SUBMITTED.c.record_type, SUBMITTED.c["keys"], SUBMITTED.c.job,
                ).where(SUBMITTED.c.account == self.account, SUBMITTED.c.owner.is_distinct_from(self.owner))).all()
        return [
            Unsettled(digest, record_type or "", _keys(keys), job or None) for digest, record_type, keys, job in rows
        ]

    def start_wave(self, record_type: str, keys: dict[str, str | None]) -> int:
        """Synchronous writes of these keys are about to start (committed before this returns)."""
        with self._lock, self._db() as db:
            result = db.execute(IN_FLIGHT.insert().values(
                account=self.account, owner=self.owner, record_type=record_type, keys=json.dumps(keys),
                started_at=time.time()))
            return int((result.inserted_primary_key or [0])[0] or 0)

    def end_wave(self, row: int) -> None:
        """Every write of the wave has its outcome (or the run stops with none in NetSuite's hands)."""
        with self._lock, self._db() as db:
            db.execute(IN_FLIGHT.delete().where(IN_FLIGHT.c.row == row))

    def others_in_flight(self, bound_s: float) -> list[InFlight]:
        """Waves other runs started and never finished, each stamped with when a run first saw it; those seen more
        than `bound_s` ago are dropped (whatever their run had sent NetSuite has been executed by then)."""
        with self._lock:
            if not self._exists():
                return []
            now = time.time()
            theirs = sa.and_(IN_FLIGHT.c.account == self.account, IN_FLIGHT.c.owner != self.owner)
            with self._db() as db:  # one transaction
                db.execute(IN_FLIGHT.update().where(theirs, IN_FLIGHT.c.seen_at.is_(None)).values(seen_at=now))
                db.execute(IN_FLIGHT.delete().where(theirs, IN_FLIGHT.c.seen_at < now - bound_s))
                rows = db.execute(sa.select(IN_FLIGHT.c.row, IN_FLIGHT.c.record_type, IN_FLIGHT.c["keys"],
                                            IN_FLIGHT.c.seen_at).where(theirs)).all()
        return [InFlight(row, record_type, _keys(keys), seen_at) for row, record_type, keys, seen_at in rows]

    def close(self) -> None:
        with self._lock:
            self._opened = False
            if self._owns_store:
                self.store.close()


def _keys(text: str | None) -> dict[str, str | None]:
    try:
        keys = json.loads(text) if text else {}
    except ValueError:
        return {}
    return keys if isinstance(keys, dict) else {}


class BatchWriter:
    """Sends the waves of every sink in the configured `write_mode`; one daemon thread submits and polls jobs."""

    def __init__(self, *, client: NetSuiteClient, resolver: ReferenceResolver, executor: ThreadPoolExecutor,
                 mode: str, workers: int, submitted: SubmittedBatches) -> None:
        self.client = client
        self.submitted = submitted
        self.resolver = resolver
        self.executor = executor
        self.mode = mode
        self.workers = workers
        self.jobs_submitted = 0
        self.jobs_found = 0
        self._lock = threading.Condition()
        self._waiting: deque[_Batch] = deque()
        self._open: list[_Batch] = []
        self._shared: deque[tuple[Write, Future[None]]] | None = None  # auto: the queue both pools take from
        self._shared_sender: tuple[str, SendOne] | None = None
        self._wave_started = time.monotonic()
        self._sync_done = 0  # auto: records each pool finished in this wave, for the split
        self._async_done = 0
        self._thread: threading.Thread | None = None
        self._batch_requests = False  # the batch thread is submitting or polling (auto: one worker stands back)

    # --- the sink's one call -------------------------------------------------------------------------------

    def send(self, record_type: str, writes: list[Write], send_one: SendOne) -> dict[Future[None], Write]:
        """Start every write of a wave; each future ends with that write's own outcome."""
        single = [w for w in writes if w.action != "upsert"] if self.mode != "sync" else writes
        batched = [w for w in writes if w.action == "upsert"] if self.mode != "sync" else []
        if self.mode == "auto" and len(batched) < MIN_ASYNC_BATCH:
            single, batched = writes, []
        futures: dict[Future[None], Write] = {self.executor.submit(send_one, w): w for w in single}
        if not batched:
            return futures
        pairs = [(write, Future[None]()) for write in batched]
        futures.update({future: write for write, future in pairs})
        if self.mode == "async":
            with self._lock:
                for group in _groups(pairs):
                    for chunk in content_defined_chunks(group):
                        self._waiting.append(_Batch(record_type, group[0][0].replace, chunk, send_one))
                self._start()
            return futures
        shared = deque(pairs)
        with self._lock:
            self._shared, self._shared_sender = shared, (record_type, send_one)
            self._wave_started, self._sync_done, self._async_done = time.monotonic(), 0, 0
            self._start()
        for index in range(min(self.workers, len(pairs))):
            self.executor.submit(self._take_one_by_one, shared, send_one, yields=index == 0)
        return futures

    def close(self) -> None:
        with self._lock:
            self._shared = None
            self._lock.notify_all()
        self.submitted.close()

    # --- auto: synchronous workers on the shared queue -----------------------------------------------------

    def _take_one_by_one(self, shared: deque[tuple[Write, Future[None]]], send_one: SendOne, *,
                         yields: bool = False) -> None:
        """A synchronous worker; the one that `yields` leaves its slot to the batch thread while that one has
        requests to make, so submits, polls and result reads are never starved by the synchronous writes."""
        while True:
            if yields:
                with self._lock:
                    self._lock.wait_for(lambda: not self._batch_requests, timeout=MAX_POLL_S)
            if self.client.stopping:  # the run is ending (a signal): start nothing more
                return
            try:
                write, future = shared.popleft()
            except IndexError:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                send_one(write)
            except Exception as exc:  # the sink classifies it, as for any synchronous write
                future.set_exception(exc)
            else:
                future.set_result(None)
            with self._lock:
                self._sync_done += 1

    def _take_for_batch(self) -> None:
        """auto: move records from the shared queue into a batch while a job slot is free (caller holds the lock)."""
        shared = self._shared
        if shared is None or self._shared_sender is None:
            return
        while len(self._open) + len(self._waiting) < MAX_OPEN_JOBS["auto"]:
            # The async pool's fair share of what is left, by the rates both pools showed so far in this wave (half
            # each until both have finished something): both pools should run out of work at about the same time.
            queued = sum(len(b.writes) for b in (*self._open, *self._waiting))
            elapsed = max(1e-3, time.monotonic() - self._wave_started)
            sync_rate, async_rate = self._sync_done / elapsed, self._async_done / elapsed
            share = async_rate / (async_rate + sync_rate) if sync_rate and async_rate else 0.5
            size = min(MAX_BATCH, int(share * (len(shared) + queued)) - queued)
            if size < MIN_ASYNC_BATCH:
                return
            taken = []
            for _ in range(size):
                try:
                    taken.append(shared.pop())
                except IndexError:
                    break
            taken = [(w, f) for w, f in taken if not f.cancelled()]
            if not taken:
                return
            record_type, send_one = self._shared_sender
            for group in _groups(sorted(taken, key=lambda pair: pair[0].external_id)):
                self._waiting.append(_Batch(record_type, group[0][0].replace, group, send_one))

    # --- the batch thread ----------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="netsuite-batches", daemon=True)
            self._thread.start()
        self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self.mode == "auto":
                    self._take_for_batch()
                batch = None
                if self._waiting and len(self._open) < MAX_OPEN_JOBS[self.mode]:
                    batch = self._waiting.popleft()
                due = [b for b in self._open if b.next_poll <= time.monotonic()]
                if batch is None and not due:
                    if not self._open and not self._waiting and not self._shared:
                        self._thread = None
                        return
                    wake = min((b.next_poll for b in self._open), default=time.monotonic() + 0.05)
                    self._lock.wait(timeout=max(0.005, min(0.05, wake - time.monotonic())))
                    continue
            self._requesting(True)
            try:
                if batch is not None:
                    self._guarded(self._submit, batch)
                for job in due:
                    self._guarded(self._poll, job)
            finally:
                self._requesting(False)

    def _requesting(self, busy: bool) -> None:
        with self._lock:
            self._batch_requests = busy
            self._lock.notify_all()

    def _guarded(self, step: Callable[[_Batch], None], batch: _Batch) -> None:
        """Any failure of a submit or poll is not the records' fault: every write of the batch fails the run."""
        try:
            step(batch)
        except Exception as exc:  # every write of the batch must get an outcome
            self._fail(batch, exc)

    def _fail(self, batch: _Batch, error: BaseException) -> None:
        with self._lock:
            if batch in self._open:
                self._open.remove(batch)
        if isinstance(error, RecordError):  # NetSuite refused the job's own pages: a rerun submits anew
            self.submitted.settled(batch.digest)
        if not isinstance(error, FatalError):
            error = FatalError(f"{type(error).__name__}: {error}")
        for _, future in batch.writes:
            _settle(future, error)

    def _submit(self, batch: _Batch) -> None:
        batch.writes = [(w, f) for w, f in batch.writes if not f.cancelled()]
        if not batch.writes:
            return
        params = {"replace": ",".join(batch.replace)} if batch.replace else None
        batch.digest = batch.content_digest()
        nonce = self.submitted.nonce(batch.digest, batch.record_type,
                                     {write.external_id: write.payload_hash for write, _ in batch.writes})
        key = str(uuid.uuid5(_KEY_NAMESPACE, batch.digest + nonce))
        response = self.client.request(
            "PUT", f"{RECORD_PATH}/{batch.record_type}", params=params, body={"items": batch.items()},
            headers={"Content-Type": COLLECTION_CONTENT_TYPE, "Prefer": "respond-async",
                     "X-NetSuite-idempotency-key": key},
        )
        location = urlsplit(response.headers.get("Location", "")).path
        code = error_details(response)[0] if response.status_code >= 400 else ""
        if response.status_code == 202 and location:
            self.jobs_submitted += 1
        elif code == "IDEMPOTENCY_ERROR" and location:
            self.jobs_found += 1
            _LOGGER.info("NetSuite already has the job for this batch of %d %s records (%s): reading its results",
                         len(batch.writes), batch.record_type, location)
        elif 400 <= response.status_code < 500:
            code, detail, _ = error_details(response)
            _LOGGER.warning("NetSuite refused a batch of %d %s records as a whole (%s: %s): writing them one by one",
                            len(batch.writes), batch.record_type, code, detail[:200])
            self._one_by_one(batch)
            return
        else:
            msg = f"NetSuite answered a batch submission with HTTP {response.status_code} and no job Location"
            raise FatalError(msg)
        self.submitted.located(batch.digest, location)
        batch.job_path = location
        batch.poll_delay = FIRST_POLL_S
        batch.next_poll = time.monotonic() + batch.poll_delay
        with self._lock:
            self._open.append(batch)

    def _one_by_one(self, batch: _Batch) -> None:
        self.submitted.settled(batch.digest)
        for write, future in batch.writes:
            def copy(done: Future[None], target: Future[None] = future) -> None:
                if done.cancelled():  # the run is stopping: the record keeps no outcome, as the sink expects
                    target.cancel()
                    return
                _settle(target, done.exception())
            self.executor.submit(batch.send_one, write).add_done_callback(copy)

    def _poll(self, batch: _Batch) -> None:
        assert batch.job_path is not None
        response = self.client.request("GET", batch.job_path)
        if response.status_code == 404:
            _LOGGER.warning("NetSuite no longer knows job %s: submitting its %d records again", batch.job_path,
                            len(batch.writes))
            with self._lock:
                self._open.remove(batch)
            self._again(batch, batch.writes)
            self.submitted.settled(batch.digest)
            return
        if response.status_code >= 400:
            raise RecordError(response.status_code, *error_details(response))
        job = json_body(response, f"GET {batch.job_path}")
        if not job.get("completed"):
            batch.poll_delay = min(MAX_POLL_S, batch.poll_delay * POLL_GROWTH)
            batch.next_poll = time.monotonic() + batch.poll_delay
            return
        with self._lock:
            self._open.remove(batch)
            for other in self._open:  # the processors moved on to the next job: look at it soon
                other.poll_delay = FIRST_POLL_S
                other.next_poll = min(other.next_poll, time.monotonic() + FIRST_POLL_S)
        self._read_results(batch)

    def _read_results(self, batch: _Batch) -> None:
        response = self.client.request("GET", f"{batch.job_path}/task")
        if response.status_code >= 400:
            raise RecordError(response.status_code, *error_details(response))
        tasks = json_body(response, f"GET {batch.job_path}/task").get("items") or []
        if len(tasks) != len(batch.writes):
            self.submitted.settled(batch.digest)  # the job itself is wrong: a rerun must not find it again
            msg = f"NetSuite job {batch.job_path} lists {len(tasks)} tasks for a batch of {len(batch.writes)} records"
            raise FatalError(msg)
        # One task per item, numbered in item order (docs/interfaces.md): matched by number, never by list position.
        tasks = sorted(tasks, key=_task_number)
        transient: list[tuple[Write, Future[None]]] = []
        for (write, future), task in zip(batch.writes, tasks, strict=True):
            path = f"{batch.job_path}/task/{task['id']}/result"
            result = self.client.request("GET", path)
            if result.status_code >= 400:
                raise RecordError(result.status_code, *error_details(result))
            outcome = json_body(result, f"GET {path}")
            details = outcome.get("o:errorDetails")
            if not details:
                internal_id = str(outcome.get("id") or "") or _last_segment(outcome)
                if internal_id.isdigit():
                    self.resolver.remember((batch.record_type, write.external_id), internal_id)
                _settle(future)
                continue
            first = details[0] if isinstance(details, list) and details else {}
            status = int(outcome.get("status") or 400)
            error = RecordError(status, str(first.get("o:errorCode", "UNKNOWN")),
                                " ".join(str(first.get("detail", "")).split()), first.get("o:errorPath"))
            if status in RETRYABLE_STATUSES or (status == 400 and TRANSIENT_400.search(error.detail)):
                transient.append((write, future))
            else:
                _settle(future, error)
        with self._lock:
            self._async_done += len(batch.writes) - len(transient)
        if transient:
            self._again(batch, transient)
        self.submitted.settled(batch.digest)

    def _again(self, batch: _Batch, writes: list[tuple[Write, Future[None]]]) -> None:
        """Submit these writes again as a new batch (a new attempt, so a new idempotency key)."""
        if batch.attempt >= self.client.max_retries:
            error = RetriesExhausted(f"{len(writes)} {batch.record_type} records of NetSuite job {batch.job_path} "
                                     f"failed {batch.attempt + 1} times for reasons that are not theirs")
            for _, future in writes:
                _settle(future, error)
            return
        with self._lock:
            self._waiting.append(_Batch(batch.record_type, batch.replace, writes, batch.send_one,
                                        attempt=batch.attempt + 1))


def _task_number(task: dict) -> int:
    number = str(task.get("id", ""))
    return int(number) if number.isdigit() else 0


def _cut_point(external_id: str) -> bool:
    return int(hashlib.sha256(external_id.encode()).hexdigest()[:8], 16) % CUT_EVERY == 0


def content_defined_chunks(pairs: list[tuple[Write, Future[None]]]) -> list[list[tuple[Write, Future[None]]]]:
    """Batches in input order, each ending after a record whose external id hashes to a cut point (once it holds
    `MIN_CUT` records) or at 100 records. A rerun's wave rarely starts where the killed run's did (STATE comes
    from the tap, drains from the SDK), but past the first cut point both form the same batches, with the same
    content and so the same idempotency keys."""
    chunks: list[list[tuple[Write, Future[None]]]] = []
    current: list[tuple[Write, Future[None]]] = []
    for pair in pairs:
        current.append(pair)
        if len(current) >= MAX_BATCH or (len(current) >= MIN_CUT and _cut_point(pair[0].external_id)):
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def _groups(pairs: list[tuple[Write, Future[None]]]) -> list[list[tuple[Write, Future[None]]]]:
    """Writes with the same `replace` sublists can share one batch (the query parameter applies to every item)."""
    groups: dict[tuple[str, ...], list[tuple[Write, Future[None]]]] = {}
    for pair in pairs:
        groups.setdefault(tuple(pair[0].replace), []).append(pair)
    return list(groups.values())


def _last_segment(outcome: dict) -> str:
    links = outcome.get("links") or []
    href = next((link.get("href", "") for link in links if isinstance(link, dict) and link.get("rel") == "self"), "")
    return str(href).rstrip("/").rsplit("/", 1)[-1]

