"""NetSuite's error shapes: one exception type rendered once (`responses.error_response`), and the errors the
stand-in raises, worded as the recordings and Oracle's help show them (see sandbox/docs/netsuite.md for the ones
whose wording is the sandbox's choice).
"""

from __future__ import annotations

from typing import Any

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




def external_id_refused() -> NetSuiteError:
    """Oracle's help ("Using External IDs"): `|` is a multi-select delimiter in REST web services."""
    return NetSuiteError(400, "INVALID_ID",
                         "Invalid external ID: the pipe character (|) is a multi-select delimiter in REST web "
                         "services; an external ID may contain letters, numbers, underscore (_) and hyphen (-).",
                         path="externalId")


def unsupported_media_type(content_type: str) -> NetSuiteError:
    return NetSuiteError(415, "UNSUPPORTED_MEDIA_TYPE",
                         f"Unsupported Media Type: {content_type or 'none'}. Send the body as application/json.",
                         header="Content-Type")
