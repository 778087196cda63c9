"""What a stream reads (its SuiteQL table, columns and types) and how: the key-set read and the bookmark rules.

Bookmark rules (the tap's core promise), all in `Bookmark`:
- Reads are ordered `lastmodifieddate, id` and start at `bookmark - lookback_seconds` (not before `start_date`)
  with `>=`. SuiteQL shows `lastModifiedDate` to the second (through `TO_CHAR`; without it, the date alone), so
  records changed in the same second as the bookmark, and records committed late (a save whose
  `lastModifiedDate` is older than records already read), are read again within the lookback window. Re-sent
  records are harmless downstream (writes are idempotent) and never move the bookmark back.
- The bookmark moves only after a page's records have all been emitted, to the greatest `lastModifiedDate` of
  the page: always the value of an emitted record, never "now", never ahead of what was sent. An interrupted run
  keeps the bookmark of its last complete page.

Paging (`KeysetRead`): each page is a query from a cursor, `lastmodifieddate >= <cursor second>`, at offset 0; the
next page's cursor is the last row's second. The rows of that second are read again with the next page, and
dropped (`seen`): a record is emitted once per run unless it changed during the run (a new `lastModifiedDate`).
Only when a whole page shares the cursor's second does the offset grow (by the page size) for that second;
SuiteQL serves no row past offset 100,000 of one query, so more than 100,000 records saved in one second stop
the run with one line. A record saved during the read moves to the end of the order and is read there; with
offset paging over one long query it would shift every later row by one and one row at a page boundary would be
skipped: the key-set cursor never skips.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from tap_netsuite_custom.client import MAX_OFFSET
from tap_netsuite_custom.errors import NetSuiteTapError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

Row = dict[str, t.Any]
#: The Oracle format the tap reads and writes date-times in (`TO_CHAR`, `TO_TIMESTAMP`); NetSuite's session time
#: zone (the account's or the role's preference, setting `account_timezone`) applies to both.
TS_FORMAT = "YYYY-MM-DD HH24:MI:SS"
_PY_TS_FORMAT = "%Y-%m-%d %H:%M:%S"
TS_COLUMN = "lastmodifieddate"
#: Prefixes of NetSuite custom field ids (entity, transaction body, line, item, custom record fields).
CUSTOM_PREFIXES = ("custentity", "custbody", "custcol", "custitem", "custrecord", "custevent")


@dataclasses.dataclass(frozen=True)
class Column:
    """A SuiteQL column: its name, the stream property it becomes, and its kind: string, integer, number,
    boolean ("T"/"F"), date (read as `TO_CHAR(col, 'YYYY-MM-DD')`) or datetime (`TO_CHAR(col, TS_FORMAT)`)."""

    name: str
    prop: str
    kind: str = "string"

    def select(self) -> str:
        if self.kind == "date":
            return f"TO_CHAR({self.name}, 'YYYY-MM-DD') AS {self.name}"
        if self.kind == "datetime":
            return f"TO_CHAR({self.name}, '{TS_FORMAT}') AS {self.name}"
        return self.name


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """One stream: the SuiteQL table, a `type` filter for the transaction table, and the standard columns."""

    name: str
    table: str
    columns: tuple[Column, ...]
    type_filter: str | None = None

    @property
    def where(self) -> str | None:
        return f"type = '{self.type_filter}'" if self.type_filter else None


_ENTITY = (Column("id", "id"), Column("entityid", "entityId"), Column("externalid", "externalId"),
           Column("email", "email"), Column("phone", "phone"), Column("isinactive", "isInactive", "boolean"),
           Column("datecreated", "dateCreated", "datetime"), Column(TS_COLUMN, "lastModifiedDate", "datetime"))
_TRANSACTION = (Column("id", "id"), Column("tranid", "tranId"), Column("externalid", "externalId"),
                Column("trandate", "tranDate", "date"), Column("entity", "entity"), Column("status", "status"),
                Column("currency", "currency"), Column("foreigntotal", "total", "number"), Column("memo", "memo"),
                Column("createddate", "createdDate", "datetime"),
                Column(TS_COLUMN, "lastModifiedDate", "datetime"))
_INVOICE = (*_TRANSACTION, Column("duedate", "dueDate", "date"),
            Column("foreignamountpaid", "amountPaid", "number"),
            Column("foreignamountunpaid", "amountRemaining", "number"))

STREAMS: dict[str, StreamSpec] = {spec.name: spec for spec in [
    StreamSpec("customer", "customer", (*_ENTITY, Column("companyname", "companyName"),
                                        Column("firstname", "firstName"), Column("lastname", "lastName"),
                                        Column("isperson", "isPerson", "boolean"), Column("subsidiary", "subsidiary"),
                                        Column("currency", "currency"), Column("balancesearch", "balance", "number"),
                                        Column("overduebalancesearch", "overdueBalance", "number"))),
    StreamSpec("contact", "contact", (*_ENTITY, Column("firstname", "firstName"), Column("lastname", "lastName"),
                                      Column("title", "title"), Column("company", "company"),
                                      Column("subsidiary", "subsidiary"))),
    StreamSpec("salesOrder", "transaction", _TRANSACTION, "SalesOrd"),
    StreamSpec("estimate", "transaction", _TRANSACTION, "Estimate"),
    StreamSpec("invoice", "transaction", _INVOICE, "CustInvc"),
    StreamSpec("customerPayment", "transaction",
               (*_TRANSACTION, Column("foreignpaymentamountunused", "unapplied", "number")), "CustPymt"),
    StreamSpec("itemFulfillment", "transaction", _TRANSACTION, "ItemShip"),
]}


def is_custom_column(name: str) -> bool:
    return name.startswith(CUSTOM_PREFIXES)


def property_schema(kind: str) -> dict[str, t.Any]:
    if kind == "datetime":
        return {"type": ["string", "null"], "format": "date-time"}
    if kind == "date":
        return {"type": ["string", "null"], "format": "date"}
    return {"type": [kind, "null"]}


def convert(kind: str, value: t.Any, zone: dt.tzinfo) -> t.Any:
    """A SuiteQL value (always a string) as the property's type; `None` for a NULL (an absent column)."""
    if value is None:
        return None
    if kind == "boolean":
        return value == "T"
    if kind == "integer":
        return int(value)
    if kind == "number":
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    if kind == "datetime":
        return to_utc(value, zone)
    return value


def to_utc(shown: str, zone: dt.tzinfo) -> str:
    """`2026-12-07 10:55:00` (NetSuite's session time zone) → `2026-12-07T10:55:00+00:00`."""
    return dt.datetime.strptime(shown, _PY_TS_FORMAT).replace(tzinfo=zone).astimezone(dt.UTC).isoformat()


def to_session(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """An instant as NetSuite's session time zone shows it, to the second (rounded down), for `TO_TIMESTAMP`."""
    return moment.astimezone(zone).strftime(_PY_TS_FORMAT)


def build_query(spec: StreamSpec, columns: list[Column], cursor: str | None) -> str:
    """`SELECT <columns> FROM <table> WHERE [type] AND lastmodifieddate >= <cursor> ORDER BY lastmodifieddate, id`."""
    conditions = [spec.where] if spec.where else []
    if cursor is not None:
        conditions.append(f"{TS_COLUMN} >= TO_TIMESTAMP('{cursor}', '{TS_FORMAT}')")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return (f"SELECT {', '.join(c.select() for c in columns)} FROM {spec.table}{where} "
            f"ORDER BY {TS_COLUMN}, id")


Fetch = t.Callable[[str, int, int], dict[str, t.Any]]  # (query, limit, offset) -> SuiteQL page


class KeysetRead:
    """Pages of rows (raw SuiteQL rows, `lastmodifieddate` as `TS_FORMAT` text) from `start` on, each row once."""

    def __init__(self, fetch: Fetch, query: Callable[[str | None], str], *, start: str | None,
                 page_size: int) -> None:
        self.fetch = fetch
        self.query = query
        self.start = start
        self.page_size = page_size
        self.requests = 0

    def pages(self) -> Iterator[list[Row]]:
        cursor, offset = self.start, 0
        seen: set[str] = set()  # ids already emitted with lastmodifieddate == cursor
        while True:
            body = self.fetch(self.query(cursor), self.page_size, offset)
            self.requests += 1
            rows: list[Row] = body["items"]
            fresh = [row for row in rows if not (row.get(TS_COLUMN) == cursor and str(row.get("id")) in seen)]
            if fresh:
                yield fresh
            if not body.get("hasMore") or not rows:
                return
            last = rows[-1].get(TS_COLUMN)
            if last is not None and last != cursor:
                cursor, offset = last, 0
                seen = {str(row.get("id")) for row in rows if row.get(TS_COLUMN) == last}
            else:  # the whole page shares the cursor's second (or has no stamp): the next page of that second
                seen |= {str(row.get("id")) for row in rows}
                offset += self.page_size
                if offset + self.page_size > MAX_OFFSET:
                    msg = (f"more than {MAX_OFFSET - self.page_size} records share lastModifiedDate {cursor}: "
                           "SuiteQL serves no row past offset 100,000 of one query")
                    raise NetSuiteTapError(msg)


class Bookmark:
    """A stream's bookmark in its state (`replication_key_value`, RFC 3339 UTC): every rule of the module docstring.

    `start()` is where a read begins; `observe()` takes each emitted record's `lastModifiedDate`; `commit()`
    (after a page is fully emitted) moves the bookmark to the page's greatest value, never back.
    """

    def __init__(self, state: dict[str, t.Any], *, lookback: dt.timedelta, floor: dt.datetime | None,
                 replication_key: str) -> None:
        self.state = state
        self.lookback = lookback
        self.floor = floor
        self.replication_key = replication_key
        self.pending: dt.datetime | None = None

    @property
    def value(self) -> dt.datetime | None:
        raw = self.state.get("replication_key_value")
        if not raw:
            return None
        parsed = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)

    def start(self) -> dt.datetime | None:
        """`bookmark - lookback`, not before `floor` (`start_date`); the floor alone without a bookmark."""
        value = self.value
        if value is None:
            return self.floor
        start = value - self.lookback
        return max(start, self.floor) if self.floor else start

    def observe(self, value: str | None) -> None:
        if not value:
            return
        moment = dt.datetime.fromisoformat(value)
        if self.pending is None or moment > self.pending:
            self.pending = moment

    def commit(self) -> bool:
        """The page is emitted: the bookmark moves to its greatest value (never back). True if it moved."""
        pending, self.pending = self.pending, None
        current = self.value
        if pending is None or (current is not None and pending <= current):
            return False
        self.state["replication_key"] = self.replication_key
        self.state["replication_key_value"] = pending.astimezone(dt.UTC).isoformat()
        return True
