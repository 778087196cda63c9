"""What one target run shares, built once from its settings: the client, the caches, the outputs, the sinks.

Invariants:
- the settings are read from the validated config once, into `TargetSettings`; a default lives only in the
  target's `config_jsonschema` (the SDK fills it in; a setting given as null takes the schema's default too);
- the services are built here, from the settings alone: nothing in this module (or below it) knows the target
  or the sinks. The sinks receive the services; the target owns them. Imports only go down:
  target → sinks → services → {dead_letters, references, parking, ledger, outcomes, overtake, matching,
  match_report, merge, reconcile, writers, fixed_ids, lookups, subsidiaries} → client → auth (match_keys, the
  normalisation both matching and reconcile use, imports nothing of the package);
- outcomes are recorded only through `outcomes` (outcomes.py): the summary, the dead letters, the parked records
  and the ledger are built here and handed to it; the other services receive it, never the summary;
- `OpenSinks` holds a sink from its `setup` to its `clean_up` (the SDK's hooks), and no longer than it may hold
  records: a sink the SDK retired after a schema change, and drained without `clean_up` (the SDK cleans retired
  sinks up only at the end of the input), leaves as soon as it is empty.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import requests
from connector_kit.store import AccountLock, LockLostError, StoreError, Stores
from connector_kit.store_accounts import account_schema
from connector_kit.store_accounts import claim as claim_account

from target_netsuite.auth import TOKEN_PATH, MachineToMachineAuth, TokenBasedAuth, read_private_key
from target_netsuite.batches import SubmittedBatches
from target_netsuite.client import (
    FatalError,
    NetSuiteClient,
    account_host,
    checked_account_id,
    checked_base_url,
    is_record_type,
)
from target_netsuite.dead_letters import DEAD_LETTERS_FILE, DeadLetterStore, RunSummary
from target_netsuite.fixed_ids import FixedIdCheck
from target_netsuite.ledger import LEDGER_FILE, WriteLedger, account_key
from target_netsuite.lookups import LookupResolver
from target_netsuite.match_report import MatchReporter
from target_netsuite.matching import Matcher
from target_netsuite.merge import MERGE_FILE, ConflictPolicies, Merger, MergeStore
from target_netsuite.optional_references import LINK_WAIT, OptionalReferences
from target_netsuite.order_lifecycle import OrderLifecycle
from target_netsuite.outcomes import Outcomes
from target_netsuite.overtake import EarlierWrites
from target_netsuite.parking import PARKED_FILE, ParkedRecords
from target_netsuite.reconcile import Reconciler
from target_netsuite.references import ReferenceResolver
from target_netsuite.subsidiaries import Subsidiaries
from target_netsuite.writers import Writer, writer_for

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Mapping

#: The credentials each `auth_method` needs (the schema cannot say "required when").
AUTH_SETTINGS = {
    "tba": ("consumer_key", "consumer_secret", "token_id", "token_secret"),
    "oauth2_m2m": ("client_id", "certificate_id"),
}
#: Numbers arrive as the JSON reader made them (the SDK reads a config file's decimals as `Decimal`): each number
#: setting is made the Python type its field declares.
_NUMBERS: dict[str, t.Callable[[t.Any], t.Any]] = {"float": float, "int": int}
#: The async batches submitted and not yet settled (batches.py), beside the parked records.
SUBMITTED_BATCHES_FILE = "async_batches.sqlite3"
#: Meltano's `meltano config test` stream: never a record type, always ignored.
MELTANO_TEST_STREAM = "meltano_test_stream"


def account_lock_name(base_url: str, account_id: str) -> str:
    """The name of an account's run lock (one per NetSuite account and API host), in a shared store."""
    return f"target-netsuite|{base_url}|{account_id.upper()}"


@dataclasses.dataclass(frozen=True)
class TargetSettings:
    """The target's settings, typed, read once from the validated config (see `config_jsonschema` for each)."""

    account_id: str
    auth_method: str
    consumer_key: str | None
    consumer_secret: str | None
    token_id: str | None
    token_secret: str | None
    client_id: str | None
    certificate_id: str | None
    private_key: str | None
    private_key_path: str | None
    base_url: str | None
    ca_bundle: str | None
    max_concurrency: int
    request_timeout: float
    max_retries: int
    backoff_factor: float
    max_throttle_wait_seconds: float
    max_identical_errors: int
    ignored_streams: list[str]
    batch_directory: str | None
    record_types: dict[str, str]
    dead_letter_path: str
    parked_path: str | None
    reference_wait_hours: float
    store_uri: str | None
    lock_path: str | None
    run_report_path: str | None
    fail_on_dead_letters: bool
    checkpoint_interval_seconds: float
    drain_on_state: bool
    match_mode: str
    match_rules: dict[str, list[list[str]]] | None
    create_only_fields: dict[str, list[str]] | None
    conflict_policy: dict[str, t.Any] | None
    match_report_path: str
    match_corroboration: dict[str, dict[str, list[str]]] | None
    match_placeholders: list[str] | None
    match_approvals_path: str | None
    reconcile: bool
    reconcile_fields: dict[str, list[str]] | None
    reconcile_external_id_pattern: str | None
    reconcile_report_path: str
    dry_run: bool
    progress_interval_seconds: int
    ledger: str
    ledger_path: str | None
    write_mode: str
    order_locked_fields: list[str]
    optional_references: dict[str, list[str]]

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], schema: Mapping[str, t.Any]) -> TargetSettings:
        """Each field from the config; an absent or null value is the schema's default (or None without one)."""
        properties = schema["properties"]
        values: dict[str, t.Any] = {}
        for item in dataclasses.fields(cls):
            value = config.get(item.name)
            value = properties[item.name].get("default") if value is None else value
            number = _NUMBERS.get(str(item.type))
            values[item.name] = number(value) if number and value is not None else value
        values["ignored_streams"] = list(values["ignored_streams"] or [])
        values["record_types"] = dict(values["record_types"] or {})
        values["order_locked_fields"] = list(values["order_locked_fields"] or [])
        return cls(**values)


class RecordTypes:
    """Which streams write which NetSuite record type; which streams are ignored; any other stream is fatal."""

    def __init__(self, overrides: Mapping[str, str], ignored: t.Iterable[str]) -> None:
        for stream, record_type in overrides.items():
            if not is_record_type(record_type):
                msg = f"record_types: {record_type!r} (for stream {stream!r}) is not a NetSuite record type name"
                raise FatalError(msg)
        self._overrides = dict(overrides)
        self._ignored = {MELTANO_TEST_STREAM, *ignored}

    def for_stream(self, stream: str) -> str:
        """The record type a stream writes: its `record_types` entry, else the stream name itself."""
        return self._overrides.get(stream, stream)

    def writes(self, stream: str) -> bool:
        return stream in self._overrides or is_record_type(stream)

    def ignores(self, stream: str) -> bool:
        return stream in self._ignored

    @staticmethod
    def refusal(stream: str) -> FatalError:
        msg = (
            f"stream {stream!r} is not a NetSuite record type: map it to one (`__alias__`), add a "
            "`record_types` entry, or list it in `ignored_streams`"
        )
        return FatalError(msg)


class OpenSink(t.Protocol):
    """What the services know of a sink: enough to write a referenced parent's buffered records first."""

    stream_name: str
    record_type: str

    @property
    def current_size(self) -> int: ...

    def write_buffered(self) -> None: ...


class OpenSinks:
    """The sinks that may still hold records, registered in `setup`, unregistered in `clean_up`."""

    def __init__(self) -> None:
        self._sinks: list[OpenSink] = []
        self._draining: set[int] = set()

    def register(self, sink: OpenSink) -> None:
        self._sinks.append(sink)
        self._prune()

    def unregister(self, sink: OpenSink) -> None:
        self._sinks = [other for other in self._sinks if other is not sink]

    def __len__(self) -> int:
        self._prune()
        return len(self._sinks)

    def __iter__(self) -> Iterator[OpenSink]:
        self._prune()
        return iter(list(self._sinks))

    def _prune(self) -> None:
        """Drop the retired sinks that are empty: a newer sink of their stream receives its records now."""
        newest = {sink.stream_name: sink for sink in self._sinks}
        self._sinks = [s for s in self._sinks if newest[s.stream_name] is s or s.current_size > 0]

    def write_parents_first(self, record_types: set[str], requester: OpenSink) -> None:
        """Write the buffered records of the referenced types first, so a child never waits for a buffered
        parent. A sink already writing (a reference cycle between two streams) is not entered again."""
        self._draining.add(id(requester))
        try:
            for sink in self:
                if sink.record_type in record_types and sink.current_size > 0 and id(sink) not in self._draining:
                    sink.write_buffered()
        finally:
            self._draining.discard(id(requester))


@dataclasses.dataclass
class RunServices:
    """What every sink of one run shares: the client and its concurrency window, the caches and the outputs."""

    settings: TargetSettings
    run_id: str
    stores: Stores  # where the durable parts live (`store_uri`): SQLite files, or one shared PostgreSQL store
    client: NetSuiteClient
    record_types: RecordTypes
    resolver: ReferenceResolver
    lookups: LookupResolver  # names and codes (a currency's ISO code, a term's name) → internal ids (lookups.py)
    subsidiaries: Subsidiaries  # parents' subsidiaries, customers shared with more subsidiaries (subsidiaries.py)
    dead_letters: DeadLetterStore
    summary: RunSummary
    outcomes: Outcomes  # the one recorder of records' outcomes (outcomes.py)
    executor: ThreadPoolExecutor
    parked: ParkedRecords
    matcher: Matcher  # a `MatchReporter` for `match_mode: report` (match_report.py)
    reconciler: Reconciler | None  # `reconcile: true`: compare, never write
    sinks: OpenSinks
    ledger: WriteLedger | None  # `ledger: off`: None
    batches: Writer  # `write_mode`: one request per record, async batches, or both (writers.py)
    fixed_ids: FixedIdCheck  # constant ids of the mapping (subsidiary, currency, ...) exist before any write
    earlier_writes: EarlierWrites  # other runs' writes NetSuite may still apply (overtake.py)
    merger: Merger  # the three-way merge of updates (merge.py), its values beside the ledger
    order_lifecycle: OrderLifecycle  # fulfilled/billed/closed orders are never rewritten
    optional_references: OptionalReferences  # links written when they resolve, never waited for
    account_lock: AccountLock | None = None  # the run's lock in a shared store, checked before each write wave

    @classmethod
    def build(cls, settings: TargetSettings, *, run_id: str, logger: logging.Logger) -> RunServices:
        client = connect(settings)
        record_types = RecordTypes(settings.record_types, settings.ignored_streams)
        dead_letter_dir = Path(settings.dead_letter_path)
        resolver = ReferenceResolver(client)
        ledger_file = Path(settings.ledger_path or dead_letter_dir / LEDGER_FILE)
        try:
            stores = Stores(settings.store_uri, schema=account_schema(settings.account_id), files={
                "parked": Path(settings.parked_path or dead_letter_dir / PARKED_FILE),
                "ledger": ledger_file,
                "batches": dead_letter_dir / SUBMITTED_BATCHES_FILE,
                "merge": ledger_file.with_name(MERGE_FILE),
                "dead_letters": dead_letter_dir / DEAD_LETTERS_FILE,
            })
            claim_account(stores, settings.account_id)  # one store per account (connector_kit/store_accounts.py)
        except StoreError as exc:
            raise FatalError(str(exc)) from None
        ledger = None if settings.ledger == "off" else WriteLedger(
            stores.part("ledger"),
            account_key(client.base_url, settings.account_id),
            settings.ledger,
        )
        summary = RunSummary(logger=logger, progress_interval=settings.progress_interval_seconds)
        # A store on this host's disk also keeps the JSON Lines files people read (dead_letters.py).
        dead_letters = DeadLetterStore(stores.part("dead_letters"), run_id,
                                       journal=None if stores.shared else dead_letter_dir)
        parked = ParkedRecords(stores.part("parked"))
        outcomes = Outcomes(summary=summary, dead_letters=dead_letters, parked=parked, ledger=ledger)
        executor = ThreadPoolExecutor(max_workers=client.limiter.ceiling, thread_name_prefix="netsuite")
        merge_store = MergeStore(stores.part("merge"), account_key(client.base_url, settings.account_id))
        lookups = LookupResolver(client)
        matcher = (MatchReporter if settings.match_mode == "report" else Matcher)(
            client=client,
            resolver=resolver,
            lookups=lookups,
            outcomes=outcomes,
            executor=executor,
            mode=settings.match_mode,
            rules=settings.match_rules,
            create_only=settings.create_only_fields,
            corroboration=settings.match_corroboration,
            placeholders=settings.match_placeholders,
            approvals_path=settings.match_approvals_path,
            before_adopting=merge_store.mark_adopted,
        )
        reconciler = Reconciler(
            client=client,
            fields=settings.reconcile_fields,
            external_id_pattern=settings.reconcile_external_id_pattern,
            report_dir=Path(settings.reconcile_report_path),
            dead_letters=dead_letters,
            ledger=ledger,
        ) if settings.reconcile else None
        merger = Merger(client=client, outcomes=outcomes, run_id=run_id, store=merge_store,
                        policies=ConflictPolicies(settings.conflict_policy))
        submitted = SubmittedBatches(stores.part("batches"),
                                     account_key(client.base_url, settings.account_id), run_id)
        return cls(
            settings=settings,
            run_id=run_id,
            stores=stores,
            client=client,
            record_types=record_types,
            resolver=resolver,
            lookups=lookups,
            subsidiaries=Subsidiaries(client),
            dead_letters=dead_letters,
            summary=summary,
            outcomes=outcomes,
            executor=executor,
            parked=parked,
            matcher=matcher,
            reconciler=reconciler,
            sinks=OpenSinks(),
            ledger=ledger,
            fixed_ids=FixedIdCheck(client),
            merger=merger,
            order_lifecycle=OrderLifecycle(client, outcomes, ledger, settings.order_locked_fields, merger),
            optional_references=OptionalReferences(settings.optional_references),
            batches=writer_for(
                settings.write_mode, client=client, resolver=resolver, executor=executor,
                workers=client.limiter.ceiling,
                submitted=submitted,
            ),
            earlier_writes=EarlierWrites(client=client, store=submitted, write_mode=settings.write_mode,
                                         wait_s=settings.max_throttle_wait_seconds,
                                         in_flight_bound_s=2 * settings.request_timeout),
        )

    def verify_account_lock(self) -> None:
        """Before a write wave: the shared store's account lock is still this run's, else the run stops (no write,
        no STATE past this wave); another host may be writing to the account by now."""
        if self.account_lock is not None:
            try:
                self.account_lock.verify()
            except LockLostError as exc:
                msg = f"{exc}; this run stops before writing more, its state stays at the last checkpoint"
                raise FatalError(msg) from None

    @property
    def reference_wait(self) -> timedelta:
        return timedelta(hours=self.settings.reference_wait_hours)

    def close(self) -> dict[str, t.Any]:
        """Release the workers, the connection and the files; the run summary."""
        self.client.close()
        self.batches.close()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.dead_letters.close()
        linking = self.parked.count_waiting_for(LINK_WAIT)  # written; waiting only for an optional link
        parked = self.parked.count() - linking
        self.parked.close()
        if self.ledger is not None:
            self.ledger.close()
        self.merger.store.close()
        self.stores.close()
        return {
            "run_id": self.run_id,
            "streams": self.summary.as_dict(),
            "dead_letters": self.dead_letters.count,
            "dead_letter_file": str(self.dead_letters.path) if self.dead_letters.count and self.dead_letters.path
            else None,
            "parked": parked,
            "awaiting_link": linking,
            "requests": self.client.stats.requests,
            "throttled_429": self.client.stats.throttled,
            "retries": self.client.stats.retries,
            "async_jobs": {"submitted": self.batches.jobs_submitted,
                           "found_already_submitted": self.batches.jobs_found},
            "lookups": {"queries": self.lookups.queries, "values": self.lookups.values},
            "subsidiaries": {"queries": self.subsidiaries.queries,
                             "relationships_created": self.subsidiaries.relationships_created},
        }


def connect(settings: TargetSettings) -> NetSuiteClient:
    """The client for the account: host from the account id (or `base_url`), TLS, and the chosen auth."""
    account_id = checked_account_id(settings.account_id)
    base_url = checked_base_url(settings.base_url) if settings.base_url else account_host(account_id)
    verify: str | bool = settings.ca_bundle or True
    if isinstance(verify, str) and not (Path(verify).is_file() and os.access(verify, os.R_OK)):
        msg = f"ca_bundle {verify}: not a readable file"
        raise FatalError(msg)
    session = requests.Session()
    session.headers["User-Agent"] = "target-netsuite"
    missing = [name for name in AUTH_SETTINGS[settings.auth_method] if not getattr(settings, name)]
    if missing:
        msg = f"auth_method {settings.auth_method} needs settings: {', '.join(missing)}"
        raise FatalError(msg)
    auth: TokenBasedAuth | MachineToMachineAuth
    if settings.auth_method == "tba":
        auth = TokenBasedAuth(
            realm=account_id.upper(),
            consumer_key=t.cast("str", settings.consumer_key),
            consumer_secret=t.cast("str", settings.consumer_secret),
            token_id=t.cast("str", settings.token_id),
            token_secret=t.cast("str", settings.token_secret),
        )
    else:
        auth = MachineToMachineAuth(
            token_url=f"{base_url}{TOKEN_PATH}",
            client_id=t.cast("str", settings.client_id),
            certificate_id=t.cast("str", settings.certificate_id),
            private_key_pem=read_private_key(settings.private_key, settings.private_key_path),
            session=session,
            timeout=settings.request_timeout,
            verify=verify,
        )
    return NetSuiteClient(
        base_url=base_url,
        session=session,
        auth=auth,
        max_concurrency=settings.max_concurrency,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
        backoff_factor=settings.backoff_factor,
        max_throttle_wait=settings.max_throttle_wait_seconds,
        verify=verify,
    )
