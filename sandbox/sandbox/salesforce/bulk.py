"""Bulk API 2.0 query jobs: create, poll through the real states, page CSV results, abort, delete.

A job moves one state per `bulk_polls_per_state` polls (UploadComplete → InProgress → JobComplete, or Failed
when `bulk_fail_message` is set), so clients exercise their polling loops deterministically. At completion the
matching rowids are stored once; results pages read slices of them. Without an ORDER BY the rows come back
scrambled (not in SystemModstamp or Id order), as real parallel Bulk jobs return them.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

from sandbox.salesforce import scale
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.knobs import Realism
from sandbox.salesforce.query import Compiled, compile_query
from sandbox.salesforce.store import Store, quote
from sandbox.salesforce.values import format_datetime, make_id, now_ms, random_token, to_csv

_STATE_LABELS = {"UploadComplete": "UPLOAD_COMPLETE", "InProgress": "IN_PROGRESS", "Aborted": "ABORTED",
                 "Failed": "FAILED", "JobComplete": "JOB_COMPLETE"}


class BulkError(ApiError):
    """Bulk 2.0 writes its error entries errorCode first: `[{"errorCode", "message"}]`."""

    def body(self) -> list[dict[str, Any]]:
        return [{"errorCode": self.code, "message": self.message}]


def encode_locator(offset: int) -> str:
    return base64.b64encode(f"0:{offset}".encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    try:
        padded = locator + "=" * (-len(locator) % 4)
        return int(base64.b64decode(padded).decode().split(":", 1)[1])
    except (ValueError, IndexError, UnicodeDecodeError):
        raise BulkError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None


class BulkJobs:
    """Query jobs kept in SQLite so they survive a restart like real ones (for a while)."""

    def __init__(self, store: Store, realism: Realism) -> None:
        self.store = store
        self.realism = realism

    def _compile(self, soql: str, operation: str) -> Compiled:
        try:
            compiled = compile_query(soql, operation == "queryAll")
        except ApiError as exc:
            raise BulkError(exc.status, exc.code, exc.message) from None
        if compiled.count_only:
            raise BulkError(400, "INVALIDJOB", "COUNT() is not supported in Bulk API 2.0 queries")
        if compiled.children:
            raise BulkError(400, "INVALIDJOB", "Nested queries are not supported in Bulk API 2.0 queries")
        for _, target, _ in compiled.paths:
            if target.is_compound:
                raise BulkError(400, "FUNCTIONALITY_NOT_ENABLED", "Selecting compound data not supported in Bulk Query")
            if target.type == "base64":
                raise BulkError(400, "INVALIDJOB", f"Field {target.name} of type base64 is not supported in Bulk Query")
        return compiled

    def create(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise BulkError(400, "INVALIDJOB", f"Operation {operation} is not supported for query jobs")
        soql = body.get("query")
        if not isinstance(soql, str) or not soql.strip():
            raise BulkError(400, "INVALIDJOB", "Query is required")
        if body.get("contentType", "CSV") != "CSV":
            raise BulkError(400, "INVALIDJOB", "Only CSV content type is supported")
        compiled = self._compile(soql, operation)
        stamp = format_datetime(now_ms() // 1000 * 1000)
        info = {
            "id": "750" + "5g0" + random_token(9) + "AAG",
            "operation": operation,
            "object": compiled.obj.name,
            "createdById": make_id("005", 1),
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": "UploadComplete",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
        }
        fail_message = self.realism.knobs.bulk_fail_message
        if fail_message:
            self.realism.update({"bulk_fail_message": None})
        with self.store.write() as conn:
            conn.execute("INSERT INTO bulk_jobs (id, info, soql, polls) VALUES (?, ?, ?, 0)",
                         (info["id"], json.dumps({**info, "_fail": fail_message}), soql))
        return info

    def _load(self, job_id: str) -> tuple[dict[str, Any], str, int, int | None, int | None]:
        found = self.store.conn().execute("SELECT info, soql, polls, first_seq, total FROM bulk_jobs WHERE id = ?",
                                          (job_id,)).fetchone()
        if found is None:
            raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")
        return json.loads(found[0]), found[1], found[2], found[3], found[4]

    @staticmethod
    def _public(info: dict[str, Any], total: int | None) -> dict[str, Any]:
        """Job info as polled: the create keys plus jobType and the processing counters, in the real order."""
        out = {key: info[key] for key in ("id", "operation", "object", "createdById", "createdDate", "systemModstamp",
                                          "state", "concurrencyMode", "contentType", "apiVersion")}
        out.update({"jobType": "V2Query", "lineEnding": info["lineEnding"], "columnDelimiter": info["columnDelimiter"],
                    "numberRecordsProcessed": total or 0, "retries": 0,
                    "totalProcessingTime": 120 if info["state"] == "JobComplete" else 0,
                    "isPkChunkingSupported": True})
        if info["state"] == "Failed":
            out["errorMessage"] = info.get("_fail")
        return out

    def peek(self, job_id: str) -> dict[str, Any]:
        """Job info without counting a poll (Bulk 1.0 batch lists)."""
        info, _, _, _, total = self._load(job_id)
        return self._public(info, total)

    def info(self, job_id: str) -> dict[str, Any]:
        """Job info; each poll may advance the job one state."""
        info, soql, polls, first_seq, total = self._load(job_id)
        state = info["state"]
        if state in ("UploadComplete", "InProgress"):
            polls += 1
            step = max(int(self.realism.knobs.bulk_polls_per_state), 1)
            if state == "UploadComplete" and polls >= step:
                state = "InProgress"
            elif state == "InProgress" and polls >= 2 * step:
                state = "Failed" if info.get("_fail") else "JobComplete"
            info["state"] = state
            info["systemModstamp"] = format_datetime(now_ms() // 1000 * 1000)
            with self.store.write() as conn:
                if state == "JobComplete":
                    first_seq, total = self._materialise(conn, job_id, soql, info["operation"])
                    timeout = scale.bulk_timeout_message(self.realism.knobs, total)
                    if timeout:  # too many rows for the knob: the job fails as a slow one does
                        conn.execute("DELETE FROM bulk_rows WHERE job_id = ?", (job_id,))
                        info.update(state="Failed", _fail=timeout)
                        first_seq, total = None, None
                conn.execute("UPDATE bulk_jobs SET info = ?, polls = ?, first_seq = ?, total = ? WHERE id = ?",
                             (json.dumps(info), polls, first_seq, total, job_id))
        return self._public(info, total)

    def _materialise(self, conn: Any, job_id: str, soql: str, operation: str) -> tuple[int, int]:
        compiled = self._compile(soql, operation)
        sql = f"SELECT t0.rid {compiled.from_sql()} WHERE {compiled.where}"
        params = list(compiled.params)
        # Parallel chunks finish in any order: scramble unless the query asked for an order.
        sql += f" ORDER BY {compiled.order}" if compiled.order else " ORDER BY (t0.rid * 2654435761) % 4294967296"
        if compiled.limit is not None or compiled.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [compiled.limit if compiled.limit is not None else -1, compiled.offset]
        cursor = conn.execute(f"INSERT INTO bulk_rows (job_id, rid) SELECT ?, rid FROM ({sql})", [job_id, *params])
        total = cursor.rowcount
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        return (last - total + 1 if total else 0), total

    def list_jobs(self) -> dict[str, Any]:
        rows = self.store.conn().execute("SELECT info, total FROM bulk_jobs ORDER BY rowid").fetchall()
        return {"done": True, "records": [self._public(json.loads(info), total) for info, total in rows],
                "nextRecordsUrl": None}

    def abort(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        info, _, _, _, total = self._load(job_id)
        if body.get("state") != "Aborted":
            raise BulkError(400, "INVALIDJOBSTATE", f"Invalid state: {body.get('state')}")
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            raise BulkError(400, "INVALIDJOBSTATE", f"Job is already {info['state']}")
        info["state"] = "Aborted"
        with self.store.write() as conn:
            conn.execute("UPDATE bulk_jobs SET info = ? WHERE id = ?", (json.dumps(info), job_id))
        return self._public(info, total)

    def delete(self, job_id: str) -> None:
        info, _, _, first_seq, total = self._load(job_id)
        if info["state"] in ("UploadComplete", "InProgress"):
            raise BulkError(400, "INVALIDJOBSTATE", "Job must be completed or aborted before it can be deleted")
        with self.store.write() as conn:
            if first_seq is not None and total:
                conn.execute("DELETE FROM bulk_rows WHERE seq >= ? AND seq < ?", (first_seq, first_seq + total))
            conn.execute("DELETE FROM bulk_jobs WHERE id = ?", (job_id,))

    def results(self, job_id: str, locator: str | None, max_records: str | None) -> tuple[bytes, int, str]:
        """(CSV body, number of records, next locator or "null") for one results page."""
        info, soql, _, first_seq, total = self._load(job_id)
        if info["state"] != "JobComplete" or first_seq is None or total is None:
            raise BulkError(412, "JOB_NOT_COMPLETE",
                            "can only download query results of successfully completed bulk job with status: "
                            f"JOB_COMPLETE. Current status: {_STATE_LABELS.get(info['state'], info['state'])}")
        offset = decode_locator(locator) if locator else 0
        try:
            size = int(max_records) if max_records else int(self.realism.knobs.bulk_max_records)
        except ValueError:
            raise BulkError(400, "INVALIDPARAMETER", f"Invalid maxRecords: {max_records}") from None
        if size <= 0:
            raise BulkError(400, "INVALIDPARAMETER", f"Invalid maxRecords: {max_records}")
        count = max(0, min(size, total - offset))
        next_locator = encode_locator(offset + count) if offset + count < total else "null"
        compiled = self._compile(soql, info["operation"])
        return self._csv(compiled, first_seq + offset, count), count, next_locator

    def _csv(self, compiled: Compiled, start: int, count: int) -> bytes:
        """RFC 4180 CSV, every value quoted (values may hold commas, quotes and newlines), LF line endings."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow([header for header, _, _ in compiled.paths])
        sql = (f"SELECT {', '.join(compiled.columns)} FROM bulk_rows AS c JOIN {quote(compiled.obj.name)} AS t0 "
               f"ON t0.rid = c.rid {' '.join(compiled.joins)} WHERE c.seq >= ? AND c.seq < ? ORDER BY c.seq")
        for row in self.store.conn().execute(sql, (start, start + count)):
            writer.writerow([to_csv(target, row[index]) for _, target, index in compiled.paths])
        return buffer.getvalue().encode("utf-8")
