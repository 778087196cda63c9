"""The Salesforce stand-in's admin handlers (`/__admin/...`): JSON in, JSON out; the shared surface
(`health`, `reset`, `knobs`, `stats`, `requests`) plus this API's own routes (records, metadata, sessions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.knobs import (
    volumes_from,
)
from sandbox.salesforce.responses import _error_response, _json_body
from sandbox.salesforce.schema import compound_key
from sandbox.salesforce.store import CONTROL_KEYS, resolve_object
from sandbox.salesforce.values import format_datetime, to_wire

if TYPE_CHECKING:
    from sandbox.salesforce.backend import Sandbox

# -- admin ---------------------------------------------------------------------------------------------------------
AdminHandler = Callable[["Sandbox", Request, dict[str, Any]], Any]


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


