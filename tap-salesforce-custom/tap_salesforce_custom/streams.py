"""Streams: one per Salesforce object, read by REST query or Bulk 2.0, with safe bookmarks.

Bookmark rules (the tap's core promise), all held by one `Bookmark` object per bookmark (the stream's, and
the line bookmark of Opportunity and Quote), which follows the `Ordering` each read path declares (reads.py):
- REST reads are ordered `SystemModstamp ASC, Id ASC` and use `>=`, so many records sharing one timestamp are
  never lost. A read starts at `max(bookmark, read_started) - lookback_seconds` (not before `start_date`):
  `read_started` (kept in the stream's state next to the bookmark) is Salesforce's clock when the last complete
  read began, taken from its `Date` header minus the round trip, so the local clock never matters. A record
  missed by that read committed after it began, so with commit lag under the lookback its SystemModstamp is at
  or after `read_started - lookback`: late commits are still delivered, and a quiet run re-sends only records
  stamped inside the lookback window before the previous run, not the last burst of changes run after run.
  Re-sent records (downstream writes are idempotent) never move the bookmark back.
- `read_started` is saved only after a complete read, with the bookmark it left (`read_started_bookmark`), and
  counts only while the bookmark is still that value: after an interrupted or quota-stopped read (the bookmark
  moved on, `read_started` did not) or a bookmark rewound by hand (`meltano state merge`), the read starts at
  `bookmark - lookback` as it would without it.
- Bulk results are unordered: they move the bookmark only once, to their maximum, after the last record of a
  complete read (or window); an interrupted, failed or quota-stopped read leaves the old bookmark in place.
- Re-sent Opportunity parents (read by Id after the main read) and `record_ids` reads never move the bookmark:
  parents are read after the main read's snapshot, so their maximum could pass records changed in between that
  the main read did not see; the next run's window re-reads them (writes are idempotent).
- The bookmark is always a value of an emitted record: never "now", never ahead of what was sent.
- The Opportunity line bookmark follows the same rules with its own `line_items_read_started`: the line query
  is read whole before the parents are re-sent, and the line bookmark commits its maximum once, after them.
- Salesforce stores no empty strings: a blank text value (`""`, as some endpoints write it) is emitted as null
  on every read path (REST, Bulk CSV, line items), so REST and Bulk reads of one record are identical.
- A chunked read (fields split under the URI limit, `reads.py`) is ordered only if every chunk is: the primary
  chunk is the ordered query and the other chunks are merged into each of its pages before the page is emitted.
- `QUERY_TIMEOUT` windows are disjoint and ascending: REST windows keep the per-record bookmark and send a
  STATE after each completed window; Bulk windows move the bookmark to the window's maximum after each completed
  window (never during one). A Bulk window read by REST after a failed job is ordered like any REST read.
- A read restarted after an expired cursor starts at the last emitted key with `>=`: re-sent, never skipped.
- With `record_ids` a stream reads exactly the listed records (or nothing) and moves no bookmark.
- A followed run (`follow_seconds`) leaves out a re-read record it already sent exactly as it is (follow.py's
  `SentVersions`); a left-out record moves no bookmark (the earlier read's copy moved it already).
"""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t
from functools import cached_property

from connector_kit.settings import parse_utc
from singer_sdk.helpers._catalog import get_selected_schema  # SDK internal: see `_write_schema_message`
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import Stream
from typing_extensions import override

from tap_salesforce_custom.discovery import (
    LINE_ITEM_PROPERTIES,
    LINE_ITEMS,
    LineItems,
    compound_components,
    is_compound,
    mark_calculated,
    schema_drift,
)
from tap_salesforce_custom.errors import QuotaGuardStop, SalesforceAPIError
from tap_salesforce_custom.progress import Progress
from tap_salesforce_custom.reads import BulkRead, IdRead, Ordering, RestRead, soql_datetime

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_salesforce_custom.client import SalesforceClient
    from tap_salesforce_custom.follow import SentVersions
    from tap_salesforce_custom.settings import TapSettings

Record = dict[str, t.Any]
#: Ids per `WHERE ... IN (...)` clause at most (fewer when a wide field list needs the URI's room).
IN_CHUNK = 200
#: State key: Salesforce's time when the stream's last complete main read began (see the module docstring).
READ_STARTED = "read_started"


def remember_read_start(state: dict[str, t.Any], key: str, bookmark_key: str, started: dt.datetime | None) -> None:
    """Save `started` under `key`, with the bookmark it belongs to under `<key>_bookmark`."""
    if started is not None:
        state[key] = started.isoformat()
        state[f"{key}_bookmark"] = state.get(bookmark_key)


def valid_read_start(state: dict[str, t.Any], key: str, bookmark_key: str) -> str | None:
    """The saved read start, if the bookmark is still the one it was saved with; else None."""
    started, saved, bookmark = state.get(key), state.get(f"{key}_bookmark"), state.get(bookmark_key)
    if not started or (saved and to_rfc3339(saved)) != (bookmark and to_rfc3339(bookmark)):
        return None
    return t.cast("str", started)


def window_start(bookmark: str | None, read_started: str | None, lookback_seconds: int) -> dt.datetime | None:
    """`max(bookmark, read_started) - lookback`; None when neither is known."""
    anchors = [parse_utc(v) for v in (bookmark, read_started) if v]
    return max(anchors) - dt.timedelta(seconds=lookback_seconds) if anchors else None


class Bookmark:
    """One bookmark in a stream's state, with the read start saved beside it: every rule of the module docstring.

    `start()` is where a read begins; each read path tells it its `Ordering` (`follow`), each emitted record's
    key goes to `observe`; an unordered read's maximum is kept only by `commit` after the read is complete, and
    forgotten by `discard`; `complete` saves the read start after a complete read. The value is only ever set
    from observed records: never "now", never backwards.
    """

    def __init__(self, state: dict[str, t.Any], *, value_key: str, started_key: str, lookback: dt.timedelta,
                 floor: dt.datetime | None = None, replication_key: str | None = None) -> None:
        """`state` is the stream's state dict (changed in place); `floor` is `start_date`; `replication_key`, when
        given, is written beside the value as the SDK does (`replication_key`)."""
        self.state = state
        self.value_key = value_key
        self.started_key = started_key
        self.lookback = lookback
        self.floor = floor
        self.replication_key = replication_key
        if state.get(value_key):
            state[value_key] = to_rfc3339(state[value_key])  # keeps comparisons format-safe
        self.ordering = Ordering.ORDERED
        self.pending: str | None = None

    @property
    def value(self) -> str | None:
        """The bookmark: the key of an emitted record (RFC 3339), or None before any."""
        return t.cast("str | None", self.state.get(self.value_key))

    @property
    def read_started(self) -> str | None:
        """The saved read start, if the bookmark is still the one it was saved with."""
        return valid_read_start(self.state, self.started_key, self.value_key)

    @property
    def resumed(self) -> bool:
        """Whether state says where to start (a bookmark or a valid read start): an incremental read."""
        return bool(self.value or self.read_started)

    def window(self) -> dt.datetime | None:
        """`max(bookmark, read_started) - lookback`; None when neither is known."""
        return window_start(self.value, self.read_started, int(self.lookback.total_seconds()))

    def start(self) -> dt.datetime | None:
        """`window()`, not before `floor`; the floor alone (None: everything) when state knows nothing."""
        start = self.window()
        if start is None:
            return self.floor
        return max(start, self.floor) if self.floor else start

    def follow(self, ordering: Ordering) -> None:
        """Records observed from now on come from a read path with this ordering."""
        self.ordering = ordering

    def observe(self, value: str | None) -> None:
        """An emitted record's key: ordered, the bookmark moves to it (never back); unordered, it is remembered."""
        if value is None or self.ordering is Ordering.UNBOOKMARKED:
            return
        if self.ordering is Ordering.UNORDERED:
            if self.pending is None or value > self.pending:
                self.pending = value
            return
        current = self.value
        if current is None or value >= current:
            self._set(value)

    def commit(self) -> None:
        """An unordered read is complete: the bookmark moves to its maximum (never back)."""
        pending, self.pending = self.pending, None
        if pending is not None and (self.value is None or pending > self.value):
            self._set(pending)

    def discard(self) -> None:
        """An unordered read stopped before its end: its records do not move the bookmark."""
        self.pending = None

    def complete(self, started: dt.datetime | None) -> None:
        """After a complete read: save when it began (Salesforce's clock), with the bookmark it left."""
        remember_read_start(self.state, self.started_key, self.value_key, started)

    def _set(self, value: str) -> None:
        self.state[self.value_key] = value
        if self.replication_key:
            self.state["replication_key"] = self.replication_key


def blank_to_null(record: Record, names: Iterable[str]) -> None:
    """Replace `""` with None in `names` and in the parts of compound (dict) values among them."""
    for name in names:
        value = record.get(name)
        if value == "":
            record[name] = None
        elif isinstance(value, dict):
            for key, part in value.items():
                if part == "":
                    value[key] = None


def to_rfc3339(value: str | None) -> str | None:
    """Salesforce datetime (`...32.000+0000` REST, `...32.000Z` Bulk) → `2024-05-20T20:49:32.000000+00:00`."""
    if not value:
        return None
    if len(value) == 28 and value.endswith("+0000"):
        return f"{value[:23]}000+00:00"
    if len(value) == 24 and value.endswith("Z"):
        return f"{value[:23]}000+00:00"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _csv_converter(schema: dict[str, t.Any]) -> Callable[[str], t.Any]:
    """Bulk CSV text → the JSON type of the field; an empty cell is null (Salesforce stores no empty strings)."""
    types = [x for x in schema.get("type") or [] if x != "null"]
    if types == ["boolean"]:
        return lambda v: None if v == "" else v == "true"
    if types == ["integer"]:
        return lambda v: None if v == "" else int(v)
    if types == ["number"]:
        return lambda v: None if v == "" else float(v)
    if schema.get("format") == "date-time":
        return to_rfc3339
    return lambda v: None if v == "" else v


class SalesforceStream(Stream):
    """One Salesforce object. Schema, keys and replication key come from discovery or the input catalog."""

    def __init__(self, tap: Tap, *, name: str, schema: dict[str, t.Any], replication_key: str | None,
                 client: SalesforceClient, settings: TapSettings, sent: SentVersions) -> None:
        """Build the stream; `client`, `settings` and `sent` (what a followed run sent) are shared by all streams
        of the run."""
        super().__init__(tap, schema=mark_calculated(schema), name=name)
        self.primary_keys = ["Id"] if "Id" in schema["properties"] else []
        self.replication_key = replication_key
        self.client = client
        self.settings = settings
        self.sent = sent
        #: The bookmark of the read in progress (`get_records` makes it from the stream's state).
        self.bookmark: Bookmark | None = None
        self.progress = Progress(self.logger, name, settings.progress_interval_seconds)

    # The SDK must not track progress itself: ordering is handled per read path (see the module docstring).
    is_sorted = True
    #: A STATE every 2,000 records (one full REST page): a killed run resumes close to where it stopped.
    STATE_MSG_FREQUENCY = 2000
    #: Values are typed at the source (REST JSON is typed by Salesforce, Bulk CSV is converted from the schema,
    #: datetimes are normalised here), so the SDK's per-value conformance pass (most of the tap's CPU) is skipped.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @cached_property
    def _datetime_fields(self) -> list[str]:
        return [n for n, s in self.schema["properties"].items() if s.get("format") == "date-time"]

    @cached_property
    def _blankable_fields(self) -> list[str]:
        """Text and compound properties: the ones that can arrive as `""` (or hold a `""` part)."""
        return [n for n, s in self.schema["properties"].items()
                if "string" in (s.get("type") or []) or is_compound(s)]

    def selected_fields(self) -> list[str]:
        """Selected top-level properties (key and replication key always included)."""
        forced = {*self.primary_keys, *([self.replication_key] if self.replication_key else [])}
        return [
            name for name in self.schema["properties"]
            if name in forced or self.mask.get(("properties", name), True)
        ]

    def query_plan(self) -> tuple[list[str], dict[str, dict[str, str]]]:
        """`(SOQL field list, {compound: {component: key}})`.

        A compound field whose components are selected is rebuilt from them instead of being queried: the
        query stays valid either way, and Bulk (which cannot select compound fields) can still serve it.
        """
        selected = [f for f in self.selected_fields() if f not in LINE_ITEM_PROPERTIES]
        properties = self.schema["properties"]
        rebuilt: dict[str, dict[str, str]] = {}
        fields = []
        for name in selected:
            if is_compound(properties[name]):
                parts = compound_components(name, properties[name], selected)
                if parts:
                    rebuilt[name] = parts
                    continue
            fields.append(name)
        return fields, rebuilt

    def bulk_capable(self, fields: list[str]) -> bool:
        """Bulk 2.0 cannot select compound (address/location) or base64 fields."""
        properties = self.schema["properties"]
        return not any(
            is_compound(properties[f]) or properties[f].get("contentEncoding") == "base64" for f in fields
        )

    def new_bookmark(self, context: Context | None) -> Bookmark:
        """The stream's bookmark (`replication_key_value`, with `read_started`), from its state."""
        return Bookmark(self.get_context_state(context), value_key="replication_key_value", started_key=READ_STARTED,
                        lookback=self.settings.lookback, floor=self.settings.start_date,
                        replication_key=self.replication_key)

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        """Read the object; a quota stop ends the stream early with its bookmark at the last sent record."""
        if self.client.quota_stop:
            return
        bookmark = self.bookmark = self.new_bookmark(context)
        if self.settings.record_ids is not None:
            bookmark.follow(IdRead.ordering)
            yield from self._read_listed(*self.query_plan())
            return
        resumed = bookmark.resumed
        start = bookmark.start()
        self.sent.forget_before(self.name, start)
        self.progress = Progress(self.logger, self.name, self.settings.progress_interval_seconds)
        try:
            self.client.mark_read_start()
            for page, rebuilt in self.drift_safe_pages(start):
                yield from self.finish_page([self.finish_record(r, rebuilt) for r in page])
                self.progress.add(len(page))
            self.progress.finish()
            read_started = self.client.read_started
            yield from self.after_main_read(context, start if resumed else None)
            bookmark.commit()
            if self.replication_key:
                bookmark.complete(read_started)
        except QuotaGuardStop as stop:
            bookmark.discard()
            self.client.quota_stop = str(stop)
            self.logger.warning("%s (stream %s)", stop, self.name)

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Leave out a record a followed run re-read exactly as it already sent it (follow.py, `SentVersions`)."""
        return None if self.sent.already_sent(self.name, row, self.replication_key) else row

    def drift_safe_pages(self, start: dt.datetime | None) -> Iterator[tuple[list[Record], dict[str, dict[str, str]]]]:
        """`read_pages` of the planned fields, reconciled with describe once if Salesforce refuses a field.

        An `INVALID_FIELD` (a catalog field deleted, or no longer readable) costs one describe call: the drift
        is reported, the stream's schema loses the field (a new SCHEMA is sent) and the read starts over.
        """
        if self.settings.schema_drift_check:
            self.reconcile_schema()
        for attempt in (1, 2):
            fields, rebuilt = self.query_plan()
            try:
                for page in self.read_pages(fields, start):
                    yield page, rebuilt
            except SalesforceAPIError as exc:
                if self.bookmark is not None:
                    self.bookmark.discard()  # an unordered read cut short; it starts over
                if exc.code != "INVALID_FIELD" or attempt == 2 or not self.reconcile_schema():
                    raise
                continue
            return

    def reconcile_schema(self) -> bool:
        """Describe the object, log each added/removed/retyped field, apply removals and retypes; True if changed."""
        lines, properties = schema_drift(self.name, self.schema["properties"], self.client.describe(self.name))
        for line in lines:
            self.logger.warning("Schema drift: %s", line)
        if properties == self.schema["properties"]:
            return False
        self.schema["properties"] = properties
        self.__dict__.pop("_datetime_fields", None)
        self._write_schema_message()
        return True

    def _read_listed(self, fields: list[str], rebuilt: dict[str, dict[str, str]]) -> Iterator[Record]:
        """`record_ids`: this stream's listed records, by Id (queryAll, so deleted ones come with IsDeleted)."""
        ids = sorted(set((self.settings.record_ids or {}).get(self.name) or []))
        if not ids:
            return
        found = self.id_read(self.name, fields, "Id", ids, include_deleted=True).rows()
        page = [self.finish_record(record, rebuilt) for record in found]
        self.logger.info("%s: %d of %d listed records read", self.name, len(page), len(ids))
        yield from self.finish_page(page)

    def read_pages(self, fields: list[str], start: dt.datetime | None) -> Iterator[list[Record]]:
        """Pages of raw records, by REST or Bulk per `api_type` (auto: Bulk above `bulk_threshold`)."""
        api_type = self.settings.api_type
        bulk_ok = self.bulk_capable(fields)
        if api_type == "bulk" and not bulk_ok:
            self.logger.info("%s: compound or base64 fields selected; reading by REST instead of Bulk", self.name)
        if api_type == "bulk" and bulk_ok:
            yield from self._followed(self._bulk_read(fields, start).pages(), BulkRead.ordering)
            return
        rest = self._rest_read(fields, start)
        pages = rest.pages()
        first = next(pages, None)
        if first is None:
            return
        estimate = first[1]
        self.progress.expected = estimate
        if api_type == "auto" and bulk_ok and estimate > self.settings.bulk_threshold:
            self.logger.info("%s: about %d records to read; switching to Bulk 2.0", self.name, estimate)
            t.cast("t.Generator[t.Any, None, None]", pages).close()
            yield from self._followed(self._bulk_read(fields, start).pages(), BulkRead.ordering)
            return
        yield from self._followed((records for records, _total in itertools.chain([first], pages)), rest.ordering)

    def _followed(self, pages: Iterator[list[Record]], ordering: Ordering) -> Iterator[list[Record]]:
        """`pages`, the bookmark told first how their records are ordered."""
        if self.bookmark is not None:
            self.bookmark.follow(ordering)
        yield from pages

    def _rest_read(self, fields: list[str], start: dt.datetime | None, stop: dt.datetime | None = None) -> RestRead:
        """An ordered REST read: field chunks under the URI limit, QUERY_TIMEOUT windows, cursor restarts."""
        return RestRead(self.client, self.logger, object_name=self.name, fields=fields, key=self.replication_key,
                        start=start, stop=stop, include_deleted=self.settings.include_deleted,
                        batch_size=self.settings.page_size, on_window_done=self.write_state,
                        or_ids=self.fold_ids() if start is not None else None)

    def _bulk_read(self, fields: list[str], start: dt.datetime | None) -> BulkRead:
        """An unordered Bulk 2.0 read, in windows after a failed job (`BulkRead`)."""
        assert self.bookmark is not None
        return BulkRead(self.client, self.logger, object_name=self.name, fields=fields, key=self.replication_key,
                        start=start, include_deleted=self.settings.include_deleted,
                        convert={f: _csv_converter(self.schema["properties"][f]) for f in fields},
                        bookmark=self.bookmark, progress=self.progress,
                        rest=lambda lo, hi: self._rest_read(fields, lo, hi), on_window_done=self.write_state,
                        or_ids=self.fold_ids() if start is not None else None)

    def fold_ids(self) -> list[str] | None:
        """Records the main read adds whatever their key (none here; see `OpportunityStream`)."""
        return None

    def finish_record(self, record: Record, rebuilt: dict[str, dict[str, str]]) -> Record:
        """Drop `attributes`, blank text as null, datetimes as RFC 3339, compound fields rebuilt from components."""
        record.pop("attributes", None)
        blank_to_null(record, self._blankable_fields)
        for name in self._datetime_fields:
            value = record.get(name)
            if value is not None:
                record[name] = to_rfc3339(value)
        for compound, parts in rebuilt.items():
            values = {key: record.get(component) for component, key in parts.items()}
            record[compound] = values if any(v is not None for v in values.values()) else None
        return record

    def finish_page(self, records: list[Record]) -> list[Record]:
        """Hook for streams that add related data per page (Opportunity adds its line items)."""
        return records

    def after_main_read(self, context: Context | None, resumed_from: dt.datetime | None) -> Iterator[Record]:
        """Hook for records emitted after the main read (Opportunity re-emits parents of changed lines).

        `resumed_from` is where an incremental main read started (`bookmark - lookback`); None on a first read.
        """
        return iter(())

    def id_read(self, object_name: str, fields: list[str], key: str, ids: list[str], *,
                include_deleted: bool) -> IdRead:
        """Rows of `object_name` whose `key` is one of `ids`: ids in batches, fields in chunks, under the URI limit."""
        return IdRead(self.client, object_name, fields, key, ids, include_deleted=include_deleted,
                      batch_size=self.settings.page_size, max_ids=IN_CHUNK)

    # -- SDK internals: the tap's only uses of private singer-sdk API (reasons and upstream issues below) --------
    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Context | None = None) -> None:
        """Each emitted record's key goes to the read's `Bookmark`, which follows the read path's ordering.

        Private in singer-sdk (no public per-record state hook; the SDK's own increment only knows one ordering
        for the whole stream, `is_sorted`, where a read here can be ordered, unordered or by Id): meltano/sdk#2753
        (let the stream decide how bookmarks and records compare) and meltano/sdk#362 (developer-controlled
        finalization of unsorted streams).
        """
        if self.replication_key and self.bookmark is not None:
            self.bookmark.observe(latest_record.get(self.replication_key))

    def write_state(self) -> None:
        """Send a STATE now (after a completed window). `_write_state_message` is the SDK's private way to emit one
        mid-stream (its public one, `STATE_MSG_FREQUENCY`, counts records, not windows): meltano/sdk#362."""
        self._write_state_message()

    @override
    def _write_schema_message(self) -> None:
        """Send SCHEMA from the stream's current schema: formula marks kept, drift applied.

        The SDK's stream maps hold the schema as the catalog parsed it (which drops `x-sf-calculated`) and as it
        was before any drift, so the selected schema is registered again first. Private in singer-sdk (the SDK has
        no public way to re-send a changed schema mid-sync; no upstream issue found, one to file); the tap's mapper
        (`_tap.mapper`), the stream's maps (`_stream_maps`) and `singer_sdk.helpers._catalog.get_selected_schema`
        are used here only.
        """
        mapper = self._tap.mapper
        mapper.register_raw_stream_schema(self.name, get_selected_schema(self.name, self.schema, self.mask),
                                          self.primary_keys)
        self._stream_maps = mapper.stream_maps[self.name]
        super()._write_schema_message()

class LineItemsStream(SalesforceStream):
    """A parent with its line items (`LINE_ITEMS`): Opportunity with `OpportunityLineItems`, Quote with
    `QuoteLineItems`, each the complete current list of the parent's non-deleted lines. Below, "opportunity"
    stands for the parent and "line" for its line object.

    An opportunity is also re-emitted when only its lines changed: line changes (deletes included, via
    queryAll) since the line bookmark are collected and their opportunities read again with fresh lines.
    The line bookmark is kept in this stream's state as `line_items_bookmark`, apart from the opportunity
    bookmark, so neither can skip the other's changes.

    On an incremental run the line changes are collected *before* the main read and, when they fit one `IN`
    clause, folded into it (`WHERE SystemModstamp >= start OR Id IN (...)`): the parents come in the one ordered
    read, with their lines, instead of a second read (an idle run costs 3 queries here, not 5). Lines changed
    after that first query are found by the next run, since the line bookmark only reaches what it saw.
    `line_items_read_started` (with `line_items_read_started_bookmark`) is the line query's `read_started` (module
    docstring), saved with the line bookmark once every affected parent was re-sent.
    """

    #: The line object, its parent key and the parent's lines property (set by each subclass).
    lines: t.ClassVar[LineItems]
    LINE_BOOKMARK = "line_items_bookmark"
    LINE_READ_STARTED = "line_items_read_started"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """As a `SalesforceStream`; `_folded` holds the line changes folded into this run's main read."""
        super().__init__(*args, **kwargs)
        self._folded: tuple[dict[str, None], str | None, dt.datetime | None] | None = None

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        """Collect the line changes first when they can be folded into the main read, then read."""
        self._folded = None
        main = self.new_bookmark(context)
        if self._line_schema() is not None and main.value:
            lines = self.line_bookmark(context)
            since = (lines.window() if lines.value else None) or main.start()
            assert since is not None  # the main bookmark is set
            changed, newest, read_started = self._changed_lines(since)
            if len(changed) <= IN_CHUNK:
                self._folded = (changed, newest, read_started)
                if changed:
                    self.logger.info("%d opportunities re-sent because their line items changed", len(changed))
        yield from super().get_records(context)

    @override
    def fold_ids(self) -> list[str] | None:
        """The opportunities whose lines changed, read with the main query."""
        return list(self._folded[0]) if self._folded and self._folded[0] else None

    def line_bookmark(self, context: Context | None) -> Bookmark:
        """The line bookmark: its window is where the line-change query starts (no `start_date` floor)."""
        return Bookmark(self.get_context_state(context), value_key=self.LINE_BOOKMARK,
                        started_key=self.LINE_READ_STARTED, lookback=self.settings.lookback)

    def _changed_lines(self, since: dt.datetime) -> tuple[dict[str, None], str | None, dt.datetime | None]:
        """Opportunity ids whose lines changed since `since` (deletes included), the newest change seen, and
        Salesforce's time when the query started (the line window's `read_started`)."""
        soql = (
            f"SELECT {self.lines.parent_key}, SystemModstamp FROM {self.lines.object_name} "
            f"WHERE SystemModstamp >= {soql_datetime(since)} ORDER BY SystemModstamp ASC, Id ASC"
        )
        changed: dict[str, None] = {}
        newest: str | None = None
        self.client.mark_read_start()
        for page in self.client.query_pages(soql, include_deleted=True, batch_size=2000):
            for line in page["records"]:
                changed[line[self.lines.parent_key]] = None
                newest = to_rfc3339(line["SystemModstamp"])
        return changed, newest, self.client.read_started

    def _line_schema(self) -> dict[str, t.Any] | None:
        if not self.mask.get(("properties", self.lines.property), True):
            return None
        prop = self.schema["properties"].get(self.lines.property)
        return (prop or {}).get("items")

    def _line_fields(self) -> list[str]:
        schema = self._line_schema() or {"properties": {}}
        return [n for n, s in schema["properties"].items() if not is_compound(s)]

    def _with_lines(self, opportunities: list[Record]) -> list[Record]:
        line_schema = self._line_schema()
        if line_schema is None or not opportunities:
            return opportunities
        datetimes = [n for n, s in line_schema["properties"].items() if s.get("format") == "date-time"]
        texts = [n for n, s in line_schema["properties"].items() if "string" in (s.get("type") or [])]
        by_opp: dict[str, list[Record]] = {o["Id"]: [] for o in opportunities}
        for line in self.id_read(self.lines.object_name, self._line_fields(), self.lines.parent_key, list(by_opp),
                                 include_deleted=False).rows():
            line.pop("attributes", None)
            blank_to_null(line, texts)
            for name in datetimes:
                if line.get(name) is not None:
                    line[name] = to_rfc3339(line[name])
            by_opp[line[self.lines.parent_key]].append(line)
        for opportunity in opportunities:
            lines = by_opp[opportunity["Id"]]
            opportunity[self.lines.property] = sorted(lines, key=lambda x: (x.get("SortOrder") or 0, x["Id"]))
        return opportunities

    @override
    def finish_page(self, records: list[Record]) -> list[Record]:
        """Attach each opportunity's current lines (one line query per 200 opportunities)."""
        return self._with_lines(records)

    @override
    def after_main_read(self, context: Context | None, resumed_from: dt.datetime | None) -> Iterator[Record]:
        """Re-emit opportunities whose lines changed since the line bookmark; then advance that bookmark."""
        if self._line_schema() is None:
            return
        lines = self.line_bookmark(context)
        changed: dict[str, None] = {}
        if self._folded is not None:  # the parents came with the main read
            newest, read_started = self._folded[1], self._folded[2]
        else:
            since = lines.window() if lines.value else None
            if since is None and resumed_from is not None:
                since = resumed_from
            elif since is None:  # first full read: every opportunity was just sent with its lines; catch changes
                since = self._sync_started() - self.settings.lookback
            changed, newest, read_started = self._changed_lines(since)
        lines.follow(Ordering.UNORDERED)  # the line bookmark moves only once every affected parent was re-sent
        lines.observe(newest)
        if changed:
            self.logger.info("%d opportunities re-sent because their line items changed", len(changed))
            fields, rebuilt = self.query_plan()
            parents = self.id_read(self.name, fields, "Id", list(changed),
                                   include_deleted=self.settings.include_deleted)
            records = [self.finish_record(r, rebuilt) for r in parents.rows()]
            if self.bookmark is not None:
                self.bookmark.follow(parents.ordering)
            for i in range(0, len(records), IN_CHUNK):
                yield from self._with_lines(records[i : i + IN_CHUNK])
        lines.commit()
        lines.complete(read_started)

    def _sync_started(self) -> dt.datetime:
        """When the run began (the SDK's signpost: the tap's start, frozen), Salesforce's clock if it has none."""
        signpost = self.get_replication_key_signpost(None)
        if isinstance(signpost, dt.datetime):
            return signpost
        return self.client.read_started or dt.datetime.now(dt.UTC)


class OpportunityStream(LineItemsStream):
    """Opportunity with `OpportunityLineItems`."""

    lines = LINE_ITEMS["Opportunity"]


class QuoteStream(LineItemsStream):
    """Quote with `QuoteLineItems` (every quote: which one syncs, `IsSyncing`, is the mapping's choice)."""

    lines = LINE_ITEMS["Quote"]


class ProductStream(LineItemsStream):
    """Product2 with `StandardPricebookEntries`: its entries in the standard price book (`Pricebook2.IsStandard`;
    one per currency in a multi-currency org), whose UnitPrice is the item's base price. A product is re-sent when
    any of its price book entries changed (a custom book's too: the mapping then sends the same prices, which the
    target's ledger does not write again). The standard book's Id is read once per run (one query)."""

    lines = LINE_ITEMS["Product2"]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """As a `LineItemsStream`; `_standard_book` caches the standard price book's Id for the run."""
        super().__init__(*args, **kwargs)
        self._standard_book: str | None = None

    def _standard_pricebook(self) -> str | None:
        if self._standard_book is None:
            soql = "SELECT Id FROM Pricebook2 WHERE IsStandard = true"
            for page in self.client.query_pages(soql, include_deleted=False, batch_size=200):
                for book in page["records"]:
                    self._standard_book = book["Id"]
        return self._standard_book

    @override
    def _with_lines(self, records: list[Record]) -> list[Record]:
        """Each product with its standard price book entries only (entries of other books are left out)."""
        products = super()._with_lines(records)
        if self._line_schema() is None or not products:
            return products
        standard = self._standard_pricebook()
        for product in products:
            product[self.lines.property] = [entry for entry in product.get(self.lines.property) or []
                                            if entry.get("Pricebook2Id") == standard]
        return products


#: The stream class of each parent read with its lines.
LINE_ITEM_STREAMS: dict[str, type[LineItemsStream]] = {"Opportunity": OpportunityStream, "Quote": QuoteStream,
                                                       "Product2": ProductStream}
