"""The error breaker: `max_identical_errors` stops a run only when the account refuses everything sent.

An error that is the account's, not the records' (a role without the permission, a disabled feature, a subsidiary
no record may use) shows as the same NetSuite error for every record sent. The breaker counts, per stream, the
refusals in a row with the same (status, code, detail); a success resets the count. Invariant: **only a refusal
that says something new about the account counts.** So these neither count nor reset the count:

- a record-level decision of the target itself (`matching.DECISION_CODES`: `AMBIGUOUS_MATCH`, `MATCH_CONFLICT`,
  `MATCH_INACTIVE`, `MATCH_OTHER_SUBSIDIARY`, `MATCH_NOT_APPROVED`, `MATCH_SKIPPED`): they are about one record
  and its candidates, never about the account (the merge's conflicts and the order lifecycle's `ORDER_LOCKED` are
  decided before anything is sent, so they never reach the breaker);
- a *known* refusal: NetSuite refused this very record before with the same error code (the write ledger keeps
  the last refusal of each record, ledger.py). A set of records NetSuite keeps refusing for their own reason (won
  opportunities without products) is not the account's fault, even when the ledger skips the accepted records in
  between and so makes the refusals arrive in a row;
- a record not sent at all: a payload NetSuite refused before, unchanged since, stays a waiting dead letter and is
  not sent again (`still_refused`, sinks.py) until it changes, is replayed, or the ledger is ignored.

A genuinely account-wide error still stops the run: fresh payloads (never refused before) refused the same way,
`max_identical_errors` in a row. The records of such a streak are then *not* kept as known refusals (`streak`):
the account was at fault, so after the fix they are sent again like any other.
"""

from __future__ import annotations

from target_netsuite.client import RecordError
from target_netsuite.matching import DECISION_CODES

RECORD_DECISIONS = frozenset(DECISION_CODES)


def is_record_decision(code: str) -> bool:
    """A dead-letter code the target gives one record by its own decision (matching, the merge's conflicts)."""
    return code in RECORD_DECISIONS


class IdenticalErrors:
    """The breaker of one stream: refusals in a row with the same error, known refusals and decisions left out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.streak: list[str] = []  # external ids of the refusals counted in a row
        self._last: tuple[int, str, str] | None = None

    @property
    def tripped(self) -> bool:
        return self.count >= self.limit

    def accepted(self) -> None:
        """NetSuite accepted a record of the stream: the account can write this stream."""
        self.count = 0
        self.streak = []
        self._last = None

    def refused(self, external_id: str, error: RecordError, known_code: str | None) -> bool:
        """Count this refusal unless it says nothing about the account; True once `limit` identical ones are in a
        row. `known_code`: the error code NetSuite gave this record's last refusal, if any."""
        if is_record_decision(error.code) or known_code == error.code:
            return False
        key = (error.status, error.code, error.detail)
        if key != self._last:
            self.count, self.streak = 0, []
        self._last = key
        self.count += 1
        self.streak.append(external_id)
        return self.tripped
