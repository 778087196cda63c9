"""Salesforce's error forms, raised anywhere and rendered once by the app.

REST errors are a JSON array `[{"message", "errorCode"[, "fields"]}]`; OAuth errors are a flat object
`{"error", "error_description"}`. Keeping both here means every endpoint fails the same way the real one does.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A REST API error: HTTP status plus one `{message, errorCode[, fields]}` entry."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


class OAuthError(Exception):
    """A token-endpoint error: `400 {"error", "error_description"}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid", headers={"WWW-Authenticate": "Token"})
