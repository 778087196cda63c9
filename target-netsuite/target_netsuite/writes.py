"""One record on its way to NetSuite: what a sink prepared from a RECORD message, before it is written.

A module of its own, below the matcher and the sinks, so that both can name it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from target_netsuite.references import Ref


@dataclass
class Write:
    """One record on its way to NetSuite."""

    external_id: str
    action: str  # "upsert" or "delete"
    record: dict  # as received, for dead letters
    body: dict  # without control keys and without externalId (it is in the URL)
    refs: list[tuple[str, Ref]]
    replace: list[str]
    exists: bool | None = None  # known to NetSuite before this write (set by the matcher; None: not looked up)
    adopted: bool = False  # given our external id by the matcher in this run (the merge keeps NetSuite-only values)
    payload_hash: str | None = None  # recorded in the write ledger once NetSuite accepts this upsert
    overtakable: bool = False  # an earlier run's write of it NetSuite may still apply (overtake.py): never trusted
    link_wait: str | None = None  # written without an unresolved optional reference, which it still awaits
    from_parking: bool = False  # an end-of-run try of a parked record, not a record read this run
    known_refusal: str | None = None  # the code of NetSuite's last refusal of this record (ledger.py, breaker.py)
