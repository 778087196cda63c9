"""The NetSuite stand-in: an ASGI app answering the real REST paths like NetSuite, plus an admin API.

Request pipeline for `/services/rest/...` (mounted as a raw ASGI app, so a "dropped connection" fault can close
the socket; the paths themselves are the route table `routes.API_ROUTES`): authenticate (TBA or bearer) → take a
slot of the account's concurrency pool or answer as an exhausted pool → injected fault (script or rates) →
latency → handler → release the slot, count and log. `/services/rest/auth/oauth2/v1/token` issues M2M tokens
and is not governed. Admin routes live under `/__admin/` and need no auth; their record writes stand for a
person working in the NetSuite UI: validated like API writes, but never governed and never in the request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from sandbox.netsuite import jobs
from sandbox.netsuite.api import RecordApi
from sandbox.netsuite.auth import TOKEN_PATH, AuthenticationError, Authenticator, TokenError
from sandbox.netsuite.config import (
    SEED_CURRENCIES,
    SEED_LISTS,
    SEED_SERVICE_ITEMS,
    ConfigError,
    SandboxConfig,
    parse_config,
    parse_m2m_client,
)
from sandbox.netsuite.governance import Governor
from sandbox.netsuite.knobs import KnobError, Knobs
from sandbox.netsuite.records import RECORD_TYPES, apply_changes, order_status, record_type
from sandbox.netsuite.responses import (
    InvalidLoginError,
    NetSuiteError,
    error_response,
    user_error,
)
from sandbox.netsuite.routes import API_PREFIX, admin_routes, path_segments
from sandbox.netsuite.store import Store
from sandbox.netsuite.validation import Validator
from sandbox.realism import drop_connection, html_page

LOGGER = logging.getLogger("sandbox.netsuite")
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _is_write(request: Request) -> bool:
    """A record write; SuiteQL is sent as POST but only reads, so write latency and write faults skip it (as does a
    batch submission: its writes take the async processors' time, not the request's)."""
    return (request.method in _WRITES and not request.url.path.startswith("/services/rest/query/")
            and not jobs.is_batch_submission(request))


def _too_many(knobs: Knobs) -> NetSuiteError:
    headers = {"Retry-After": str(knobs.retry_after_seconds)} if knobs.send_retry_after else {}
    return NetSuiteError(429, "CONCURRENCY_LIMIT_EXCEEDED", "Concurrent request limit exceeded. Request blocked.",
                         extra_headers=headers)


def _html_page(step: str) -> Response:
    """`html502`/`html503`/`html504`: what a proxy in front of NetSuite answers in an outage (HTML, not JSON)."""
    status = int(step[4:])
    return Response(html_page(status), status_code=status, media_type="text/html")


def _permission_denied(what: str) -> NetSuiteError:
    return NetSuiteError(403, "INSUFFICIENT_PERMISSION",
                         f"Permission Violation: You need a higher level of the '{what}' permission to access this "
                         "page. Please contact your account administrator.")


def _unexpected() -> NetSuiteError:
    return NetSuiteError(500, "UNEXPECTED_ERROR", "An unexpected error occurred. Error ID: sandbox-injected")


class NetSuiteSandbox:
    """Holds the store, knobs, governor and authenticator that all requests of one server share."""

    def __init__(self, data_dir: Path, config: dict[str, Any]) -> None:
        try:
            self.config: SandboxConfig = parse_config(config)
        except OSError as exc:  # an unreadable public_key_path
            raise ConfigError(f"netsuite config: {exc}") from exc
        self.store = Store(data_dir / "netsuite.sqlite3")
        self.knobs = Knobs()
        self.knobs.update(self.config.knobs)
        self.governor = Governor(self.knobs, self.config.default_account)
        self.auth = Authenticator(self.config.accounts, self.store, self.knobs)
        self.api = RecordApi(self.store, self.governor, self.knobs)
        self.jobs = jobs.AsyncJobs(self.store, self.api, self.knobs)
        for account_id in self.config.accounts:
            self._seed(account_id)

    def _seed(self, account_id: str) -> None:
        """Write the account's currencies, subsidiaries, lists (employees, terms, price levels, departments,
        classes, locations) and service item once; later starts keep whatever the account holds."""
        if not self.store.mark_seeded(account_id):
            return
        currency = RECORD_TYPES["currency"]
        for seeded in SEED_CURRENCIES:
            body = apply_changes(currency, None, {k: v for k, v in seeded.items() if k != "id"}, set())
            self.store.insert(account_id, currency.name, currency.family, body, record_id=int(str(seeded["id"])))
        rtype = RECORD_TYPES["subsidiary"]
        for sub in self.config.accounts[account_id].subsidiaries:
            body = apply_changes(rtype, None, {k: v for k, v in sub.items() if k != "id"}, set())
            self.store.insert(account_id, rtype.name, rtype.family, body, record_id=int(sub["id"]))
        for type_name, rows in SEED_LISTS.items():
            listed = RECORD_TYPES[type_name.lower()]
            for row in rows:
                body = apply_changes(listed, None, {k: v for k, v in row.items() if k != "id"}, set())
                self.store.insert(account_id, listed.name, listed.family, body, record_id=int(row["id"]))
        service = RECORD_TYPES["servicesaleitem"]
        for item in SEED_SERVICE_ITEMS:
            body = apply_changes(service, None, {k: v for k, v in item.items() if k != "id"}, set())
            self.store.insert(account_id, service.name, service.family, body, record_id=int(str(item["id"])))

    # --- the real API -------------------------------------------------------------------------------------

    async def handle_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        started = time.monotonic()
        account: str | None = None
        admitted = False
        fault = "ok"
        response: Response | None = None
        try:
            body = await request.body()
            if request.url.path == TOKEN_PATH:
                response = self._token(request, body)
            else:
                account = self.auth.authenticate(request, self._form_params(request, body))
                if self.knobs.pool_held() or not self.governor.admit(account):
                    await self._pool_exhausted()
                admitted = True
                is_write = _is_write(request)
                fault = self.governor.next_fault(request.method, request.url.path, is_write=is_write)
                response = await self._governed(request, account, body, fault, is_write)
        except AuthenticationError as exc:
            LOGGER.info("netsuite: INVALID_LOGIN for %s %s: %s", request.method, request.url.path, exc)
            response = error_response(InvalidLoginError())
        except NetSuiteError as exc:
            response = error_response(exc)
        except Exception:
            LOGGER.exception("netsuite: unexpected error in %s %s", request.method, request.url.path)
            response = error_response(NetSuiteError(500, "UNEXPECTED_ERROR", "An unexpected error occurred."))
        try:
            if response is None:
                await drop_connection(receive, send)
            else:
                await response(scope, receive, send)
        finally:
            if admitted and account is not None:
                self.governor.release(account)
            status = response.status_code if response is not None else 0
            self.governor.record(account, request.method, request.url.path, request.url.query, status, started,
                                 fault)

    async def _governed(
        self, request: Request, account: str, body: bytes, fault: str, is_write: bool
    ) -> Response | None:
        """Apply the fault and latency while holding the account's slot; None means drop the connection.

        `drop` loses the request before NetSuite acts on it; `drop_after` acts (a write is saved) and then
        loses the response, the case that only idempotent upserts survive."""
        if fault == "429":
            raise _too_many(self.knobs)
        delay = self.governor.latency_s(is_write=is_write)
        if fault == "slow":
            delay += self.knobs.slow_ms / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)
        hold = self.knobs.take_write_hold() if is_write and not jobs.handles(request) else None
        while hold is not None and self.knobs.writes_released == hold:
            await asyncio.sleep(0.05)
        if fault == "drop":
            return None
        if fault == "500":
            raise _unexpected()
        if fault.startswith("html"):
            return _html_page(fault)
        if fault == "401":
            raise InvalidLoginError()
        self._check_permission(request)
        if fault == "locked":
            raise user_error("Record has been changed since you started editing it. Please reload the record "
                             "and try again.")
        if fault == "record_locked":
            raise user_error("This record has been locked by a user defined workflow or by another user editing "
                             "it. Please try again later.")
        handler = self.jobs.dispatch if jobs.handles(request) else self.api.dispatch
        response = handler(request, account, body)
        return None if fault == "drop_after" else response

    async def _pool_exhausted(self) -> None:
        """Answer a request beyond the pool: 429 at once, or (`pool_exhausted_response: invalid_login`) the
        INVALID_LOGIN 401 some accounts send instead, after `pool_exhausted_delay_ms`."""
        if self.knobs.pool_exhausted_delay_ms:
            await asyncio.sleep(self.knobs.pool_exhausted_delay_ms / 1000.0)
        if self.knobs.pool_exhausted_response == "invalid_login":
            LOGGER.info("netsuite: pool exhausted, answered INVALID_LOGIN (pool_exhausted_response knob)")
            raise InvalidLoginError()
        raise _too_many(self.knobs)

    def _check_permission(self, request: Request) -> None:
        """The role's permissions: `forbidden_record_types` and `suiteql_forbidden` answer 403."""
        segments = path_segments(request)
        if segments == ["query", "v1", "suiteql"] and self.knobs.suiteql_forbidden:
            raise _permission_denied("SuiteAnalytics Workbook")
        rtype = segments[2] if len(segments) > 2 and segments[:2] == ["record", "v1"] else None
        if rtype is not None and rtype in self.knobs.forbidden_record_types:
            raise _permission_denied(rtype)

    @staticmethod
    def _form_params(request: Request, body: bytes) -> list[tuple[str, str]] | None:
        """Form-encoded bodies are part of the OAuth 1.0a signature; JSON bodies are not."""
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return None

    def _token(self, request: Request, body: bytes) -> Response:
        if request.method != "POST":
            return JSONResponse({"error": "invalid_request"}, status_code=405)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            return JSONResponse(self.auth.issue_token(request, form))
        except TokenError as exc:
            LOGGER.info("netsuite: token request refused: %s", exc)
            status = 401 if exc.error == "invalid_client" else 400
            return JSONResponse({"error": exc.error}, status_code=status)

    # --- admin API ----------------------------------------------------------------------------------------

    def _account(self, request: Request) -> str:
        account = request.query_params.get("account") or self.config.default_account
        if account not in self.config.accounts:
            raise KnobError(f"unknown account {account!r}; accounts: {', '.join(self.config.accounts)}")
        return account

    async def admin_reset(self, request: Request) -> Response:
        data = await _admin_json(request)
        accounts = [self._account(request)] if request.query_params.get("account") else list(self.config.accounts)
        for account_id in accounts:
            self.store.clear(account_id)
            self.jobs.clear(account_id)
            self._seed(account_id)
            self.governor.reset(account_id)
        if data.get("knobs"):
            fresh = Knobs()
            fresh.update(self.config.knobs)
            self.knobs.update(fresh.as_dict())
            self.governor.reseed()
        return JSONResponse({"status": "ok", "accounts": accounts})

    async def admin_records(self, request: Request) -> Response:
        rtype = record_type(request.path_params["rtype"])
        if rtype is None:
            return JSONResponse({"error": f"unknown record type {request.path_params['rtype']}",
                                 "types": [t.name for t in RECORD_TYPES.values()]}, status_code=404)
        records = self.store.list(self._account(request), rtype.name)
        return JSONResponse({"records": [_admin_view(rtype.sublists, r) for r in records]})

    async def admin_record(self, request: Request) -> Response:
        try:
            _, rtype, record = self._stored(request)
        except _NotFoundError:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(_admin_view(rtype.sublists, record))

    # --- records "by hand": what a NetSuite user does in the UI (or a CSV import), not the API the target uses ---

    def _by_hand(self, account: str, rtype_name: str, existing: dict[str, Any] | None,
                 changes: dict[str, Any]) -> str:
        """Validate and save one record like the UI does; not logged as an API request, not governed."""
        rtype = record_type(rtype_name)
        if rtype is None:
            raise KnobError(f"unknown record type {rtype_name}")
        try:
            validator = Validator(rtype, self.api.lookup(account), strict_names=True)
            record = apply_changes(rtype, existing, validator.check_changes(changes), set())
            validator.check_record(record)
        except NetSuiteError as exc:
            raise KnobError(f"{rtype.name}: {exc.code}: {exc.detail}") from exc
        eid = record.get("externalId")
        if eid is not None:
            other = self.store.get_by_external_id(account, rtype.name, str(eid))
            if other is not None and (existing is None or other["id"] != existing["id"]):
                raise KnobError(f"{rtype.name}: a record with external ID {eid} already exists")
        if existing is None:
            return self.store.insert(account, rtype.name, rtype.family, record)
        self.store.replace(account, rtype.name, existing["id"], record)
        return str(existing["id"])

    async def admin_create_records(self, request: Request) -> Response:
        """`POST /__admin/records/<type>`: one record body, or `{"records": [...]}`; externalId optional."""
        data = await _admin_json(request)
        account = self._account(request)
        bodies = data["records"] if isinstance(data.get("records"), list) else [data]
        ids = [self._by_hand(account, request.path_params["rtype"], None, dict(body)) for body in bodies]
        return JSONResponse({"ids": ids}, status_code=201)

    def _stored(self, request: Request) -> tuple[str, Any, dict[str, Any]]:
        """(account, record type, stored record) named by `<type>/<id or eid:X>`; `_NotFoundError` if none."""
        rtype = record_type(request.path_params["rtype"])
        key = request.path_params["key"]
        account = self._account(request)
        record = None
        if rtype is not None:
            record = (self.store.get_by_external_id(account, rtype.name, key[4:]) if key.startswith("eid:")
                      else self.store.get(account, rtype.name, key))
        if rtype is None or record is None:
            raise _NotFoundError
        return account, rtype, record

    async def admin_edit_record(self, request: Request) -> Response:
        """`PATCH /__admin/records/<type>/<id or eid:>`: edit by hand (`null` clears a field)."""
        changes = await _admin_json(request)
        try:
            account, rtype, record = self._stored(request)
        except _NotFoundError:
            return JSONResponse({"error": "not found"}, status_code=404)
        self._by_hand(account, rtype.name, record, changes)
        return JSONResponse(_admin_view(rtype.sublists, self.store.get(account, rtype.name, record["id"]) or {}))

    async def admin_delete_record(self, request: Request) -> Response:
        """`DELETE /__admin/records/<type>/<id or eid:>`: delete by hand."""
        try:
            account, rtype, record = self._stored(request)
        except _NotFoundError:
            return JSONResponse({"error": "not found"}, status_code=404)
        self.store.delete(account, rtype.name, record["id"])
        return JSONResponse({"status": "ok", "id": record["id"]})

    async def admin_order_transition(self, request: Request) -> Response:
        """`POST /__admin/salesorder/<id or eid:>/<approve|fulfil|bill|close>`: what a person does to an order in
        NetSuite (approve it, ship items, invoice it, close lines). Fulfil and bill make an itemFulfillment or an
        invoice record (order_life.py) of what is left; body `{"lines": {"<line>": quantity}}` limits them to those
        lines and quantities (cut to what is left; close: to those lines), `tranDate`/`dueDate` date the invoice."""
        data = await _admin_json(request)
        request.path_params["rtype"] = "salesOrder"
        try:
            account, rtype, record = self._stored(request)
        except _NotFoundError:
            return JSONResponse({"error": "not found"}, status_code=404)
        action = request.path_params["action"]
        chosen = data.get("lines")
        if chosen is not None and not isinstance(chosen, dict):
            raise KnobError('"lines" must map line numbers to quantities')
        if action in ("fulfil", "bill"):
            # A person entering a fulfilment or an invoice: the same records and quantities as the REST transform.
            body = {"item": {"items": [{"orderLine": k, "quantity": v} for k, v in chosen.items()]}} if chosen else {}
            body.update({k: data[k] for k in ("tranDate", "dueDate", "memo") if data.get(k)})
            try:
                if action == "fulfil":
                    self.api.order_life.fulfil(account, record["id"], body, clamp=True)
                else:
                    self.api.order_life.bill(account, record["id"], body, fulfilled_only=False, clamp=True)
            except NetSuiteError as exc:
                raise KnobError(f"salesOrder {record['id']}: {exc.code}: {exc.detail}") from exc
            return JSONResponse(_admin_view(rtype.sublists, self.store.get(account, rtype.name, record["id"]) or {}))
        order = {k: v for k, v in record.items() if k != "id"}
        if action == "approve":
            if order.get("orderStatus") != "A":
                raise KnobError(f"order {record['id']} is not pending approval (status {order.get('status')})")
            order["orderStatus"] = "B"
        elif action == "close":
            lines = [line for line in order.get("item", []) if not line.get("isClosed")]
            if chosen is not None:
                lines = [line for line in lines if str(line.get("line")) in {str(k) for k in chosen}]
            for line in lines:
                line["isClosed"] = True
        else:
            raise KnobError(f"unknown order action {action!r}: approve, fulfil, bill or close")
        order["orderStatus"] = order["status"] = order_status(order)
        # Closing changes the order: NetSuite stamps it modified (incremental reads see it).
        order["lastModifiedDate"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.store.replace(account, rtype.name, record["id"], order)
        return JSONResponse(_admin_view(rtype.sublists, self.store.get(account, rtype.name, record["id"]) or {}))

    async def admin_pay_invoice(self, request: Request) -> Response:
        """`POST /__admin/invoice/<id or eid:>/pay`: a person receiving a payment for an invoice; body `{"amount"}`
        (default: what remains), optional `tranDate`. Answers the invoice as it is after the payment."""
        data = await _admin_json(request)
        request.path_params["rtype"] = "invoice"
        try:
            account, rtype, invoice = self._stored(request)
        except _NotFoundError:
            return JSONResponse({"error": "not found"}, status_code=404)
        body = {k: data[k] for k in ("tranDate", "memo") if data.get(k)}
        if data.get("amount") is not None:
            body["payment"] = data["amount"]
        try:
            payment_id = self.api.order_life.pay_invoice(account, invoice["id"], body)
        except NetSuiteError as exc:
            raise KnobError(f"invoice {invoice['id']}: {exc.code}: {exc.detail}") from exc
        view = _admin_view(rtype.sublists, self.store.get(account, rtype.name, invoice["id"]) or {})
        return JSONResponse({**view, "payment": payment_id})

    async def admin_health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def admin_stats(self, request: Request) -> Response:
        account = self._account(request)
        stats = self.governor.for_account(account).as_dict()
        stats["records"] = {t.name: self.store.count(account, t.name) for t in RECORD_TYPES.values()}
        return JSONResponse(stats)

    async def admin_requests(self, request: Request) -> Response:
        return JSONResponse(list(self.governor.log))

    async def admin_knobs(self, request: Request) -> Response:
        if request.method == "POST":
            changes = self.knobs.update(await _admin_json(request))
            self.governor.reseed(seed_changed="fault_seed" in changes)
        return JSONResponse(self.knobs.as_dict())

    async def admin_accounts(self, request: Request) -> Response:
        """Account ids and public identifiers only (no secrets)."""
        return JSONResponse({"accounts": [
            {"account_id": a.account_id,
             "tba": [{"consumer_key": c.consumer_key, "token_id": c.token_id} for c in a.tba],
             "m2m_clients": [{"client_id": c.client_id, "certificate_id": c.certificate_id}
                             for c in self.auth.m2m_clients(a)]}
            for a in self.config.accounts.values()
        ]})

    async def admin_m2m_clients(self, request: Request) -> Response:
        data = await _admin_json(request)
        account = str(data.pop("account_id", self.config.default_account))
        if account not in self.config.accounts:
            raise KnobError(f"unknown account {account!r}")
        try:
            client = parse_m2m_client("m2m client", data)
        except ConfigError as exc:
            raise KnobError(str(exc)) from exc
        self.auth.add_m2m_client(account, client)
        return JSONResponse({"status": "ok", "client_id": client.client_id,
                             "certificate_id": client.certificate_id}, status_code=201)


class _NotFoundError(Exception):
    """No such record for an admin route."""


async def _admin_json(request: Request) -> dict[str, Any]:
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


def _admin_view(sublists: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """A stored record in payload shape (sublists as {"items": [...]})."""
    return {k: ({"items": v} if k in sublists else v) for k, v in record.items()}




async def _knob_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


def create_app(data_dir: Path, config: dict[str, Any]) -> Starlette:
    """Build the NetSuite stand-in; state lives in `data_dir/netsuite.sqlite3` and survives restarts."""
    sandbox = NetSuiteSandbox(data_dir, config)
    routes = [
        *admin_routes(sandbox),
        # The real API: one ASGI handler (auth, pool, faults, then `routes.API_ROUTES`), mounted as a raw app so a
        # "dropped connection" fault can close the socket.
        Mount(API_PREFIX.rstrip("/"), app=sandbox.handle_api),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sandbox.jobs.start()
        yield
        await sandbox.jobs.stop()
        sandbox.store.close()

    app = Starlette(routes=routes, exception_handlers={KnobError: _knob_error}, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
