"""What a REST batch is and how its idempotency key is kept: the batch's content, its content-defined boundaries,
and the nonce store (`SubmittedBatches`). The write modes that send batches are in writers.py, one job's lifecycle
in batch_job.py.

A batch is up to 100 upserts of one record type (`PUT /record/v1/<type>`, collection body, `Prefer: respond-async`).
Invariants:

- The `X-NetSuite-idempotency-key` is a UUID derived from the batch's content (record type, `replace`, the items in
  order, the attempt number) and a nonce kept in `SubmittedBatches` (in the store, `store_uri`: a local SQLite file
  by default, or a PostgreSQL database every host shares) from just before the submission until every record of the
  batch has its outcome (settled): a rerun on another host finds it too. In `async` batch boundaries are
  content-defined (`content_defined_chunks`; in `auto` they follow the two pools' rates, so a rerun may form other
  batches: upserts keep that harmless), so a target killed after submitting and rerun with the same records forms
  the same batches, finds their nonces, gets `400 IDEMPOTENCY_ERROR` with the job's Location and takes that job's
  results instead of submitting twice; the same content sent again once its batch was settled (a replay, a repair
  of a record edited in NetSuite) gets a new nonce, so NetSuite writes it again rather than answering from the old
  job.
- An entry names the keys its batch carries with their ledger hashes (and the job once NetSuite answered), and the
  synchronous waves under way are kept beside them (`in_flight`): a later run knows which earlier writes NetSuite
  may still apply, and the ledger never runs ahead of NetSuite (overtake.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import typing as t
import uuid
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import Store, as_store

from target_netsuite.client import json_default

if t.TYPE_CHECKING:
    from target_netsuite.writes import Write

WRITE_MODES = ("sync", "async", "auto")
MAX_BATCH = 100
#: `auto`: a wave of fewer records goes synchronously (a parent a child needs right away is such a small wave).
MIN_ASYNC_BATCH = 20
#: Content-defined batch boundaries (see `content_defined_chunks`): about 60 records a batch on average.
MIN_CUT = 10
CUT_EVERY = 64
#: A job's polls (batch_job.py; overtake.py waits for other runs' jobs alike): backoff from the first delay.
FIRST_POLL_S = 0.1
POLL_GROWTH = 1.5
MAX_POLL_S = 30.0

SendOne = t.Callable[["Write"], None]
Pair = tuple["Write", Future[None]]  # a write and the future that gets its outcome


def settle(future: Future[None], error: BaseException | None = None) -> None:
    """Give a write its outcome; a future the sink cancelled (the run is stopping) keeps no outcome."""
    try:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


@dataclass
class Batch:
    """The content of one batch: writes of one record type sharing one `replace`, and the attempt it is."""

    record_type: str
    replace: list[str]
    writes: list[Pair]
    send_one: SendOne  # how one of them is written synchronously (a batch NetSuite refuses as a whole)
    attempt: int = 0

    def items(self) -> list[dict]:
        return [{"externalId": write.external_id, **write.body} for write, _ in self.writes]

    def content_digest(self) -> str:
        content = json.dumps({"type": self.record_type, "replace": self.replace, "items": self.items(),
                              "attempt": self.attempt}, sort_keys=True, default=json_default, ensure_ascii=False)
        return hashlib.sha256(content.encode()).hexdigest()

    def keys(self) -> dict[str, str | None]:
        """External id -> ledger hash of the payload each write carries (the nonce store's entry)."""
        return {write.external_id: write.payload_hash for write, _ in self.writes}


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


def _cut_point(external_id: str) -> bool:
    return int(hashlib.sha256(external_id.encode()).hexdigest()[:8], 16) % CUT_EVERY == 0


def content_defined_chunks(pairs: list[Pair]) -> list[list[Pair]]:
    """Batches in input order, each ending after a record whose external id hashes to a cut point (once it holds
    `MIN_CUT` records) or at 100 records. A rerun's wave rarely starts where the killed run's did (STATE comes
    from the tap, drains from the SDK), but past the first cut point both form the same batches, with the same
    content and so the same idempotency keys."""
    chunks: list[list[Pair]] = []
    current: list[Pair] = []
    for pair in pairs:
        current.append(pair)
        if len(current) >= MAX_BATCH or (len(current) >= MIN_CUT and _cut_point(pair[0].external_id)):
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def replace_groups(pairs: list[Pair]) -> list[list[Pair]]:
    """Writes with the same `replace` sublists can share one batch (the query parameter applies to every item)."""
    groups: dict[tuple[str, ...], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(tuple(pair[0].replace), []).append(pair)
    return list(groups.values())

