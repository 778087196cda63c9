"""The NetSuite stand-in's admin handlers (`/__admin/...`): JSON in, JSON out, no auth, never governed.

The shared surface (`health`, `reset`, `knobs`, `stats`, `requests`) plus this API's own routes (records by
hand, order transitions, invoice payments, accounts, M2M clients, async jobs). Each handler is named after its
row in `routes.ADMIN_ROUTES`; the state and every change to it live in `backend.NetSuiteBackend`. A refused
request raises `KnobError`, answered `400 {"error"}` by the app.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.netsuite.backend import NetSuiteBackend, RecordNotFoundError
from sandbox.netsuite.knobs import KnobError
from sandbox.netsuite.records import RECORD_TYPES, RecordType, record_type

_NOT_FOUND = {"error": "not found"}


def _backend(request: Request) -> NetSuiteBackend:
    backend: NetSuiteBackend = request.app.state.sandbox
    return backend


def _account(request: Request) -> str:
    return _backend(request).account(request.query_params.get("account"))


def _found(request: Request, record_type: str | None = None) -> tuple[NetSuiteBackend, str, RecordType,
                                                                      dict[str, Any]] | None:
    """The record the path names (`<rtype>`, or this record type, and `<key>`: an id or `eid:`), with the backend
    and account; None when the account holds no such record (the handler answers 404)."""
    backend, account = _backend(request), _account(request)
    try:
        rtype, stored = backend.stored(account, record_type or request.path_params["rtype"],
                                       request.path_params["key"])
    except RecordNotFoundError:
        return None
    return backend, account, rtype, stored


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise KnobError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise KnobError("body must be a JSON object")
    return data


def _view(rtype: RecordType, record: dict[str, Any]) -> dict[str, Any]:
    """A stored record in payload shape (sublists as {"items": [...]})."""
    return {k: ({"items": v} if k in rtype.sublists else v) for k, v in record.items()}


# --- the shared surface ---------------------------------------------------------------------------------------

async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def reset(request: Request) -> Response:
    data = await _json(request)
    backend = _backend(request)
    accounts = [_account(request)] if request.query_params.get("account") else list(backend.config.accounts)
    backend.reset(accounts, knobs=bool(data.get("knobs")))
    return JSONResponse({"status": "ok", "accounts": accounts})


async def knobs(request: Request) -> Response:
    backend = _backend(request)
    if request.method == "POST":
        return JSONResponse(backend.change_knobs(await _json(request)))
    return JSONResponse(backend.knobs.as_dict())


async def stats(request: Request) -> Response:
    return JSONResponse(_backend(request).stats(_account(request)))


async def requests(request: Request) -> Response:
    return JSONResponse(list(_backend(request).governor.log))


# --- records by hand ----------------------------------------------------------------------------------------------

async def records(request: Request) -> Response:
    rtype = record_type(request.path_params["rtype"])
    if rtype is None:
        return JSONResponse({"error": f"unknown record type {request.path_params['rtype']}",
                             "types": [t.name for t in RECORD_TYPES.values()]}, status_code=404)
    listed = _backend(request).store.list(_account(request), rtype.name)
    return JSONResponse({"records": [_view(rtype, r) for r in listed]})


async def create_records(request: Request) -> Response:
    """`POST /__admin/records/<type>`: one record body, or `{"records": [...]}`; externalId optional."""
    data = await _json(request)
    account = _account(request)
    bodies = data["records"] if isinstance(data.get("records"), list) else [data]
    backend = _backend(request)
    ids = [backend.by_hand(account, request.path_params["rtype"], None, dict(body)) for body in bodies]
    return JSONResponse({"ids": ids}, status_code=201)


async def record(request: Request) -> Response:
    if (found := _found(request)) is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    _, _, rtype, stored = found
    return JSONResponse(_view(rtype, stored))


async def edit_record(request: Request) -> Response:
    """`PATCH /__admin/records/<type>/<id or eid:>`: edit by hand (`null` clears a field)."""
    changes = await _json(request)
    if (found := _found(request)) is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    backend, account, rtype, stored = found
    backend.by_hand(account, rtype.name, stored, changes)
    return JSONResponse(_view(rtype, backend.current(account, rtype, stored["id"])))


async def delete_record(request: Request) -> Response:
    """`DELETE /__admin/records/<type>/<id or eid:>`: delete by hand."""
    if (found := _found(request)) is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    backend, account, rtype, stored = found
    backend.delete_by_hand(account, rtype, stored["id"])
    return JSONResponse({"status": "ok", "id": stored["id"]})


async def order_transition(request: Request) -> Response:
    """`POST /__admin/salesorder/<id or eid:>/<approve|fulfil|bill|close>`: what a person does to an order in
    NetSuite (approve it, ship items, invoice it, close lines). Fulfil and bill make an itemFulfillment or an
    invoice record (order_life.py) of what is left; body `{"lines": {"<line>": quantity}}` limits them to those
    lines and quantities (cut to what is left; close: to those lines), `tranDate`/`dueDate` date the invoice."""
    data = await _json(request)
    if (found := _found(request, "salesOrder")) is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    backend, account, rtype, order = found
    backend.order_transition(account, order, request.path_params["action"], data)
    return JSONResponse(_view(rtype, backend.current(account, rtype, order["id"])))


async def pay_invoice(request: Request) -> Response:
    """`POST /__admin/invoice/<id or eid:>/pay`: a person receiving a payment for an invoice; body `{"amount"}`
    (default: what remains), optional `tranDate`. Answers the invoice as it is after the payment."""
    data = await _json(request)
    if (found := _found(request, "invoice")) is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    backend, account, rtype, invoice = found
    payment_id = backend.pay_invoice(account, invoice, data)
    return JSONResponse({**_view(rtype, backend.current(account, rtype, invoice["id"])), "payment": payment_id})


# --- accounts and jobs -------------------------------------------------------------------------------------------

async def accounts(request: Request) -> Response:
    """Account ids and public identifiers only (no secrets)."""
    return JSONResponse({"accounts": _backend(request).accounts()})


async def m2m_clients(request: Request) -> Response:
    client_id, certificate_id = _backend(request).add_m2m_client(await _json(request))
    return JSONResponse({"status": "ok", "client_id": client_id, "certificate_id": certificate_id},
                        status_code=201)


async def jobs(request: Request) -> Response:
    """`GET /__admin/jobs`: every job with its idempotency key, task outcomes and refused resubmissions."""
    return JSONResponse({"jobs": _backend(request).jobs.listing()})
