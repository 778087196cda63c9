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

from sandbox.netsuite.errors import (  # re-exported: the error shapes live in errors.py
    INVALID_LOGIN_BODY,
    InvalidLoginError,
    NetSuiteError,
    invalid_value,
    not_found,
    user_error,
)

__all__ = ["COLLECTION_CONTENT_TYPE", "ERROR_CONTENT_TYPE", "RECORD_CONTENT_TYPE", "InvalidLoginError", "NetSuiteError",
           "build_response", "error_response", "invalid_value", "json_response", "not_found", "user_error"]

ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error; charset=UTF-8"
RECORD_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=singular-resource; charset=UTF-8"
COLLECTION_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=collection; charset=UTF-8"

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
