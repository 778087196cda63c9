"""Sinks: one per stream, of the class of the run's mode, chosen once (`mode_sink`); the writing sink's batch is one
recipe of steps, each a method below it, its outcomes recorded through outcomes.py.

The modes: `WritingSink` writes; `ReconcileSink` (`reconcile: true`) compares with NetSuite and writes nothing
(reconcile.py); `MatchReportSink` (`match_mode: report`) lists what the matcher would do (match_report.py);
`DryRunSink` (`dry_run`) logs each payload; `IgnoredStreamSink` drops a stream that names no record type. Which one
runs is decided once from the settings (reconcile, then match report, then dry run, else writing: a match report
never moves state, dry run or not); no step of the write path asks which mode it is in. The three modes that
write nothing take no account lock; the two that report emit no STATE (they claim no progress); in each an
opportunity no longer won is counted `not_won`, never reported as an order.

A writing sink's batch: dedupe → un-won orders → skip unchanged (the ledger) → locked orders → parents first →
match → waves, each: resolve references and lookups → merge → send → settle (`WritingSink._write`).

A batch is written completely (every record written, dead-lettered, parked, or found unchanged: NetSuite already
accepted that very payload, see `ledger.py`) before `process_batch` returns, and any failure that is not the
record's fault raises, so the SDK emits STATE only after every record before it is in NetSuite, in the dead-letter
file or in the parking file, and never after a failure.

A record whose reference names a parent NetSuite does not hold yet is parked, never dead-lettered at once: the
parent may come later in the run or in a later run (see `parking.py`). At the end of every run the parked records
are handed back to `write_parked`, which takes the same path as a batch. A reference that could not be
looked up at all (SuiteQL refused, a `type` that is no record type name) says so in its messages, never "not in
NetSuite"; one whose type is no record type name can never resolve and is dead-lettered at once.

An error that is the account's, not the record's (a role without the permission, a disabled feature, a subsidiary
no record may use) shows as the same NetSuite error for record after record: `max_identical_errors` in a row stop
the run with one line naming it, before state advances; refusals NetSuite gave the same records before, and the
target's own record-level decisions, never count (breaker.py, fed by outcomes.py). Singer BATCH files are read only
from `batch_directory`.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from urllib.parse import unquote, urlsplit

from singer_sdk.sinks import BatchSink
from typing_extensions import override

from target_netsuite.breaker import IdenticalErrors
from target_netsuite.client import FatalError, RecordError, is_record_type, json_default
from target_netsuite.dead_letters import MAPPING_ERROR, REPLAY_KEY
from target_netsuite.ledger import payload_hash
from target_netsuite.lookups import LOOKUP_UNSUPPORTED, find_lookups, key_of, substitute_lookups, unsupported
from target_netsuite.match_report import MatchReporter
from target_netsuite.optional_references import LINK_WAIT, is_link_wait, unlinked, waiting_for, without_links
from target_netsuite.order_lifecycle import UNWIN_KEY
from target_netsuite.parking import MIN_ATTEMPTS, ParkedRecord
from target_netsuite.references import Ref, find_references, substitute
from target_netsuite.subsidiaries import routed_subsidiary
from target_netsuite.totals import AMOUNT_MISMATCH, total_mismatch
from target_netsuite.writes import Write

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from target_netsuite.outcomes import Wave
    from target_netsuite.reconcile import Reconciler
    from target_netsuite.sdk_internals import BaseBatchFileEncoding
    from target_netsuite.services import RunServices, TargetSettings

CONTROL_PREFIX = "_sdc_"
ACTIONS = ("upsert", "delete")
#: Keyed sublists whose lines are only ever added or updated, never replaced whole: a customer's `currencyList`
#: holds currencies finance added in NetSuite too (an order in a currency not in the list is refused), so a
#: payload's lines are merged in by key and an empty list sends nothing. An item's `price` matrix likewise: the
#: mapping sends only Base Price rows (keyed by currency, price level and quantity), so the price levels and
#: quantity tiers people set in NetSuite stay.
ADDITIVE_SUBLISTS = frozenset({"currencyList", "price"})
#: Parked records are handed back to a sink with this schema: they were validated when they first arrived.
PARKED_SCHEMA: dict = {"type": "object", "properties": {}, "additionalProperties": True}


def _no_lines(value: object) -> bool:
    return value is None or (isinstance(value, dict) and not value.get("items"))


def mode_sink(settings: TargetSettings) -> type[NetSuiteSink]:
    """The sink class of the run's mode, chosen once (see the module docstring)."""
    if settings.reconcile:
        return ReconcileSink
    if settings.match_mode == "report":  # before dry run: a report run never moves state, whatever else is set
        return MatchReportSink
    if settings.dry_run:
        return DryRunSink
    return WritingSink


class _BoundToRun(BatchSink):
    """A sink class bound to one run's services: the SDK builds each sink from its class and four arguments
    (target, stream, schema, keys), so the services come with the class, never from the target."""

    #: The run's shared services (set by `for_run`).
    services: t.ClassVar[RunServices]

    @classmethod
    def for_run(cls, services: RunServices) -> type[t.Self]:
        return t.cast("type[t.Self]", type(cls.__name__, (cls,), {"services": services}))


class NetSuiteSink(_BoundToRun):
    """A stream of one NetSuite record type, in the run's mode: what every mode does with its records (the checks
    every record passes, the parents written first); each mode's sink is a subclass."""

    MAX_SIZE_DEFAULT = 1000
    # NetSuite is the authority on what a record may hold: a record that does not match the stream's SCHEMA is
    # logged by the SDK and sent anyway; if NetSuite refuses it, it becomes a dead letter instead of ending the run.
    fail_on_record_validation_exception = False
    #: The mode writes to NetSuite: the run holds the account's lock.
    writes: t.ClassVar[bool] = True
    #: The mode emits STATE: the records before it reached their outcome.
    claims_progress: t.ClassVar[bool] = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.record_type = self.services.record_types.for_stream(self.stream_name)
        breaker = IdenticalErrors(self.services.settings.max_identical_errors)  # breaker.py
        self.outcomes = self.services.outcomes.for_stream(self.stream_name, self.record_type, breaker, self.logger)

    @classmethod
    def end_of_run(cls, open_sink: Callable[[str], t.Self], logger: logging.Logger) -> None:
        """After every sink is drained (and the last STATE emitted): the mode's end of run."""

    @classmethod
    def finish_run(cls, report: dict[str, t.Any], logger: logging.Logger) -> None:
        """With the run's summary, once, even after a fatal error."""

    @override
    def setup(self) -> None:
        """Open for the run: another stream's records may reference this one's (see `write_buffered`)."""
        super().setup()
        self.services.fixed_ids.check(self.record_type, self.schema)
        self.services.sinks.register(self)

    @override
    def clean_up(self) -> None:
        """Closed for the run; the SDK's own clean-up logs the sink's `record_count` metric (run reports read it)."""
        self.services.sinks.unregister(self)
        super().clean_up()

    def write_buffered(self) -> None:
        """Write the records buffered so far now, because a child stream references them: the SDK's own drain
        steps (as `Target.drain_one` takes them), on the sink itself, so the services never hold the target."""
        if self.current_size == 0:
            return
        self.logger.info("Writing buffered '%s' records first (referenced)", self.stream_name)
        context = self.start_drain()
        with self.batch_processing_timer:
            self.process_batch(context)
        self.mark_drained()

    @override
    def process_batch_files(self, encoding: BaseBatchFileEncoding, files: t.Sequence[str]) -> None:
        """BATCH messages name files the target would read and write to NetSuite: only local files inside
        `batch_directory` are accepted; any other BATCH message stops the run."""
        batch_directory = self.services.settings.batch_directory
        if not batch_directory:
            msg = f"stream {self.stream_name!r}: BATCH messages are refused (set batch_directory to accept them)"
            raise FatalError(msg)
        allowed = Path(batch_directory).expanduser().resolve()
        for url in files:
            parts = urlsplit(url)
            local = parts.scheme in ("", "file") and not parts.netloc
            path = Path(unquote(parts.path)).resolve() if local else None
            if path is None or not path.is_relative_to(allowed):
                msg = f"stream {self.stream_name!r}: BATCH file {url[:120]!r} is not inside batch_directory"
                raise FatalError(msg)
        super().process_batch_files(encoding, files)

    # --- what every mode does with its records --------------------------------------------------------------

    def _prepare(self, record: dict) -> Write | None:
        """Check control keys and the external id; a record that cannot be written becomes a dead letter."""
        mapping_error = record.get("_sdc_mapping_error")
        if mapping_error:
            self.outcomes.dead_letter(record, MAPPING_ERROR, str(mapping_error))
            return None
        action = record.get("_sdc_action") or "upsert"
        if action not in ACTIONS:
            self.outcomes.dead_letter(record, "INVALID_ACTION", f"_sdc_action must be one of {ACTIONS}, got {action!r}")
            return None
        mismatch = total_mismatch(record) if action == "upsert" else None
        if mismatch:
            self.outcomes.dead_letter(record, AMOUNT_MISMATCH, mismatch)
            return None
        external_id = record.get("externalId")
        if isinstance(external_id, int) and not isinstance(external_id, bool):
            external_id = str(external_id)
        if not isinstance(external_id, str) or not external_id.strip():
            self.outcomes.dead_letter(
                record, "MISSING_EXTERNAL_ID", "record has no externalId; refusing to write without an upsert key"
            )
            return None
        body = {key: value for key, value in record.items() if not key.startswith(CONTROL_PREFIX)
                and not (key in ADDITIVE_SUBLISTS and _no_lines(value))}
        body.pop("externalId", None)
        replace = sorted(
            key for key, value in body.items()
            if isinstance(value, dict) and isinstance(value.get("items"), list) and key not in ADDITIVE_SUBLISTS
        )
        refs = list(find_references(body)) if action == "upsert" else []
        return Write(external_id, action, record, body, refs, replace)

    def _dedupe(self, records: list[dict]) -> list[Write]:
        """The last version of each external id: two concurrent writes of one record could land in either order.
        It keeps the place of the first (a re-sent version does not move its record behind the rest: the records
        stay in the source's order, which the breaker counts in, breaker.py)."""
        writes: dict[str, Write] = {}
        for record in records:
            write = self._prepare(record)
            if write is None:
                continue
            if write.external_id in writes:
                self.outcomes.count("superseded")
                self.tally_duplicate_merged()
            writes[write.external_id] = write
        return list(writes.values())

    def _won(self, records: list[dict]) -> list[dict]:
        """The records that stand for an order (in the modes that write nothing): an opportunity no longer won
        (`_sdc_on_unwin`) is counted `not_won`, never reported as an order to create."""
        kept = [record for record in records if not record.get(UNWIN_KEY)]
        if len(kept) < len(records):
            self.outcomes.count("not_won", len(records) - len(kept))
        return kept

    def _won_writes(self, writes: list[Write]) -> list[Write]:
        kept = {id(record) for record in self._won([write.record for write in writes])}
        return [write for write in writes if id(write.record) in kept]

    def _write_parents_first(self, writes: list[Write]) -> None:
        """Records of other streams these writes reference, still buffered, are written before them."""
        referenced_types = {ref[0] for write in writes for _, ref in write.refs} - {self.record_type}
        if referenced_types:
            self.services.sinks.write_parents_first(referenced_types, self)


class WritingSink(NetSuiteSink):
    """Writes the records of one stream as one NetSuite record type."""

    @override
    def process_batch(self, context: dict) -> None:
        self._write(self._dedupe(context.get("records", [])))

    def write_parked(self, parked: list[ParkedRecord]) -> None:
        """Try parked records of this stream again (end of run); those waited for too long become dead letters."""
        self.outcomes.tried_again(parked)
        writes = self._dedupe([p.record for p in parked])
        for write in writes:
            write.from_parking = True
        self._write(writes, retried={p.external_id: p for p in parked})

    def _write(self, writes: list[Write], retried: dict[str, ParkedRecord] | None = None) -> None:
        """The recipe (deduped already): every write ends written, dead-lettered, parked, or settled without a
        request; each step records its outcomes through `self.outcomes` and passes on the writes still to send."""
        if not writes:
            return
        sending = self._take_unwon(writes)  # un-won orders: before the ledger could skip them (order_lifecycle.py)
        sending = self._skip_unchanged(sending)  # the ledger (ledger.py)
        sending = self._screen_locked_orders(sending)  # fulfilled, billed or closed orders (order_lifecycle.py)
        if sending:
            self._write_parents_first(sending)
            for wave in self._waves(self._match(sending)):
                self._write_wave(wave, retried or {})  # resolve → merge → send → settle
        self._relate(writes)  # customers shared with more subsidiaries (subsidiaries.py)

    @classmethod
    @override
    def end_of_run(cls, open_sink: Callable[[str], t.Self], logger: logging.Logger) -> None:
        """Every stream is drained, so parents read in this run are in NetSuite; try the parked again.

        Streams whose record type other parked records wait for go first (parked customers before the parked
        contacts that wait for them).
        """
        by_stream: dict[str, list[ParkedRecord]] = {}
        for parked in cls.services.parked.all():
            by_stream.setdefault(parked.stream, []).append(parked)
        if not by_stream:
            return
        logger.info("Trying %d parked records again", sum(map(len, by_stream.values())))
        awaited = {p.waiting_for.split(" ", 1)[0] for records in by_stream.values() for p in records}
        record_types = cls.services.record_types
        for stream in sorted(by_stream, key=lambda name: record_types.for_stream(name) not in awaited):
            sink = open_sink(stream)
            sink.setup()
            try:
                sink.write_parked(by_stream[stream])
            finally:
                sink.clean_up()
        still = cls.services.parked.count() - cls.services.parked.count_waiting_for(LINK_WAIT)
        if still:
            logger.warning(
                "%d records wait for a parent that is not in NetSuite yet (parked in %s; tried again at the end of "
                "every run, dead-lettered after reference_wait_hours)", still, cls.services.parked.store.location,
            )

    # --- the recipe's steps -------------------------------------------------------------------------------

    def _take_unwon(self, writes: list[Write]) -> list[Write]:
        """Opportunities no longer won close their order, or are reported (order_lifecycle.py)."""
        return self.services.order_lifecycle.take_unwon(self.stream_name, self.record_type, writes,
                                                        self.outcomes.dead_letter, self.outcomes.settled)

    def _skip_unchanged(self, writes: list[Write]) -> list[Write]:
        """The write ledger step (ledger.py): an upsert whose payload NetSuite already accepted is not sent and
        counts `unchanged` (a final outcome: an older parked version is dropped, a dead letter resolved); the old
        entry of every key about to be sent differently is removed, committed, before anything is sent."""
        ledger = self.services.ledger
        if ledger is None:  # the merge must know them all the same (merge.py keeps their pending values)
            self._mark_overtakable(writes)
            return writes
        settings: object = sorted(self.services.matcher.create_only.get(self.record_type, ()))
        if policies := self.services.merger.policies.fingerprint(self.record_type):
            settings = [settings, policies]
        for write in writes:
            if write.action == "upsert":
                write.payload_hash = payload_hash(
                    action=write.action, body=write.body, replace=write.replace, settings=settings
                )
        known = ledger.known(self.record_type, [write.external_id for write in writes])
        refusals = ledger.refusals(self.record_type, [write.external_id for write in writes])
        for write in writes:  # a known refusal never counts in the breaker (breaker.py)
            write.known_refusal = refusals[write.external_id][1] if write.external_id in refusals else None
        self._mark_overtakable(writes)
        sending, stale = [], []
        for write in writes:
            recorded = known.get(write.external_id)
            if write.overtakable:  # an earlier run's write may land after this one: never recorded
                write.payload_hash = None  # (and its entry, if any, is removed below)
            elif ledger.skips and recorded is not None and recorded == write.payload_hash:
                self.outcomes.settled(write.external_id, "unchanged")
                continue
            elif ledger.skips and self._still_refused(write, refusals.get(write.external_id)):
                continue
            elif ledger.skips and recorded is not None and recorded == unlinked(write.payload_hash):
                if not write.from_parking:  # written without its links; its parked copy sends them once they resolve
                    self.outcomes.unchanged_waiting_for_link()
                    continue
                sending.append(write)  # the parked copy: its links may resolve now (else nothing is sent)
                continue
            if recorded is not None and recorded != write.payload_hash:
                stale.append(write.external_id)
            sending.append(write)
        ledger.invalidate(self.record_type, stale)
        return sending

    def _mark_overtakable(self, writes: list[Write]) -> None:
        """Mark the writes an earlier run's write NetSuite may still apply could overtake (overtake.py): neither the
        ledger nor the merge may take their payload for what NetSuite holds."""
        untrusted = self.services.earlier_writes.untrusted(self.record_type, writes)
        for write in writes:
            write.overtakable = write.external_id in untrusted

    def _still_refused(self, write: Write, refusal: tuple[str, str] | None) -> bool:
        """A payload NetSuite refused, unchanged since, with its dead letter still waiting, is not sent again (until
        it changes, is replayed, or the ledger is ignored): it counts `still_refused` (breaker.py)."""
        if refusal is None or refusal[0] != write.payload_hash or write.record.get(REPLAY_KEY):
            return False
        if not self.services.dead_letters.is_waiting(self.record_type, write.external_id):
            return False
        self.outcomes.still_refused(write.external_id)
        return True

    def _screen_locked_orders(self, writes: list[Write]) -> list[Write]:
        """Orders NetSuite fulfilled, billed or closed are never rewritten (order_lifecycle.py)."""
        return self.services.order_lifecycle.screen(self.stream_name, self.record_type, writes,
                                                    self.outcomes.dead_letter)

    def _match(self, writes: list[Write]) -> list[Write]:
        """Existing records adopted, create-only fields out of updates (matching.py)."""
        return self.services.matcher.prepare(self.stream_name, self.record_type, writes, self.outcomes.dead_letter)

    def _waves(self, writes: list[Write]) -> t.Iterator[list[Write]]:
        """Records referencing another record of this same batch wait until that one is written."""
        pending = writes
        while pending:
            waiting = {(self.record_type, write.external_id) for write in pending}
            ready = [
                write
                for write in pending
                if not any(ref in waiting and ref[1] != write.external_id for _, ref in write.refs)
            ]
            if not ready:  # a reference cycle: write them all, unresolved references are parked
                ready = pending
            yield ready
            chosen = {id(write) for write in ready}
            pending = [write for write in pending if id(write) not in chosen]

    def _write_wave(self, writes: list[Write], retried: dict[str, ParkedRecord]) -> None:
        """A wave: references and lookups resolved, the merge, sent concurrently, every answer settled. On a failure
        that is not the record's fault, stop starting new requests, settle the finished ones, and raise so that no
        STATE follows."""
        self.services.verify_account_lock()
        ready = self.services.merger.prepare(self.stream_name, self.record_type, self._resolved(writes, retried))
        wave = self.outcomes.wave()
        with self.services.earlier_writes.wave(self.record_type, ready):  # for a later run, should this one die
            futures = self.services.batches.send(self.record_type, ready, self._send)  # write_mode (batches.py)
            try:
                self._collect(futures, wave)
            finally:
                self._settle(wave)
        if isinstance(wave.fatal, FatalError):
            raise wave.fatal
        if wave.fatal is not None:
            msg = f"{type(wave.fatal).__name__}: {wave.fatal}"
            raise FatalError(msg) from wave.fatal

    def _resolved(self, writes: list[Write], retried: dict[str, ParkedRecord]) -> list[Write]:
        """Writes with lookups and references replaced by internal ids; a write whose parent NetSuite lacks is
        parked (or, when it has waited past `reference_wait_hours`, dead-lettered)."""
        ids = self.services.resolver.resolve({ref for write in writes for _, ref in write.refs})
        ready = []
        for write in writes:
            missing = [(path, ref) for path, ref in write.refs if ref not in ids]
            missing, optional = self.services.optional_references.split(self.record_type, missing)
            if missing:
                self._unresolved(write, missing, retried.get(write.external_id))
                continue
            if optional and not self._without_links(write, optional, retried.get(write.external_id)):
                continue
            ready.append(write)
        # A record that follows its parent's subsidiary gets it now (subsidiaries.py); then its lookups are scoped.
        ready = self.services.subsidiaries.follow(
            ready, ids, lambda write, code, detail, path: self.outcomes.dead_letter(write.record, code, detail,
                                                                                    path=path))
        for write in ready:
            if write.refs:
                write.body = t.cast("dict", substitute(write.body, ids))
        return self._looked_up(ready)

    def _without_links(self, write: Write, optional: list[tuple[str, Ref]], retried: ParkedRecord | None) -> bool:
        """An unresolved optional reference (optional_references.py): True to write now without it; False for a
        record written already that only waits for the link (kept parked, or given up past the wait)."""
        if retried is not None and is_link_wait(retried.waiting_for):
            tries = retried.attempts + 1
            waited = retried.waited(dt.datetime.now(tz=dt.UTC))
            if waited >= self.services.reference_wait and tries >= MIN_ATTEMPTS:
                self.outcomes.unlinked(write, retried.waiting_for.split(LINK_WAIT)[0], waited.total_seconds() / 3600,
                                       tries)
            return False
        write.body = without_links(write.body, optional)
        write.payload_hash = unlinked(write.payload_hash)  # NetSuite will hold the payload without its links
        write.link_wait = waiting_for(optional)
        return True

    def _unresolved(self, write: Write, missing: list[tuple[str, Ref]], retried: ParkedRecord | None) -> None:
        """Park a write whose parent NetSuite lacks; a parked one tried again past its wait becomes a dead letter."""
        path, (ref_type, ref_id) = missing[0]
        failure = self.services.resolver.lookup_failure((ref_type, ref_id))
        if not is_record_type(ref_type):  # never looked up, never written by anyone: it cannot resolve
            self.outcomes.dead_letter(write.record, "UNRESOLVED_REFERENCE", str(failure), path=path)
            return
        waited = retried.waited(dt.datetime.now(tz=dt.UTC)) if retried else None
        if retried and waited is not None and waited >= self.services.reference_wait:
            tries = retried.attempts + 1
            if tries >= MIN_ATTEMPTS:
                what = failure or f"no {ref_type} with externalId {ref_id!r} reached NetSuite"
                self.outcomes.dead_letter(
                    write.record,
                    "UNRESOLVED_REFERENCE",
                    f"{what} in {waited.total_seconds() / 3600:.1f}"
                    f" h of waiting ({tries} end-of-run tries since {retried.first_parked:%Y-%m-%d %H:%M}Z)",
                    path=path,
                )
                return
        waiting = f"{ref_type} {ref_id}" + (f" ({failure})" if failure else "")
        self.outcomes.parked(write, waiting, again=retried is not None, ref=(ref_type, ref_id), path=path,
                             why=str(failure) if failure else "not in NetSuite yet")

    def _looked_up(self, writes: list[Write]) -> list[Write]:
        """Writes with lookup markers replaced by the one record each names (lookups.py, one SuiteQL query per
        record type and field for the whole wave); a write with a lookup that names no record, or several, is
        dead-lettered naming the record type, field and value."""
        markers = {id(write): list(find_lookups(write.body)) for write in writes if write.action == "upsert"}
        if not any(markers.values()):
            return writes
        ids = self.services.lookups.resolve(marker for found in markers.values() for _, marker in found)
        ready = []
        for write in writes:
            problem = None
            subsidiary = routed_subsidiary(write.body, ids)  # scopes the lookups of this record (subsidiaries.py)
            chosen: dict = {}
            for path, marker in markers.get(id(write), []):
                why = unsupported(marker)
                available = () if why else self.services.lookups.available(marker, ids[key_of(marker)], subsidiary)
                if why is not None:
                    problem = (LOOKUP_UNSUPPORTED, why, path)
                elif found := self.services.lookups.problem(marker, available, subsidiary):
                    problem = (*found, path)
                if problem:
                    break
                chosen[key_of(marker)] = available[0]
            if problem is not None:
                code, detail, path = problem
                self.outcomes.dead_letter(write.record, code, f"{path}: {detail}", path=path)
                continue
            if markers.get(id(write)):
                write.body = t.cast("dict", substitute_lookups(write.body, chosen))
            ready.append(write)
        return ready

    def _send(self, write: Write) -> None:
        client = self.services.client
        if write.action == "delete":
            client.delete(self.record_type, write.external_id)
            self.services.resolver.forget((self.record_type, write.external_id))
            return
        internal_id = client.upsert(self.record_type, write.external_id, write.body, write.replace)
        if internal_id is not None:
            self.services.resolver.remember((self.record_type, write.external_id), internal_id)

    def _collect(self, futures: dict[Future[None], Write], wave: Wave) -> None:
        """Record every answer of a wave; on the first failure that must stop the run, stop retrying and cancel
        the requests not started."""
        for future in _as_answered(futures):
            error = future.exception()
            stopping = wave.fatal is not None
            if error is None:
                wave.written(futures[future])
            elif isinstance(error, RecordError):
                wave.refused(futures[future], error)
            else:
                wave.failed(error)
            if wave.fatal is not None and not stopping:
                self.services.client.stop_retrying()
                for other in futures:
                    other.cancel()

    def _settle(self, wave: Wave) -> None:
        """The merged values first (a ledger entry skips the payload, and so its merge, next time), then the
        ledger's entries of the wave."""
        if wave.accepted:
            self.services.merger.accepted(self.record_type, wave.accepted)
        wave.close()

    def _relate(self, writes: list[Write]) -> None:
        """Customers the mapping shares with more subsidiaries get those relationships (subsidiaries.py)."""
        if self.record_type != "customer":
            return
        self.services.subsidiaries.relate(writes, resolver=self.services.resolver, lookups=self.services.lookups,
                                          ledger=self.services.ledger, outcomes=self.outcomes)


def _as_answered(futures: t.Iterable[Future[None]]) -> t.Iterator[Future[None]]:
    """The futures as they get their answers, leaving out the ones cancelled meanwhile (the run is stopping).

    Not `as_completed`: a future the batch writer made itself (batches.py) and the sink cancelled before any worker
    took it is never "notified" of its cancellation, so `as_completed` would wait for it for ever. Waiting a second
    at a time and dropping cancelled futures ends the wave as soon as every future still running has answered."""
    pending = set(futures)
    while pending:
        answered, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        yield from (future for future in answered if not future.cancelled())
        pending = {future for future in pending if not future.cancelled()}


class ReconcileSink(NetSuiteSink):
    """`reconcile: true`: the records are compared with NetSuite at the end of the run, never written
    (reconcile.py)."""

    writes = False
    claims_progress = False

    @override
    def process_batch(self, context: dict) -> None:
        self._reconciler().observe(self.record_type, self._won(context.get("records", [])))

    @classmethod
    @override
    def end_of_run(cls, open_sink: Callable[[str], t.Self], logger: logging.Logger) -> None:
        cls._reconciler().compare(cls.services.run_id)

    @classmethod
    def _reconciler(cls) -> Reconciler:
        reconciler = cls.services.reconciler
        assert reconciler is not None  # built for `reconcile: true` (services.py)
        return reconciler


class MatchReportSink(NetSuiteSink):
    """`match_mode: report`: what the matcher would do with each record, listed; nothing written (match_report.py).
    Parents are judged first, so a child of a record the run would adopt is judged as the real run judges it."""

    writes = False
    claims_progress = False

    @override
    def process_batch(self, context: dict) -> None:
        writes = self._won_writes(self._dedupe(context.get("records", [])))
        if not writes:
            return
        self._write_parents_first(writes)
        self._reporter().judge(self.stream_name, self.record_type, writes)

    @classmethod
    def _reporter(cls) -> MatchReporter:
        reporter = cls.services.matcher
        assert isinstance(reporter, MatchReporter)  # built for `match_mode: report` (services.py)
        return reporter

    @classmethod
    @override
    def finish_run(cls, report: dict[str, t.Any], logger: logging.Logger) -> None:
        path = cls._reporter().write(cls.services.settings.match_report_path, cls.services.run_id, report["streams"])
        logger.info("match_mode report: nothing written; the list is in %s", path)


class DryRunSink(NetSuiteSink):
    """`dry_run`: each payload checked and logged as the request it would be; nothing written."""

    writes = False

    @override
    def process_batch(self, context: dict) -> None:
        for write in self._won_writes(self._dedupe(context.get("records", []))):
            method = "DELETE" if write.action == "delete" else "PUT"
            self.logger.info(
                "dry_run: %s %s/eid:%s replace=%s %s",
                method,
                self.record_type,
                write.external_id,
                ",".join(write.replace),
                json.dumps(write.body, default=json_default, ensure_ascii=False),
            )
            self.outcomes.count("dry_run")


class IgnoredStreamSink(_BoundToRun):
    """A stream that names no NetSuite record type (e.g. Meltano's `meltano_test_stream`): never written."""

    @override
    def setup(self) -> None:
        self.logger.warning(
            "Stream '%s' is not a NetSuite record type and has no `record_types` entry: its records are ignored",
            self.stream_name,
        )

    @override
    def process_batch(self, context: dict) -> None:
        count = len(context.get("records", []))
        self.services.outcomes.count(self.stream_name, "ignored", count)
        self.logger.warning("Ignored %d records of stream '%s'", count, self.stream_name)
