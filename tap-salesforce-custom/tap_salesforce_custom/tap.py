"""tap-salesforce-custom entry point: settings, discovery from describe, streams from the input catalog.

Discovery cache (`catalog_cache_path`): Meltano runs `--discover` before every run (its own catalog cache is off
for editable installs), and describing 5 objects costs 6 API calls. With the cache, discovery describes the org at
most once per `catalog_cache_max_age_hours` and otherwise answers from the file, making no call at all. The file
holds schemas only (no credential) and is keyed by everything discovery depends on (login host, client, user,
API version, objects, tap version): change any of them and the next discovery describes again. A field added in
Salesforce shows up once the file is older than the maximum age (or deleted).

Plugin contract: every setting's type, default, range and secrecy is in `config_jsonschema` and nowhere else; the
settings are read once into `TapSettings` (settings.py); a fatal error ends the run with one line through
`connector_kit.tap_base.OneLineTap`. The tap's uses of private singer-sdk API are the `sync_all` override below (with
the STATE writer it installs, follow.py's `HeldStates`) and the "SDK internals" section of `SalesforceStream`
(streams.py), each with its reason and upstream issue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import typing as t
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from connector_kit.salesforce_auth import AUTH_PROPERTIES
from connector_kit.tap_base import OneLineTap
from connector_kit.writer import BufferedMsgSpecWriter
from singer_sdk import typing as th
from typing_extensions import override

from tap_salesforce_custom.client import SalesforceClient
from tap_salesforce_custom.discovery import LINE_ITEMS, object_schema, parent_first, replication_key
from tap_salesforce_custom.errors import QuotaGuardStop, SalesforceFatalError
from tap_salesforce_custom.follow import HeldStates, ReadSchedule, SentVersions
from tap_salesforce_custom.settings import TapSettings
from tap_salesforce_custom.streams import LINE_ITEM_STREAMS, SalesforceStream

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

DEFAULT_OBJECTS = ["Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2"]


class TapSalesforceCustom(OneLineTap):
    """Incremental Salesforce tap: REST query and Bulk API 2.0, safe bookmarks, quota guard."""

    name = "tap-salesforce-custom"
    message_writer_class = BufferedMsgSpecWriter
    fatal_errors = (SalesforceFatalError,)

    config_jsonschema = th.PropertiesList(
        *AUTH_PROPERTIES,
        th.Property("store_uri", th.StringType, secret=True,
                    description="A shared store for the rotated refresh token, as target-netsuite's store_uri: "
                                "postgresql://user:password@host/db (several hosts; schema tap_salesforce_custom) or "
                                "sqlite:///path. Unset: token_store_path's file. A token_store_path file is taken in "
                                "on the first run with it."),
        th.Property("token_store_encryption_key", th.StringType, secret=True,
                    description="A Fernet key (`python -c 'from cryptography.fernet import Fernet; "
                                "print(Fernet.generate_key().decode())'`): the refresh token is kept encrypted in "
                                "store_uri's store. Give it through the environment."),
        th.Property("api_version", th.StringType, default="61.0", description="Salesforce REST API version."),
        th.Property("start_date", th.DateTimeType,
                    description="Earliest SystemModstamp to read when a stream has no bookmark yet."),
        th.Property("objects", th.ArrayType(th.StringType), default=DEFAULT_OBJECTS,
                    description="Object API names to discover (custom `__c` objects included). A name this org "
                                "cannot query stops discovery with one line naming it."),
        th.Property("optional_objects", th.ArrayType(th.StringType), default=[],
                    description="Object API names read when this org can query them and skipped with one warning "
                                "line when it cannot (e.g. a managed package's objects installed in some orgs "
                                "only). A name in both lists is optional."),
        th.Property("lookback_seconds", th.IntegerType(minimum=0), default=300,
                    description="Each incremental read starts this far before max(bookmark, start of the last "
                                "complete read), to catch late commits."),
        th.Property("include_deleted", th.BooleanType, default=True,
                    description="Read with queryAll so deleted records arrive with IsDeleted=true."),
        th.Property("api_type", th.StringType, default="auto", allowed_values=["auto", "rest", "bulk", "REST", "BULK"],
                    description="rest, bulk (Bulk API 2.0), or auto: Bulk when a read exceeds bulk_threshold records "
                                "(REST and BULK, singer-io's spelling, are accepted)."),
        th.Property("bulk_threshold", th.IntegerType(minimum=0), default=100_000,
                    description="In auto mode, reads estimated above this many records use Bulk API 2.0."),
        th.Property("max_api_usage_percent", th.NumberType(exclusive_minimum=0, maximum=100), default=80,
                    description="Stop cleanly (state saved) before daily API usage passes this share of the quota."),
        th.Property("page_size", th.IntegerType(minimum=200, maximum=2000), default=2000,
                    description="REST query batch size (Sforce-Query-Options batchSize, 200 to 2000)."),
        th.Property("request_timeout", th.NumberType(exclusive_minimum=0), default=300,
                    description="Seconds before an HTTP call times out."),
        th.Property("max_retries", th.IntegerType(minimum=0), default=5,
                    description="Retries of a call failing with 5xx, SERVER_UNAVAILABLE, a timeout or a reset."),
        th.Property("backoff_factor", th.NumberType(minimum=0), default=0.5,
                    description="Seconds; retry n waits a random time up to `backoff_factor * 2**n` (at most 60 s), "
                                "and at least `Retry-After`."),
        th.Property("ca_bundle", th.StringType,
                    description="CA file to verify TLS with (e.g. a corporate proxy CA). Verification is never off."),
        th.Property("schema_drift_check", th.BooleanType, default=False,
                    description="Describe each selected object at the start of its read (one call each) and report "
                                "added, removed and retyped fields against the catalog. Without it, drift is checked "
                                "only when Salesforce refuses a field (INVALID_FIELD)."),
        th.Property("is_sandbox", th.BooleanType,
                    description="Alias (singer-io, MeltanoLabs): true means login_url https://test.salesforce.com."),
        th.Property("lookback_window", th.IntegerType(minimum=0),
                    description="Alias (singer-io) of lookback_seconds."),
        th.Property("quota_percent_total", th.NumberType(exclusive_minimum=0, maximum=100),
                    description="Alias (singer-io) of max_api_usage_percent."),
        th.Property("quota_percent_per_run", th.NumberType,
                    description="singer-io setting refused with one line: use max_api_usage_percent."),
        th.Property("record_ids", th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
                    description='Read exactly these records, e.g. `{"Account": ["001..."]}` (deleted ones included); '
                                "other streams read nothing and no bookmark moves. For repairs (`pipeline-ops "
                                "reconcile --repair`), under their own state id."),
        th.Property("catalog_cache_path", th.StringType,
                    description="File where discovery keeps the described catalog, so a run does not describe the "
                                "org again (no API call) while the file is younger than catalog_cache_max_age_hours. "
                                "Unset: describe on every discovery."),
        th.Property("catalog_cache_max_age_hours", th.IntegerType(minimum=0), default=24,
                    description="Describe again once the cached catalog is this old (new Salesforce fields appear "
                                "then, or at once if the file is deleted)."),
        th.Property("follow_seconds", th.IntegerType(minimum=0), default=0,
                    description="Keep the run reading for this long: a new read every follow_poll_seconds, each "
                                "from the last one's bookmark, so a change reaches the target within about "
                                "follow_poll_seconds plus its write, without a run's start-up (near real time; "
                                "schedule the job more often than this, a run finding the last still going is "
                                "skipped). 0: one read per run. Ignored with record_ids."),
        th.Property("follow_poll_seconds", th.IntegerType(minimum=1, maximum=3600), default=30,
                    description="With follow_seconds, seconds from the start of one read to the start of the next. "
                                "Each read costs what an idle run costs (one query per stream and per line query: "
                                "8 with the shipped objects), so 30 s is about 1,000 calls an hour; the quota guard "
                                "(max_api_usage_percent) still stops the run cleanly."),
        th.Property("progress_interval_seconds", th.IntegerType(minimum=0), default=30,
                    description="A long read logs `Progress: {stream, done, expected, rate, eta_seconds}` per stream "
                                "this often (expected from the query's totalSize or the Bulk job's record count)."),
    ).to_dict()

    _stream_order: list[str] | None = None

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The streams in sync order: the order `discover_streams` gives (parents first), not the SDK's by-name.

        The SDK sorts streams by name (`Tap.load_streams`, which is final), which would read Opportunity before
        Product2 and so send sales orders before the items they reference.
        """
        streams = super().streams
        order = self._stream_order or list(streams)
        return {name: streams[name] for name in order if name in streams}

    @cached_property
    def settings(self) -> TapSettings:
        """The settings, read once (aliases translated; `start_date` checked)."""
        settings = TapSettings.from_config(self.config, self.config_jsonschema)
        for note in settings.alias_notes:
            self.logger.info("Setting alias: %s", note)
        return settings

    @cached_property
    def client(self) -> SalesforceClient:
        """The run's one Salesforce client (one token, one connection pool, one usage counter)."""
        return SalesforceClient(self.settings, logger=self.logger)

    @override
    def discover_streams(self) -> list[SalesforceStream]:
        """Streams from the input catalog when one is given (no describe calls), else from describe.

        Either way the list is in sync order: the catalog's order, which discovery writes parents first.
        """
        _ = self.settings  # settings problems first, before any call
        if self.input_catalog is not None:
            streams = [self._stream(entry.tap_stream_id, entry.schema.to_dict(), entry.replication_key
                                    or (entry.metadata.root.replication_key if entry.metadata.root else None))
                       for entry in self.input_catalog.values()]
        else:
            try:
                streams = self._streams_from_describe()
            except QuotaGuardStop as stop:  # nothing read, nothing emitted: the next run discovers again
                self.client.quota_stop = str(stop)
                self.logger.warning("Discovery stopped early, no stream synced this run: %s", stop)
                streams = []
        self._stream_order = [stream.name for stream in streams]
        return streams

    def _streams_from_describe(self) -> list[SalesforceStream]:
        cached = self._read_catalog_cache()
        if cached is not None:
            self.logger.info("Catalog from %s (no describe calls)", self.settings.catalog_cache_path)
            return [self._stream(name, entry["schema"], entry["replication_key"]) for name, entry in cached.items()]
        streams = self._describe_streams()
        self._write_catalog_cache(streams)
        return streams

    def _catalog_cache_key(self) -> str:
        try:
            tap_version = version("tap-salesforce-custom")
        except PackageNotFoundError:
            tap_version = "unknown"
        facts = {k: self.settings.config.get(k) for k in ("login_url", "client_id", "username", "api_version",
                                                          "auth_flow")}
        facts.update(objects=self.settings.objects, optional=sorted(self.settings.optional_objects),
                     version=tap_version)
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()

    def _read_catalog_cache(self) -> dict[str, t.Any] | None:
        path = self.settings.catalog_cache_path
        if not path or not Path(path).is_file():
            return None
        try:
            cached = json.loads(Path(path).read_text(encoding="utf-8"))
            written = dt.datetime.fromisoformat(cached["written_at"])
            fresh = dt.datetime.now(dt.UTC) - written < self.settings.catalog_cache_max_age
            return cached["streams"] if fresh and cached.get("key") == self._catalog_cache_key() else None
        except (ValueError, KeyError, TypeError):
            return None  # unreadable or from another version: describe again and overwrite it

    def _write_catalog_cache(self, streams: list[SalesforceStream]) -> None:
        path = self.settings.catalog_cache_path
        if not path:
            return
        body = {
            "key": self._catalog_cache_key(),
            "written_at": dt.datetime.now(dt.UTC).isoformat(),
            "streams": {s.name: {"schema": s.schema, "replication_key": s.replication_key} for s in streams},
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(json.dumps(body), encoding="utf-8")
        partial.replace(target)  # atomic: a concurrent discovery reads the old file or the new one, never half

    def _describe_streams(self) -> list[SalesforceStream]:
        wanted = self.settings.objects
        queryable = {o["name"] for o in self.client.describe_global() if o.get("queryable")}
        missing = [name for name in wanted if name not in queryable]
        required = [name for name in missing if name not in self.settings.optional_objects]
        if required:
            names = ", ".join(repr(name) for name in required)
            msg = (f"objects: {names} not found or not queryable in this org (check the spelling and the "
                   "integration user's access, or list it in optional_objects to skip it when absent)")
            raise SalesforceFatalError(msg)
        if missing:
            self.logger.warning("optional_objects not found or not queryable in this org, skipped: %s",
                                ", ".join(missing))
        describes = {name: self.client.describe(name) for name in wanted if name in queryable}
        lines: dict[str, dict[str, t.Any]] = {}
        for parent, items in LINE_ITEMS.items():  # an opportunity's products, a quote's lines: read with the parent
            if parent in describes and (items.object_name in describes or items.object_name in queryable):
                lines[parent] = describes.get(items.object_name) or self.client.describe(items.object_name)
        streams = []
        for name in parent_first(describes, lines):
            describe = describes[name]
            line_schema = object_schema(lines[name]) if name in lines else None
            schema = object_schema(describe, line_schema, LINE_ITEMS[name].property if name in lines else "")
            streams.append(self._stream(name, schema, replication_key(describe["fields"])))
        return streams

    def _stream(self, name: str, schema: dict[str, t.Any], key: str | None) -> SalesforceStream:
        cls = LINE_ITEM_STREAMS.get(name, SalesforceStream)
        return cls(self, name=name, schema=schema, replication_key=key, client=self.client, settings=self.settings,
                   sent=self.sent_versions)

    @cached_property
    def sent_versions(self) -> SentVersions:
        """What a followed run sent, so its later reads leave out what they re-read unchanged (follow.py)."""
        return SentVersions()

    # The private singer-sdk uses of the tap class: `sync_all` is final, and the SDK has no hook that runs
    # after every stream is synced (and also when one fails). The API-usage line the run report reads, and the
    # one quota-stop line, must come after the last stream, even when a stream raised; a followed run reads
    # several times in it. `_state_writer` (and `singer_sdk.helpers._state.StateWriter`, follow.py): the SDK
    # writes every STATE through it and has no public way to hold one back (follow.py says why a followed run
    # must). No upstream issue found for either.
    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        """Sync (again every `follow_poll_seconds` while `follow_seconds` last), then say once (on stderr, one line)
        if the quota guard cut the run short."""
        schedule = self.read_schedule()
        states = self._state_writer = HeldStates(self.message_writer)  # SDK internal: see the docstring above
        self.sent_versions.active = schedule.following
        try:
            for _read in schedule:
                states.holding = schedule.following  # a followed read's STATE waits until it proves fresh
                super().sync_all()
                if self.client.quota_stop:
                    break
                if not schedule.overran():
                    states.release(self.state)
        finally:
            states.release(self.state)
            self._log_api_usage()
            if self.sent_versions.left_out:
                self.logger.info("Followed run: %d re-read records left out, already sent unchanged in this run",
                                 self.sent_versions.left_out)
        if self.client.quota_stop and self._stream_order:  # (a stop during discovery has said so already)
            self.logger.warning("Run stopped early: %s", self.client.quota_stop)

    def read_schedule(self) -> ReadSchedule:
        """When this run reads: once, or (`follow_seconds`, not with `record_ids`) every `follow_poll_seconds`."""
        follow = self.settings.follow if self.settings.record_ids is None else dt.timedelta(0)
        if follow:
            self.logger.info("Following changes for %d s: a read every %d s", follow.total_seconds(),
                             self.settings.follow_poll.total_seconds())
        return ReadSchedule(follow.total_seconds(), self.settings.follow_poll.total_seconds())

    @override
    def run_discovery(self) -> str:
        """Discovery, then its `Salesforce API usage` line (0 calls, no line, when the catalog came from the cache)."""
        try:
            return super().run_discovery()
        finally:
            self._log_api_usage()

    def _log_api_usage(self) -> None:
        """One `Salesforce API usage: {json}` line per run, for the run report (pipeline-ops reads it)."""
        if "client" not in self.__dict__:  # never logged in: nothing was spent
            return
        used, limit = self.client.quota.usage.get("api-usage", (None, None))
        summary = {"calls": self.client.calls, "used": used, "limit": limit}
        self.logger.info("Salesforce API usage: %s", json.dumps(summary))

    @override
    @classmethod
    def check_invocation(cls, kwargs: dict[str, t.Any]) -> None:
        """A `--state` file that is not a JSON object is refused in one line before the SDK reads it."""
        if kwargs.get("state") is not None:
            kwargs["state"] = _checked_state(kwargs["state"])


def _checked_state(state: t.IO[str]) -> io.StringIO:
    """The `--state` file, refused in one line naming it when it is not a JSON object (a corrupt state file)."""
    name = getattr(state, "name", "--state")
    text = state.read()
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        msg = f"state file {name}: not a JSON object (corrupt?); fix or remove it, e.g. with `meltano state`"
        raise SalesforceFatalError(msg)
    return io.StringIO(text)


if __name__ == "__main__":
    TapSalesforceCustom.cli()
