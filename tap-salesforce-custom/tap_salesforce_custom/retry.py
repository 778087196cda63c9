"""Retry policy shared by the token call and API calls: which failures are transient, and how long to wait."""

from __future__ import annotations

import random

#: Backoff: first wait ~BACKOFF_BASE s, doubling per attempt, never above BACKOFF_CAP s, with jitter.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: half fixed, half random, so retries of many clients spread out."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
