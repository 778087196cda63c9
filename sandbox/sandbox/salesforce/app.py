"""The Salesforce stand-in as an ASGI app: real REST/Bulk 2.0/Bulk 1.0/OAuth paths plus the `/__admin/` API.

Real paths answer with Salesforce's shapes, status codes and headers (`Sforce-Limit-Info`, `Server: sfdcedge`,
request ids, `Content-Type: application/json;charset=UTF-8`, names spelled as Salesforce does: `wire_headers`);
`/composite` and `/composite/batch` run their subrequests through the same handlers (`composite`); Bulk 1.0
lives in `bulk_v1`. Every authenticated `/services/data` call counts against the daily quota. The realism
middleware (latency, scripted and random faults) wraps only the real paths.
Database work runs in the thread pool so concurrent clients are served in parallel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from email.utils import format_datetime as http_date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.realism import HTML_PAGES, html_page
from sandbox.salesforce import bulk_v1, composite, describe
from sandbox.salesforce.auth import Auth
from sandbox.salesforce.bulk import BulkJobs
from sandbox.salesforce.errors import ApiError, OAuthError, invalid_session, not_found
from sandbox.salesforce.knobs import (
    CREDENTIAL_DEFAULTS,
    ASGIApp,
    Fault,
    Realism,
    Receive,
    Scope,
    Send,
    abort_connection,
    check_config,
    volumes_from,
)
from sandbox.salesforce.limits import limits_body
from sandbox.salesforce.metadata import Metadata
from sandbox.salesforce.query import QueryEngine
from sandbox.salesforce.scale import RequestLog, UriLimitMiddleware
from sandbox.salesforce.schema import compound_key
from sandbox.salesforce.store import CONTROL_KEYS, Store, resolve_object
from sandbox.salesforce.values import format_datetime, to_wire
from sandbox.salesforce.wire_headers import SENDS_DATE_HEADER, SalesforceHeaderNames

VERSION_RE = re.compile(r"\d{2,3}\.\d")
JSON_TYPE = "application/json;charset=UTF-8"
_FAULT_ERRORS = {
    500: ("UNKNOWN_EXCEPTION", ("An unexpected error occurred. Please include this ErrorId if you contact support: "
                               "1718063249-53291 (-1414512817)")),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable."),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
}


class Sandbox:
    """Everything one Salesforce stand-in holds: store, knobs, auth, query engine, Bulk jobs."""

    def __init__(self, data_dir: Path, config: dict[str, Any]) -> None:
        check_config(config)
        self.config = dict(config)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "salesforce.sqlite3")
        self.realism = Realism(self.config)
        self.metadata = Metadata(self.store)
        if self.store.seeded:
            self.metadata.load()
        else:
            self.metadata.seed(volumes_from(self.config))
        self.request_log = RequestLog()
        credentials = {key: self.config.get(key, default) for key, default in CREDENTIAL_DEFAULTS.items()}
        self.auth = Auth(self.store, self.realism, credentials)
        self.engine = QueryEngine(self.store, self.realism)
        self.bulk = BulkJobs(self.store, self.realism)
        self.bulk_v1 = bulk_v1.BulkV1(self)


def sf_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status, headers, media_type=JSON_TYPE)


def _decorate(response: Response, sandbox: Sandbox | None) -> Response:
    request_id = secrets.token_hex(16)
    response.headers["server"] = "sfdcedge"
    response.headers["x-sfdc-request-id"] = request_id
    response.headers["x-request-id"] = request_id
    response.headers["cache-control"] = "no-cache,must-revalidate,max-age=0,no-store,private"
    if sandbox is not None and response.status_code != 401:
        response.headers["Sforce-Limit-Info"] = sandbox.realism.limit_info()
    return response


def _error_response(exc: ApiError) -> Response:
    return sf_json(exc.body(), exc.status, exc.headers)


Handler = Callable[[Sandbox, Request, bytes], Response]


def api(handler: Handler, authenticated: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a `/services/data` handler: version check, bearer token, quota, error rendering, headers."""

    async def endpoint(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        try:
            version = request.path_params.get("version")
            if version is not None and not VERSION_RE.fullmatch(version):
                raise not_found()
            body = await request.body()
            if authenticated:
                await run_in_threadpool(sandbox.auth.check, request.headers.get("authorization"))
                if not sandbox.realism.consume_api_call():
                    raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            response = await run_in_threadpool(handler, sandbox, request, body)
        except ApiError as exc:
            response = _error_response(exc)
        return _decorate(response, sandbox)

    return endpoint


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return value


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# -- OAuth -------------------------------------------------------------------------------------------------------
async def token_endpoint(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    form = {**dict(request.query_params), **form}
    try:
        body = await run_in_threadpool(sandbox.auth.token, form, _base(request))
    except OAuthError as exc:
        return _decorate(sf_json(exc.body(), exc.status), None)
    return _decorate(sf_json(body), None)


# -- REST ----------------------------------------------------------------------------------------------------------
def versions(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    return sf_json([{"label": "Summer '24", "url": "/services/data/v61.0", "version": "61.0"},
                    {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}])


def describe_global(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    return _with_validators(request, describe.describe_global(request.path_params["version"]))


def describe_object(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    obj = resolve_object(request.path_params["object"])
    return _with_validators(request, describe.describe_sobject(obj, request.path_params["version"]))


def _with_validators(request: Request, body: dict[str, Any]) -> Response:
    """Describe bodies carry ETag/Last-Modified and honour If-None-Match / If-Modified-Since with a 304."""
    etag, last_modified = describe.validators(body)
    headers = {"ETag": etag, "Last-Modified": last_modified}
    changed = request.app.state.sandbox.metadata.changed_at
    headers["Last-Modified"] = http_date(changed, usegmt=True)
    if request.headers.get("if-none-match") == etag or _not_modified_since(request, changed):
        return Response(status_code=304, headers=headers)
    return sf_json(body, headers=headers)


def _not_modified_since(request: Request, changed: dt.datetime) -> bool:
    header = request.headers.get("if-modified-since")
    if not header:
        return False
    try:
        return parsedate_to_datetime(header) >= changed
    except (TypeError, ValueError):
        return False


def get_record(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    obj = resolve_object(request.path_params["object"])
    record_id = request.path_params["id"]
    wanted = request.query_params.get("fields")
    names = [n.strip() for n in wanted.split(",")] if wanted else [f.name for f in obj.fields]
    if not any(n.lower() == "id" for n in names):
        names.append("Id")  # `?fields=` answers carry the Id after the fields asked for
    if not re.fullmatch(r"[a-zA-Z0-9]{15}|[a-zA-Z0-9]{18}", record_id):
        raise not_found()
    soql = f"SELECT {', '.join(names)} FROM {obj.name} WHERE Id = '{record_id}'"
    result = sandbox.engine.run(soql, False, request.path_params["version"], None)
    if not result["records"]:
        in_bin = f"SELECT Id FROM {obj.name} WHERE Id = '{record_id}' AND IsDeleted = true"
        if sandbox.engine.run(in_bin, True, request.path_params["version"], None)["records"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        raise not_found()
    return sf_json(result["records"][0])


def query(sandbox: Sandbox, request: Request, body: bytes, query_all: bool = False) -> Response:
    text = request.query_params.get("q")
    if not text:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    return sf_json(sandbox.engine.run(text, query_all, request.path_params["version"],
                                      request.headers.get("sforce-query-options")))


def query_all(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    return query(sandbox, request, body, query_all=True)


def query_more(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    locator, _, offset = request.path_params["locator"].rpartition("-")
    if not locator or not offset.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return sf_json(sandbox.engine.page(locator, int(offset), request.path_params["version"]))


def limits(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    jobs = sandbox.store.conn().execute("SELECT COUNT(*) FROM bulk_jobs").fetchone()[0]
    return sf_json(limits_body(sandbox.realism.knobs.api_limit, sandbox.realism.api_usage, jobs))


def unknown_resource(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    raise not_found()


# -- Bulk 2.0 ------------------------------------------------------------------------------------------------------
def _bulk_json(body: Any, status: int = 200) -> Response:
    # Bulk 2.0 pretty-prints its JSON as `"key" : value`, unlike the REST API.
    content = json.dumps(body, ensure_ascii=False, indent=2, separators=(",", " : ")).encode("utf-8")
    return Response(content, status, media_type=JSON_TYPE)


def bulk_create(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    return _bulk_json(sandbox.bulk.create(_json_body(body), request.path_params["version"]))


def bulk_list(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    return _bulk_json(sandbox.bulk.list_jobs())


def bulk_job(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    job_id = request.path_params["job_id"]
    if request.method == "GET":
        return _bulk_json(sandbox.bulk.info(job_id))
    if request.method == "PATCH":
        return _bulk_json(sandbox.bulk.abort(job_id, _json_body(body)))
    sandbox.bulk.delete(job_id)
    return Response(status_code=204)


def bulk_results(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    content, count, locator = sandbox.bulk.results(request.path_params["job_id"],
                                                   request.query_params.get("locator"),
                                                   request.query_params.get("maxRecords"))
    return Response(content, 200, {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)},
                    media_type="text/csv")


# -- admin ---------------------------------------------------------------------------------------------------------
AdminHandler = Callable[[Sandbox, Request, dict[str, Any]], Any]


def admin(handler: AdminHandler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an admin handler: JSON in, JSON out, Salesforce error arrays for record errors."""

    async def endpoint(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        try:
            payload = _json_body(await request.body()) if request.method in ("POST", "PATCH") else {}
            result = await run_in_threadpool(handler, sandbox, request, payload)
        except ApiError as exc:
            return _error_response(exc)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(result, status)

    return endpoint


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def admin_reset(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    volumes = volumes_from(sandbox.config, payload)
    sandbox.metadata.seed(volumes)
    sandbox.request_log.clear()
    sandbox.realism.reset(keep_knobs=bool(payload.get("keep_knobs")))
    sandbox.request_log.clear()
    sandbox.bulk_v1.clear()
    with sandbox.store.write() as conn:
        conn.execute("DELETE FROM refresh_tokens")
        conn.execute("DELETE FROM meta WHERE key = 'retired_refresh_token'")
    return {"status": "ok", "seed": volumes.seed, "records": sandbox.store.counts()}


def _split(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = {k: v for k, v in payload.items() if k not in CONTROL_KEYS}
    return fields, {k: v for k, v in payload.items() if k in CONTROL_KEYS}


def _stamp_of(sandbox: Sandbox, object_name: str, record_id: str) -> str | None:
    row = sandbox.store.conn().execute(f'SELECT "SystemModstamp" FROM "{object_name}" WHERE "Id" = ?',
                                       (record_id,)).fetchone()
    return format_datetime(row[0]) if row else None


def admin_create(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    obj = resolve_object(request.path_params["object"])
    record_id = sandbox.store.create(obj, *_split(payload))
    return {"id": record_id, "SystemModstamp": _stamp_of(sandbox, obj.name, record_id)}


def admin_update(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    obj = resolve_object(request.path_params["object"])
    record_id = request.path_params["id"]
    sandbox.store.update(obj, record_id, *_split(payload))
    return {"id": record_id, "SystemModstamp": _stamp_of(sandbox, obj.name, record_id)}


def admin_delete(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    obj = resolve_object(request.path_params["object"])
    sandbox.store.set_deleted(obj, request.path_params["id"], True)
    return {"id": request.path_params["id"], "IsDeleted": True}


def admin_undelete(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    obj = resolve_object(request.path_params["object"])
    sandbox.store.set_deleted(obj, request.path_params["id"], False)
    return {"id": request.path_params["id"], "IsDeleted": False}


def admin_purge(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    """Hard delete (emptying the recycle bin, or Bulk `hardDelete`): the record is gone without a trace."""
    obj = resolve_object(request.path_params["object"])
    sandbox.store.purge(obj, request.path_params["id"])
    return {"id": request.path_params["id"], "purged": True}


def admin_list(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    obj = resolve_object(request.path_params["object"])
    limit = request.query_params.get("limit")
    offset = int(request.query_params.get("offset", 0))
    base = "/services/data/v61.0"
    records = []
    for row in sandbox.store.list_records(obj, int(limit) if limit else None, offset):
        record: dict[str, Any] = {"attributes": {"type": obj.name, "url": f"{base}/sobjects/{obj.name}/{row['Id']}"}}
        for field in obj.fields:
            if field.stored:
                record[field.name] = to_wire(field, row[field.name], base, obj.name, row["Id"])
            elif field.is_compound:
                record[field.name] = {compound_key(c): to_wire(c, row[c.name], base, obj.name, row["Id"])
                                      for c in obj.components(field)}
        record["IsDeleted"] = bool(row["IsDeleted"])
        records.append(record)
    return {"records": records}


def admin_share_modstamp(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    obj = resolve_object(request.path_params["object"])
    control = {k: v for k, v in payload.items() if k in CONTROL_KEYS}
    ids, stamp = sandbox.store.share_modstamp(obj, int(payload.get("count", 0)), control, payload.get("ids"))
    return {"ids": ids, "SystemModstamp": format_datetime(stamp)}


def admin_stats(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    realism = sandbox.realism
    return {"api_usage": realism.api_usage, "api_limit": realism.knobs.api_limit, "requests": realism.requests,
            "records": sandbox.store.counts()}


def admin_knobs(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    if request.method == "POST":
        changes = dict(payload)
        if changes.pop("expire_sessions", False):
            sandbox.auth.expire_all()
        sandbox.realism.update(changes)
    return sandbox.realism.knobs.public()


def admin_metadata(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    if request.method == "POST":
        return sandbox.metadata.change(request.path_params["object"], payload)
    return sandbox.metadata.public()


def admin_requests(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    return sandbox.request_log.public()


def admin_expire_sessions(sandbox: Sandbox, request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    sandbox.auth.expire_all()
    return {"status": "ok"}


# -- realism -------------------------------------------------------------------------------------------------------
class RealismMiddleware:
    """Latency and injected faults on the real API paths (never on `/__admin/`)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__admin"):
            await self.app(scope, receive, send)
            return
        realism = self.sandbox.realism
        fault = realism.next_fault(scope["method"], scope["path"])
        delay = realism.latency_seconds() + (fault.delay_ms / 1000 if fault else 0)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            if fault.expire_sessions:
                await run_in_threadpool(self.sandbox.auth.expire_all)
            if fault.drop:
                await abort_connection(receive, send)
                return
            if fault.status:
                await self._fault_response(fault)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _fault_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        if fault.html and status in HTML_PAGES:  # a proxy's page in an outage, not Salesforce JSON
            return _decorate(Response(html_page(status), status, media_type="text/html"), self.sandbox)
        if status == 401:
            return _decorate(_error_response(invalid_session()), self.sandbox)
        code, message = _FAULT_ERRORS.get(status, ("UNKNOWN_EXCEPTION", f"HTTP {status}"))
        return _decorate(sf_json([{"message": message, "errorCode": code}], status), self.sandbox)


def _routes() -> list[Route]:
    data = "/services/data/v{version}"
    routes: list[Route] = [
        Route("/__admin/health", health),
        Route("/__admin/reset", admin(admin_reset), methods=["POST"]),
        Route("/__admin/stats", admin(admin_stats)),
        Route("/__admin/knobs", admin(admin_knobs), methods=["GET", "POST"]),
        Route("/__admin/expire_sessions", admin(admin_expire_sessions), methods=["POST"]),
        Route("/__admin/metadata", admin(admin_metadata)),
        Route("/__admin/metadata/{object}", admin(admin_metadata), methods=["POST"]),
        Route("/__admin/requests", admin(admin_requests)),
        Route("/__admin/share_modstamp/{object}", admin(admin_share_modstamp), methods=["POST"]),
        Route("/__admin/records/{object}", admin(admin_list), methods=["GET"]),
        Route("/__admin/records/{object}", admin(admin_create, 201), methods=["POST"]),
        Route("/__admin/records/{object}/{id}", admin(admin_update), methods=["PATCH"]),
        Route("/__admin/records/{object}/{id}", admin(admin_delete), methods=["DELETE"]),
        Route("/__admin/records/{object}/{id}/undelete", admin(admin_undelete), methods=["POST"]),
        Route("/__admin/records/{object}/{id}/purge", admin(admin_purge), methods=["POST"]),
        Route("/services/oauth2/token", token_endpoint, methods=["POST"]),
        Route("/services/data", api(versions, authenticated=False)),
        Route("/services/data/", api(versions, authenticated=False)),
    ]
    rest: list[tuple[str, Handler, list[str]]] = [
        ("/sobjects", describe_global, ["GET"]),
        ("/sobjects/{object}/describe", describe_object, ["GET"]),
        ("/sobjects/{object}/{id}", get_record, ["GET"]),
        ("/query", query, ["GET"]),
        ("/queryAll", query_all, ["GET"]),
        ("/query/{locator}", query_more, ["GET"]),
        ("/queryAll/{locator}", query_more, ["GET"]),
        ("/limits", limits, ["GET"]),
        ("/jobs/query", bulk_create, ["POST"]),
        ("/jobs/query", bulk_list, ["GET"]),
        ("/jobs/query/{job_id}", bulk_job, ["GET", "PATCH", "DELETE"]),
        ("/jobs/query/{job_id}/results", bulk_results, ["GET"]),
    ]
    dispatch = composite.SubRequests(rest)

    def composite_batch(sandbox: Sandbox, request: Request, body: bytes) -> Response:
        return sf_json(composite.batch(dispatch, sandbox, request, _json_body(body)))

    def composite_request(sandbox: Sandbox, request: Request, body: bytes) -> Response:
        return sf_json(composite.composite(dispatch, sandbox, request, _json_body(body)))

    rest += [("/composite/batch", composite_batch, ["POST"]), ("/composite", composite_request, ["POST"])]
    for path, handler, methods in rest:
        # Clients differ on trailing slashes (simple-salesforce adds them); Salesforce accepts both.
        routes.append(Route(data + path, api(handler), methods=methods))
        routes.append(Route(data + path + "/", api(handler), methods=methods))
    routes += bulk_v1.routes(lambda response: _decorate(response, None))
    routes.append(Route("/services/{rest:path}", api(unknown_resource, authenticated=False),
                        methods=["GET", "POST", "PATCH", "PUT", "DELETE"]))
    return routes


def create_app(data_dir: Path, config: dict[str, Any]) -> Starlette:
    """Build the ASGI app; records, tokens, cursors and jobs persist in `data_dir/salesforce.sqlite3`."""
    sandbox = Sandbox(data_dir, config)
    app = Starlette(routes=_routes(), middleware=[Middleware(SalesforceHeaderNames),
                                                  Middleware(UriLimitMiddleware, log=sandbox.request_log),
                                                  Middleware(RealismMiddleware, sandbox=sandbox)])
    app.state.sandbox = sandbox
    setattr(app.state, SENDS_DATE_HEADER, True)
    return app

