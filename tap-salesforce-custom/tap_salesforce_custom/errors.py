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
    """Salesforce answered with a non-retryable error, or kept failing past `max_retries`."""


class QuotaGuardStop(Exception):  # noqa: N818 - a clean stop, not an error
    """API usage reached `max_api_usage_percent` (or Salesforce said REQUEST_LIMIT_EXCEEDED): stop cleanly."""
