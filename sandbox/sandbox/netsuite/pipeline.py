"""The request pipeline of the real API (`/services/rest/...`), one ASGI callable.

authenticate (TBA or bearer) → take a slot of the account's concurrency pool or answer as an exhausted pool →
injected fault (the shared fault model of `sandbox.realism`: script or rates) → latency → handler (the route
table `routes.API_ROUTES`, answered by `api.RecordApi` and `jobs.AsyncJobs`) → release the slot, count and log.
`/services/rest/auth/oauth2/v1/token` issues M2M tokens and is not governed. Mounted as a raw ASGI app so a
"dropped connection" fault can close the socket. Invariant: every governed request is counted and logged once,
and its slot released once, whatever it answered (or if it was dropped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from sandbox.netsuite import jobs
from sandbox.netsuite.auth import TOKEN_PATH, AuthenticationError, TokenError
from sandbox.netsuite.backend import NetSuiteBackend
from sandbox.netsuite.knobs import Knobs
from sandbox.netsuite.responses import (
    InvalidLoginError,
    NetSuiteError,
    error_response,
    user_error,
)
from sandbox.netsuite.routes import path_segments
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


class ApiPipeline:
    """The ASGI callable of `/services/rest/`, over one backend."""

    def __init__(self, backend: NetSuiteBackend) -> None:
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        backend = self.backend
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
                account = backend.auth.authenticate(request, self._form_params(request, body))
                if backend.knobs.pool_held() or not backend.governor.admit(account):
                    await self._pool_exhausted()
                admitted = True
                is_write = _is_write(request)
                fault = backend.governor.next_fault(request.method, request.url.path, is_write=is_write)
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
                backend.governor.release(account)
            status = response.status_code if response is not None else 0
            backend.governor.record(account, request.method, request.url.path, request.url.query, status, started,
                                    fault)

    async def _governed(
        self, request: Request, account: str, body: bytes, fault: str, is_write: bool
    ) -> Response | None:
        """Apply the fault and latency while holding the account's slot; None means drop the connection.

        `drop` loses the request before NetSuite acts on it; `drop_after` acts (a write is saved) and then
        loses the response, the case that only idempotent upserts survive."""
        knobs = self.backend.knobs
        if fault == "429":
            raise _too_many(knobs)
        delay = self.backend.governor.latency_s(is_write=is_write)
        if fault == "slow":
            delay += knobs.slow_ms / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)
        hold = knobs.take_write_hold() if is_write and not jobs.handles(request) else None
        while hold is not None and knobs.writes_released == hold:
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
        handler = self.backend.jobs.dispatch if jobs.handles(request) else self.backend.api.dispatch
        response = handler(request, account, body)
        return None if fault == "drop_after" else response

    async def _pool_exhausted(self) -> None:
        """Answer a request beyond the pool: 429 at once, or (`pool_exhausted_response: invalid_login`) the
        INVALID_LOGIN 401 some accounts send instead, after `pool_exhausted_delay_ms`."""
        knobs = self.backend.knobs
        if knobs.pool_exhausted_delay_ms:
            await asyncio.sleep(knobs.pool_exhausted_delay_ms / 1000.0)
        if knobs.pool_exhausted_response == "invalid_login":
            LOGGER.info("netsuite: pool exhausted, answered INVALID_LOGIN (pool_exhausted_response knob)")
            raise InvalidLoginError()
        raise _too_many(knobs)

    def _check_permission(self, request: Request) -> None:
        """The role's permissions: `forbidden_record_types` and `suiteql_forbidden` answer 403."""
        knobs = self.backend.knobs
        segments = path_segments(request)
        if segments == ["query", "v1", "suiteql"] and knobs.suiteql_forbidden:
            raise _permission_denied("SuiteAnalytics Workbook")
        rtype = segments[2] if len(segments) > 2 and segments[:2] == ["record", "v1"] else None
        if rtype is not None and rtype in knobs.forbidden_record_types:
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
            return JSONResponse(self.backend.auth.issue_token(request, form))
        except TokenError as exc:
            LOGGER.info("netsuite: token request refused: %s", exc)
            status = 401 if exc.error == "invalid_client" else 400
            return JSONResponse({"error": exc.error}, status_code=status)
