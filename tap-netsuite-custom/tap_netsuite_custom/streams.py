"""Streams: one per NetSuite record type, read by SuiteQL from `bookmark - lookback`, bookmarked per page.

The rules are in reads.py (`Bookmark`, `KeysetRead`); this module wires them to the SDK: the columns queried are
the selected properties (key and replication key always), each page's records are emitted, then the bookmark
moves and a STATE is sent. Values are converted here from SuiteQL's strings to the schema's types.
"""

from __future__ import annotations

import typing as t

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import Stream
from typing_extensions import override

from tap_netsuite_custom.errors import NetSuiteTapError
from tap_netsuite_custom.links import Links, derived_props, fetch_all
from tap_netsuite_custom.reads import (
    Bookmark,
    Column,
    KeysetRead,
    StreamSpec,
    build_query,
    convert,
    to_session,
)
from tap_netsuite_custom.settings import COLUMN_NAME

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_netsuite_custom.client import SuiteQLClient
    from tap_netsuite_custom.settings import TapSettings

Record = dict[str, t.Any]
REPLICATION_KEY = "lastModifiedDate"


class SuiteQLStream(Stream):
    """One NetSuite record type, as `StreamSpec` describes it, plus the custom field columns of its schema."""

    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = REPLICATION_KEY
    #: Records are emitted in `lastModifiedDate` order, but the bookmark moves per page (`_increment_stream_state`).
    is_sorted = True
    #: Every value is converted here (`convert`) from SuiteQL's strings: the SDK's conformance pass is not needed.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, *, spec: StreamSpec, schema: dict[str, t.Any], client: SuiteQLClient,
                 settings: TapSettings) -> None:
        super().__init__(tap, schema=schema, name=spec.name)
        self.spec = spec
        self.client = client
        self.settings = settings
        self.bookmark: Bookmark | None = None

    def columns(self) -> list[Column]:
        """The selected properties as columns: the standard ones of the spec, then the custom fields."""
        standard = {c.prop: c for c in self.spec.columns}
        forced = {"id", REPLICATION_KEY}
        derived = {d.prop for d in derived_props(self.name)}
        out = []
        for name, prop_schema in self.schema["properties"].items():
            if name in derived or (name not in forced and not self.mask.get(("properties", name), True)):
                continue
            if name in standard:
                out.append(standard[name])
            else:  # a custom field: its SuiteQL column is its id (pasted into the query: a column name or nothing)
                if not COLUMN_NAME.match(name):
                    msg = f"stream {self.name}: property {name[:60]!r} is not a NetSuite column name"
                    raise NetSuiteTapError(msg)
                kind = "number" if "number" in (prop_schema.get("type") or []) else "string"
                out.append(Column(name, name, kind))
        return out

    def derived(self) -> set[str]:
        """The selected properties links.py computes from other rows (an order's billing, an invoice's order)."""
        return {d.prop for d in derived_props(self.name) if d.prop in self.schema["properties"]
                and self.mask.get(("properties", d.prop), True)}

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        bookmark = self.bookmark = Bookmark(self.get_context_state(context), lookback=self.settings.lookback,
                                            floor=self.settings.start_date, replication_key=REPLICATION_KEY)
        zone = self.settings.account_timezone
        start = bookmark.start()
        columns = self.columns()
        read = KeysetRead(lambda q, limit, offset: self.client.page(q, limit=limit, offset=offset),
                          lambda cursor: build_query(self.spec, columns, cursor),
                          start=to_session(start, zone) if start else None, page_size=self.settings.page_size)
        self.logger.info("Reading %s from %s", self.name, start.isoformat() if start else "the beginning")
        count = 0
        derived = self.derived()
        links = Links(fetch_all(lambda q, limit, offset: self.client.page(q, limit=limit, offset=offset),
                                self.settings.page_size))
        for page in read.pages():
            records = [{c.prop: convert(c.kind, row.get(c.name), zone) for c in columns} for row in page]
            links.fill(self.name, records, derived)  # a fixed number of queries per page, before it is emitted
            yield from records
            count += len(page)
            if bookmark.commit():
                self._write_state_message()
        self.logger.info("Read %d %s records in %d SuiteQL calls", count, self.name, read.requests)

    # -- SDK internals: the tap's only uses of private singer-sdk API ---------------------------------------------
    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Context | None = None) -> None:
        """Each emitted record's key goes to the read's `Bookmark`, which moves only after a whole page.

        Private in singer-sdk (no public per-record state hook; the SDK's own increment moves the bookmark per
        record): meltano/sdk#2753 and meltano/sdk#362. `_write_state_message` (above) is the SDK's private way to
        send a STATE mid-stream, after each page.
        """
        if self.bookmark is not None:
            self.bookmark.observe(latest_record.get(REPLICATION_KEY))
