"""Writes through the real API: sObject Collections (create, update, upsert by external id) and Bulk API 2.0 ingest
jobs (insert, update, upsert), validated as Salesforce validates them.

What the real API does, and so does this module (Salesforce's REST and Bulk 2.0 guides; `shared/wire-samples`):
- Collections: at most 200 records a request (`EXCEEDED_ID_LIMIT`), at least one (`REQUIRED_FIELD_MISSING`); every
  record carries `attributes.type`. A field the object lacks, or a value of the wrong JSON type, fails the *whole
  request* (400 `INVALID_FIELD` "No such column ...", `JSON_PARSER_ERROR`): the body is parsed before any save.
  Everything else is a per-record SaveResult `{id, success, errors: [{statusCode, message, fields}]}` in request
  order (upserts add `created`): read-only fields (`INVALID_FIELD_FOR_INSERT_UPDATE`), required fields
  (`REQUIRED_FIELD_MISSING`), lengths (`STRING_TOO_LONG`), unique fields (`DUPLICATE_VALUE`), an external id twice in
  one upsert (`DUPLICATE_EXTERNAL_ID`), a validation rule (`FIELD_CUSTOM_VALIDATION_EXCEPTION`), a locked row
  (`UNABLE_TO_LOCK_ROW`). `allOrNone: true` rolls every record back when one fails: the others answer
  `ALL_OR_NONE_OPERATION_ROLLED_BACK` and nothing is written.
- Bulk 2.0 ingest: `POST /jobs/ingest` (state Open, `contentUrl`), one CSV upload (`PUT .../batches`, 201), then
  `PATCH {"state": "UploadComplete"}`. The rows are saved at that moment, each on its own (no allOrNone), whether
  or not the client ever polls again: a client killed after the upload finds its rows written. A CSV header naming
  a field the object lacks fails the job (`Failed`, "InvalidBatch : Field name not found : X"). Polls walk
  UploadComplete → InProgress → JobComplete (`bulk_polls_per_state`); `successfulResults/` (`sf__Id`,
  `sf__Created`) and `failedResults/` (`sf__Id`, `sf__Error` as `CODE:message --`) list the rows with the values
  uploaded, in an order unlike the upload's (the real results are unordered too). An empty cell leaves a field
  unchanged; `#N/A` sets it to null.
- Every save stamps SystemModstamp and LastModifiedDate with the commit second and LastModifiedById with the
  integration user (the user the token belongs to), so the tap reads the write back like any change.

The admin knobs `validation_rules` and `locked_records` (knobs.py) make a rule fire or a row stay locked.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from typing import Any

from sandbox.salesforce.bulk import BulkError
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.knobs import Realism
from sandbox.salesforce.schema import SObject, sobject
from sandbox.salesforce.store import Store, quote
from sandbox.salesforce.values import FieldValueError, format_datetime, from_input, make_id, now_ms, random_token

MAX_COLLECTION = 200
BULK_NULL = "#N/A"
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request was using AllOrNone "
                          "header", "fields": []}
_INGEST_TABLE = """
CREATE TABLE IF NOT EXISTS ingest_jobs (id TEXT PRIMARY KEY, info TEXT NOT NULL, csv TEXT,
    results TEXT, polls INTEGER NOT NULL DEFAULT 0)
"""
_OPERATIONS = ("insert", "update", "upsert")


class _RollBack(Exception):  # noqa: N818 - internal signal: undo the whole allOrNone request
    pass


class RecordError(Exception):
    """One record's SaveResult error."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.entry = {"statusCode": code, "message": message, "fields": fields or []}


def _writable_object(name: Any) -> SObject:
    obj = sobject(str(name)) if name else None
    if obj is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj


class Writes:
    """The DML of one org: record saves with the admin's rule and lock knobs applied, and ingest jobs."""

    def __init__(self, store: Store, realism: Realism) -> None:
        self.store = store
        self.realism = realism
        self.user_id = make_id("005", 1)  # the integration user, whose token every write carries
        self.store.conn().executescript(_INGEST_TABLE)

    # -- one record --------------------------------------------------------------------------------------------
    def _rules_and_locks(self, obj: SObject, key: str | None, values: dict[str, Any]) -> None:
        if key and self.realism.take_lock(key):
            raise RecordError("UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: "
                                                    f"{key}")
        for rule in self.realism.knobs.validation_rules:
            if rule.get("object", obj.name).lower() != obj.name.lower():
                continue
            field = str(rule["field"])
            value = next((v for k, v in values.items() if k.lower() == field.lower()), None)
            if value is not None and ("equals" not in rule or str(value) == str(rule["equals"])):
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", str(rule.get("message", "Validation failed")),
                                  [])

    def save(self, conn: sqlite3.Connection, obj: SObject, values: dict[str, Any], *, record_id: str | None = None,
             external_field: str | None = None) -> tuple[str, bool]:
        """Create (no `record_id`, no `external_field`), update by Id, or upsert by `external_field`, inside a
        savepoint: `(Id, created)`, or RecordError with nothing of this record written."""
        key = record_id
        if external_field is not None:
            key = values.get(external_field)
            if key in (None, ""):
                raise RecordError("MISSING_ARGUMENT", f"{external_field} not specified", [external_field])
            found = conn.execute(f'SELECT "Id" FROM {quote(obj.name)} WHERE {quote(external_field)} = ? '
                                 'AND "IsDeleted" = 0', (str(key),)).fetchone()
            record_id = found[0] if found else None
            key = record_id or str(key)
        self._rules_and_locks(obj, key, values)
        conn.execute("SAVEPOINT record")
        try:
            if record_id is None:
                new_id = self.store.create_in(conn, obj, values, {}, user_id=self.user_id)
                created = True
            else:
                self.store.update_in(conn, obj, record_id, values, {}, user_id=self.user_id)
                new_id, created = record_id, False
        except ApiError as exc:
            conn.execute("ROLLBACK TO record")
            conn.execute("RELEASE record")
            if exc.code == "NOT_FOUND":
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []) from None
            raise RecordError(exc.code, exc.message, list(exc.fields or [])) from None
        conn.execute("RELEASE record")
        return new_id, created

    # -- sObject Collections -----------------------------------------------------------------------------------
    def collection(self, method: str, body: Any, object_name: str | None = None,
                   external_field: str | None = None) -> list[dict[str, Any]]:
        """POST (create), PATCH (update by Id) or PATCH `/{object}/{field}` (upsert): the SaveResults."""
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must hold a `records` list")
        records: list[Any] = body["records"]
        if not records:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "At least 1 record is required")
        if len(records) > MAX_COLLECTION:
            raise ApiError(400, "EXCEEDED_ID_LIMIT",
                           f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call")
        fixed = _writable_object(object_name) if object_name else None
        if fixed is not None and external_field is not None:
            field = fixed.get(external_field)
            if field is None or not (field.external_id or field.name == "Id"):
                raise ApiError(400, "INVALID_FIELD", f"Field name provided, {external_field} is not an External ID "
                                                     f"or indexed field for {fixed.name}")
            external_field = field.name
        parsed = [self._parse_record(record, fixed) for record in records]
        results: list[dict[str, Any]] = []
        all_or_none = bool(body.get("allOrNone", False))
        try:
            with self.store.write() as conn:
                duplicates = self._duplicate_keys(parsed, external_field)
                for obj, values in parsed:
                    results.append(self._one(conn, method, obj, values, external_field, duplicates))
                if all_or_none and not all(r["success"] for r in results):
                    raise _RollBack
        except _RollBack:
            return [r if not r["success"] else {"success": False, "errors": [dict(ROLLED_BACK)]} for r in results]
        return results

    def _one(self, conn: sqlite3.Connection, method: str, obj: SObject, values: dict[str, Any],
             external_field: str | None, duplicates: set[str]) -> dict[str, Any]:
        try:
            if external_field is not None:
                if str(values.get(external_field)) in duplicates:
                    raise RecordError("DUPLICATE_EXTERNAL_ID",
                                      f"Duplicate external id specified: {values.get(external_field)}",
                                      [external_field])
                new_id, created = self.save(conn, obj, values, external_field=external_field)
                return {"id": new_id, "success": True, "errors": [], "created": created}
            record_id = values.pop("Id", None)
            if method == "POST":
                if record_id:
                    raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                new_id, _ = self.save(conn, obj, values)
            else:
                if not record_id:
                    raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
                if not str(record_id).startswith(obj.key_prefix) or len(str(record_id)) not in (15, 18):
                    raise RecordError("MALFORMED_ID", f"malformed id {record_id}", [])
                new_id, _ = self.save(conn, obj, values, record_id=str(record_id))
            return {"id": new_id, "success": True, "errors": []}
        except RecordError as exc:
            return {"success": False, "errors": [exc.entry]}

    @staticmethod
    def _duplicate_keys(parsed: list[tuple[SObject, dict[str, Any]]], external_field: str | None) -> set[str]:
        if external_field is None:
            return set()
        seen: dict[str, int] = {}
        for _, values in parsed:
            key = str(values.get(external_field))
            seen[key] = seen.get(key, 0) + 1
        return {key for key, count in seen.items() if count > 1}

    @staticmethod
    def _parse_record(record: Any, fixed: SObject | None) -> tuple[SObject, dict[str, Any]]:
        """The JSON parse of one record: its type, known fields, values of the right JSON type (else the whole
        request fails, as Salesforce's deserializer does)."""
        if not isinstance(record, dict) or not isinstance(record.get("attributes"), dict):
            raise ApiError(400, "INVALID_TYPE", "Must specify a type in the attributes of each record")
        obj = _writable_object(record["attributes"].get("type"))
        if fixed is not None and obj.name != fixed.name:
            raise ApiError(400, "INVALID_TYPE", f"Record of type {obj.name} in a collection of {fixed.name}")
        values: dict[str, Any] = {}
        for name, value in record.items():
            if name == "attributes":
                continue
            field = obj.get(name)
            if field is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
            if value is not None and field.type not in ("id",):
                try:
                    from_input(field, value)
                except FieldValueError as exc:
                    if "too large" not in str(exc):
                        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {field.type} from "
                                                                 f"value {str(value)[:40]}: {field.name}") from None
            values[field.name] = value
        return obj, values

    # -- Bulk API 2.0 ingest -----------------------------------------------------------------------------------
    def create_job(self, body: Any, version: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BulkError(400, "INVALIDJOB", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in _OPERATIONS:
            raise BulkError(400, "INVALIDJOB", f"Operation {operation} is not supported for ingest jobs")
        obj = sobject(str(body.get("object") or ""))
        if obj is None:
            raise BulkError(400, "INVALIDJOB", f"Unable to find object: {body.get('object')}")
        if body.get("contentType", "CSV") != "CSV":
            raise BulkError(400, "INVALIDJOB", "Only CSV content type is supported")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            field = obj.get(str(external or ""))
            if field is None or not (field.external_id or field.name == "Id"):
                raise BulkError(400, "INVALIDJOB", f"External ID field {external} is not an External ID field of "
                                                   f"{obj.name}")
            external = field.name
        stamp = format_datetime(now_ms() // 1000 * 1000)
        info: dict[str, Any] = {
            "id": "750" + "5g0" + random_token(9) + "AAI", "operation": operation, "object": obj.name,
            "createdById": self.user_id, "createdDate": stamp, "systemModstamp": stamp, "state": "Open",
        }
        if operation == "upsert":
            info["externalIdFieldName"] = external
        info.update({"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(version),
                     "contentUrl": f"services/data/v{version}/jobs/ingest/{info['id']}/batches",
                     "lineEnding": body.get("lineEnding", "LF"),
                     "columnDelimiter": body.get("columnDelimiter", "COMMA")})
        with self.store.write() as conn:
            conn.execute("INSERT INTO ingest_jobs (id, info) VALUES (?, ?)", (info["id"], json.dumps(info)))
        return info

    def _job(self, job_id: str) -> tuple[dict[str, Any], str | None, list[dict[str, Any]] | None, int]:
        row = self.store.conn().execute("SELECT info, csv, results, polls FROM ingest_jobs WHERE id = ?",
                                        (job_id,)).fetchone()
        if row is None:
            raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")
        return json.loads(row[0]), row[1], json.loads(row[2]) if row[2] else None, int(row[3])

    def upload(self, job_id: str, content: bytes) -> None:
        info, uploaded, _, _ = self._job(job_id)
        if info["state"] != "Open" or uploaded is not None:
            raise BulkError(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for uploads (state {info['state']})")
        with self.store.write() as conn:
            conn.execute("UPDATE ingest_jobs SET csv = ? WHERE id = ?", (content.decode("utf-8"), job_id))

    def change_state(self, job_id: str, body: Any) -> dict[str, Any]:
        info, uploaded, _, _ = self._job(job_id)
        wanted = body.get("state") if isinstance(body, dict) else None
        if wanted == "Aborted" and info["state"] in ("Open", "UploadComplete", "InProgress"):
            info["state"] = "Aborted"
            self._save_info(info)
            return self._closed_view(info)
        if wanted != "UploadComplete" or info["state"] != "Open":
            raise BulkError(409, "INVALIDJOBSTATE", f"Cannot set state {wanted} on a job in state {info['state']}")
        info["state"] = "UploadComplete"
        results = self._process(info, uploaded or "")
        view = self._closed_view(info)
        with self.store.write() as conn:
            conn.execute("UPDATE ingest_jobs SET info = ?, results = ?, polls = 0 WHERE id = ?",
                         (json.dumps(info), json.dumps(results), job_id))
        return view

    @staticmethod
    def _closed_view(info: dict[str, Any]) -> dict[str, Any]:
        """The close answer stops at apiVersion (wire sample)."""
        keys = [k for k in info if not k.startswith("_")]
        return {k: info[k] for k in keys[: keys.index("apiVersion") + 1]}

    def _save_info(self, info: dict[str, Any]) -> None:
        with self.store.write() as conn:
            conn.execute("UPDATE ingest_jobs SET info = ? WHERE id = ?", (json.dumps(info), info["id"]))

    def _process(self, info: dict[str, Any], content: str) -> list[dict[str, Any]]:
        """Save every row now; `info` gains the counts (or Failed with its errorMessage)."""
        obj = sobject(info["object"])
        assert obj is not None
        rows = list(csv.reader(io.StringIO(content)))
        header, data = (rows[0], rows[1:]) if rows else ([], [])
        unknown = next((name for name in header if obj.get(name) is None), None)
        if unknown is not None or not header:
            info["errorMessage"] = f"InvalidBatch : Field name not found : {unknown}" if header else \
                "InvalidBatch : Empty CSV"
            info["_final"] = "Failed"
            return []
        names = [t.name for name in header if (t := obj.get(name)) is not None]
        results: list[dict[str, Any]] = []
        with self.store.write() as conn:
            for cells in data:
                values = {name: (None if cell == BULK_NULL else cell) for name, cell in zip(names, cells, strict=False)
                          if cell != ""}
                results.append(self._ingest_row(conn, info, obj, values, cells))
        failed = sum(1 for r in results if r["error"])
        info["_final"] = "JobComplete"
        info["_counts"] = [len(results), failed]
        return results

    def _ingest_row(self, conn: sqlite3.Connection, info: dict[str, Any], obj: SObject, values: dict[str, Any],
                    cells: list[str]) -> dict[str, Any]:
        operation = info["operation"]
        try:
            for position, (name, value) in enumerate(values.items(), start=1):
                field = obj.get(name)
                if field is not None and value is not None and field.type != "id":
                    try:
                        from_input(field, value)
                    except FieldValueError as exc:
                        if "too large" not in str(exc):
                            raise RecordError("INVALID_FIELD", f"Failed to deserialize field at col {position}. "
                                                               f"Due to, {exc}:{field.name}", [field.name]) from None
            if operation == "upsert":
                new_id, created = self.save(conn, obj, values, external_field=info["externalIdFieldName"])
            elif operation == "update":
                record_id = values.pop("Id", None)
                if not record_id:
                    raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
                new_id, created = self.save(conn, obj, values, record_id=str(record_id))
            else:
                new_id, created = self.save(conn, obj, values)
            return {"id": new_id, "created": created, "error": None, "cells": cells}
        except RecordError as exc:
            entry = exc.entry
            return {"id": "", "created": False, "error": f"{entry['statusCode']}:{entry['message']} --",
                    "cells": cells}

    def info(self, job_id: str) -> dict[str, Any]:
        """Job info; each poll after the close moves the job on (`bulk_polls_per_state` polls a state)."""
        info, _, _, polls = self._job(job_id)
        final = info.get("_final")
        if info["state"] in ("UploadComplete", "InProgress") and final:
            per_state = max(1, self.realism.knobs.bulk_polls_per_state)
            steps = ["UploadComplete", "InProgress", final]
            info["state"] = steps[min(len(steps) - 1, (polls + 1) // per_state)]
            with self.store.write() as conn:
                conn.execute("UPDATE ingest_jobs SET polls = polls + 1, info = ? WHERE id = ?",
                             (json.dumps(info), job_id))
        counts = info.get("_counts", [0, 0])
        view = {k: v for k, v in info.items()
                if k not in ("contentUrl", "errorMessage", "lineEnding", "columnDelimiter", "_final", "_counts")}
        view.update({"jobType": "V2Ingest", "lineEnding": info["lineEnding"],
                     "columnDelimiter": info["columnDelimiter"],
                     "numberRecordsProcessed": counts[0] if info["state"] in ("InProgress", "JobComplete") else 0,
                     "numberRecordsFailed": counts[1] if info["state"] == "JobComplete" else 0,
                     "retries": 0, "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0})
        if info["state"] == "Failed":
            view["errorMessage"] = info.get("errorMessage", "")
        return view

    def results(self, job_id: str, kind: str) -> str:
        """`successfulResults` or `failedResults` as CSV (only once the job is complete), newest row first."""
        info, uploaded, results, _ = self._job(job_id)
        if info["state"] != "JobComplete" or results is None:
            raise BulkError(400, "INVALIDJOBSTATE", f"Job {job_id} is not complete")
        header = next(csv.reader(io.StringIO(uploaded or "")), [])
        out = io.StringIO()
        out.write(('"sf__Id","sf__Created",' if kind == "successfulResults" else '"sf__Id","sf__Error",')
                  + ",".join(header) + "\n")
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in reversed(results):
            if kind == "successfulResults" and not row["error"]:
                writer.writerow([row["id"], "true" if row["created"] else "false", *row["cells"]])
            elif kind == "failedResults" and row["error"]:
                writer.writerow([row["id"], row["error"], *row["cells"]])
        return out.getvalue()
