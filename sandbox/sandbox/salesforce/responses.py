"""Salesforce wire handlers: parse the request, ask the backend (store, query engine, Bulk jobs), answer in
Salesforce's shape (`sf_json`, headers by `_decorate`, errors from `errors`). No routing here: `routes.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from email.utils import format_datetime as http_date
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sandbox.salesforce import describe
from sandbox.salesforce.errors import ApiError, OAuthError, not_found
from sandbox.salesforce.limits import limits_body
from sandbox.salesforce.store import resolve_object

if TYPE_CHECKING:
    from sandbox.salesforce.backend import Sandbox

VERSION_RE = re.compile(r"\d{2,3}\.\d")
JSON_TYPE = "application/json;charset=UTF-8"



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


Handler = Callable[["Sandbox", Request, bytes], Response]


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




# -- writes: sObject Collections and Bulk 2.0 ingest (dml.py) ------------------------------------------------------
def collection_write(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    """POST (create) or PATCH (update) `/composite/sobjects`, PATCH `/composite/sobjects/{object}/{field}` (upsert)."""
    params = request.path_params
    return sf_json(sandbox.writes.collection(request.method, _json_body(body), params.get("object"),
                                             params.get("field")))


def ingest_create(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    return _bulk_json(sandbox.writes.create_job(_json_body(body), request.path_params["version"]))


def ingest_job(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    job_id = request.path_params["job_id"]
    if request.method == "GET":
        return _bulk_json(sandbox.writes.info(job_id))
    return _bulk_json(sandbox.writes.change_state(job_id, _json_body(body)))


def ingest_upload(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    sandbox.writes.upload(request.path_params["job_id"], body)
    return Response(status_code=201)


def ingest_results(sandbox: Sandbox, request: Request, body: bytes) -> Response:
    kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    return Response(sandbox.writes.results(request.path_params["job_id"], kind), 200, media_type="text/csv")
