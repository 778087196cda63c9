"""Exceptions that end a run, each carrying a one-line message free of secrets.

The tap's CLI prints `str(exc)` of these on one line and exits non-zero, instead of a traceback: an operator
reading a cron mail needs the cause, not the stack.
"""

from __future__ import annotations


class SalesforceFatalError(Exception):
    """A problem retrying cannot fix (bad credentials, bad config, a rejected query)."""


class SalesforceAuthError(SalesforceFatalError):
    """Login failed or the auth settings are incomplete."""


class SalesforceAPIError(SalesforceFatalError):
    """Salesforce answered with a non-retryable error, or kept failing past `max_retries`.

    `code` is Salesforce's `errorCode` (`QUERY_TIMEOUT`, `INVALID_QUERY_LOCATOR`, `INVALID_FIELD`, ...) and
    `status` the HTTP status, when there was an answer: readers recover from some of them (see `reads.py`).
    """

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        """Keep the one-line message, the error code and the HTTP status."""
        super().__init__(message)
        self.code = code
        self.status = status


class BulkJobError(SalesforceAPIError):
    """A Bulk 2.0 job ended `Failed` or `Aborted`; `timed_out` when its message says it ran too long or too big."""

    #: Words of the `errorMessage`s of jobs that failed for size or time (retried over smaller windows).
    TIMEOUT_MARKERS = ("QUERY_TIMEOUT", "timed out", "timeout", "too long", "Retried more than")

    @property
    def timed_out(self) -> bool:
        """Whether a smaller window may succeed where this job failed."""
        text = str(self).lower()
        return any(marker.lower() in text for marker in self.TIMEOUT_MARKERS)


class QuotaGuardStop(Exception):  # noqa: N818 - a clean stop, not an error
    """API usage reached `max_api_usage_percent` (or Salesforce said REQUEST_LIMIT_EXCEEDED): stop cleanly."""
