"""The one place a record's outcome is recorded: the run summary, the parking store, the dead letters, the ledger.

Every other module decides (the sinks' recipe steps, the matcher, the merge, the order lifecycle, subsidiaries) and
tells this module what it decided; none of them adds to the summary, parks or settles a parked record, writes or
resolves a dead letter, or records a write in the ledger itself (tests/target/test_target_composition.py checks
it). What each final outcome does, here and nowhere else:

- `written`/`deleted`: counted (and `created`/`updated` when the matcher knew), the breaker reset, the key's dead
  letter resolved, the key settled in the parking store; or kept parked when an earlier run's write may still
  overtake it (overtake.py) or an optional link is still missing (optional_references.py). The wave's accepted
  payloads and refusals reach the ledger together once every answer of the wave is in (`Wave.close`);
- `dead_lettered`: the dead letter written, counted, the key settled (an older parked version must never be
  written after it), one warning line; refused by NetSuite, it also feeds the breaker (breaker.py) and, unless the
  breaker tripped, the ledger's known refusals;
- `unchanged`, `still_refused`, `not_won`, `closed`, `unlinked`: counted, the key settled (and, but for
  `still_refused` and `unlinked`, its dead letter resolved: NetSuite holds what the source says);
- `waiting` (parked for a parent NetSuite lacks): parked, counted the first time only (an end-of-run try again
  parks it again, uncounted).

Invariant: the breaker is fed from the same calls that record NetSuite's answers, so what it counts is exactly
what was recorded; when it trips, none of the streak's refusals is kept as known (the account was at fault).
"""

from __future__ import annotations

import typing as t

from target_netsuite.client import FatalError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable

    from target_netsuite.client import RecordError
    from target_netsuite.dead_letters import DeadLetterStore, RunSummary
    from target_netsuite.ledger import WriteLedger
    from target_netsuite.parking import ParkedRecord, ParkedRecords
    from target_netsuite.writes import Write

#: The `waiting_for` of a write kept parked after NetSuite accepted it, because an earlier run's write of the same
#: record may still land after it (overtake.py).
EARLIER_WRITE = "earlier-write: a write of an earlier run NetSuite may still apply"


class Breaker(t.Protocol):
    """The error breaker of one stream (breaker.py), as this module feeds it."""

    count: int
    streak: list[str]

    @property
    def tripped(self) -> bool: ...

    def accepted(self) -> None: ...

    def refused(self, external_id: str, error: RecordError, known_code: str | None) -> bool: ...


class Outcomes:
    """Run-wide: the summary, the dead letters, the parked records and the ledger, written only through here."""

    def __init__(self, *, summary: RunSummary, dead_letters: DeadLetterStore, parked: ParkedRecords,
                 ledger: WriteLedger | None) -> None:
        self.summary = summary
        self.dead_letters = dead_letters
        self.parked = parked
        self.ledger = ledger

    def count(self, stream: str, outcome: str, n: int = 1) -> None:
        """A tally with nothing else to record: a step's count (`superseded`, `adopted`, `create_only_skipped`, the
        merge's `conflicts`), or the final outcome of a mode that writes nothing (`dry_run`, `ignored`, the match
        report's `would_*`)."""
        self.summary.add(stream, outcome, n)

    def for_stream(self, stream: str, record_type: str, breaker: Breaker, logger: logging.Logger) -> StreamOutcomes:
        """The recorder of one sink: its stream, its record type, its breaker, its log."""
        return StreamOutcomes(self, stream, record_type, breaker, logger)

    def settle(self, record_type: str, external_id: object) -> None:
        """This key reached a final outcome: an older parked version of it must never be written."""
        if isinstance(external_id, str):
            self.parked.settle(record_type, external_id)


class StreamOutcomes:
    """The outcomes of one stream's records (one sink's), each recorded with all its effects at once."""

    def __init__(self, run: Outcomes, stream: str, record_type: str, breaker: Breaker,
                 logger: logging.Logger) -> None:
        self._run = run
        self.stream = stream
        self.record_type = record_type
        self.breaker = breaker
        self._logger = logger

    def count(self, outcome: str, n: int = 1) -> None:
        """See `Outcomes.count`."""
        self._run.count(self.stream, outcome, n)

    # --- final outcomes before anything is sent ------------------------------------------------------------

    def dead_letter(self, record: dict, code: str, detail: str, **extra: t.Any) -> None:
        """The record cannot be written (bad input, a decision for a person, NetSuite's refusal): a dead letter."""
        external_id = record.get("externalId")
        self._run.dead_letters.add(
            stream=self.stream,
            record_type=self.record_type,
            external_id=external_id if isinstance(external_id, str) else None,
            code=code,
            detail=detail,
            payload=record,
            **extra,
        )
        self._run.count(self.stream, "dead_lettered")
        self._run.settle(self.record_type, external_id)
        self._logger.warning("Dead-lettered %s %s: %s %s", self.record_type, external_id, code, detail)

    def dead_letter_part(self, record_type: str, write: Write, code: str, detail: str, path: str) -> None:
        """A part written apart from the record (a customer's subsidiary relationships) cannot be written: its own
        dead letter; the record itself keeps its outcome."""
        self._run.dead_letters.add(stream=self.stream, record_type=record_type, external_id=write.external_id,
                                    code=code, detail=detail, payload=write.record, path=path)
        self._run.count(self.stream, "dead_lettered")
        self._logger.warning("Dead-lettered %s of %s: %s %s", record_type, write.external_id, code, detail)

    def parts_written(self, record_type: str, entries: list[tuple[str, str]]) -> None:
        """Parts written apart from their records (relationships), in the ledger: a rerun makes none again."""
        ledger = self._run.ledger
        if ledger is not None and ledger.records and entries:
            ledger.record(record_type, entries)

    def settled(self, external_id: str, outcome: str) -> None:
        """A final outcome that is neither a write nor a dead letter and leaves NetSuite as the source says
        (`unchanged`, `not_won`, `closed`): counted, the key settled, its dead letter resolved."""
        self._run.count(self.stream, outcome)
        self._run.settle(self.record_type, external_id)
        self._run.dead_letters.resolve(self.record_type, external_id)

    def still_refused(self, external_id: str) -> None:
        """A payload NetSuite refused, unchanged since, its dead letter still waiting: not sent again (breaker.py)."""
        self._run.count(self.stream, "still_refused")
        self._run.settle(self.record_type, external_id)

    def unchanged_waiting_for_link(self) -> None:
        """Written already without an optional link, read again unchanged: its parked copy sends the link."""
        self._run.count(self.stream, "unchanged")

    def unlinked(self, write: Write, missing: str, waited_hours: float, tries: int) -> None:
        """An optional link given up past the wait (optional_references.py): the record stays as written."""
        self._run.settle(self.record_type, write.external_id)
        self._run.count(self.stream, "unlinked")
        self._logger.warning("Unlinked: %s %s stays without %s after %.1f h (%d end-of-run tries)",
                             self.record_type, write.external_id, missing, waited_hours, tries)

    def parked(self, write: Write, waiting_for: str, *, again: bool, ref: tuple[str, str], path: str,
               why: str) -> None:
        """A write whose parent NetSuite lacks waits in the parking store; counted `waiting` the first time."""
        self._park(write, waiting_for)
        if again:
            return
        self._run.count(self.stream, "waiting")
        self._logger.info("Waiting: %s %s references %s %r (at %s), %s; parked until it is",
                          self.record_type, write.external_id, ref[0], ref[1], path, why)

    def tried_again(self, parked: Iterable[ParkedRecord]) -> None:
        """Parked records handed back for an end-of-run try: one more attempt each."""
        self._run.parked.count_tried([(p.record_type, p.external_id) for p in parked])

    def _park(self, write: Write, waiting_for: str) -> None:
        self._run.parked.park(record_type=self.record_type, external_id=write.external_id, stream=self.stream,
                               record=write.record, waiting_for=waiting_for)

    # --- NetSuite's answers --------------------------------------------------------------------------------

    def wave(self) -> Wave:
        """The recorder of one wave's answers."""
        return Wave(self)


class Wave:
    """One wave's answers: each recorded as it comes, the ledger's entries once every answer is in (`close`)."""

    def __init__(self, stream: StreamOutcomes) -> None:
        self._stream = stream
        self.accepted: list[Write] = []  # NetSuite's successes, in the order of their answers
        self._refused: list[tuple[str, str, str]] = []  # (external id, payload hash, code): NetSuite's refusals
        self.fatal: BaseException | None = None  # the first failure that must stop the run

    def written(self, write: Write) -> None:
        """NetSuite accepted the write."""
        stream = self._stream
        run = stream._run
        stream.breaker.accepted()
        run.count(stream.stream, "deleted" if write.action == "delete" else "written")
        self.accepted.append(write)
        if write.overtakable:  # sent again until the earlier write is settled (overtake.py)
            stream._park(write, EARLIER_WRITE)
        elif write.link_wait:  # written; the optional link is written once it resolves
            stream._park(write, write.link_wait)
        else:
            run.settle(stream.record_type, write.external_id)
        if write.exists is not None:
            run.count(stream.stream, "updated" if write.exists else "created")
        run.dead_letters.resolve(stream.record_type, write.external_id)

    def refused(self, write: Write, error: RecordError) -> None:
        """NetSuite refused the record: its dead letter; while the run is not stopping yet, the breaker counts it, and
        once it trips, `fatal` says so."""
        stream = self._stream
        stream.dead_letter(write.record, error.code, error.detail, action=write.action, status=error.status,
                           path=error.path)
        if write.payload_hash is not None:
            self._refused.append((write.external_id, write.payload_hash, error.code))
        if self.fatal is not None or not stream.breaker.refused(write.external_id, error, write.known_refusal):
            return
        msg = (
            f"NetSuite refused {stream.breaker.count} {stream.record_type} records in a row with the same error, "
            f"which is about the account, not the records: {error}; stopped without advancing state (if NetSuite "
            "refuses these records for their own reason, run once with a higher max_identical_errors: their "
            "refusals are then known and never count again)"
        )
        self.fatal = FatalError(msg)

    def failed(self, error: BaseException) -> None:
        """A failure that is not the record's (a request that ran out of retries, a crash): the run stops."""
        if self.fatal is None:
            self.fatal = error

    def close(self) -> None:
        """The wave's answers in the ledger; when the breaker stopped the run, the refusals were the account's: none
        of this wave is kept, nor those of the streak from earlier waves (breaker.py)."""
        ledger = self._stream._run.ledger
        if ledger is None:
            return
        record_type = self._stream.record_type
        accepted = [(write.external_id, write.payload_hash) for write in self.accepted if write.payload_hash]
        if accepted:
            ledger.record(record_type, accepted)
        if self._stream.breaker.tripped:
            ledger.forget_refused(record_type, self._stream.breaker.streak)
        else:
            ledger.record_refused(record_type, self._refused)
