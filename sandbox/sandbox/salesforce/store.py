"""SQLite persistence: one table per sObject, plus tokens, query cursors and Bulk jobs.

Each sObject table has one column per stored field (named exactly like the field) and SQLite's rowid, which
query cursors and Bulk results use as a stable handle. Writes go through `write()` (a process lock plus
`BEGIN IMMEDIATE`). A write's SystemModstamp is its commit time at second precision, as in Salesforce: the
records of one burst of writes share seconds, and no stamp is ever ahead of the clock. Reads use one
connection per thread, WAL mode, so readers never wait for writers. Salesforce stores no empty strings: a
blank text value (seeded or written) is stored as null.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sandbox.salesforce import data, pricing
from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.schema import OBJECTS, SObject, sobject
from sandbox.salesforce.values import FieldValueError, from_input, make_id, now_ms, parse_datetime_ms

BATCH_ROWS = 5000
_SQL_TYPES = {"boolean": "INTEGER", "int": "INTEGER", "long": "INTEGER", "datetime": "INTEGER", "double": "REAL",
              "currency": "REAL", "percent": "REAL"}
_SERVICE_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS access_tokens (token TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refresh_tokens (token TEXT PRIMARY KEY, client_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (locator TEXT PRIMARY KEY, soql TEXT NOT NULL, query_all INTEGER NOT NULL,
    first_seq INTEGER NOT NULL, total INTEGER NOT NULL, batch INTEGER NOT NULL, used_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cursor_rows (seq INTEGER PRIMARY KEY, locator TEXT NOT NULL, rid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bulk_jobs (id TEXT PRIMARY KEY, info TEXT NOT NULL, soql TEXT NOT NULL,
    polls INTEGER NOT NULL DEFAULT 0, first_seq INTEGER, total INTEGER);
CREATE TABLE IF NOT EXISTS bulk_rows (seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL, rid INTEGER NOT NULL);
"""
# Control keys an admin write may carry next to the fields (no Salesforce field is lower_snake_case): `modified_by`
# names the User who made the change (default: the integration user), e.g. a sales rep editing a synced record.
CONTROL_KEYS = frozenset({"system_modstamp", "late_seconds", "modified_by"})


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """The org's records and the server's bookkeeping, in `data_dir/salesforce.sqlite3`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self.conn().executescript(_SERVICE_TABLES)

    # -- connections -------------------------------------------------------------------------------------------
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serialised write transaction."""
        with self._write_lock:
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- meta --------------------------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (key, value))

    @property
    def seeded(self) -> bool:
        return self.meta("volumes") is not None

    # -- seeding -----------------------------------------------------------------------------------------------
    def seed(self, volumes: data.Volumes) -> None:
        """Drop every record and regenerate the org from `volumes`, streaming rows in batches."""
        with self._write_lock:
            conn = self.conn()
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM cursors")
                conn.execute("DELETE FROM cursor_rows")
                conn.execute("DELETE FROM bulk_rows")
                conn.execute("DELETE FROM bulk_jobs")
                for obj in OBJECTS.values():
                    conn.execute(f"DROP TABLE IF EXISTS {quote(obj.name)}")
                    self._create_table(conn, obj)
                counts = self._insert_rows(conn, data.all_rows(volumes))
                for obj in OBJECTS.values():
                    self.set_meta(conn, f"counter:{obj.name}", str(counts.get(obj.name, 0)))
                if volumes.shared_modstamp_accounts:
                    self._share_modstamp(conn, OBJECTS["Account"], volumes.shared_modstamp_accounts, None)
                self.set_meta(conn, "volumes", json.dumps(asdict(volumes)))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                conn.execute("PRAGMA synchronous=NORMAL")

    @staticmethod
    def _create_table(conn: sqlite3.Connection, obj: SObject) -> None:
        columns = ", ".join(
            f"{quote(f.name)} {_SQL_TYPES.get(f.type, 'TEXT')}" + (" NOT NULL UNIQUE" if f.name == "Id" else "")
            for f in obj.stored_fields
        )
        if not obj.has_is_deleted:
            columns += ', "IsDeleted" INTEGER NOT NULL DEFAULT 0'
        table = quote(obj.name)
        conn.execute(f"CREATE TABLE {table} (rid INTEGER PRIMARY KEY, {columns})")
        conn.execute(f'CREATE INDEX {quote("ix_" + obj.name + "_modstamp")} ON {table} ("SystemModstamp", "Id")')
        # The incremental query (`WHERE SystemModstamp >= x ORDER BY SystemModstamp, Id` on live rows) reads
        # only this index, never the table.
        conn.execute(f'CREATE INDEX {quote("ix_" + obj.name + "_live_modstamp")} ON {table} '
                     '("IsDeleted", "SystemModstamp", "Id")')
        for field in obj.fields:
            if field.type == "reference" and field.relationship_name in ("Account", "Opportunity"):
                conn.execute(f"CREATE INDEX {quote('ix_' + obj.name + '_' + field.name)} ON {table} "
                             f"({quote(field.name)})")

    @staticmethod
    def _insert_rows(conn: sqlite3.Connection, rows: Iterator[tuple[str, dict[str, Any]]]) -> dict[str, int]:
        batches: dict[str, list[tuple[Any, ...]]] = {}
        counts: dict[str, int] = {}

        def flush(name: str) -> None:
            obj = OBJECTS[name]
            names = [f.name for f in obj.stored_fields]
            sql = (f"INSERT INTO {quote(name)} ({', '.join(map(quote, names))}) "
                   f"VALUES ({', '.join('?' * len(names))})")
            conn.executemany(sql, batches.pop(name))

        for name, row in rows:
            obj = OBJECTS[name]
            batch = batches.setdefault(name, [])
            batch.append(tuple(None if (v := row.get(f.name)) == "" else v for f in obj.stored_fields))
            counts[name] = counts.get(name, 0) + 1
            if len(batch) >= BATCH_ROWS:
                flush(name)
        for name in list(batches):
            flush(name)
        return counts

    # -- timestamps --------------------------------------------------------------------------------------------
    @staticmethod
    def next_modstamp(conn: sqlite3.Connection, obj: SObject) -> int:
        """The commit time, to the second: many writes of one burst share it, none is ahead of the clock."""
        return now_ms() // 1000 * 1000

    @staticmethod
    def _control_stamp(control: dict[str, Any]) -> int | None:
        if control.get("system_modstamp") is not None:
            stamp = parse_datetime_ms(str(control["system_modstamp"]))
            if stamp is None:
                raise ApiError(400, "INVALID_FIELD", f"system_modstamp: not a datetime: {control['system_modstamp']}")
            return stamp
        if control.get("late_seconds") is not None:
            return (now_ms() // 1000 - int(control["late_seconds"])) * 1000
        return None

    def _share_modstamp(self, conn: sqlite3.Connection, obj: SObject, count: int, stamp: int | None,
                        ids: list[str] | None = None) -> tuple[list[str], int]:
        stamp = stamp if stamp is not None else self.next_modstamp(conn, obj)
        table = quote(obj.name)
        if ids:
            chosen = [row[0] for row in conn.execute(
                f'SELECT "Id" FROM {table} WHERE "Id" IN ({",".join("?" * len(ids))})', ids)]
        else:
            chosen = [row[0] for row in conn.execute(
                f'SELECT "Id" FROM {table} WHERE "IsDeleted" = 0 ORDER BY rid LIMIT ?', (count,))]
        conn.executemany(f'UPDATE {table} SET "SystemModstamp" = ?, "LastModifiedDate" = ? WHERE "Id" = ?',
                         [(stamp, stamp, record_id) for record_id in chosen])
        return chosen, stamp

    def share_modstamp(self, obj: SObject, count: int, control: dict[str, Any],
                       ids: list[str] | None = None) -> tuple[list[str], int]:
        """Give `count` live records (or `ids`) one identical SystemModstamp, as bulk updates do in real orgs."""
        with self.write() as conn:
            return self._share_modstamp(conn, obj, count, self._control_stamp(control), ids)

    # -- admin writes ------------------------------------------------------------------------------------------
    def _coerce(self, obj: SObject, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            field = obj.get(key)
            if field is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
            if not field.stored or (field.system and field.name not in ("Name",)) or field.type == "id":
                raise ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                               f"Unable to create/update fields: {field.name}. Please check the security settings "
                               "of this field and verify that it is read/write for your profile or permission set.",
                               [field.name])
            try:
                out[field.name] = from_input(field, value)
            except FieldValueError as exc:
                raise ApiError(400, "STRING_TOO_LONG" if "too large" in str(exc) else "INVALID_TYPE_ON_FIELD_IN_RECORD",
                               str(exc), [field.name]) from exc
        return out

    def _check_references(self, conn: sqlite3.Connection, obj: SObject, values: dict[str, Any]) -> None:
        for name, value in values.items():
            field = obj.get(name)
            if field is None or field.type != "reference" or value is None:
                continue
            target = OBJECTS[field.reference_to[0]]
            if not conn.execute(f'SELECT 1 FROM {quote(target.name)} WHERE "Id" = ?', (value,)).fetchone():
                raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [field.name])

    def _derive(self, conn: sqlite3.Connection, obj: SObject, row: dict[str, Any]) -> None:
        """Fields the platform computes on save."""
        if obj.name in ("Contact", "User") and ("LastName" in row or "FirstName" in row):
            first, last = row.get("FirstName"), row.get("LastName")
            row["Name"] = f"{first} {last}" if first else last
        if obj.name == "Opportunity" and "StageName" in row:
            row["IsClosed"] = int(str(row["StageName"]).startswith("Closed"))
            row["IsWon"] = int(row["StageName"] == "Closed Won")
        if obj.name == "Quote" and row.get("OpportunityId"):  # a quote is its opportunity's account's
            found = conn.execute('SELECT "AccountId" FROM "Opportunity" WHERE "Id" = ?',
                                 (row["OpportunityId"],)).fetchone()
            if found:
                row["AccountId"] = found[0]
        if obj.name in ("OpportunityLineItem", "QuoteLineItem"):
            parent, parent_key = ("Quote", "QuoteId") if obj.name == "QuoteLineItem" else ("Opportunity",
                                                                                         "OpportunityId")
            if row.get("PricebookEntryId") and not row.get("Product2Id"):
                found = conn.execute('SELECT "Product2Id", "UnitPrice", "ProductCode" FROM "PricebookEntry" '
                                     'WHERE "Id" = ?', (row["PricebookEntryId"],)).fetchone()
                if found:
                    row["Product2Id"], row["ListPrice"], row["ProductCode"] = found
            if obj.get("CurrencyIsoCode") is not None and row.get(parent_key):  # a line is in its parent's currency
                found = conn.execute(f'SELECT "CurrencyIsoCode" FROM "{parent}" WHERE "Id" = ?',
                                     (row[parent_key],)).fetchone()
                if found:
                    row["CurrencyIsoCode"] = found[0]
            if row.get("Quantity") is not None and row.get("UnitPrice") is not None:
                currency = row.get("CurrencyIsoCode")
                row["Subtotal"] = pricing.subtotal(row["Quantity"], row["UnitPrice"], currency)
                row["TotalPrice"] = pricing.total_price(row["Quantity"], row["UnitPrice"], row.get("Discount"),
                                                        currency)

    def _touch_opportunity(self, conn: sqlite3.Connection, opportunity_id: str | None) -> None:
        """Line items roll up into their opportunity: its Amount changes and its SystemModstamp moves."""
        if not opportunity_id:
            return
        prices = [price for (price,) in conn.execute(
            'SELECT "TotalPrice" FROM "OpportunityLineItem" WHERE "OpportunityId" = ? AND "IsDeleted" = 0',
            (opportunity_id,))]
        total, count = (pricing.amount(p for p in prices if p is not None) if prices else None), len(prices)
        stamp = self.next_modstamp(conn, OBJECTS["Opportunity"])
        conn.execute('UPDATE "Opportunity" SET "Amount" = COALESCE(?, "Amount"), "HasOpportunityLineItem" = ?, '
                     '"LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                     (total, int(count > 0), stamp, stamp, opportunity_id))

    def _touch_quote(self, conn: sqlite3.Connection, quote_id: str | None) -> None:
        """Quote line items roll up into their quote (Subtotal, TotalPrice, Discount, GrandTotal, LineItemCount)
        and move its SystemModstamp, as they do an opportunity's."""
        if not quote_id:
            return
        currency = '"CurrencyIsoCode"' if self._has_currency(conn) else "NULL"
        found = conn.execute(f'SELECT "Tax", "ShippingHandling", {currency} FROM "Quote" WHERE "Id" = ?',
                             (quote_id,)).fetchone()
        if found is None:
            return
        lines = conn.execute('SELECT "Subtotal", "TotalPrice" FROM "QuoteLineItem" WHERE "QuoteId" = ? '
                             'AND "IsDeleted" = 0', (quote_id,)).fetchall()
        money = pricing.quote_money([(s or 0, p or 0) for s, p in lines], found[0], found[1], found[2])
        stamp = self.next_modstamp(conn, OBJECTS["Quote"])
        conn.execute('UPDATE "Quote" SET "Subtotal" = ?, "TotalPrice" = ?, "Discount" = ?, "GrandTotal" = ?, '
                     '"LineItemCount" = ?, "LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                     (*money, len(lines), stamp, stamp, quote_id))

    #: QuoteLineItem fields a sync copies onto the opportunity's lines (the rest are derived or the line's own).
    _SYNCED_LINE_FIELDS = ("PricebookEntryId", "Product2Id", "Quantity", "UnitPrice", "Discount", "Subtotal",
                           "TotalPrice", "ListPrice", "ServiceDate", "Description", "SortOrder", "CurrencyIsoCode")

    def _sync_opportunity_lines(self, conn: sqlite3.Connection, quote_id: str | None) -> None:
        """Quote sync: while a quote syncs, its lines are its opportunity's lines (Salesforce keeps both in step; a
        sync started copies the quote's lines over the opportunity's). The opportunity's lines are replaced by copies
        of the quote's (the old ones go to the recycle bin), each quote line names its copy, and the opportunity's
        Amount rolls up to the quote's TotalPrice."""
        found = conn.execute('SELECT "OpportunityId", "IsSyncing" FROM "Quote" WHERE "Id" = ? AND "IsDeleted" = 0',
                             (quote_id,)).fetchone()
        if found is None or not found[1]:
            return
        opportunity_id = found[0]
        line_object = OBJECTS["OpportunityLineItem"]
        columns = {f.name for f in line_object.stored_fields}
        fields = [name for name in self._SYNCED_LINE_FIELDS if name in columns]
        stamp = self.next_modstamp(conn, line_object)
        conn.execute('UPDATE "OpportunityLineItem" SET "IsDeleted" = 1, "SystemModstamp" = ?, "LastModifiedDate" = ? '
                     'WHERE "OpportunityId" = ? AND "IsDeleted" = 0', (stamp, stamp, opportunity_id))
        quote_lines = conn.execute(
            f'SELECT "Id", {", ".join(quote(name) for name in fields)} FROM "QuoteLineItem" '
            'WHERE "QuoteId" = ? AND "IsDeleted" = 0 ORDER BY "SortOrder", "Id"', (quote_id,)).fetchall()
        integration_user = make_id("005", 1)
        for quote_line_id, *values in quote_lines:
            counter = int(self.meta("counter:OpportunityLineItem") or 0) + 1
            self.set_meta(conn, "counter:OpportunityLineItem", str(counter))
            line_id = make_id(line_object.key_prefix, counter)
            row = {**dict(zip(fields, values, strict=True)), "Id": line_id, "OpportunityId": opportunity_id,
                   "IsDeleted": 0, "CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp,
                   "CreatedById": integration_user, "LastModifiedById": integration_user}
            product = conn.execute('SELECT "ProductCode", "Name" FROM "Product2" WHERE "Id" = ?',
                                   (row.get("Product2Id"),)).fetchone()
            if product:
                row["ProductCode"], row["Name"] = product[0], product[1]
            names = [name for name in row if name in columns]
            conn.execute(f'INSERT INTO "OpportunityLineItem" ({", ".join(map(quote, names))}) '
                         f'VALUES ({", ".join("?" * len(names))})', [row[name] for name in names])
            conn.execute('UPDATE "QuoteLineItem" SET "OpportunityLineItemId" = ? WHERE "Id" = ?',
                         (line_id, quote_line_id))
        self._touch_opportunity(conn, opportunity_id)

    @staticmethod
    def _has_currency(conn: sqlite3.Connection) -> bool:
        """Whether this org is multi-currency (its Quote table has the column)."""
        return any(row[1] == "CurrencyIsoCode" for row in conn.execute('PRAGMA table_info("Quote")'))

    def _sync_quotes(self, conn: sqlite3.Connection, opportunity_id: str, synced: str | None) -> None:
        """`IsSyncing` follows the opportunity's `SyncedQuoteId`; a quote whose flag changes is modified."""
        stamp = self.next_modstamp(conn, OBJECTS["Quote"])
        conn.execute('UPDATE "Quote" SET "IsSyncing" = ("Id" IS ?), "LastModifiedDate" = ?, "SystemModstamp" = ? '
                     'WHERE "OpportunityId" = ? AND "IsSyncing" != ("Id" IS ?)',
                     (synced, stamp, stamp, opportunity_id, synced))
        self._sync_opportunity_lines(conn, synced)

    def _check_unique(self, conn: sqlite3.Connection, obj: SObject, row: dict[str, Any],
                      record_id: str | None = None) -> None:
        """A unique field (an external id such as NetSuite_Id__c) holds each value on one record only."""
        for name, value in row.items():
            field = obj.get(name)
            if field is None or not field.unique or value is None:
                continue
            found = conn.execute(f'SELECT "Id" FROM {quote(obj.name)} WHERE {quote(field.name)} = ? AND "Id" IS NOT ?',
                                 (value, record_id)).fetchone()
            if found:
                raise ApiError(400, "DUPLICATE_VALUE",
                               f"duplicate value found: {field.name} duplicates value on record with id: {found[0]}",
                               [field.name])

    def create(self, obj: SObject, values: dict[str, Any], control: dict[str, Any]) -> str:
        with self.write() as conn:
            return self.create_in(conn, obj, values, control, control.get("modified_by"))

    def create_in(self, conn: sqlite3.Connection, obj: SObject, values: dict[str, Any], control: dict[str, Any],
                  user_id: str | None = None) -> str:
        """Insert one record inside the caller's write transaction; `user_id` (default: the integration user)
        becomes CreatedById and LastModifiedById."""
        row = self._coerce(obj, values)
        missing = [f.name for f in obj.fields if not f.nillable and not f.system and f.stored
                   and f.type != "boolean" and f.name != "OwnerId" and row.get(f.name) in (None, "")]
        if missing:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                           missing)
        self._check_references(conn, obj, row)
        self._check_unique(conn, obj, row)
        counter = int(self.meta(f"counter:{obj.name}") or 0) + 1
        self.set_meta(conn, f"counter:{obj.name}", str(counter))
        record_id = make_id(obj.key_prefix, counter)
        stamp = self._control_stamp(control) or self.next_modstamp(conn, obj)
        integration_user = user_id or make_id("005", 1)
        base: dict[str, Any] = {f.name: 0 for f in obj.stored_fields if f.type == "boolean"}
        base.update({"Id": record_id, "IsDeleted": 0, "CreatedDate": stamp, "LastModifiedDate": stamp,
                     "SystemModstamp": stamp, "CreatedById": integration_user,
                     "LastModifiedById": integration_user})
        if obj.get("OwnerId"):
            base["OwnerId"] = integration_user
        if obj.name == "Invoice__c":
            base["Name"] = f"INV-{counter:06d}"
        if obj.name == "Quote":
            base["QuoteNumber"] = f"{counter:08d}"
            base.update(Subtotal=0.0, TotalPrice=0.0, GrandTotal=float(row.get("Tax") or 0)
                        + float(row.get("ShippingHandling") or 0), LineItemCount=0)
        base.update(row)
        self._derive(conn, obj, base)
        names = [f.name for f in obj.stored_fields if f.name in base]
        if not obj.has_is_deleted:
            names.append("IsDeleted")
        conn.execute(f"INSERT INTO {quote(obj.name)} ({', '.join(map(quote, names))}) "
                     f"VALUES ({', '.join('?' * len(names))})", [base[n] for n in names])
        if obj.name == "OpportunityLineItem":
            self._touch_opportunity(conn, base.get("OpportunityId"))
        if obj.name == "QuoteLineItem":
            self._touch_quote(conn, base.get("QuoteId"))
            self._sync_opportunity_lines(conn, base.get("QuoteId"))
        return record_id

    def _existing(self, conn: sqlite3.Connection, obj: SObject, record_id: str) -> dict[str, Any]:
        cursor = conn.execute(f'SELECT * FROM {quote(obj.name)} WHERE "Id" = ?', (record_id,))
        found = cursor.fetchone()
        if found is None:
            raise not_found()
        return dict(zip([d[0] for d in cursor.description], found, strict=False))

    def update(self, obj: SObject, record_id: str, values: dict[str, Any], control: dict[str, Any]) -> None:
        with self.write() as conn:
            self.update_in(conn, obj, record_id, values, control, control.get("modified_by"))

    def update_in(self, conn: sqlite3.Connection, obj: SObject, record_id: str, values: dict[str, Any],
                  control: dict[str, Any], user_id: str | None = None) -> None:
        """Update one record inside the caller's write transaction; `user_id` (default: the integration user)
        becomes LastModifiedById; SystemModstamp and LastModifiedDate move to the commit second."""
        current = self._existing(conn, obj, record_id)
        if current["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        row = self._coerce(obj, values)
        self._check_references(conn, obj, row)
        self._check_unique(conn, obj, row, record_id)
        merged = {**current, **row}
        self._derive(conn, obj, merged)
        row.update({k: merged[k] for k in ("Name", "IsClosed", "IsWon", "TotalPrice", "Subtotal", "Product2Id")
                    if k in merged
                    and obj.get(k) is not None and merged[k] != current.get(k)})
        stamp = self._control_stamp(control) or self.next_modstamp(conn, obj)
        row.update({"LastModifiedDate": stamp, "SystemModstamp": stamp,
                    "LastModifiedById": user_id or make_id("005", 1)})
        assignments = ", ".join(f"{quote(name)} = ?" for name in row)
        conn.execute(f'UPDATE {quote(obj.name)} SET {assignments} WHERE "Id" = ?', [*row.values(), record_id])
        if obj.name == "OpportunityLineItem":
            self._touch_opportunity(conn, merged.get("OpportunityId"))
        if obj.name == "QuoteLineItem":
            self._touch_quote(conn, merged.get("QuoteId"))
            self._sync_opportunity_lines(conn, merged.get("QuoteId"))
        if obj.name == "Quote" and ({"Tax", "ShippingHandling"} & row.keys()):
            self._touch_quote(conn, record_id)
        if obj.name == "Opportunity" and "SyncedQuoteId" in row:
            self._sync_quotes(conn, record_id, row["SyncedQuoteId"])

    def set_deleted(self, obj: SObject, record_id: str, deleted: bool) -> None:
        """Move a record into (delete) or out of (undelete) the recycle bin, with cascades like the platform."""
        with self.write() as conn:
            current = self._existing(conn, obj, record_id)
            if deleted and current["IsDeleted"]:
                raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            if not deleted and not current["IsDeleted"]:
                raise ApiError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin", [])
            stamp = self.next_modstamp(conn, obj)
            conn.execute(f'UPDATE {quote(obj.name)} SET "IsDeleted" = ?, "SystemModstamp" = ?, '
                         f'"LastModifiedDate" = ? WHERE "Id" = ?', (int(deleted), stamp, stamp, record_id))
            if obj.name == "Opportunity":
                line_stamp = self.next_modstamp(conn, OBJECTS["OpportunityLineItem"])
                conn.execute('UPDATE "OpportunityLineItem" SET "IsDeleted" = ?, "SystemModstamp" = ? '
                             'WHERE "OpportunityId" = ? AND "IsDeleted" = ?',
                             (int(deleted), line_stamp, record_id, int(not deleted)))
            if obj.name == "OpportunityLineItem":
                self._touch_opportunity(conn, current.get("OpportunityId"))
            if obj.name == "Quote":
                line_stamp = self.next_modstamp(conn, OBJECTS["QuoteLineItem"])
                conn.execute('UPDATE "QuoteLineItem" SET "IsDeleted" = ?, "SystemModstamp" = ? '
                             'WHERE "QuoteId" = ? AND "IsDeleted" = ?',
                             (int(deleted), line_stamp, record_id, int(not deleted)))
            if obj.name == "QuoteLineItem":
                self._touch_quote(conn, current.get("QuoteId"))
                self._sync_opportunity_lines(conn, current.get("QuoteId"))

    def purge(self, obj: SObject, record_id: str) -> None:
        """Hard delete: the record leaves the recycle bin too, so not even queryAll returns it any more."""
        with self.write() as conn:
            self._existing(conn, obj, record_id)
            conn.execute(f'DELETE FROM {quote(obj.name)} WHERE "Id" = ?', (record_id,))
            if obj.name == "Opportunity":
                conn.execute('DELETE FROM "OpportunityLineItem" WHERE "OpportunityId" = ?', (record_id,))
            if obj.name == "Quote":
                conn.execute('DELETE FROM "QuoteLineItem" WHERE "QuoteId" = ?', (record_id,))

    def list_records(self, obj: SObject, limit: int | None, offset: int) -> Iterator[dict[str, Any]]:
        cursor = self.conn().execute(f"SELECT * FROM {quote(obj.name)} ORDER BY rid LIMIT ? OFFSET ?",
                                     (limit if limit is not None else -1, offset))
        names = [d[0] for d in cursor.description]
        for found in cursor:
            yield dict(zip(names, found, strict=False))

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        for obj in OBJECTS.values():
            total, deleted = self.conn().execute(
                f'SELECT COUNT(*), COALESCE(SUM("IsDeleted"), 0) FROM {quote(obj.name)}').fetchone()
            out[obj.name] = {"total": total, "deleted": deleted}
        return out


def resolve_object(name: str) -> SObject:
    obj = sobject(name)
    if obj is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return obj
