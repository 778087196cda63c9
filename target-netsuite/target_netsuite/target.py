"""target-netsuite: the Singer target entry point and its settings.

The stream name is the NetSuite record type (overridable per stream with `record_types`); each record is the
REST payload, upserted by its `externalId`. See README.md for the guarantees and the dead-letter workflow.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import typing as t
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from connector_kit.settings import numbers_from_strings
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, MissingKeyPropertiesError, RecordsWithoutSchemaException
from singer_sdk.io_base import SingerReader
from singer_sdk.plugin_base import _ConfigInput
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json
from singer_sdk.target_base import Target
from typing_extensions import override

from target_netsuite.auth import (
    TOKEN_PATH,
    AuthError,
    MachineToMachineAuth,
    TokenBasedAuth,
    read_private_key,
)
from target_netsuite.batches import WRITE_MODES, BatchWriter
from target_netsuite.client import (
    FatalError,
    NetSuiteClient,
    account_host,
    checked_account_id,
    checked_base_url,
    is_record_type,
)
from target_netsuite.dead_letters import DeadLetterStore, RunSummary
from target_netsuite.matching import Matcher
from target_netsuite.parking import ParkedRecord, ParkedRecords
from target_netsuite.reconcile import Reconciler
from target_netsuite.references import ReferenceResolver
from target_netsuite.sinks import IgnoredStreamSink, LoadServices, NetSuiteSink

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    from singer_sdk.sinks import Sink

# Streams that name no NetSuite record type fail the run, except Meltano's `meltano config test` stream and the
# streams listed in `ignored_streams`: a mapping typo (`__alias__: Customer`) must not advance state silently.
MELTANO_TEST_STREAM = "meltano_test_stream"
TBA_SETTINGS = ("consumer_key", "consumer_secret", "token_id", "token_secret")
#: Parked records are handed back to a sink with this schema: they were validated when they first arrived.
_PARKED_SCHEMA: dict = {"type": "object", "properties": {}, "additionalProperties": True}
M2M_SETTINGS = ("client_id", "certificate_id")


class _NumberedLines:
    """The input lines, counting them, so an error can name its line."""

    def __init__(self, lines: t.Iterable[str]) -> None:
        self.number = 0
        self._lines = lines

    def __iter__(self) -> t.Iterator[str]:
        for line in self._lines:
            self.number += 1
            yield line


class SingerInputError(FatalError, RecordsWithoutSchemaException):
    """Malformed Singer input; one line naming the input line. (A `RecordsWithoutSchemaException` too, which the
    SDK's standard target tests expect for a RECORD before its SCHEMA.)"""


class _MissingKey(Exception):
    """Raised inside the reader, turned into `MissingKeyError` with the line number."""


class MissingKeyError(SingerInputError, MissingKeyPropertiesError):
    """A RECORD without a key property its SCHEMA declares: the Singer spec is broken, so the run stops (as the
    SDK's standard tests require), with one line naming the input line and the stream, never the record."""


#: What each message type must carry, beyond `type` (the Singer spec), checked before the SDK sees it.
_SHAPES = {"SCHEMA": {"stream": str, "schema": dict}, "RECORD": {"stream": str, "record": dict},
           "STATE": {"value": dict}}


class CheckedSingerReader(SingerReader):
    """Singer input whose every malformed line (not JSON, not an object, an unknown type, a RECORD before its
    SCHEMA, a record or STATE value that is not an object) stops the run with one line naming the line number,
    before any later STATE: the SDK would raise a traceback, or take a list for a record."""

    @override
    def process_lines(self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]
                      ) -> t.Counter[str]:
        lines = _NumberedLines(file_input or self.default_input)
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
        name = getattr(kind, "value", kind)

        def check(message: dict) -> None:
            for key, kind_of in _SHAPES.get(kind, {}).items():
                if not isinstance(message.get(key), kind_of):
                    msg = f"{name} message without {'an object' if kind_of is dict else 'a string'} `{key}`"
                    raise InvalidInputLine(msg)
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
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            msg = "not a Singer message (a JSON object with a `type`)"
            raise InvalidInputLine(msg)
        return message

    @override
    def _process_unknown_message(self, message_dict: dict) -> None:
        msg = f"unknown Singer message type {str(message_dict['type'])[:40]!r}"
        raise InvalidInputLine(msg)


class TargetNetSuite(Target):
    """Singer target for the NetSuite REST Record API."""

    name = "target-netsuite"
    default_sink_class = NetSuiteSink
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
            description="Seconds; retry n waits between half and all of `backoff_factor * 2**n` (at most 60 s), "
            "and at least `Retry-After`.",
        ),
        th.Property(
            "max_throttle_wait_seconds",
            th.NumberType(minimum=0),
            default=300,
            description="How long one request may keep waiting out a busy account (429, or INVALID_LOGIN once "
            "the credentials were proven) before the run fails without advancing state. The log says how long "
            "it has waited.",
        ),
        th.Property(
            "max_identical_errors",
            th.IntegerType(minimum=1),
            default=10,
            description="Stop the run, without advancing state, when this many records of one stream in a row "
            "fail with the same NetSuite error: that is the account (a missing permission, a disabled feature, "
            "a subsidiary no record may use), not the records.",
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
            description="Directory for dead-letter files, one JSON Lines file per run.",
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
            "max record age), so a long run checkpoints its progress.",
        ),
        th.Property(
            "match_mode",
            th.StringType,
            default="adopt",
            allowed_values=["adopt", "create", "report"],
            description="What to do with a record whose external id NetSuite does not know: `adopt` a record that "
            "matches it by `match_rules` (exactly one candidate without an external id; several → dead letter "
            "`AMBIGUOUS_MATCH`, one with another external id → `MATCH_CONFLICT`), else create it; `create` it "
            "without looking (an empty account); `report`: write nothing and emit no STATE, list what would be "
            "adopted, created, updated or is ambiguous in `match_report_path`.",
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
            "create_only_fields",
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            description="Per record type, fields written when the record is created and never on an update "
            '(NetSuite owns them afterwards), e.g. `{"customer": ["terms", "creditLimit", "salesRep"]}`; left out '
            "of every update whatever their value, null included.",
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
            "write_mode",
            th.StringType,
            default="sync",
            allowed_values=list(WRITE_MODES),
            description="`sync`: one request per record, up to `max_concurrency` at once (throughput about C/L, C "
            "concurrent requests, L seconds per write). `async`: REST batch requests of up to 100 upserts, run by the "
            "account's REST async processors (P of them, set by SuiteCloud Plus licences; about P/L) and polled to "
            "each record's outcome. `auto`: both pools at once (about (C + P)/L); waves under 20 records and deletes "
            "go synchronously. Every mode keeps the guarantees (upserts, per-record dead letters, state after final "
            "outcomes; an idempotency key derived from each batch's content).",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Check the connection, validate and log each payload, write nothing.",
        ),
        th.Property(
            "progress_interval_seconds",
            th.IntegerType,
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
        self._MAX_RECORD_AGE_IN_MINUTES = float(self.config.get("checkpoint_interval_seconds", 300)) / 60
        self.run_id = f"{datetime.now(tz=UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.client = self._make_client()
        dead_letter_dir = Path(self.config.get("dead_letter_path") or "dead_letters")
        resolver = ReferenceResolver(self.client)
        summary = RunSummary(
            logger=self.logger, progress_interval=float(self.config.get("progress_interval_seconds", 30))
        )
        executor = ThreadPoolExecutor(max_workers=self.client.limiter.ceiling, thread_name_prefix="netsuite")
        self.services = LoadServices(
            client=self.client,
            resolver=resolver,
            dead_letters=DeadLetterStore(dead_letter_dir, self.run_id),
            summary=summary,
            executor=executor,
            drain_one=self.drain_one,
            parked=ParkedRecords(Path(self.config.get("parked_path") or dead_letter_dir / "parked.sqlite3")),
            reference_wait=timedelta(hours=float(self.config["reference_wait_hours"])),
            matcher=Matcher(
                client=self.client,
                resolver=resolver,
                summary=summary,
                executor=executor,
                mode=self.config.get("match_mode") or "adopt",
                rules=self.config.get("match_rules"),
                create_only=self.config.get("create_only_fields"),
            ),
            batches=BatchWriter(
                client=self.client,
                resolver=resolver,
                executor=executor,
                mode=self.config.get("write_mode") or "sync",
                workers=self.client.limiter.ceiling,
            ),
            reconciler=Reconciler(
                client=self.client,
                fields=self.config.get("reconcile_fields"),
                external_id_pattern=self.config.get("reconcile_external_id_pattern"),
                report_dir=Path(self.config.get("reconcile_report_path") or "reports"),
                dead_letter_dir=dead_letter_dir,
            )
            if self.config.get("reconcile")
            else None,
            dry_run=bool(self.config.get("dry_run")),
        )

    def _make_client(self) -> NetSuiteClient:
        config = self.config
        account_id = checked_account_id(config["account_id"])
        bad_types = {name: value for name, value in (config.get("record_types") or {}).items()
                     if not is_record_type(value)}
        if bad_types:
            name, value = next(iter(bad_types.items()))
            msg = f"record_types: {value!r} (for stream {name!r}) is not a NetSuite record type name"
            raise FatalError(msg)
        base_url = checked_base_url(config["base_url"]) if config.get("base_url") else account_host(account_id)
        session = requests.Session()
        verify = config.get("ca_bundle") or True
        if isinstance(verify, str) and not (Path(verify).is_file() and os.access(verify, os.R_OK)):
            msg = f"ca_bundle {verify}: not a readable file"
            raise FatalError(msg)
        session.headers["User-Agent"] = "target-netsuite"
        timeout = float(config.get("request_timeout", 120))
        method = config.get("auth_method", "tba")
        required = TBA_SETTINGS if method == "tba" else M2M_SETTINGS
        missing = [name for name in required if not config.get(name)]
        if missing:
            msg = f"auth_method {method} needs settings: {', '.join(missing)}"
            raise FatalError(msg)
        auth: TokenBasedAuth | MachineToMachineAuth
        if method == "tba":
            auth = TokenBasedAuth(
                realm=account_id.upper(),
                consumer_key=config["consumer_key"],
                consumer_secret=config["consumer_secret"],
                token_id=config["token_id"],
                token_secret=config["token_secret"],
            )
        else:
            auth = MachineToMachineAuth(
                token_url=f"{base_url}{TOKEN_PATH}",
                client_id=config["client_id"],
                certificate_id=config["certificate_id"],
                private_key_pem=read_private_key(config.get("private_key"), config.get("private_key_path")),
                session=session,
                timeout=timeout,
                verify=verify,
            )
        return NetSuiteClient(
            base_url=base_url,
            session=session,
            auth=auth,
            max_concurrency=max(1, int(config.get("max_concurrency", 4))),
            timeout=timeout,
            max_retries=max(0, int(config.get("max_retries", 5))),
            backoff_factor=float(config.get("backoff_factor", 1.0)),
            max_throttle_wait=float(config.get("max_throttle_wait_seconds", 300)),
            verify=verify,
        )

    def record_type_for(self, stream_name: str) -> str:
        """The NetSuite record type a stream writes: the `record_types` entry, else the stream name itself."""
        return (self.config.get("record_types") or {}).get(stream_name, stream_name)

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        if stream_name in (self.config.get("record_types") or {}) or is_record_type(stream_name):
            return NetSuiteSink
        if stream_name == MELTANO_TEST_STREAM or stream_name in (self.config.get("ignored_streams") or []):
            return IgnoredStreamSink
        msg = (
            f"stream {stream_name!r} is not a NetSuite record type: map it to one (`__alias__`), add a "
            "`record_types` entry, or list it in `ignored_streams`"
        )
        raise FatalError(msg)

    def check_connection(self) -> None:
        """Fail before reading any record when the account, host or credentials are wrong."""
        self.client.check_connection(self.config["account_id"])

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM/SIGINT stop at once, leaving state at the last checkpoint.

        The SDK's handler drains every sink and emits STATE from inside the signal handler; that can run in the
        middle of a drain, so the STATE could claim records whose requests were never sent. Stopping is safe:
        the next run resends everything after the last STATE, and upserts make that harmless.
        """
        self.logger.warning("Received signal %d: stopping; state stays at the last checkpoint", signum)
        self.client.stop_retrying()
        self.services.executor.shutdown(wait=False, cancel_futures=True)
        sys.exit(128 + signum)

    @override
    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """Read and write under the account's run lock: two runs never write to one account at once.

        Runs that write nothing (`dry_run`, `match_mode: report`, `reconcile`) take no lock, so they never stall
        the schedule.
        """
        if self.services.dry_run or self.services.matcher.mode == "report" or self.services.reconciler is not None:
            super().listen(file_input)
            return
        with self._run_lock():
            super().listen(file_input)

    @contextmanager
    def _run_lock(self) -> Iterator[None]:
        """An exclusive OS lock (released by the OS even on SIGKILL); held by another run → stop, write nothing."""
        path = Path(self.config.get("lock_path") or self._default_lock_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                msg = (
                    f"another target-netsuite run is writing to NetSuite account {self.config['account_id']} "
                    f"(lock {path} is held); this run writes nothing and its state stays unchanged"
                )
                raise FatalError(msg) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _default_lock_path(self) -> Path:
        where = f"{self.client.base_url}|{self.config['account_id'].upper()}"
        digest = hashlib.sha256(where.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"target-netsuite-{digest}.lock"

    @override
    def _write_state_message(self, state: dict) -> None:
        """`match_mode: report` and `reconcile` write nothing, so they must not claim progress."""
        if self.services.matcher.mode == "report" or self.services.reconciler is not None:
            return
        super()._write_state_message(state)

    @override
    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        if self.services.reconciler is not None:
            self.services.reconciler.compare(self.run_id)
        else:
            self.retry_parked()
        self.finish()

    def retry_parked(self) -> None:
        """End of run: every stream is drained, so parents read in this run are in NetSuite; try the parked again.

        Streams whose record type other parked records wait for go first (parked customers before the parked
        contacts that wait for them).
        """
        if self.services.dry_run or self.services.matcher.mode == "report":
            return
        by_stream: dict[str, list[ParkedRecord]] = {}
        for parked in self.services.parked.all():
            by_stream.setdefault(parked.stream, []).append(parked)
        if not by_stream:
            return
        self.logger.info("Trying %d parked records again", sum(map(len, by_stream.values())))
        awaited = {p.waiting_for.split(" ", 1)[0] for records in by_stream.values() for p in records}
        for stream in sorted(by_stream, key=lambda name: self.record_type_for(name) not in awaited):
            sink = NetSuiteSink(self, stream, _PARKED_SCHEMA, [])
            sink.write_parked(by_stream[stream])
        still = self.services.parked.count()
        if still:
            self.logger.warning(
                "%d records wait for a parent that is not in NetSuite yet (parked in %s; tried again at the end of "
                "every run, dead-lettered after reference_wait_hours)", still, self.services.parked.path,
            )

    def finish(self) -> None:
        """Log (and optionally save) the run summary; release the workers and the dead-letter file."""
        self.client.close()
        self.services.batches.close()
        self.services.executor.shutdown(wait=True, cancel_futures=True)
        self.services.dead_letters.close()
        parked = self.services.parked.count()
        self.services.parked.close()
        report = {
            "run_id": self.run_id,
            "streams": self.services.summary.as_dict(),
            "dead_letters": self.services.dead_letters.count,
            "dead_letter_file": str(self.services.dead_letters.path) if self.services.dead_letters.count else None,
            "parked": parked,
            "requests": self.client.stats.requests,
            "throttled_429": self.client.stats.throttled,
            "retries": self.client.stats.retries,
            "async_jobs": {"submitted": self.services.batches.jobs_submitted,
                           "found_already_submitted": self.services.batches.jobs_found},
        }
        self.logger.info("Run summary: %s", json.dumps(report, sort_keys=True))
        if self.services.matcher.mode == "report":
            path = Path(self.config.get("match_report_path") or "reports") / f"match-{self.run_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            entries = sorted(self.services.matcher.report.entries, key=lambda e: (e["record_type"], e["outcome"]))
            path.write_text(json.dumps({"run_id": self.run_id, "streams": report["streams"], "records": entries},
                                       indent=2, ensure_ascii=False) + "\n")
            self.logger.info("match_mode report: nothing written; the list is in %s", path)
        if self.config.get("run_report_path"):
            path = Path(self.config["run_report_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """As the SDK's, plus the start-up connection check, one-line fatal errors and `fail_on_dead_letters`."""
        super(Target, cls).invoke(about=about, about_format=about_format)
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        target: TargetNetSuite | None = None
        try:
            target = cls(config=config.config, validate_config=True, parse_env_config=config.parse_env)
            target.check_connection()
            cls.logger.info("target-netsuite: connection OK (account %s)", target.config["account_id"])
            target.listen(file_input)
        except ConfigValidationError as exc:
            cls.logger.error("target-netsuite: invalid settings: %s", "; ".join(exc.errors) or exc)
            sys.exit(1)
        except (FatalError, AuthError) as exc:
            if target is not None:
                target.finish()
            cls.logger.error("target-netsuite: %s", exc)
            sys.exit(1)
        dead = target.services.dead_letters.count
        if dead and target.config.get("fail_on_dead_letters"):
            cls.logger.error(
                "target-netsuite: %d records dead-lettered (see %s)", dead, target.services.dead_letters.path
            )
            sys.exit(2)


if __name__ == "__main__":
    TargetNetSuite.cli()
