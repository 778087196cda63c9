"""The tap's read paths, each an object that says how its records are ordered (`Ordering`), which decides how the
stream's `Bookmark` (streams.py) follows them:

| read path | `ordering` | the bookmark |
|---|---|---|
| `RestRead` (SOQL query, `key ASC, Id ASC`) | `ORDERED` | advances per record (never backwards) |
| `BulkRead` (Bulk API 2.0 jobs, per window) | `UNORDERED` | moves to the window's maximum once the window is complete |
| `IdRead` (`record_ids`, re-sent Opportunity parents) | `UNBOOKMARKED` | does not move |

A `BulkRead` window that falls back to REST is a `RestRead` for that window, followed as such.

Ordered REST reads at real-org scale: field chunks under the URI limit, time windows, cursor restarts.

One `RestRead` reads one object `WHERE key >= start` in `key ASC, Id ASC` order and yields pages of complete
raw records. Invariants (the bookmark rules of `streams.py` rest on them):

- **URI limit.** No request URI is longer than `uri_budget` (Salesforce answers 414 past 16,384 bytes of URI,
  431 past 16,384 of URI plus headers). A field list that would pass it is split into chunks: the primary chunk
  (with `Id` and the replication key) is the ordered, paged query; every other chunk is read per primary page
  (`key` between the page's first and last value, falling back to `Id IN (...)` for ids the range did not
  return) and merged into the page by Id. Pages come out in the primary order, so a chunked read is ordered
  exactly when the primary read is, and each record is whole when it is yielded.
- **QUERY_TIMEOUT.** The read is retried over `[lo, hi)` windows of the key, halving on each timeout down to
  `MIN_WINDOW` (then the read fails with one line); windows are disjoint, ascending and cover `[start, ∞)`, the
  last one open-ended, so every record is read once and the order holds across windows.
- **INVALID_QUERY_LOCATOR** (an expired or released cursor). The current window restarts at the key of the last
  yielded record, with `>=` (records of that second are sent again, never lost), once per occurrence, with one
  info line; an occurrence with no record yielded since the previous one ends the read.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing as t
from urllib.parse import quote_plus, urlencode

from tap_salesforce_custom.bulk import BulkQueryJob
from tap_salesforce_custom.errors import BulkJobError, SalesforceAPIError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Generator, Iterator

    from tap_salesforce_custom.client import SalesforceClient
    from tap_salesforce_custom.progress import Progress

Record = dict[str, t.Any]

#: Salesforce's limit on a REST call's URI, and on its URI plus headers (bytes).
URI_LIMIT = 16_384
#: Room left for the headers (Authorization, Sforce-Query-Options, User-Agent, ...).
HEADER_ALLOWANCE = 2_048
#: Narrowest QUERY_TIMEOUT window (SOQL datetime literals have whole seconds).
MIN_WINDOW = dt.timedelta(seconds=1)
#: Ids per `Id IN (...)` fallback query of a secondary chunk (its field list is sized to leave room for them).
IN_IDS = 100
#: A secondary range query returning more than this many times the page's rows (many records share a
#: timestamp) is abandoned for `Id IN (...)` queries.
RANGE_SLACK = 2
#: How often a 414/431 (an unexpectedly long URI) may shrink the budget before the read gives up.
MAX_SHRINKS = 3
#: Records per page a Bulk read yields (a Bulk result page is far larger; this bounds what is held at once).
BULK_PAGE_RECORDS = 2000


class Ordering(enum.Enum):
    """How a read path's records arrive, and so how a bookmark may follow them."""

    #: In replication-key order: the bookmark may advance after each emitted record.
    ORDERED = "ordered"
    #: In no order: the bookmark moves once, to the maximum, after the read (or window) is complete.
    UNORDERED = "unordered"
    #: Chosen records (by id), not a range of the key: the bookmark does not move.
    UNBOOKMARKED = "unbookmarked"


class Follower(t.Protocol):
    """What a read path that changes ordering mid-read (`BulkRead`) tells the stream's bookmark."""

    def follow(self, ordering: Ordering) -> None:
        """Records emitted from now on arrive with this ordering."""

    def commit(self) -> None:
        """The unordered records emitted since the last commit form a complete read: keep their maximum."""

    def discard(self) -> None:
        """The unordered records emitted since the last commit are an incomplete read: forget their maximum."""


def soql_datetime(value: dt.datetime) -> str:
    """A SOQL datetime literal, floored to the second (flooring only widens a `>=` filter)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_soql(object_name: str, fields: list[str], key: str | None, lo: dt.datetime | None,
                hi: dt.datetime | None, *, ordered: bool, or_ids: list[str] | None = None) -> str:
    """`SELECT ... FROM X [WHERE key >= lo [AND key < hi]] [ORDER BY key ASC, Id ASC]`.

    `or_ids` adds those records whatever their key (`WHERE (... OR Id IN (...))`): Opportunity folds the parents
    of changed line items into its main read that way (see `OpportunityStream`)."""
    soql = f"SELECT {', '.join(fields)} FROM {object_name}"
    if key:
        clauses = [f"{key} >= {soql_datetime(lo)}"] if lo is not None else []
        clauses += [f"{key} < {soql_datetime(hi)}"] if hi is not None else []
        if clauses and or_ids:
            quoted = ", ".join(f"'{x}'" for x in or_ids)
            soql += f" WHERE ({' AND '.join(clauses)} OR Id IN ({quoted}))"
        elif clauses:
            soql += " WHERE " + " AND ".join(clauses)
        if ordered:
            soql += f" ORDER BY {key} ASC, Id ASC"
    return soql


def next_window(lo: dt.datetime, size: dt.timedelta, end: dt.datetime) -> dt.datetime | None:
    """The upper bound of the window after one ending at `lo`: None (open-ended) once it would reach `end`."""
    return None if lo + size >= end else lo + size


def halve(lo: dt.datetime, hi: dt.datetime | None, end: dt.datetime, object_name: str) -> dt.timedelta:
    """Half of the window `[lo, hi or end)` in whole seconds; a window already at `MIN_WINDOW` ends the read."""
    size = ((hi or end) - lo) / 2
    if size < MIN_WINDOW:
        msg = (f"{object_name}: QUERY_TIMEOUT even for a {MIN_WINDOW.total_seconds():g}-second window from "
               f"{soql_datetime(lo)}; nothing narrower can be asked")
        raise SalesforceAPIError(msg, code="QUERY_TIMEOUT")
    return max(MIN_WINDOW, dt.timedelta(seconds=int(size.total_seconds())))


def now_bound() -> dt.datetime:
    """The end of the windows of a read that starts now: every later change falls in the open last window."""
    return _floor(dt.datetime.now(dt.UTC)) + MIN_WINDOW


def floor_key(value: str) -> dt.datetime:
    """A replication-key value (REST, Bulk or RFC 3339 form) as a datetime floored to the second."""
    return _floor(_parse(value))


def _floor(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(microsecond=0)


def _parse(value: str) -> dt.datetime:
    text = value[:-5] + "+00:00" if value.endswith("+0000") else value
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def query_url_length(data_url: str, endpoint: str, soql: str) -> int:
    """Bytes of the request URI `requests` sends for `GET <data_url>/<endpoint>?q=<soql>`."""
    return len(f"{data_url}/{endpoint}?{urlencode({'q': soql})}".encode())


def chunk_fields(fields: list[str], fixed: list[str], budget: int, secondary_budget: int) -> list[list[str]]:
    """Pack `fields` into SELECT lists: the first within `budget`, the others within `secondary_budget`.

    Budgets are in URL-encoded bytes of the field list; every chunk starts with `fixed` (Id and the key).
    """
    rest = [f for f in fields if f not in fixed]
    chunks: list[list[str]] = []
    current, used, limit = list(fixed), _encoded(fixed), budget
    for name in rest:
        cost = len(quote_plus(", " + name))
        if used + cost > limit and len(current) > len(fixed):
            chunks.append(current)
            current, used, limit = list(fixed), _encoded(fixed), secondary_budget
        current.append(name)
        used += cost
    chunks.append(current)
    return chunks


def _encoded(fields: list[str]) -> int:
    return len(quote_plus(", ".join(fields)))


class RestRead:
    """One ordered REST read of an object from `start` (see the module docstring)."""

    ordering: t.ClassVar[Ordering] = Ordering.ORDERED

    def __init__(self, client: SalesforceClient, logger: logging.Logger, *, object_name: str, fields: list[str],
                 key: str | None, start: dt.datetime | None, include_deleted: bool, batch_size: int,
                 stop: dt.datetime | None = None, on_window_done: Callable[[], None] | None = None,
                 or_ids: list[str] | None = None) -> None:
        """Plan the read of `[start, stop)` (stop None: no end); nothing is sent until `pages()` is iterated.

        `on_window_done` is called after each completed bounded window, once its records were consumed (the
        stream sends a STATE there, so a killed run resumes at the last completed window at worst).
        """
        self.client = client
        self.logger = logger
        self.object_name = object_name
        self.fields = fields
        self.key = key
        self.start = start
        self.stop = stop
        self.on_window_done = on_window_done
        self.or_ids = or_ids  # records added to every window whatever their key (window_soql)
        self.endpoint = "queryAll" if include_deleted else "query"
        self.include_deleted = include_deleted
        self.batch_size = batch_size
        self.uri_budget = URI_LIMIT - HEADER_ALLOWANCE
        #: Replication-key value of the last record yielded, and whether a record came since the last restart.
        self.last_key: str | None = None
        self.windows = 0
        self.restarts = 0
        self.chunks: list[list[str]] = []

    # -- planning --------------------------------------------------------------------------------------------
    def _plan(self) -> None:
        fixed = ["Id", *([self.key] if self.key and self.key != "Id" else [])] if "Id" in self.fields else []
        if not fixed:  # no Id: nothing to merge chunks by, so one query (an object without Id is not chunked)
            self.chunks = [list(self.fields)]
            return
        lo = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        skeleton = self._soql(fixed, lo, lo + MIN_WINDOW, ordered=True)
        base = query_url_length(self.client.data_url, self.endpoint, skeleton) - _encoded(fixed)
        in_clause = len(quote_plus(" AND Id IN (" + ", ".join(["'001000000000000AAA'"] * IN_IDS) + ")"))
        budget = self.uri_budget - base
        self.chunks = chunk_fields(self.fields, fixed, budget, budget - in_clause)
        if len(self.chunks) > 1:
            self.logger.info("%s: %d fields selected; each query is split into %d field chunks to stay under the "
                             "%d-byte URI limit", self.object_name, len(self.fields), len(self.chunks), URI_LIMIT)

    def _soql(self, fields: list[str], lo: dt.datetime | None, hi: dt.datetime | None, *, ordered: bool) -> str:
        return window_soql(self.object_name, fields, self.key, lo, hi, ordered=ordered, or_ids=self.or_ids)

    # -- reading ---------------------------------------------------------------------------------------------
    def pages(self) -> Iterator[tuple[list[Record], int]]:
        """`(records, totalSize of the query that produced them)` per page, in `key, Id` order."""
        self._plan()
        lo, hi = self.start, self.stop
        size: dt.timedelta | None = None
        end: dt.datetime | None = None
        progressed = True
        shrinks = 0
        while True:
            try:
                for page in self._window(lo, hi):
                    progressed = True
                    yield page
            except SalesforceAPIError as exc:
                if exc.code == "QUERY_TIMEOUT" and self.key:
                    if lo is None:
                        lo = self.first_key()
                        if lo is None:
                            return
                    end = end or self.stop or now_bound()
                    size = halve(lo, hi, end, self.object_name)
                    hi = lo + size
                    self.windows += 1
                    self.logger.warning("%s: QUERY_TIMEOUT; reading in %ss windows of %s from %s",
                                        self.object_name, int(size.total_seconds()), self.key, soql_datetime(lo))
                    continue
                if exc.code == "INVALID_QUERY_LOCATOR" and self.key and self.last_key is not None and progressed:
                    progressed = False
                    lo = floor_key(self.last_key)
                    self.restarts += 1
                    self.logger.info("%s: query cursor expired (INVALID_QUERY_LOCATOR); restarting at %s >= %s",
                                     self.object_name, self.key, soql_datetime(lo))
                    continue
                if exc.status in (414, 431) and shrinks < MAX_SHRINKS:
                    shrinks += 1
                    self.uri_budget = self.uri_budget * 3 // 4
                    self._plan()
                    if self.last_key is not None:
                        lo = floor_key(self.last_key)
                    continue
                raise
            if hi is None or (self.stop is not None and hi >= self.stop):
                return
            if self.on_window_done is not None:
                self.on_window_done()
            lo = hi
            assert size is not None and end is not None
            hi = min(lo + size, self.stop) if self.stop is not None else next_window(lo, size, end)

    def first_key(self) -> dt.datetime | None:
        """The object's smallest replication-key value (where windows start when a read has no start)."""
        soql = f"SELECT {self.key} FROM {self.object_name} ORDER BY {self.key} ASC LIMIT 1"
        page = next(self.client.query_pages(soql, include_deleted=self.include_deleted, batch_size=200))
        records = page.get("records") or []
        return _floor(_parse(records[0][self.key])) if records else None

    def _window(self, lo: dt.datetime | None, hi: dt.datetime | None) -> Iterator[tuple[list[Record], int]]:
        primary, *others = self.chunks
        pages = self.client.query_pages(self._soql(primary, lo, hi, ordered=True),
                                        include_deleted=self.include_deleted, batch_size=self.batch_size)
        for page in pages:
            records: list[Record] = page["records"]
            for chunk in others:
                self._merge(records, chunk)
            if records and self.key:
                self.last_key = records[-1].get(self.key) or self.last_key
            yield records, int(page.get("totalSize") or 0)

    def _merge(self, records: list[Record], chunk: list[str]) -> None:
        """Add `chunk`'s fields to each record of one primary page (matched by Id)."""
        if not records:
            return
        by_id = {r["Id"]: r for r in records}
        missing = set(by_id)
        if self.key and records[0].get(self.key) and records[-1].get(self.key):
            low = _floor(_parse(records[0][self.key]))
            high = _floor(_parse(records[-1][self.key])) + MIN_WINDOW
            pages = t.cast("Generator[dict[str, t.Any], None, None]", self.client.query_pages(
                self._soql(chunk, low, high, ordered=False), include_deleted=self.include_deleted, batch_size=2000))
            for page in pages:
                if int(page.get("totalSize") or 0) > RANGE_SLACK * len(records) + self.batch_size:
                    pages.close()  # many records share these timestamps: ask by Id instead
                    break
                for row in page["records"]:
                    if row["Id"] in missing:
                        missing.discard(row["Id"])
                        _add(by_id[row["Id"]], row)
        ids = [i for i in by_id if i in missing]
        for i in range(0, len(ids), IN_IDS):
            quoted = ", ".join(f"'{x}'" for x in ids[i : i + IN_IDS])
            soql = f"SELECT {', '.join(chunk)} FROM {self.object_name} WHERE Id IN ({quoted})"
            for page in self.client.query_pages(soql, include_deleted=self.include_deleted, batch_size=2000):
                for row in page["records"]:
                    _add(by_id[row["Id"]], row)


class IdRead:
    """Rows of `object_name` whose `key` is one of `ids`, in no key order, every query under the URI limit.

    Ids go in batches of at most `max_ids`; a field list too long for the URI is split into chunks (each with
    `Id` and `key`) whose rows are merged by Id before they are yielded, so each row is whole.
    """

    ordering: t.ClassVar[Ordering] = Ordering.UNBOOKMARKED

    def __init__(self, client: SalesforceClient, object_name: str, fields: list[str], key: str, ids: list[str], *,
                 include_deleted: bool, batch_size: int, max_ids: int) -> None:
        """Plan the read; nothing is sent until `rows()` is iterated."""
        self.client = client
        self.object_name = object_name
        self.fields = fields
        self.key = key
        self.ids = ids
        self.include_deleted = include_deleted
        self.batch_size = batch_size
        self.max_ids = max_ids

    def rows(self) -> Iterator[Record]:
        """The rows, whole, raw (as Salesforce sends them)."""
        endpoint = "queryAll" if self.include_deleted else "query"
        fixed = list(dict.fromkeys(["Id", self.key]))
        per_id = len(quote_plus("'001000000000000AAA', "))
        skeleton = f"SELECT  FROM {self.object_name} WHERE {self.key} IN ()"
        budget = URI_LIMIT - HEADER_ALLOWANCE - query_url_length(self.client.data_url, endpoint, skeleton)
        count = max(1, min(self.max_ids, budget // 2 // per_id))
        field_budget = budget - count * per_id
        fields = self.fields
        chunks = [fields] if _encoded(fields) <= field_budget else chunk_fields(fields, fixed, field_budget,
                                                                                   field_budget)
        for i in range(0, len(self.ids), count):
            quoted = ", ".join(f"'{x}'" for x in self.ids[i : i + count])
            merged: dict[str, Record] = {}
            for chunk in chunks:
                soql = f"SELECT {', '.join(chunk)} FROM {self.object_name} WHERE {self.key} IN ({quoted})"
                for page in self.client.query_pages(soql, include_deleted=self.include_deleted,
                                                    batch_size=self.batch_size):
                    for row in page["records"]:
                        if len(chunks) == 1:
                            yield row
                        else:
                            _add(merged.setdefault(row["Id"], row), row)
            yield from merged.values()


class BulkRead:
    """A Bulk 2.0 read of `[start, ∞)`: in `[lo, hi)` windows after a job fails for size or time, each window read
    by REST instead after any other failure.

    Windows are disjoint and ascending and each is complete before the next starts, so the bookmark commits each
    completed window's maximum (then `on_window_done` sends a STATE): a later failure never re-reads a completed
    window nor skips an unread one. A failed job's records so far are discarded from the bookmark (the window is
    read again, whole). A window read by REST is followed as the ordered read it is.
    """

    ordering: t.ClassVar[Ordering] = Ordering.UNORDERED

    def __init__(self, client: SalesforceClient, logger: logging.Logger, *, object_name: str, fields: list[str],
                 key: str | None, start: dt.datetime | None, include_deleted: bool,
                 convert: dict[str, Callable[[str], t.Any]], bookmark: Follower, progress: Progress,
                 rest: Callable[[dt.datetime | None, dt.datetime | None], RestRead],
                 on_window_done: Callable[[], None], or_ids: list[str] | None = None) -> None:
        """Plan the read; `rest(lo, hi)` builds the REST read of one window, `convert` types each CSV cell."""
        self.client = client
        self.logger = logger
        self.object_name = object_name
        self.fields = fields
        self.key = key
        self.start = start
        self.include_deleted = include_deleted
        self.convert = convert
        self.bookmark = bookmark
        self.progress = progress
        self.rest = rest
        self.on_window_done = on_window_done
        self.or_ids = or_ids

    def pages(self) -> Iterator[list[Record]]:
        """Pages of typed records; the bookmark is told the ordering of each window before its records."""
        lo, hi = self.start, None
        size: dt.timedelta | None = None
        end: dt.datetime | None = None
        while True:
            self.bookmark.follow(self.ordering)
            soql = window_soql(self.object_name, self.fields, self.key, lo, hi, ordered=False,
                               or_ids=self.or_ids if lo is not None else None)
            try:
                yield from self._job_pages(BulkQueryJob(self.client, soql, include_deleted=self.include_deleted))
            except BulkJobError as exc:
                self.bookmark.discard()
                if not exc.timed_out or not self.key:
                    self.logger.warning("%s: %s; reading this window by REST instead", self.object_name, exc)
                    rest = self.rest(lo, hi)
                    self.bookmark.follow(rest.ordering)
                    for records, _total in rest.pages():
                        yield records
                else:
                    lo = lo or self.rest(None, None).first_key()
                    if lo is None:
                        return
                    end = end or now_bound()
                    size = halve(lo, hi, end, self.object_name)
                    hi = lo + size
                    self.logger.warning("%s: Bulk job failed for size or time (%s); retrying in %ss windows from %s",
                                        self.object_name, exc, int(size.total_seconds()), soql_datetime(lo))
                    continue
            self.bookmark.commit()
            if hi is None:
                return
            self.on_window_done()
            lo = hi
            assert size is not None and end is not None
            hi = next_window(lo, size, end)

    def _job_pages(self, job: BulkQueryJob) -> Generator[list[Record], None, None]:
        page: list[Record] = []
        for row in job.records():
            if self.progress.expected is None:
                self.progress.expected = job.records_expected
            page.append({name: self.convert[name](value) for name, value in row.items() if name in self.convert})
            if len(page) >= BULK_PAGE_RECORDS:
                yield page
                page = []
        if page:
            yield page


def _add(record: Record, row: Record) -> None:
    """Copy a secondary chunk's fields into the record, keeping the primary's Id, key and attributes."""
    for name, value in row.items():
        if name not in record:
            record[name] = value
