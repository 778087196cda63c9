"""Earlier writes that may still land: a killed (or overlapping) run's batch jobs and synchronous requests.

A run killed while NetSuite still holds its work leaves writes that land *after* the rerun's: a batch job still
queued for the async processors, or a synchronous request NetSuite is still executing. Such a write may carry an
older payload of a record the rerun writes anew; landing last, it wins in NetSuite. The write ledger must never
record the rerun's payload as NetSuite's state while that can happen (ledger.py's invariant). The nonce store
(`SubmittedBatches`, batches.py) knows both kinds: every batch with the ledger hash of each record it carries and,
once NetSuite answered, its job's path; every synchronous wave while it is under way.

Before a wave is checked against the ledger, `EarlierWrites.untrusted` names the records it must neither skip nor
record. A record is exposed when an earlier write of another run carries a *different* payload of it (the same
payload landing late changes nothing):

- **Batch jobs with a known path** are asked about (one GET each): a completed job, or one NetSuite no longer
  knows, is settled and forgotten; the records of a job still queued are waited for (polling with backoff) for up
  to `max_throttle_wait_seconds` in all per run, as the account's busy processors are waited out. A job that
  completes within it cannot overtake anything any more: the rerun's write lands after it, and is recorded as usual.
- **A job still queued after that, or one whose submission never got an answer** (killed between the commit of
  its nonce and NetSuite's 202; no path to ask about): its records are written but not recorded, and their old
  entries are removed, on every run until the job is seen settled (a job without a path: until its entry expires
  after `SubmittedBatches.KEEP_DAYS`, or a batch of the same content finds it). Each such write stays parked after
  NetSuite accepted it (sinks.py `_keep_sending`), so the end of every run sends it again whatever the source does:
  the first send after the job settled is recorded as usual, which heals a record the job overwrote.
- **Synchronous waves of another run** (a row from before their first request until every answer): the first run
  that sees one stamps it; NetSuite executes a request it received within `2 * request_timeout` (a timed-out
  request keeps its concurrency slot that long, see client.py), so for that long after the stamp their records are
  written but not recorded, and then the row is dropped. This bounds the window the README once admitted: a request
  NetSuite still executes when its process dies can no longer make a recorded payload wrong, as long as NetSuite
  executes a request within twice the timeout.
"""

from __future__ import annotations

import logging
import time
import typing as t

from target_netsuite.batches import FIRST_POLL_S, MAX_POLL_S, POLL_GROWTH, InFlight, SubmittedBatches, Unsettled
from target_netsuite.client import json_body

if t.TYPE_CHECKING:
    from target_netsuite.client import NetSuiteClient
    from target_netsuite.writes import Write

_LOGGER = logging.getLogger("target_netsuite.overtake")


class EarlierWrites:
    """The other runs' unsettled writes, read once per run; which records of a wave they may still overtake."""

    def __init__(self, *, client: NetSuiteClient, store: SubmittedBatches, write_mode: str, wait_s: float,
                 in_flight_bound_s: float) -> None:
        self.client = client
        self.write_mode = write_mode
        self.store = store
        self.wait_s = wait_s
        self.in_flight_bound_s = in_flight_bound_s
        self._jobs: list[Unsettled] | None = None
        self._waves: list[InFlight] = []
        self._deadline: float | None = None  # one waiting budget for the whole run

    def _load(self) -> list[Unsettled]:
        if self._jobs is None:
            self._jobs = self.store.others()
            self._waves = self.store.others_in_flight(self.in_flight_bound_s)
            if self._jobs or self._waves:
                _LOGGER.info("Earlier runs left %d batch jobs and %d synchronous waves unsettled: their records are "
                             "checked before any is written", len(self._jobs), len(self._waves))
        return self._jobs

    def untrusted(self, record_type: str, writes: list[Write]) -> set[str]:
        """The external ids of these writes that an earlier write may still overtake (see the module docstring):
        written, never skipped, never recorded. Waits for queued jobs first (bounded)."""
        jobs = self._load()
        if not jobs and not self._waves:
            return set()
        sending = {write.external_id: write.payload_hash for write in writes}

        def exposes(keys: dict[str, str | None]) -> set[str]:
            return {
                eid for eid, digest in keys.items() if eid in sending and (digest is None or digest != sending[eid])
            }

        exposed = [job for job in jobs if job.record_type == record_type and exposes(job.keys)]
        still_queued = self._wait_for([job for job in exposed if job.job], record_type)
        untrusted: set[str] = set()
        for job in [*still_queued, *(job for job in exposed if not job.job)]:
            untrusted |= exposes(job.keys)
        bound = time.time() - self.in_flight_bound_s
        for wave in self._waves:
            if wave.record_type == record_type and wave.seen_at > bound:
                untrusted |= exposes(wave.keys)
        if untrusted:
            _LOGGER.warning(
                "%d %s records are also carried by writes of an earlier run that NetSuite may still apply (a queued "
                "batch job, a request under way): written now but not recorded in the ledger, so a later run sends "
                "them again", len(untrusted), record_type)
        return untrusted

    def _wait_for(self, jobs: list[Unsettled], record_type: str) -> list[Unsettled]:
        """Poll these jobs until each is settled or `wait_s` has passed; the ones still queued."""
        if not jobs:
            return []
        _LOGGER.info("Waiting up to %.0f s in all for %d batch jobs of an earlier run that carry other payloads of %s "
                     "records about to be written (%s)", self.wait_s, len(jobs), record_type,
                     ", ".join(str(job.job) for job in jobs[:5]))
        if self._deadline is None:
            self._deadline = time.monotonic() + self.wait_s
        deadline = self._deadline
        delay = FIRST_POLL_S
        pending = list(jobs)
        while True:
            pending = [job for job in pending if not self._settled(job)]
            if not pending or time.monotonic() >= deadline or self.client.stopping:
                return pending
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(MAX_POLL_S, delay * POLL_GROWTH)

    def _settled(self, job: Unsettled) -> bool:
        """Ask NetSuite about the job; a completed one (or one NetSuite no longer knows) is forgotten."""
        assert job.job is not None
        response = self.client.request("GET", job.job)
        gone = response.status_code == 404
        if not gone and (response.status_code >= 400 or not json_body(response, f"GET {job.job}").get("completed")):
            return False
        self.store.settled(job.digest)
        assert self._jobs is not None
        self._jobs = [other for other in self._jobs if other.digest != job.digest]
        _LOGGER.info("Batch job %s of an earlier run has %s", job.job,
                     "gone from NetSuite" if gone else "completed")
        return True

    def wave(self, record_type: str, writes: list[Write]) -> t.ContextManager[None]:
        """Mark the writes that may go synchronously under way for later runs until the block ends (not on
        SIGKILL: then it stays); in `async` only deletes do (upserts go in batches, known by their own entries)."""
        synchronous = [w for w in writes if self.write_mode != "async" or w.action != "upsert"]
        return _Wave(self.store, record_type, {write.external_id: write.payload_hash for write in synchronous})


class _Wave:
    def __init__(self, store: SubmittedBatches, record_type: str, keys: dict[str, str | None]) -> None:
        self.store, self.record_type, self.keys = store, record_type, keys
        self.row: int | None = None

    def __enter__(self) -> None:
        if self.keys:
            self.row = self.store.start_wave(self.record_type, self.keys)

    def __exit__(self, *exc: object) -> None:
        if self.row is not None:
            self.store.end_wave(self.row)
