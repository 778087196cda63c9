"""The order lifecycle: the target never rewrites a sales order NetSuite has fulfilled, billed or closed, even in part.

Before a batch of `salesOrder` upserts is sent, one SuiteQL query per `STATUS_QUERY_SIZE` orders reads the
`transaction.status` of those NetSuite already holds (by externalId); if SuiteQL refuses, the run stops before
writing any of them (fail closed). Only `A` (pending approval) and `B` (pending
fulfillment: nothing fulfilled, billed or closed) may be rewritten; for any other status the write is not sent and
becomes an `ORDER_LOCKED` dead letter naming the status (counted `conflict` in the run summary). Fields listed in
`order_locked_fields` (e.g. `memo`) are still updated on a locked order, alone, in a request of their own, through
the three-way merge (merge.py) like every update: a memo a person changed in NetSuite is kept (or a listed conflict)
unless Salesforce changed it too and the conflict policy says Salesforce wins. A delete (the mapping's
`__on_delete__: delete`) of an order that is not A or B is an `ORDER_LOCKED` conflict too: a deleted opportunity
never deletes an order NetSuite fulfilled, billed or closed.

An Opportunity that is no longer won arrives with the control key `_sdc_on_unwin` (the mapping's `on_unwin` policy):
- `close`: the order's lines are closed (`isClosed: true` per line) if nothing is fulfilled or billed (status A/B),
  counted `closed`; an order whose lines are all closed already counts `unchanged`; a locked order is an
  `ORDER_LOCKED` conflict; an order NetSuite does not hold counts `not_won` and nothing is sent.
- `report`: never written; an order NetSuite holds becomes an `ORDER_UNWON` dead letter for a person to decide.
- `ignore`: nothing is read or written (counted `not_won`).
Opportunities never won take the same path: NetSuite holds no order for them, so they count `not_won`.

Invariant: the decision depends only on the record and on NetSuite's state read just before the write, never on
the ledger or on an earlier run, so a rerun after a kill or a replay of the same change decides the same way. A
refused write never reaches the ledger (so a replay is checked again, not skipped as unchanged), and un-win
records are screened before the ledger's skip step (their body may equal the payload written while won), and the
ledger entry of every un-won order NetSuite holds is dropped, so a re-won opportunity whose payload equals the one
written before is checked against the (now closed) order and reported, never skipped as unchanged.
The sink's recipe (sinks.py) therefore takes the un-won first (`take_unwon`), then the ledger's skip, then the lock
check of what is left to send (`screen`). The outcomes are recorded through outcomes.py (`settle`, `dead_letter`).
"""

from __future__ import annotations

import typing as t
from dataclasses import replace
from urllib.parse import quote

from target_netsuite.client import RECORD_PATH, FatalError, RecordError, error_details, json_body

if t.TYPE_CHECKING:
    from target_netsuite.client import NetSuiteClient
    from target_netsuite.ledger import WriteLedger
    from target_netsuite.merge import Merger
    from target_netsuite.outcomes import Outcomes
    from target_netsuite.writes import Write

ORDER_TYPE = "salesOrder"
UNWIN_KEY = "_sdc_on_unwin"
UNWIN_POLICIES = ("close", "report", "ignore")
ORDER_LOCKED = "ORDER_LOCKED"
ORDER_UNWON = "ORDER_UNWON"
STATUS_QUERY_SIZE = 200
#: Statuses whose lines may still be rewritten: nothing fulfilled, billed or closed.
WRITABLE = frozenset({"A", "B"})
STATUS_NAMES = {"A": "Pending Approval", "B": "Pending Fulfillment", "C": "Cancelled", "D": "Partially Fulfilled",
                "E": "Pending Billing/Partially Fulfilled", "F": "Pending Billing", "G": "Billed", "H": "Closed"}

DeadLetter = t.Callable[..., None]
Settle = t.Callable[[str, str], None]  # a key reached this final outcome, not a dead letter (outcomes.py)


def _status_code(value: str) -> str:
    """'SalesOrd:G' (saved-search form) and 'G' (SuiteQL, REST) are the same status."""
    return value.rsplit(":", 1)[-1].strip().upper()


def describe(status: str) -> str:
    return f"{STATUS_NAMES.get(status, 'status')} (SalesOrd:{status})"


class OrderLifecycle:
    """Screens one sink's sales order writes against the orders' status in NetSuite."""

    def __init__(self, client: NetSuiteClient, outcomes: Outcomes, ledger: WriteLedger | None,
                 locked_fields: t.Iterable[str], merger: Merger | None = None) -> None:
        self.client = client
        self.outcomes = outcomes
        self.merger = merger
        self.ledger = ledger
        self.locked_fields = frozenset(locked_fields)

    def statuses(self, external_ids: list[str]) -> dict[str, str]:
        """externalId -> status letter of the sales orders NetSuite holds among these (batched SuiteQL)."""
        found: dict[str, str] = {}
        for start in range(0, len(external_ids), STATUS_QUERY_SIZE):
            chunk = external_ids[start:start + STATUS_QUERY_SIZE]
            quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in chunk)
            query = ("SELECT id, externalid, status FROM transaction "
                     f"WHERE type = 'SalesOrd' AND externalid IN ({quoted})")
            try:
                rows = self.client.suiteql(query, limit=1000).get("items", [])
            except RecordError as exc:
                msg = (f"cannot read the status of sales orders (SuiteQL answered {exc.status} {exc.code}), so an "
                       "order NetSuite fulfilled or billed could be rewritten: stopped without advancing state")
                raise FatalError(msg) from None
            for row in rows:
                if row.get("externalid") is not None:
                    found[str(row["externalid"])] = _status_code(str(row.get("status") or "B"))
        return found

    def take_unwon(self, stream: str, record_type: str, writes: list[Write], dead_letter: DeadLetter,
                   settle: Settle) -> list[Write]:
        """Handle the un-won opportunities of these writes (see module docstring); the others are returned. An
        outcome that is not a dead letter settles the key (`settle`, with the outcome): an older parked or
        dead-lettered version of the won order must never be written after it."""
        if record_type != ORDER_TYPE:
            return writes
        unwon = [w for w in writes if w.action == "upsert" and w.record.get(UNWIN_KEY)]
        if not unwon:
            return writes
        statuses = self.statuses([w.external_id for w in unwon if w.record[UNWIN_KEY] != "ignore"])
        if self.ledger is not None and statuses:
            # the order may be closed below (or by a person): a later re-win must be checked, not skipped as the
            # payload NetSuite accepted while the opportunity was won
            self.ledger.invalidate(ORDER_TYPE, sorted(statuses))
        for write in unwon:
            policy = write.record[UNWIN_KEY]
            status = statuses.get(write.external_id)
            if policy not in UNWIN_POLICIES:
                dead_letter(write.record, "INVALID_POLICY", f"{UNWIN_KEY} must be one of {UNWIN_POLICIES}, "
                            f"got {policy!r}")
            elif status is None:
                settle(write.external_id, "not_won")
            elif status == "H":
                settle(write.external_id, "unchanged")
            elif status not in WRITABLE:
                self._conflict(stream, write, "the opportunity is no longer won, but its order is "
                               f"{describe(status)}: its lines were not closed", dead_letter)
            elif policy == "report":
                dead_letter(write.record, ORDER_UNWON, "the opportunity is no longer won; its order is "
                            f"{describe(status)} and on_unwin is report: left as it is")
            elif closed := self._close_lines(stream, write, dead_letter):
                settle(write.external_id, closed)
        chosen = {id(w) for w in unwon}
        return [w for w in writes if id(w) not in chosen]

    def screen(self, stream: str, record_type: str, writes: list[Write], dead_letter: DeadLetter) -> list[Write]:
        """The writes that may be sent: upserts and deletes of orders NetSuite fulfilled, billed or closed are
        conflicts (a deleted opportunity never deletes an order finance has worked on)."""
        if record_type != ORDER_TYPE:
            return writes
        statuses = self.statuses([w.external_id for w in writes]) if writes else {}
        sending = []
        for write in writes:
            status = statuses.get(write.external_id)
            if status is None or status in WRITABLE:
                sending.append(write)
            elif write.action == "delete":
                self._conflict(stream, write, f"the opportunity was deleted in Salesforce, but NetSuite's order is "
                               f"{describe(status)}: it was not deleted", dead_letter)
            else:
                note = self._write_locked_fields(stream, write)
                self._conflict(stream, write, f"NetSuite's order is {describe(status)}: the change was not "
                               f"written{note}", dead_letter)
        return sending

    def _write_locked_fields(self, stream: str, write: Write) -> str:
        """Write the `order_locked_fields` of a locked order's change alone, through the three-way merge (a memo a
        person edited in NetSuite is kept, or a listed conflict, exactly as on an open order); the note for the
        conflict's detail."""
        allowed = {name: value for name, value in write.body.items() if name in self.locked_fields}
        if not allowed:
            return ""
        small = replace(write, body=allowed, refs=[], replace=[], exists=True, payload_hash=None)
        if self.merger is not None:
            self.merger.prepare(stream, ORDER_TYPE, [small])
        names = ", ".join(sorted(allowed))
        if not small.body:
            return f"; {names} kept as NetSuite holds them (three-way merge)"
        try:
            self.client.upsert(ORDER_TYPE, write.external_id, small.body, [])
        except RecordError as error:
            return f"; {names} refused too: {error.code} {error.detail}"
        if self.merger is not None:
            self.merger.accepted(ORDER_TYPE, [small])
        return f"; updated only {', '.join(sorted(small.body))} (order_locked_fields)"

    def _conflict(self, stream: str, write: Write, detail: str, dead_letter: DeadLetter) -> None:
        self.outcomes.count(stream, "conflict")
        dead_letter(write.record, ORDER_LOCKED, detail, path="status")

    def _close_lines(self, stream: str, write: Write, dead_letter: DeadLetter) -> str | None:
        """Close every open line, naming the lines NetSuite holds (no line is added, removed or repriced). The
        outcome when the order ends closed (`closed`, `unchanged`) or is gone (`not_won`); None when the record
        was dead-lettered."""
        path = f"{RECORD_PATH}/{ORDER_TYPE}/eid:{quote(write.external_id, safe='')}"
        response = self.client.request("GET", path, params={"expandSubResources": "true"})
        if response.status_code == 404:  # deleted meanwhile: nothing left to close
            return "not_won"
        if response.status_code >= 400:
            code, detail, error_path = error_details(response)
            dead_letter(write.record, code, detail, status=response.status_code, path=error_path)
            return None
        order = json_body(response, f"GET {ORDER_TYPE} {write.external_id}")
        lines = [line for line in (order.get("item") or {}).get("items") or [] if isinstance(line, dict)]
        if any(line.get("quantityFulfilled") or line.get("quantityBilled") for line in lines):
            self._conflict(stream, write, "the opportunity is no longer won, but lines of its order were "
                           "fulfilled or billed meanwhile: its lines were not closed", dead_letter)
            return None
        closing = [{"line": line["line"], "isClosed": True} for line in lines
                   if not line.get("isClosed") and line.get("line") is not None]
        if not closing:
            return "unchanged"
        try:
            self.client.upsert(ORDER_TYPE, write.external_id, {"item": {"items": closing}}, [])
        except RecordError as error:
            dead_letter(write.record, error.code, error.detail, status=error.status, path=error.path)
            return None
        return "closed"

