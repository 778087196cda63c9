"""Bulk API 1.0 query jobs (`/services/async/vXX.X/job...`), as older clients (singer-io tap-salesforce) use them.

A 1.0 job holds batches; each query batch is run by the Bulk 2.0 engine (`BulkJobs`): the batch is a 2.0 query
job underneath, so both APIs see the same data, pacing (`bulk_polls_per_state`) and injected failures
(`bulk_fail_message`). The wire follows the 1.0 API: the session id comes in `X-SFDC-Session`; job info is
JSON when the request is JSON, else XML; batch info and result lists are always XML; a batch moves
Queued → InProgress → Completed (or Failed); its one result is the CSV of every row; errors are
`<error><exceptionCode>…</exceptionCode><exceptionMessage>…</exceptionMessage></error>` (or the JSON
equivalent), e.g. `InvalidSessionId`, `InvalidJob`, `InvalidBatch`. Jobs live in SQLite next to the 2.0 ones.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.values import format_datetime, make_id, now_ms, random_token

_NS = "http://www.force.com/2009/06/asyncapi/dataload"
_TABLES = """
CREATE TABLE IF NOT EXISTS bulk_v1_jobs (id TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bulk_v1_batches (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, v2_job_id TEXT NOT NULL,
    created TEXT NOT NULL);
"""
_BATCH_STATES = {"UploadComplete": "Queued", "InProgress": "InProgress", "JobComplete": "Completed",
                 "Failed": "Failed", "Aborted": "Not Processed"}


class AsyncError(Exception):
    """A Bulk 1.0 error: HTTP status, exceptionCode, exceptionMessage."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _stamp() -> str:
    return format_datetime(now_ms() // 1000 * 1000, bulk=True)


def _xml(root: str, fields: dict[str, Any]) -> str:
    body = "".join(f"<{k}>{escape(str(v).lower() if isinstance(v, bool) else str(v))}</{k}>" for k, v in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{_NS}">{body}</{root}>'


def _wants_json(request: Request) -> bool:
    return "json" in (request.headers.get("content-type") or "").lower()


class BulkV1:
    """Bulk 1.0 jobs and batches over the 2.0 engine of one sandbox."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        sandbox.store.conn().executescript(_TABLES)

    def clear(self) -> None:
        with self.sandbox.store.write() as conn:
            conn.execute("DELETE FROM bulk_v1_jobs")
            conn.execute("DELETE FROM bulk_v1_batches")

    # -- jobs ----------------------------------------------------------------------------------------------------
    def _job(self, job_id: str) -> dict[str, Any]:
        found = self.sandbox.store.conn().execute("SELECT info FROM bulk_v1_jobs WHERE id = ?", (job_id,)).fetchone()
        if found is None:
            raise AsyncError(400, "InvalidJob", f"Invalid job id: {job_id}")
        return json.loads(found[0])

    def _save(self, info: dict[str, Any]) -> None:
        with self.sandbox.store.write() as conn:
            conn.execute("INSERT INTO bulk_v1_jobs (id, info) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET "
                         "info = excluded.info", (info["id"], json.dumps(info)))

    def create_job(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise AsyncError(400, "InvalidJob", f"Operation {operation} is not supported by this stand-in")
        if body.get("contentType", "CSV") != "CSV":
            raise AsyncError(400, "InvalidJob", "Only CSV content type is supported by this stand-in")
        stamp = _stamp()
        info = {"id": "750" + "5g0" + random_token(9) + "AAA", "operation": operation, "object": body.get("object"),
                "createdById": make_id("005", 1), "createdDate": stamp, "systemModstamp": stamp, "state": "Open",
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(version)}
        self._save(info)
        return self.job_info(info["id"])

    def update_job(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        info = self._job(job_id)
        state = body.get("state")
        if state not in ("Closed", "Aborted"):
            raise AsyncError(400, "InvalidJobState", f"Invalid state: {state}")
        info["state"], info["systemModstamp"] = state, _stamp()
        self._save(info)
        return self.job_info(job_id)

    def job_info(self, job_id: str) -> dict[str, Any]:
        info = self._job(job_id)
        states = [b["state"] for b in self.batch_infos(job_id, advance=False)]
        counts = {s: states.count(s) for s in ("Queued", "InProgress", "Completed", "Failed")}
        return {**info, "numberBatchesQueued": counts["Queued"], "numberBatchesInProgress": counts["InProgress"],
                "numberBatchesCompleted": counts["Completed"], "numberBatchesFailed": counts["Failed"],
                "numberBatchesTotal": len(states), "numberRecordsProcessed": 0, "numberRetries": 0,
                "numberRecordsFailed": 0, "totalProcessingTime": 0, "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0}

    # -- batches -------------------------------------------------------------------------------------------------
    def add_batch(self, job_id: str, soql: str, version: str) -> dict[str, Any]:
        info = self._job(job_id)
        if info["state"] != "Open":
            raise AsyncError(400, "InvalidJobState", f"Job {job_id} is not open: {info['state']}")
        try:
            v2 = self.sandbox.bulk.create({"operation": info["operation"], "query": soql}, version)
        except ApiError as exc:
            raise AsyncError(400, "InvalidBatch", f"{exc.code}: {exc.message}") from None
        batch_id = "751" + "5g0" + random_token(9) + "AAA"
        with self.sandbox.store.write() as conn:
            conn.execute("INSERT INTO bulk_v1_batches (id, job_id, v2_job_id, created) VALUES (?, ?, ?, ?)",
                         (batch_id, job_id, v2["id"], _stamp()))
        return self.batch_info(job_id, batch_id, advance=False)

    def _batch_row(self, job_id: str, batch_id: str) -> tuple[str, str]:
        found = self.sandbox.store.conn().execute(
            "SELECT v2_job_id, created FROM bulk_v1_batches WHERE id = ? AND job_id = ?", (batch_id, job_id)).fetchone()
        if found is None:
            raise AsyncError(400, "InvalidBatch", f"Invalid batch id: {batch_id}")
        return found[0], found[1]

    def batch_info(self, job_id: str, batch_id: str, *, advance: bool = True) -> dict[str, Any]:
        """One batch's info; a poll (`advance`) may move it one state, like a 2.0 job poll."""
        self._job(job_id)
        v2_id, created = self._batch_row(job_id, batch_id)
        v2 = self.sandbox.bulk.info(v2_id) if advance else self.sandbox.bulk.peek(v2_id)
        info: dict[str, Any] = {"id": batch_id, "jobId": job_id, "state": _BATCH_STATES.get(v2["state"], "Queued")}
        if v2["state"] == "Failed":
            info["stateMessage"] = v2.get("errorMessage") or "InvalidBatch"
        info.update({"createdDate": created, "systemModstamp": _stamp(),
                     "numberRecordsProcessed": v2["numberRecordsProcessed"], "numberRecordsFailed": 0,
                     "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0})
        return info

    def batch_infos(self, job_id: str, *, advance: bool) -> list[dict[str, Any]]:
        ids = [r[0] for r in self.sandbox.store.conn().execute(
            "SELECT id FROM bulk_v1_batches WHERE job_id = ? ORDER BY rowid", (job_id,))]
        return [self.batch_info(job_id, batch_id, advance=advance) for batch_id in ids]

    def result_ids(self, job_id: str, batch_id: str) -> list[str]:
        info = self.batch_info(job_id, batch_id, advance=False)
        if info["state"] != "Completed":
            raise AsyncError(400, "InvalidBatch", f"Batch not completed: {info['state']}")
        return ["752" + batch_id[3:]]

    def result(self, job_id: str, batch_id: str, result_id: str) -> bytes:
        if result_id not in self.result_ids(job_id, batch_id):
            raise AsyncError(400, "InvalidBatch", f"Invalid result id: {result_id}")
        v2_id, _ = self._batch_row(job_id, batch_id)
        content, _, _ = self.sandbox.bulk.results(v2_id, None, str(2**31 - 1))
        return content


# -- HTTP ------------------------------------------------------------------------------------------------------------
Handler = Callable[[BulkV1, Request, bytes], Response]


def _error(exc: AsyncError, as_json: bool) -> Response:
    if as_json:
        body = json.dumps({"exceptionCode": exc.code, "exceptionMessage": exc.message})
        return Response(body, exc.status, media_type="application/json")
    return Response(_xml("error", {"exceptionCode": exc.code, "exceptionMessage": exc.message}), exc.status,
                    media_type="application/xml")


def _endpoint(handler: Handler, decorate: Callable[[Response], Response]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sandbox = request.app.state.sandbox
        body = await request.body()
        try:
            session = request.headers.get("x-sfdc-session") or ""
            try:
                await run_in_threadpool(sandbox.auth.check, f"Bearer {session}")
            except ApiError:
                raise AsyncError(400, "InvalidSessionId", "Invalid session id") from None
            response = await run_in_threadpool(handler, sandbox.bulk_v1, request, body)
        except AsyncError as exc:
            response = _error(exc, _wants_json(request))
        return decorate(response)

    return endpoint


def _job_response(request: Request, info: dict[str, Any], status: int = 200) -> Response:
    if _wants_json(request):
        return Response(json.dumps(info), status, media_type="application/json")
    return Response(_xml("jobInfo", info), status, media_type="application/xml")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise AsyncError(400, "InvalidRequest", "The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise AsyncError(400, "InvalidRequest", "The request body must be a JSON object")
    return value


def _create(v1: BulkV1, request: Request, body: bytes) -> Response:
    if not _wants_json(request):
        raise AsyncError(400, "InvalidRequest", "This stand-in accepts job requests as JSON only")
    return _job_response(request, v1.create_job(_json_object(body), request.path_params["version"]), 201)


def _job(v1: BulkV1, request: Request, body: bytes) -> Response:
    job_id = request.path_params["job_id"]
    if request.method == "POST":
        return _job_response(request, v1.update_job(job_id, _json_object(body)))
    return _job_response(request, v1.job_info(job_id))


def _batches(v1: BulkV1, request: Request, body: bytes) -> Response:
    job_id = request.path_params["job_id"]
    if request.method == "POST":
        info = v1.add_batch(job_id, body.decode("utf-8"), request.path_params["version"])
        return Response(_xml("batchInfo", info), 201, media_type="application/xml")
    items = "".join(_xml("batchInfo", b).split("?>", 1)[1].replace(f' xmlns="{_NS}"', "")
                    for b in v1.batch_infos(job_id, advance=True))
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{_NS}">{items}</batchInfoList>',
                    media_type="application/xml")


def _batch(v1: BulkV1, request: Request, body: bytes) -> Response:
    info = v1.batch_info(request.path_params["job_id"], request.path_params["batch_id"])
    return Response(_xml("batchInfo", info), media_type="application/xml")


def _result_list(v1: BulkV1, request: Request, body: bytes) -> Response:
    ids = v1.result_ids(request.path_params["job_id"], request.path_params["batch_id"])
    results = "".join(f"<result>{i}</result>" for i in ids)
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{_NS}">{results}</result-list>',
                    media_type="application/xml")


def _result(v1: BulkV1, request: Request, body: bytes) -> Response:
    content = v1.result(request.path_params["job_id"], request.path_params["batch_id"],
                        request.path_params["result_id"])
    return Response(content, media_type="text/csv")


def routes(decorate: Callable[[Response], Response]) -> list[Route]:
    """The Bulk 1.0 routes; `decorate` adds the stand-in's common response headers."""
    base = "/services/async/{version}/job"
    table: list[tuple[str, Handler, list[str]]] = [
        ("", _create, ["POST"]),
        ("/{job_id}", _job, ["GET", "POST"]),
        ("/{job_id}/batch", _batches, ["GET", "POST"]),
        ("/{job_id}/batch/{batch_id}", _batch, ["GET"]),
        ("/{job_id}/batch/{batch_id}/result", _result_list, ["GET"]),
        ("/{job_id}/batch/{batch_id}/result/{result_id}", _result, ["GET"]),
    ]
    return [Route(base + path, _endpoint(handler, decorate), methods=methods) for path, handler, methods in table]
