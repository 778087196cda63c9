"""target-netsuite: the Singer target entry point and its settings.

The stream name is the NetSuite record type (overridable per stream with `record_types`); each record is the
REST payload, upserted by its `externalId`. See README.md for the guarantees and the dead-letter workflow.

Invariants: the settings are declared once, here (`config_jsonschema`: constraints, defaults, secrets), and read
once into `TargetSettings`; the run's services are built from them (`services.py`) and handed to the sinks with
their classes, so nothing below this module knows the target. Every expected fatal error ends the run as one
line (exit 1; exit 2 for `fail_on_dead_letters`), through `connector_kit.cli.one_line_errors`. SDK internals are
used only through `sdk_internals.py`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sys
import tempfile
import threading
import typing as t
import uuid
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from connector_kit.cli import one_line_errors
from connector_kit.settings import numbers_from_strings
from connector_kit.singer_input import NumberedLines, check_message, check_shape
from connector_kit.store import StoreError
from singer_sdk import typing as th
from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json
from typing_extensions import override

from target_netsuite.auth import AuthError
from target_netsuite.batches import WRITE_MODES
from target_netsuite.client import FatalError
from target_netsuite.ledger import LEDGER_MODES
from target_netsuite.optional_references import DEFAULT_OPTIONAL_REFERENCES
from target_netsuite.sdk_internals import ReaderInternals, TargetInternals
from target_netsuite.services import RunServices, TargetSettings, account_lock_name
from target_netsuite.sinks import PARKED_SCHEMA, IgnoredStreamSink, NetSuiteSink, mode_sink

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.sinks import Sink

#: True while the command line runs the target (`invoke`): only then does `listen` check the connection first. A
#: target built in-process (tests, tools) checks it when told to, through `check_connection()`.
_FROM_COMMAND_LINE: ContextVar[bool] = ContextVar("target_netsuite_from_command_line", default=False)


class DeadLettersWritten(FatalError):  # noqa: N818 - a requested stop, not an error
    """`fail_on_dead_letters`: the run wrote everything else and emitted its state, yet some records are dead
    letters; exit 2 (not 1) tells that apart from a failed run."""

    exit_code = 2

    def __init__(self, count: int, where: str) -> None:
        super().__init__(f"{count} records dead-lettered (see {where})")


class SingerInputError(FatalError, RecordsWithoutSchemaException):
    """Malformed Singer input; one line naming the input line. (A `RecordsWithoutSchemaException` too, which the
    SDK's standard target tests expect for a RECORD before its SCHEMA.)"""


class _MissingKey(Exception):  # noqa: N818 - internal signal, re-raised as MissingKeyError
    """Raised inside the reader, turned into `MissingKeyError` with the line number."""


class MissingKeyError(SingerInputError, MissingKeyPropertiesError):
    """A RECORD without a key property its SCHEMA declares: the Singer spec is broken, so the run stops (as the
    SDK's standard tests require), with one line naming the input line and the stream, never the record."""


class CheckedSingerReader(ReaderInternals):
    """Singer input whose every malformed line (not JSON, not an object, an unknown type, a RECORD before its
    SCHEMA, a record or STATE value that is not an object) stops the run with one line naming the line number,
    before any later STATE: the SDK would raise a traceback, or take a list for a record."""

    _lines: NumberedLines | None = None

    def input_waiting(self) -> bool:
        """Whether more input is already there to read (see `connector_kit.singer_input.NumberedLines.waiting`)."""
        return self._lines is not None and self._lines.waiting()

    @override
    def process_lines(self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]
                      ) -> t.Counter[str]:
        lines = self._lines = NumberedLines(file_input or self.default_input)
        try:
            return super().process_lines(t.cast("t.IO[str]", lines), {
                kind: self._checked(kind, callback) for kind, callback in callbacks.items()
            })
        except _MissingKey as exc:
            msg = f"Singer input line {lines.number}: {exc}"
            raise MissingKeyError(msg) from None
        except (InvalidInputLine, RecordsWithoutSchemaException) as exc:
            msg = f"Singer input line {lines.number}: {exc}"
            raise SingerInputError(msg) from None

    @staticmethod
    def _checked(kind: str, callback: t.Callable[[dict], None]) -> t.Callable[[dict], None]:
        def check(message: dict) -> None:
            check_shape(kind, message)
            try:
                callback(message)
            except RecordsWithoutSchemaException:
                msg = f"RECORD for stream {str(message.get('stream'))[:80]!r} before its SCHEMA"
                raise InvalidInputLine(msg) from None
            except MissingKeyPropertiesError:
                msg = (
                    f"RECORD of stream {str(message.get('stream'))[:80]!r} lacks a key property its SCHEMA declares "
                    "(the mapper must emit it; a record without externalId is dead-lettered only when externalId "
                    "is not a key property)"
                )
                raise _MissingKey(msg) from None

        return check

    @override
    def deserialize_json(self, line: str) -> dict:
        try:
            message = deserialize_json(line)
        except (ValueError, RecursionError):
            msg = "not valid JSON (or nested too deep)"
            raise InvalidInputLine(msg) from None
        return check_message(message)

    @override
    def refuse_unknown_message(self, message_dict: dict) -> None:
        msg = f"unknown Singer message type {str(message_dict['type'])[:40]!r}"
        raise InvalidInputLine(msg)


class TargetNetSuite(TargetInternals):
    """Singer target for the NetSuite REST Record API."""

    name = "target-netsuite"
    message_reader_class = CheckedSingerReader

    config_jsonschema = th.PropertiesList(
        th.Property(
            "account_id",
            th.StringType,
            required=True,
            description="NetSuite account id, e.g. `1234567`, `1234567_SB1` (sandbox) or `TSTDRV1234567`; anything "
            "else is refused. Gives the API host (`1234567-sb1.suitetalk.api.netsuite.com`) and the OAuth realm.",
        ),
        th.Property(
            "auth_method",
            th.StringType,
            default="tba",
            allowed_values=["tba", "oauth2_m2m"],
            description="`tba` (OAuth 1.0a token-based auth, HMAC-SHA256) or `oauth2_m2m` (OAuth 2.0 client "
            "credentials with a JWT assertion; NetSuite 2027.1 stops new TBA integrations).",
        ),
        th.Property("consumer_key", th.StringType, secret=True, description="TBA: integration consumer key."),
        th.Property("consumer_secret", th.StringType, secret=True, description="TBA: integration consumer secret."),
        th.Property("token_id", th.StringType, secret=True, description="TBA: access token id."),
        th.Property("token_secret", th.StringType, secret=True, description="TBA: access token secret."),
        th.Property("client_id", th.StringType, secret=True, description="M2M: integration client id (JWT `iss`)."),
        th.Property(
            "certificate_id",
            th.StringType,
            description="M2M: certificate id from the M2M setup page (JWT `kid`).",
        ),
        th.Property(
            "private_key",
            th.StringType,
            secret=True,
            description="M2M: PEM private key of the certificate (RSA → PS256, EC P-256 → ES256).",
        ),
        th.Property("private_key_path", th.StringType, description="M2M: file holding the PEM private key instead."),
        th.Property(
            "base_url",
            th.StringType,
            description="Override of the API base URL, for the local sandbox and tests only; must be https unless "
            "the host is loopback.",
        ),
        th.Property("ca_bundle", th.StringType, description="CA bundle file to verify TLS with (e.g. the sandbox CA)."),
        th.Property(
            "max_concurrency",
            th.IntegerType(minimum=1),
            default=4,
            description="Requests in flight, across all streams. NetSuite's account-wide limit is 5 on a "
            "standard account (15/20 on higher tiers, +10 per SuiteCloud Plus licence), shared with every other "
            "integration: leave room for them.",
        ),
        th.Property(
            "request_timeout",
            th.NumberType(exclusive_minimum=0),
            default=120,
            description="Seconds to wait for a response (writes take 3-10 s; a timed-out upsert is retried). A "
            "request that timed out may still run inside NetSuite: its concurrency slot stays taken this long again.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=5,
            description="Retries of a request after a 5xx, a timeout, a dropped connection or a record locked for a "
            "moment (\"record has been changed\"). When they run out the run fails without advancing state (the "
            "next run resends); it does not dead-letter. Throttling (429) has its own time budget.",
        ),
        th.Property(
            "backoff_factor",
            th.NumberType(minimum=0),
            default=1.0,
            description="Seconds; retry n waits a random time up to `backoff_factor * 2**n` (at most 60 s), "
            "and at least `Retry-After`.",
        ),
        th.Property(
            "max_throttle_wait_seconds",
            th.NumberType(minimum=0),
            default=300,
            description="How long one request may keep waiting out a busy account (429, or INVALID_LOGIN once "
            "the credentials were proven) before the run fails without advancing state. The log says how long "
            "it has waited. Also the longest a run waits in all for batch jobs of a killed run that carry other "
            "payloads of records it writes.",
        ),
        th.Property(
            "max_identical_errors",
            th.IntegerType(minimum=1),
            default=10,
            description="Stop the run, without advancing state, when this many records of one stream in a row "
            "fail with the same NetSuite error: that is the account (a missing permission, a disabled feature, "
            "a subsidiary no record may use), not the records. A record NetSuite refused before with the same "
            "error code, and AMBIGUOUS_MATCH/MATCH_CONFLICT/merge conflicts, never count.",
        ),
        th.Property(
            "ignored_streams",
            th.ArrayType(th.StringType),
            description="Streams that name no NetSuite record type and whose records may be dropped (counted as "
            "`ignored`). Any other such stream fails the run before state advances; Meltano's "
            "`meltano_test_stream` is always ignored.",
        ),
        th.Property(
            "batch_directory",
            th.StringType,
            description="Accept Singer BATCH messages for local files inside this directory only; without it "
            "every BATCH message is refused.",
        ),
        th.Property(
            "record_types",
            th.ObjectType(additional_properties=th.StringType),
            description='Per-stream record type override, e.g. `{"customers": "customer"}`; the default record '
            "type is the stream name.",
        ),
        th.Property(
            "dead_letter_path",
            th.StringType,
            default="dead_letters",
            description="Directory for dead letters when store_uri is not PostgreSQL (dead_letters.sqlite3, and one "
            "JSON Lines file per run).",
        ),
        th.Property(
            "parked_path",
            th.StringType,
            description="SQLite file of parked records: children whose referenced parent is not in NetSuite yet, "
            "retried at the end of every run. Default: `parked.sqlite3` in `dead_letter_path`.",
        ),
        th.Property(
            "reference_wait_hours",
            th.NumberType(minimum=0),
            default=24,
            description="How long a parked record waits for its parent (and at least 3 end-of-run tries) before it "
            "becomes an `UNRESOLVED_REFERENCE` dead letter.",
        ),
        th.Property(
            "ledger",
            th.StringType,
            default="use",
            allowed_values=list(LEDGER_MODES),
            description="The write ledger (a hash of the last payload NetSuite accepted per record): `use` skips "
            "an upsert NetSuite already has (counted `unchanged`); `ignore` sends every record and still records "
            "(force writes, e.g. with `--full-refresh`); `off` neither reads nor writes the ledger. A cache: "
            "deleting it only costs writes.",
        ),
        th.Property(
            "ledger_path",
            th.StringType,
            description="SQLite file of the write ledger, one entry per (account, record type, external id). "
            "Default: `ledger.sqlite3` in `dead_letter_path`.",
        ),
        th.Property(
            "store_uri",
            th.StringType,
            secret=True,
            description="Where the durable data lives (parked records, the write ledger, async batch nonces, merge "
            "baselines, dead letters). Unset: SQLite files on this host (`parked_path`, `ledger_path`, "
            "`dead_letter_path`), as before. `postgresql://user:password@host/db` (psycopg 3; install "
            "`target-netsuite[postgres]`): one store that several hosts and containers share, in schema "
            "`target_netsuite_<account id>` (one per account; Meltano's system database is fine), and the account "
            "lock becomes a PostgreSQL advisory lock that spans the hosts.",
        ),
        th.Property(
            "lock_path",
            th.StringType,
            description="Lock file that keeps two runs from writing to one NetSuite account at once (the second "
            "stops before writing). Default: one file per account and host in the system temp directory.",
        ),
        th.Property("run_report_path", th.StringType, description="If set, the run summary is also written there."),
        th.Property(
            "fail_on_dead_letters",
            th.BooleanType,
            default=False,
            description="Exit non-zero at the end (after writing everything else and emitting state) when any "
            "record was dead-lettered.",
        ),
        th.Property(
            "checkpoint_interval_seconds",
            th.NumberType(minimum=0),
            default=300,
            description="Write out all buffered records and emit the latest STATE at least this often (the SDK's "
            "max record age, checked on every record and every STATE), so a long run checkpoints its progress.",
        ),
        th.Property(
            "drain_on_state",
            th.BooleanType,
            default=False,
            description="Write out all buffered records and emit STATE on every STATE that comes in, whatever "
            "checkpoint_interval_seconds says: for a tap that follows changes (tap-salesforce-custom follow_seconds), "
            "which ends each fresh read with one STATE, so each read's records are written at once. Reads already "
            "waiting in the input at a STATE (the tap read on while the last batch was written) join its batch: "
            "one batch, the latest STATE after it.",
        ),
        th.Property(
            "match_mode",
            th.StringType,
            default="adopt",
            allowed_values=["adopt", "create", "report", "approved"],
            description="What to do with a record whose external id NetSuite does not know: `adopt` a record that "
            "matches it by `match_rules` and `match_corroboration` (exactly one active candidate without an "
            "external id in the payload's subsidiary; records carrying a Salesforce Id of the object are ours, never "
            "candidates; several → dead letter `AMBIGUOUS_MATCH`, another integration's external id → "
            "`MATCH_CONFLICT`, inactive → `MATCH_INACTIVE`, other subsidiary → `MATCH_OTHER_SUBSIDIARY`), else create "
            "it; `create` it without looking (an empty account); `report`: write nothing and emit no STATE, list "
            "what would happen in `match_report_path`; `approved`: adopt only what `match_approvals_path` approves.",
        ),
        th.Property(
            "match_rules",
            th.ObjectType(additional_properties=th.ArrayType(th.ArrayType(th.StringType))),
            description="Per record type, an ordered list of field sets identifying an existing record, e.g. "
            '`{"customer": [["companyName"], ["email"], ["phone"]]}`; replaces that type\'s default '
            "(customer: companyName, then email, then phone; contact: email, then firstName+lastName+company; "
            "nonInventorySaleItem: itemId; salesOrder: none). `[]` switches matching off for a type.",
        ),
        th.Property(
            "match_corroboration",
            th.ObjectType(additional_properties=th.ObjectType(additional_properties=th.ArrayType(th.StringType))),
            description="Per record type, per rule (its fields joined by +), the fields of which one must also agree "
            'before a match adopts, e.g. `{"customer": {"companyName": ["phone", "city", "zip", "domain"]}}` '
            "(phone, city, zip, domain = website or email domain, company, firstName, lastName, email; `a+b`: all "
            "of them); replaces that type's default (customer name: phone/city/zip/domain, customer phone: domain, "
            "contact email: company). `[]`: the rule alone adopts.",
        ),
        th.Property(
            "match_placeholders",
            th.ArrayType(th.StringType),
            description="Values that never match or corroborate, in addition to the built-in ones (repeated or "
            "sequential digits, 555-01xx, n/a, none, unknown, shared mailboxes like ap@, info@, noreply@), "
            'e.g. `["+1 800 000 1111", "tbc"]`.',
        ),
        th.Property(
            "match_approvals_path",
            th.StringType,
            description="For `match_mode: approved`: a match report (from `match_mode: report`) in which the "
            "administrator set `decision` to `adopt`, `create` or `skip` per record (`approved_internal_id` picks "
            "one of several candidates). Only approved adoptions happen.",
        ),
        th.Property(
            "create_only_fields",
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            description="Per record type, fields written when the record is created and never on an update "
            '(NetSuite owns them afterwards), e.g. `{"customer": ["terms", "creditLimit", "salesRep"]}`; left out '
            "of every update whatever their value, null included.",
        ),
        th.Property(
            "conflict_policy",
            th.ObjectType(additional_properties=th.CustomType({"type": ["string", "object"]})),
            description="What an update does with a field a person changed in NetSuite after the pipeline last wrote "
            "it, when the source changed it too (a conflict; counted `conflicts`, listed by `pipeline-ops "
            "conflicts`): `report` (default: NetSuite's value kept, listed until settled), `netsuite_wins`, or "
            "`salesforce_wins`. Per record type, or per field: "
            '`{"customer": {"phone": "salesforce_wins", "*": "report"}, "*": "netsuite_wins"}`.',
        ),
        th.Property(
            "match_report_path",
            th.StringType,
            default="reports",
            description="Directory for the `match_mode: report` list, `match-<run id>.json`.",
        ),
        th.Property(
            "reconcile",
            th.BooleanType,
            default=False,
            description="Write nothing: compare the records received (a full read of Salesforce through the "
            "mapper) with NetSuite and report missing, orphaned and stale records in `reconcile_report_path` "
            "(see `pipeline-ops reconcile`). No STATE is emitted.",
        ),
        th.Property(
            "reconcile_fields",
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            description='Per record type, payload fields compared with NetSuite\'s values, e.g. `{"customer": '
            '["custentity_sf_rating"]}`: formula and roll-up fields, whose changes do not move SystemModstamp.',
        ),
        th.Property(
            "reconcile_external_id_pattern",
            th.StringType,
            description="Regular expression for the external ids this pipeline writes (default: a 15/18-character "
            "Salesforce Id); other NetSuite records are never reported as orphaned.",
        ),
        th.Property(
            "reconcile_report_path",
            th.StringType,
            default="reports",
            description="Directory for reconciliation reports, `reconcile-<run id>.json`.",
        ),
        th.Property(
            "order_locked_fields",
            th.ArrayType(th.StringType),
            default=["memo"],
            description="Sales order body fields still updated on an order NetSuite has fulfilled, billed or closed "
            "(even in part); any other change to such an order is not written and becomes an `ORDER_LOCKED` dead "
            "letter (counted `conflict`). `[]`: nothing is updated on a locked order.",
        ),
        th.Property(
            "optional_references",
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            default=DEFAULT_OPTIONAL_REFERENCES,
            description="Per record type, top-level fields whose reference is optional: when NetSuite does not "
            "hold the record named yet, the record is written at once without the field and linked at a later "
            "end-of-run try once it does (given up, counted `unlinked`, after reference_wait_hours); never parked "
            "unwritten nor dead-lettered. Default: a sales order's `createdFrom` (its estimate).",
        ),
        th.Property(
            "write_mode",
            th.StringType,
            default="sync",
            allowed_values=list(WRITE_MODES),
            description="`sync`: one request per record, up to `max_concurrency` at once (throughput about C/L, C "
            "concurrent requests, L seconds per write). `async`: REST batch requests of up to 100 upserts, run by the "
            "account's REST async processors (P of them, set by SuiteCloud Plus licences; about P/L) and polled to "
            "each record's outcome. `auto`: both pools at once (about (C + P)/L); waves under 20 records and deletes "
            "go synchronously. Every mode keeps the guarantees (upserts, per-record dead letters, state after final "
            "outcomes; an idempotency key from each batch's content and a nonce kept until it is settled).",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Check the connection, validate and log each payload, write nothing.",
        ),
        th.Property(
            "progress_interval_seconds",
            th.IntegerType(minimum=0),
            default=30,
            description="A long load logs `Progress: {stream, done, written, dead_lettered, deleted, rate}` this "
            "often.",
        ),
    ).to_dict()

    def __init__(self, *, config: dict | None = None, **kwargs: t.Any) -> None:
        super().__init__(config=numbers_from_strings(config, self.config_jsonschema), **kwargs)
        # Sinks are drained one at a time (the SDK would drain up to 8 in parallel): each drain already keeps
        # `max_concurrency` requests in flight, and sequential drains let a child stream write its parents first.
        self.max_parallelism = 1
        self.settings = TargetSettings.from_config(self.config, self.config_jsonschema)
        self.set_checkpoint_interval(self.settings.checkpoint_interval_seconds)
        self.run_id = f"{datetime.now(tz=UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.services = RunServices.build(self.settings, run_id=self.run_id, logger=self.logger)
        self.client = self.services.client
        self._record_sink = mode_sink(self.settings).for_run(self.services)  # the run's mode, chosen once
        self._ignoring_sink = IgnoredStreamSink.for_run(self.services)
        self._connection_checked = False
        self._finished = False

    @classmethod
    @override
    def invoke(cls, **kwargs: t.Any) -> None:
        """The SDK's, checking the connection before reading, with every expected fatal error as one line
        (exit 1, or 2 for `fail_on_dead_letters`)."""
        from_command_line = _FROM_COMMAND_LINE.set(True)
        try:
            with one_line_errors(cls.logger, cls.name, (FatalError, AuthError, StoreError)):
                super().invoke(**kwargs)
        finally:
            _FROM_COMMAND_LINE.reset(from_command_line)

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        if self.services.record_types.writes(stream_name):
            return self._record_sink
        if self.services.record_types.ignores(stream_name):
            return self._ignoring_sink
        raise self.services.record_types.refusal(stream_name)

    def check_connection(self) -> None:
        """Fail before reading any record when the account, host or credentials are wrong (once per run)."""
        if self._connection_checked:
            return
        self.client.check_connection(self.settings.account_id)
        self._connection_checked = True
        self.logger.info("target-netsuite: connection OK (account %s)", self.settings.account_id)

    @override
    def stop_at_once(self, signum: int) -> t.NoReturn:
        """On SIGTERM/SIGINT stop at once, leaving state at the last checkpoint: the next run resends everything
        after it, and upserts make that harmless (see `sdk_internals` for why the SDK's handler is not used)."""
        self.logger.warning("Received signal %d: stopping; state stays at the last checkpoint", signum)
        self.client.stop_retrying()
        # Not from inside the handler: the signal may have interrupted this thread inside `executor.submit`, which
        # holds the executor's lock (not re-entrant), so shutting down here would wait for it forever, the run lock
        # held. A helper thread cancels the queued writes as soon as the interrupted `submit` lets go.
        threading.Thread(target=self.services.executor.shutdown, kwargs={"wait": False, "cancel_futures": True},
                         name="netsuite-stop", daemon=True).start()
        sys.exit(128 + signum)

    @override
    def emits_state(self) -> bool:
        """`match_mode: report` and `reconcile` write nothing, so they must not claim progress."""
        return self._record_sink.claims_progress

    @override
    @contextmanager
    def run_session(self) -> Iterator[None]:
        """The connection check (on the command line; in-process callers use `check_connection()`), then the
        reading and the end-of-pipe drain under the account's run lock (two runs never write to one account at
        once). Runs that write nothing (`dry_run`, `match_mode: report`, `reconcile`) take no lock, so they never
        stall the schedule. A fatal error still ends the run cleanly (workers stopped, files closed, summary
        logged) before it propagates."""
        try:
            if _FROM_COMMAND_LINE.get():
                self.check_connection()
            with self._run_lock() if self._record_sink.writes else nullcontext():
                yield
        except (FatalError, AuthError):
            self.finish()
            raise

    @contextmanager
    def _run_lock(self) -> Iterator[None]:
        """The account's lock, held by another run → stop, write nothing. With a shared store (PostgreSQL) a
        session advisory lock that every host sharing it sees (released by the server when this process dies);
        otherwise an exclusive OS lock on this host (released by the OS even on SIGKILL)."""
        shared = self.services.stores.shared
        if shared is None:
            with self._os_lock():
                yield
            return
        try:
            with shared.account_lock(account_lock_name(self.client.base_url, self.settings.account_id)) as held:
                if not held:
                    msg = (
                        f"another target-netsuite run is writing to NetSuite account {self.settings.account_id} "
                        f"(its lock in store {shared.masked_uri} is held); this run writes nothing and its state "
                        "stays unchanged"
                    )
                    raise FatalError(msg)
                self.services.account_lock = held  # verified before each write wave (services.py)
                yield
        except StoreError as exc:
            raise FatalError(str(exc)) from None

    @contextmanager
    def _os_lock(self) -> Iterator[None]:
        path = Path(self.settings.lock_path or self._default_lock_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                msg = (
                    f"another target-netsuite run is writing to NetSuite account {self.settings.account_id} "
                    f"(lock {path} is held); this run writes nothing and its state stays unchanged"
                )
                raise FatalError(msg) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _default_lock_path(self) -> Path:
        where = f"{self.client.base_url}|{self.settings.account_id.upper()}"
        digest = hashlib.sha256(where.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"target-netsuite-{digest}.lock"

    @override
    def process_endofpipe(self) -> None:
        """Drain every sink (and emit the last STATE), then the mode's end of run (the parked records tried
        again, or the reconciliation), then the summary; last, `fail_on_dead_letters` turns dead letters into exit 2
        (after state was emitted)."""
        super().process_endofpipe()
        self._record_sink.end_of_run(self._parked_sink, self.logger)
        self.finish()
        dead = self.services.dead_letters.count
        if dead and self.settings.fail_on_dead_letters:
            raise DeadLettersWritten(dead, self.services.dead_letters.location)

    @override
    def on_state(self) -> None:
        """`drain_on_state`: write out what is held and emit STATE now, unless more input is already waiting; else
        (or then) a checkpoint only when one is due.

        Input already waiting at a STATE means the tap read on while the last batch was being written: its later
        reads sit in the pipe. Taking them into the same batch writes everything read so far at once, with one
        barrier and one STATE (the latest), instead of batch after stale batch, each ending in its own tail; a
        record read twice is written once, in its latest version. `checkpoint_interval_seconds` still bounds how
        long a STATE can wait while input keeps coming."""
        reader = self.message_reader
        if self.settings.drain_on_state and not (isinstance(reader, CheckedSingerReader) and reader.input_waiting()):
            self.drain_all()
        else:
            super().on_state()

    def _parked_sink(self, stream: str) -> NetSuiteSink:
        """A sink of the run's mode for a stream's parked records, handed back at the end of the run."""
        return self._record_sink(target=self, stream_name=stream, schema=PARKED_SCHEMA, key_properties=[])

    def finish(self) -> None:
        """Log (and optionally save) the run summary; release the workers and the files. Once per run."""
        if self._finished:
            return
        self._finished = True
        report = self.services.close()
        self.logger.info("Run summary: %s", json.dumps(report, sort_keys=True))
        self._record_sink.finish_run(report, self.logger)
        if self.settings.run_report_path:
            path = Path(self.settings.run_report_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    TargetNetSuite.cli()
