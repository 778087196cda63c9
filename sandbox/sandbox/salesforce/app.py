"""The Salesforce stand-in as an ASGI app: real REST/Bulk 2.0/Bulk 1.0/OAuth paths plus the `/__admin/` API.

Real paths answer with Salesforce's shapes, status codes and headers (`Sforce-Limit-Info`, `Server: sfdcedge`,
request ids, `Content-Type: application/json;charset=UTF-8`, names spelled as Salesforce does: `wire_headers`);
`/composite` and `/composite/batch` run their subrequests through the same handlers (`composite`); Bulk 1.0
lives in `bulk_v1`. Every authenticated `/services/data` call counts against the daily quota. The realism
middleware (latency, scripted and random faults) wraps only the real paths. Per API the same parts as the NetSuite
stand-in: `routes.py` (the route table, data), `responses.py` (wire handlers), `admin.py` (admin handlers),
`errors.py` (Salesforce's error shapes), `backend.py` (the state holder, no HTTP, over `store`, `query`, `bulk`,
`dml`, `metadata`, `auth`). This module only adds the realism middleware and assembles the app.
Database work runs in the thread pool so concurrent clients are served in parallel.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import Response

from sandbox.realism import HTML_PAGES, html_page
from sandbox.salesforce.backend import Sandbox
from sandbox.salesforce.errors import invalid_session
from sandbox.salesforce.knobs import ASGIApp, Fault, Message, Receive, Scope, Send, abort_connection
from sandbox.salesforce.responses import _decorate, _error_response, sf_json
from sandbox.salesforce.routes import routes
from sandbox.salesforce.scale import UriLimitMiddleware
from sandbox.salesforce.wire_headers import SENDS_DATE_HEADER, SalesforceHeaderNames

_FAULT_ERRORS = {
    500: ("UNKNOWN_EXCEPTION", ("An unexpected error occurred. Please include this ErrorId if you contact support: "
                               "1718063249-53291 (-1414512817)")),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable."),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
}



async def _discard(message: Message) -> None:
    """An ASGI `send` that loses the response (the `drop_after` fault)."""


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
            if fault.drop_after:  # the request is applied (a write is saved), then its response is lost
                await self.app(scope, receive, _discard)
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


def create_app(data_dir: Path, config: dict[str, Any]) -> Starlette:
    """Build the ASGI app; records, tokens, cursors and jobs persist in `data_dir/salesforce.sqlite3`."""
    sandbox = Sandbox(data_dir, config)
    app = Starlette(routes=routes(), middleware=[Middleware(SalesforceHeaderNames),
                                                  Middleware(UriLimitMiddleware, log=sandbox.request_log),
                                                  Middleware(RealismMiddleware, sandbox=sandbox)])
    app.state.sandbox = sandbox
    setattr(app.state, SENDS_DATE_HEADER, True)
    return app

