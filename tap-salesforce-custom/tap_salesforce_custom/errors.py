"""Exceptions that end a run, each carrying a one-line message free of secrets.

The errors shared with target-salesforce-custom live in `connector_kit.salesforce`. The tap's CLI prints
`str(exc)` of these on one line and exits non-zero, instead of a traceback: an operator
reading a cron mail needs the cause, not the stack.
"""

from __future__ import annotations

from connector_kit.salesforce import QuotaGuardStop, SalesforceAPIError, SalesforceAuthError, SalesforceFatalError

__all__ = ["BulkJobError", "QuotaGuardStop", "SalesforceAPIError", "SalesforceAuthError", "SalesforceFatalError"]


class BulkJobError(SalesforceAPIError):
    """A Bulk 2.0 job ended `Failed` or `Aborted`; `timed_out` when its message says it ran too long or too big."""

    #: Words of the `errorMessage`s of jobs that failed for size or time (retried over smaller windows).
    TIMEOUT_MARKERS = ("QUERY_TIMEOUT", "timed out", "timeout", "too long", "Retried more than")

    @property
    def timed_out(self) -> bool:
        """Whether a smaller window may succeed where this job failed."""
        text = str(self).lower()
        return any(marker.lower() in text for marker in self.TIMEOUT_MARKERS)

