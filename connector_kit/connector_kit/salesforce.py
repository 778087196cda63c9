"""Salesforce's rules, shared by tap-salesforce-custom and target-salesforce-custom: the errors that end a run, the
classify function of the shared transport, and the daily API quota guard.

Invariants:
- one classify function for every Salesforce call (`classify_salesforce`): 429, 5xx, SERVER_UNAVAILABLE,
  UNABLE_TO_LOCK_ROW and a concurrent-request REQUEST_LIMIT_EXCEEDED are retried or waited out by the transport;
  the daily REQUEST_LIMIT_EXCEEDED is a clean `QuotaGuardStop`; any other refusal is a one-line
  `SalesforceAPIError` carrying Salesforce's `errorCode` and the HTTP status;
- the quota guard (`QuotaGuard`) refuses a call *before* it is sent when it would take the org's daily usage (as
  the last `Sforce-Limit-Info` header said) past the configured share, so a connector stops cleanly, leaving the
  rest of the quota to the org's other integrations;
- every message is one line, free of secrets (no token, no request body).
"""

from __future__ import annotations

import re
import typing as t

from connector_kit.transport import Verdict

if t.TYPE_CHECKING:
    import requests

RETRY_STATUSES = frozenset({500, 502, 503, 504})
RETRY_ERROR_CODES = frozenset({"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
_USAGE = re.compile(r"(?P<kind>per-app-api-usage|api-usage)=(?P<used>\d+)/(?P<limit>\d+)")


class SalesforceFatalError(Exception):
    """A problem retrying cannot fix (bad credentials, bad config, a rejected query)."""


class SalesforceAuthError(SalesforceFatalError):
    """Login failed or the auth settings are incomplete."""


class SalesforceAPIError(SalesforceFatalError):
    """Salesforce answered with a non-retryable error, or kept failing past `max_retries`.

    `code` is Salesforce's `errorCode` (`QUERY_TIMEOUT`, `INVALID_QUERY_LOCATOR`, `INVALID_FIELD`, ...) and
    `status` the HTTP status, when there was an answer: callers recover from some of them.
    """

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        """Keep the one-line message, the error code and the HTTP status."""
        super().__init__(message)
        self.code = code
        self.status = status


class QuotaGuardStop(Exception):  # noqa: N818 - a clean stop, not an error
    """API usage reached `max_api_usage_percent` (or Salesforce said REQUEST_LIMIT_EXCEEDED): stop cleanly."""


def parse_limit_info(header: str | None) -> list[tuple[str, int, int]]:
    """Every `(kind, used, limit)` in a `Sforce-Limit-Info` header.

    Forms seen: `api-usage=18/15000`, `api-usage=18/15000; per-app-api-usage=17/250(appName=x)`, and
    `api-usage=...; api-bursts=...` (bursts are not a daily quota and are ignored).
    """
    if not header:
        return []
    return [(m["kind"], int(m["used"]), int(m["limit"])) for m in _USAGE.finditer(header)]


def error_code(response: requests.Response) -> tuple[str, str]:
    """`(errorCode, first line of message)` of a Salesforce error array (or object), else `("", "")`."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    first = body[0] if isinstance(body, list) and body else body
    if not isinstance(first, dict):
        return "", ""
    message = str(first.get("message") or "").strip().splitlines()
    return str(first.get("errorCode") or ""), (message[0] if message else "")


def classify_salesforce(response: requests.Response, method: str, url: str,
                        ok_statuses: t.Collection[int] = (200, 201, 204),
                        record_error_statuses: t.Collection[int] = ()) -> Verdict:
    """Salesforce's rules, as the SDK's `validate_response`: 429, 5xx, SERVER_UNAVAILABLE, UNABLE_TO_LOCK_ROW and
    a concurrent-request REQUEST_LIMIT_EXCEEDED are retried; the daily REQUEST_LIMIT_EXCEEDED is a clean
    `QuotaGuardStop`; a status in `record_error_statuses` is handed back as a record error (the caller sets the
    records of that request aside); anything else is a one-line `SalesforceAPIError` carrying the code and status."""
    if response.status_code in ok_statuses:
        return Verdict.done()
    code, message = error_code(response)
    reason = f"HTTP {response.status_code} {code}".strip()
    if code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" not in message.lower():
        msg = f"quota guard: Salesforce answered REQUEST_LIMIT_EXCEEDED ({message}); stopped cleanly"
        return Verdict.fatal(QuotaGuardStop(msg))
    if response.status_code == 429 or code == "REQUEST_LIMIT_EXCEEDED":
        return Verdict.throttled(reason)
    if response.status_code in RETRY_STATUSES or code in RETRY_ERROR_CODES:
        return Verdict.retry(reason)
    if response.status_code in record_error_statuses:
        return Verdict.record_error(reason)
    detail = f"{code}: {message}" if code else response.text[:200].replace("\n", " ")
    msg = f"Salesforce {method} {url.split('?')[0]} failed: HTTP {response.status_code} {detail}"
    return Verdict.fatal(SalesforceAPIError(msg, code=code, status=response.status_code))


class QuotaGuard:
    """The org's daily API usage as Salesforce last reported it, and the stop before it passes a share."""

    def __init__(self, max_usage_percent: float) -> None:
        self.max_usage_percent = max_usage_percent
        self.usage: dict[str, tuple[int, int]] = {}

    def note(self, response: requests.Response) -> None:
        """Remember the usage in the response's `Sforce-Limit-Info` header (a missing header changes nothing)."""
        for kind, used, limit in parse_limit_info(response.headers.get("Sforce-Limit-Info")):
            self.usage[kind] = (used, limit)

    def check(self) -> None:
        """Raise `QuotaGuardStop` if one more call would take usage past `max_usage_percent`."""
        for kind, (used, limit) in self.usage.items():
            if limit and (used + 1) * 100 > limit * self.max_usage_percent:
                msg = (
                    f"quota guard: Salesforce {kind} is {used}/{limit} ({used * 100 / limit:.1f}%), "
                    f"max_api_usage_percent is {self.max_usage_percent:g}; stopped cleanly with state saved"
                )
                raise QuotaGuardStop(msg)
