"""Optional references: a link a record is better with but never waits for (a sales order's `createdFrom`, the
estimate it came from).

A required reference whose record NetSuite does not hold yet parks the whole record (parking.py). An optional one
must never hold the record back: the estimate is not needed to fulfil or bill the order, and it may never come (the
quote was not synced, its estimate was dead-lettered). `optional_references` names, per record type, the top-level
fields whose reference is optional (default `{"salesOrder": ["createdFrom"]}`). For such a field:

- resolved (NetSuite holds the record, from this run's writes or SuiteQL): written like any reference;
- unresolved: the record is written at once *without* that field (a field not sent is left as NetSuite holds it),
  is recorded in the write ledger as written without its links (`unlinked`: never taken for the payload as it
  came; the same payload read again is not sent again while the parked copy waits), and is kept parked with a
  `waiting_for` that names the missing record first (so the end-of-run tries write its type first) and holds
  `LINK_WAIT`; every end-of-run try looks the reference up again and, once it resolves,
  writes the record whole (then recorded and settled as usual). A try that still finds nothing sends nothing;
- a newer version of the record is written at once too (without the link while it is still missing) and replaces
  the parked one; the wait counts from the first time the record was parked;
- after `reference_wait_hours` and at least `MIN_ATTEMPTS` tries the link is given up: the record stays as written,
  leaves the parking store, and counts `unlinked` with one log line naming the missing record. Never a dead letter.
  A later version of the record (the source changed) is written with the link if it resolves by then.

Invariant: an optional reference never delays, parks unwritten, or dead-letters a record; once the referenced record
reaches NetSuite within the wait, the record is linked without another change in the source.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

if t.TYPE_CHECKING:
    from target_netsuite.references import Ref

#: In the `waiting_for` of a record already written that waits only for an optional link.
LINK_WAIT = " (optional link at "
#: The shipped default of the `optional_references` setting.
DEFAULT_OPTIONAL_REFERENCES: dict[str, list[str]] = {"salesOrder": ["createdFrom"]}


class OptionalReferences:
    """Which references of which record types are optional (`optional_references`)."""

    def __init__(self, fields: Mapping[str, t.Iterable[str]] | None) -> None:
        self._fields = {record_type: frozenset(names) for record_type, names in (fields or {}).items()}

    def split(self, record_type: str, missing: list[tuple[str, Ref]]) -> tuple[list[tuple[str, Ref]],
                                                                             list[tuple[str, Ref]]]:
        """(required, optional) of a record's unresolved references, by the path each sits at."""
        optional_fields = self._fields.get(record_type, frozenset())
        required = [(path, ref) for path, ref in missing if path not in optional_fields]
        optional = [(path, ref) for path, ref in missing if path in optional_fields]
        return required, optional


def without_links(body: dict, optional: list[tuple[str, Ref]]) -> dict:
    """The body without the fields of unresolved optional references (top-level fields only)."""
    dropped = {path for path, _ in optional}
    return {key: value for key, value in body.items() if key not in dropped}


def waiting_for(optional: list[tuple[str, Ref]]) -> str:
    """The parked entry's `waiting_for`, e.g. `estimate 0Q0… (optional link at createdFrom; written without it)`."""
    path, (ref_type, ref_id) = optional[0]
    return f"{ref_type} {ref_id}{LINK_WAIT}{path}; written without it)"


def is_link_wait(waiting: str | None) -> bool:
    """Whether a parked entry was written already and waits only for an optional link."""
    return bool(waiting) and LINK_WAIT in str(waiting)


#: Suffix of the ledger entry of a payload written without its unresolved optional links (see `unlinked`).
UNLINKED_SUFFIX = "~unlinked"


def unlinked(payload_hash: str | None) -> str | None:
    """The ledger entry of a payload NetSuite accepted without its unresolved optional links. It never equals the
    payload's own hash, so the ledger never takes the links for written; the same payload read again while its
    parked copy waits for the link is not sent again (sinks.py), and the parked copy sends the links once they
    resolve."""
    return f"{payload_hash}{UNLINKED_SUFFIX}" if payload_hash else None
