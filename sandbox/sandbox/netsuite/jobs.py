"""REST asynchronous jobs of the NetSuite stand-in: batch upserts and the `/services/rest/async/v1/job/...` paths.

`PUT /services/rest/record/v1/<type>` with a collection body (`{"items": [...]}`, at most 100 records, each with
its `externalId`), `Content-Type: application/vnd.oracle.resource+json; type=collection` and
`Prefer: respond-async` answers `202` with `Location: .../async/v1/job/<id>`. The job, its tasks (one per item, in
item order) and its idempotency key are committed to SQLite before the 202 is sent; a second submission with the
same `X-NetSuite-idempotency-key` answers `400 IDEMPOTENCY_ERROR` with the `Location` of the first job and
creates nothing (the admin job log counts it).

Tasks are executed by the account's REST async processors: at most `async_processors` at once (knob), each
taking `async_latency_ms` (default: the write latency), in submission order. Each task goes through
`RecordApi.upsert`, the code of a synchronous `PUT eid:<id>`, so validation, rejection rules and the unique external
id hold alike. Pending tasks resume after a restart; a task cut off by the restart runs again, which the upsert by
external id makes harmless. `async_fail_after` makes every job stop after that many tasks: the rest fail with
`UNEXPECTED_ERROR`, as a job NetSuite aborts part-way. `async_queue_held` keeps every queued task waiting (the
processors busy with other work, as behind another integration's long jobs) until it is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.netsuite.api import RECORD_PREFIX, RecordApi, _collection, _paging, base_url
from sandbox.netsuite.knobs import Knobs
from sandbox.netsuite.records import Renderer, record_type
from sandbox.netsuite.responses import (
    COLLECTION_CONTENT_TYPE,
    RECORD_CONTENT_TYPE,
    NetSuiteError,
    build_response,
    json_response,
)
from sandbox.netsuite.store import Store

LOGGER = logging.getLogger("sandbox.netsuite.jobs")
ASYNC_PREFIX = "/services/rest/async/v1/job"
MAX_BATCH = 100
_ASYNC_PATH = re.compile(r"^/services/rest/async/v1/job/(\d+)(?:/task(?:/(\d+)(/result)?)?)?/?$")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS async_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, idempotency_key TEXT, rtype TEXT NOT NULL,
        request TEXT NOT NULL, created TEXT NOT NULL, refused_resubmissions INTEGER NOT NULL DEFAULT 0)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS async_jobs_key ON async_jobs (account, idempotency_key)",
    """CREATE TABLE IF NOT EXISTS async_tasks (
        job INTEGER NOT NULL, id INTEGER NOT NULL, external_id TEXT NOT NULL, body TEXT NOT NULL,
        progress TEXT NOT NULL, result TEXT, start_time TEXT, end_time TEXT, PRIMARY KEY (job, id))""",
    "CREATE INDEX IF NOT EXISTS async_tasks_pending ON async_tasks (progress)",
)
_DONE = ("succeeded", "failed")


def is_batch_submission(request: Request) -> bool:
    """A collection PUT on a record type: queued for the async processors, not a synchronous write."""
    return (request.method == "PUT" and request.url.path.startswith(RECORD_PREFIX)
            and "/" not in request.url.path[len(RECORD_PREFIX):].strip("/")
            and "type=collection" in request.headers.get("content-type", "").replace(" ", "").lower())


def handles(request: Request) -> bool:
    return request.url.path.startswith(ASYNC_PREFIX) or is_batch_submission(request)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _bad_content(detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_CONTENT", f"Error while accessing resource: {detail}")


def _no_job() -> NetSuiteError:
    return NetSuiteError(404, "NONEXISTENT_ID", "The job or task does not exist. Provide a valid job and task ID.")


@dataclass(frozen=True)
class _Task:
    job: int
    id: int


class AsyncJobs:
    """Jobs, tasks and results of every account, persisted in the stand-in's SQLite file, and the processor pool."""

    def __init__(self, store: Store, api: RecordApi, knobs: Knobs) -> None:
        self.store = store
        self.api = api
        self.knobs = knobs
        with store.transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            # A task cut off by a restart (or a crash) while "processing" runs again.
            db.execute("UPDATE async_tasks SET progress='pending', start_time=NULL WHERE progress='processing'")
            rows = db.execute("SELECT job, id FROM async_tasks WHERE progress='pending' ORDER BY job, id").fetchall()
        self._queue: deque[_Task] = deque(_Task(row["job"], row["id"]) for row in rows)
        self._running = 0
        self._wake: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._workers: set[asyncio.Task[None]] = set()

    # --- the processor pool -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher on the running loop (idempotent: both the HTTP and HTTPS servers call it)."""
        if self._dispatcher is None or self._dispatcher.done():
            self._wake = asyncio.Event()
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    async def stop(self) -> None:
        for task in [self._dispatcher, *self._workers]:
            if task is not None:
                task.cancel()
        self._dispatcher = None

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            while self._queue and self._running < self.knobs.async_processors and not self.knobs.async_queue_held:
                task = self._queue.popleft()
                self._running += 1
                worker = asyncio.get_running_loop().create_task(self._process(task))
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # a knob change (more processors) is seen within 100 ms
                await asyncio.wait_for(self._wake.wait(), timeout=0.1)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _process(self, task: _Task) -> None:
        try:
            with self.store.transaction() as db:
                row = db.execute("SELECT t.*, j.account, j.rtype, j.request FROM async_tasks t JOIN async_jobs j "
                                 "ON j.id = t.job WHERE t.job=? AND t.id=? AND t.progress='pending'",
                                 (task.job, task.id)).fetchone()
                if row is None:  # the account was reset meanwhile
                    return
                db.execute("UPDATE async_tasks SET progress='processing', start_time=? WHERE job=? AND id=?",
                           (_now(), task.job, task.id))
            fail_after = self.knobs.async_fail_after
            if fail_after is not None and task.id > fail_after:
                error = NetSuiteError(500, "UNEXPECTED_ERROR",
                                      "An unexpected error occurred. The job was stopped (sandbox async_fail_after).")
                self._finish(task, "failed", error.body())
                return
            delay = self.api.governor.draws.latency_ms(self.knobs.async_latency_spec()) / 1000.0
            if delay > 0:
                await asyncio.sleep(delay)
            self._finish(task, *self._execute(row))
        except Exception:
            LOGGER.exception("netsuite: async task %s/%s failed unexpectedly", task.job, task.id)
            self._finish(task, "failed", NetSuiteError(500, "UNEXPECTED_ERROR", "An unexpected error occurred.").body())
        finally:
            self._running -= 1
            self._notify()

    def _execute(self, row: Any) -> tuple[str, dict[str, Any]]:
        """Run one task with the synchronous upsert code; (progress, result body)."""
        saved = json.loads(row["request"])
        request = _replayed_request(saved, row["rtype"], row["external_id"])
        rtype = record_type(row["rtype"])
        assert rtype is not None
        renderer = Renderer(saved["base"] + RECORD_PREFIX.rstrip("/"), self.api.lookup(row["account"]))
        try:
            response = self.api.upsert(request, row["account"], rtype, row["external_id"], json.loads(row["body"]),
                                       renderer)
        except NetSuiteError as exc:
            return "failed", exc.body()
        location = response.headers.get("location", "")
        return "succeeded", {"links": [{"rel": "self", "href": location}], "id": location.rsplit("/", 1)[-1]}

    def _finish(self, task: _Task, progress: str, result: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE async_tasks SET progress=?, result=?, end_time=? WHERE job=? AND id=? "
                       "AND progress='processing'", (progress, json.dumps(result), _now(), task.job, task.id))

    def clear(self, account: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM async_tasks WHERE job IN (SELECT id FROM async_jobs WHERE account=?)", (account,))
            db.execute("DELETE FROM async_jobs WHERE account=?", (account,))
        live = {row["id"] for row in self._rows("SELECT id FROM async_jobs")}
        self._queue = deque(task for task in self._queue if task.job in live)

    def _rows(self, sql: str, *args: Any) -> list[Any]:
        with self.store.transaction() as db:
            return list(db.execute(sql, args).fetchall())

    # --- the wire -----------------------------------------------------------------------------------------

    def dispatch(self, request: Request, account: str, body: bytes) -> Response:
        if is_batch_submission(request):
            return self.submit(request, account, body)
        match = _ASYNC_PATH.match(request.url.path)
        if match is None:
            raise NetSuiteError(404, "INVALID_URL", f"The requested URL {request.url.path} was not found on this "
                                "server.")
        if request.method != "GET":
            raise NetSuiteError(405, "INVALID_METHOD", f"The {request.method} method is not allowed.")
        job_id, task_id, result = int(match.group(1)), match.group(2), match.group(3)
        job = self._job(account, job_id)
        base = f"{base_url(request)}{ASYNC_PREFIX}/{job_id}"
        if task_id is None:
            if request.url.path.rstrip("/").endswith("/task"):
                return self._task_list(request, job_id, base)
            return json_response(200, self._job_view(job, base), RECORD_CONTENT_TYPE)
        task = self._task(job_id, int(task_id))
        if result:
            if task["progress"] not in _DONE:
                raise NetSuiteError(400, "INVALID_REQUEST", "The task has not completed yet; poll the task first.")
            return json_response(200, json.loads(task["result"]), RECORD_CONTENT_TYPE)
        return json_response(200, _task_view(task, f"{base}/task/{task['id']}"), RECORD_CONTENT_TYPE)

    def submit(self, request: Request, account: str, body: bytes) -> Response:
        name = request.url.path[len(RECORD_PREFIX):].strip("/")
        rtype = record_type(name)
        if rtype is None:
            raise NetSuiteError(404, "INVALID_URL", f"Record type '{name}' does not exist.")
        if "respond-async" not in request.headers.get("prefer", "").lower():
            raise NetSuiteError(400, "INVALID_HEADER", "Batch requests require the header Prefer: respond-async.",
                                header="Prefer")
        items = _items(body)
        key = request.headers.get("x-netsuite-idempotency-key")
        earlier = None
        with self.store.transaction() as db:
            if key:
                earlier = db.execute("SELECT id FROM async_jobs WHERE account=? AND idempotency_key=?",
                                     (account, key)).fetchone()
            if earlier is not None:
                db.execute("UPDATE async_jobs SET refused_resubmissions = refused_resubmissions + 1 WHERE id=?",
                           (earlier["id"],))
            else:
                job_id = self._insert(db, request, account, rtype.name, key, items)
        if earlier is not None:
            raise NetSuiteError(
                400, "IDEMPOTENCY_ERROR", 'A request with the same idempotency key is already submitted. See '
                'the "Location" header for a link to the previously submitted job',
                extra_headers={"Location": f"{ASYNC_PREFIX}/{earlier['id']}", "Preference-Applied": "respond-async"})
        self._queue.extend(_Task(job_id, index) for index in range(1, len(items) + 1))
        self._notify()
        return build_response(202, headers=[("Location", f"{ASYNC_PREFIX}/{job_id}"),
                                             ("Preference-Applied", "respond-async")])

    @staticmethod
    def _insert(db: Any, request: Request, account: str, rtype: str, key: str | None,
                items: list[tuple[str, dict[str, Any]]]) -> int:
        saved = {"base": base_url(request), "query": request.url.query,
                 "name_validation": request.headers.get("x-netsuite-propertynamevalidation", "")}
        cursor = db.execute("INSERT INTO async_jobs (account, idempotency_key, rtype, request, created) "
                            "VALUES (?, ?, ?, ?, ?)", (account, key or None, rtype, json.dumps(saved), _now()))
        job_id = int(cursor.lastrowid or 0)
        for index, (external_id, changes) in enumerate(items, start=1):
            db.execute("INSERT INTO async_tasks (job, id, external_id, body, progress) VALUES (?, ?, ?, ?, "
                       "'pending')", (job_id, index, external_id, json.dumps(changes)))
        return job_id

    def _job(self, account: str, job_id: int) -> Any:
        rows = self._rows("SELECT * FROM async_jobs WHERE id=? AND account=?", job_id, account)
        if not rows:
            raise _no_job()
        return rows[0]

    def _task(self, job_id: int, task_id: int) -> Any:
        rows = self._rows("SELECT * FROM async_tasks WHERE job=? AND id=?", job_id, task_id)
        if not rows:
            raise _no_job()
        return rows[0]

    def _job_view(self, job: Any, href: str) -> dict[str, Any]:
        tasks = self._rows("SELECT progress, start_time, end_time FROM async_tasks WHERE job=?", job["id"])
        done = [t for t in tasks if t["progress"] in _DONE]
        started = [t["start_time"] for t in tasks if t["start_time"]]
        if len(done) == len(tasks):
            progress = "succeeded" if all(t["progress"] == "succeeded" for t in tasks) else "failed"
        else:
            progress = "processing" if started else "pending"
        view: dict[str, Any] = {"links": [{"rel": "self", "href": href}], "completed": len(done) == len(tasks),
                                "id": str(job["id"]), "progress": progress,
                                "task": {"links": [{"rel": "self", "href": f"{href}/task"}]}}
        if started:
            view["startTime"] = min(started)
        if len(done) == len(tasks) and tasks:
            view["endTime"] = max(t["end_time"] for t in tasks)
        return view

    def _task_list(self, request: Request, job_id: int, base: str) -> Response:
        limit, offset = _paging(request, default_limit=1000)
        ids = [row["id"] for row in self._rows("SELECT id FROM async_tasks WHERE job=? ORDER BY id", job_id)]
        page = [{"links": [{"rel": "self", "href": f"{base}/task/{i}"}], "id": str(i)}
                for i in ids[offset:offset + limit]]
        return json_response(200, _collection(f"{base}/task", request, page, offset, limit, len(ids)),
                             COLLECTION_CONTENT_TYPE)

    # --- admin --------------------------------------------------------------------------------------------

    def listing(self) -> list[dict[str, Any]]:
        """Every job with its idempotency key, task outcomes and refused resubmissions (`GET /__admin/jobs`)."""
        jobs = []
        for job in self._rows("SELECT * FROM async_jobs ORDER BY id"):
            tasks = self._rows("SELECT id, external_id, progress, end_time FROM async_tasks WHERE job=? ORDER BY id",
                               job["id"])
            jobs.append({"id": job["id"], "account": job["account"], "idempotency_key": job["idempotency_key"],
                         "record_type": job["rtype"], "created": job["created"],
                         "refused_resubmissions": job["refused_resubmissions"],
                         "tasks": [dict(task) for task in tasks]})
        return jobs


def _task_view(task: Any, href: str) -> dict[str, Any]:
    view: dict[str, Any] = {"links": [{"rel": "related", "href": f"{href}/result"}, {"rel": "self", "href": href}],
                            "completed": task["progress"] in _DONE, "id": str(task["id"]),
                            "progress": task["progress"]}
    if task["start_time"]:
        view["startTime"] = task["start_time"]
    if task["end_time"]:
        view["endTime"] = task["end_time"]
    return view


def _items(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(externalId, fields) of each item of a collection body; the whole batch is refused if one is malformed."""
    try:
        data = json.loads(body) if body.strip() else None
    except json.JSONDecodeError as exc:
        raise _bad_content(f"Invalid content in the request body: {exc.msg}.") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise _bad_content('A batch request body is {"items": [...]} with at least one record.')
    if len(items) > MAX_BATCH:
        raise _bad_content(f"A batch request can hold at most {MAX_BATCH} records; it holds {len(items)}.")
    parsed = []
    for index, item in enumerate(items):
        external_id = item.get("externalId") if isinstance(item, dict) else None
        if not isinstance(external_id, str) or not external_id:
            raise _bad_content(f"items[{index}]: an upsert batch item needs its externalId.")
        parsed.append((external_id, {k: v for k, v in item.items() if k != "externalId"}))
    return parsed


def _replayed_request(saved: dict[str, Any], rtype: str, external_id: str) -> Request:
    """The synchronous `PUT eid:` this task stands for, with the batch request's query and validation header."""
    scheme, _, host = saved["base"].partition("://")
    headers = [(b"host", host.encode())]
    if saved["name_validation"]:
        headers.append((b"x-netsuite-propertynamevalidation", saved["name_validation"].encode()))
    path = f"{RECORD_PREFIX}{rtype}/eid:{external_id}"
    return Request({"type": "http", "method": "PUT", "scheme": scheme, "path": path,
                    "query_string": saved["query"].encode(), "headers": headers, "server": None})
