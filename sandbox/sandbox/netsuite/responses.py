"""NetSuite-shaped responses: the header set every real response carries, and the error body format.

Shapes follow the recorded traffic in shared/wire-samples/netsuite/: compact JSON error bodies ending in a
newline, `application/vnd.oracle.resource+json; type=error` content type, `Connection: close` on errors, and
the Akamai/NetSuite tracing headers (fresh UUIDs per response) on everything.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

from starlette.responses import Response

ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error; charset=UTF-8"
RECORD_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=singular-resource; charset=UTF-8"
COLLECTION_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=collection; charset=UTF-8"

_TYPE_URLS = {
    400: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "Bad Request"),
    403: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4", "Forbidden"),
    404: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5", "Not Found"),
    405: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6", "Method Not Allowed"),
    415: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.16", "Unsupported Media Type"),
    429: ("https://datatracker.ietf.org/doc/html/rfc6585#section-4", "Too Many Requests"),
    500: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1", "Internal Server Error"),
}

# Verbatim body of the recorded 401 (wire-samples/netsuite/error_401_invalid_login.yaml, first sample).
INVALID_LOGIN_BODY = (
    '{"type":"https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2","title":"Unauthorized",'
    '"status":401,"o:errorDetails":[{"detail":"Invalid login attempt. For more details, see the Login Audit '
    'Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",'
    '"o:errorCode":"INVALID_LOGIN"}]}'
)


class NetSuiteError(Exception):
    """An error NetSuite would answer with; raised anywhere in request handling, rendered once."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        header: str | None = None,
        query_param: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail
        self.path, self.header, self.query_param = path, header, query_param
        self.extra_headers = extra_headers or {}

    def body(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"detail": self.detail}
        if self.header is not None:
            entry["o:errorHeader"] = self.header
        if self.query_param is not None:
            entry["o:errorQueryParam"] = self.query_param
        entry["o:errorCode"] = self.code
        if self.path is not None:
            entry["o:errorPath"] = self.path
        type_url, title = _TYPE_URLS[self.status]
        return {"type": type_url, "title": title, "status": self.status, "o:errorDetails": [entry]}


class InvalidLoginError(NetSuiteError):
    """Every authentication failure: NetSuite never says which part of the login was wrong."""

    def __init__(self) -> None:
        # The reason is logged by the sandbox only; the client sees the single generic body.
        super().__init__(401, "INVALID_LOGIN", "Invalid login attempt.")


def user_error(detail: str, *, path: str | None = None) -> NetSuiteError:
    return NetSuiteError(400, "USER_ERROR", f"Error while accessing a resource. {detail}", path=path)


def invalid_value(value: Any, field: str, path: str) -> NetSuiteError:
    """The INVALID_CONTENT error of the Oracle docs example (wording and o:errorPath)."""
    return NetSuiteError(
        400,
        "INVALID_CONTENT",
        f"Error while accessing resource: You have entered an Invalid Field Value {value} for the following field: "
        f"{field}",
        path=path,
    )


def not_found() -> NetSuiteError:
    return NetSuiteError(
        404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record instance ID."
    )


def _akamai_grn() -> str:
    return f"0.{secrets.token_hex(4)}.{int(time.time())}.{secrets.token_hex(4)[:7]}"


def _rtimer() -> str:
    return f"{secrets.randbelow(2**31)}:{secrets.token_hex(30).upper()}:80"


def netsuite_headers(*, has_body: bool) -> list[tuple[str, str]]:
    """The tracing and caching headers present on every recorded NetSuite response."""
    headers = [
        ("Akamai-GRN", _akamai_grn()),
        ("Cache-Control", "No-Cache"),
        ("Expires", "0"),
        ("NS_RTIMER_COMPOSITE", _rtimer()),
        ("Pragma", "No-Cache"),
        ("Strict-Transport-Security", "max-age=31536000"),
        ("Vary", "User-Agent"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-N-OperationId", str(uuid.uuid4())),
        ("X-NetSuite-JobId", str(uuid.uuid4())),
    ]
    if has_body:
        headers.append(("Vary", "Accept-Encoding"))
    return headers


def build_response(
    status: int,
    body: bytes = b"",
    *,
    content_type: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """A response with NetSuite's header set plus `headers` (repeated names kept, as NetSuite repeats them)."""
    response = Response(body, status_code=status)
    for name, value in netsuite_headers(has_body=bool(body)) + list(headers or []):
        response.headers.append(name, value)
    if content_type is not None:
        response.headers.append("Content-Type", content_type)
    return response


def json_response(status: int, data: Any, content_type: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return build_response(
        status, json.dumps(data, separators=(",", ":")).encode(), content_type=content_type, headers=headers
    )


def error_response(error: NetSuiteError) -> Response:
    if isinstance(error, InvalidLoginError):
        body = INVALID_LOGIN_BODY.encode()
    else:
        body = (json.dumps(error.body(), separators=(",", ":")) + "\n").encode()
    headers = [("Connection", "close"), *error.extra_headers.items()]
    return build_response(error.status, body, content_type=ERROR_CONTENT_TYPE, headers=headers)
