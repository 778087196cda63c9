"""Properties a transaction row gets from other rows: the order an invoice or fulfilment was made from, the
external ids of that order and of the customer, and an order's billing (its invoices' amounts) and fulfilment.

Invariant: computed per page of a stream, after the page is read and before its records are emitted (so the
bookmark rules of reads.py are untouched), with a fixed number of SuiteQL queries per page (ids in `IN` lists of
at most `ID_CHUNK`, each query paged to its end), never per record. Every value is read in the same run as the
record it is put on: an order's billing is its invoices' amounts at the moment the page is read.

Queries (SuiteQL; `transactionLine`'s main line, `mainline = 'T'`, carries `createdfrom`):
- `SELECT transaction, createdfrom FROM transactionline WHERE mainline = 'T' AND transaction IN (...)`: the order
  each invoice or fulfilment of the page was made from;
- `SELECT transaction, createdfrom FROM transactionline WHERE mainline = 'T' AND createdfrom IN (...)`, then
  `SELECT id, foreigntotal, foreignamountpaid, foreignamountunpaid FROM transaction WHERE type = 'CustInvc' AND
  id IN (...)`: the invoices of each order and their amounts (invoiced, paid, remaining);
- `SELECT transaction, quantity, quantityshiprecv, isclosed FROM transactionline WHERE mainline = 'F' AND
  transaction IN (...)`: an order's fulfilment (`Not Fulfilled`, `Partially Fulfilled`, `Fulfilled`);
- `SELECT id, externalid FROM transaction|customer WHERE id IN (...)`: external ids (target-netsuite writes the
  Salesforce Id there; NetSuite's own records have none).
"""

from __future__ import annotations

import dataclasses
import typing as t
from decimal import Decimal

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

Row = dict[str, t.Any]
Record = dict[str, t.Any]
#: Ids per `IN` list (NetSuite takes 1,000 values in one list; fewer keeps each query's text small).
ID_CHUNK = 500
NOT_FULFILLED, PARTLY_FULFILLED, FULFILLED = "Not Fulfilled", "Partially Fulfilled", "Fulfilled"


@dataclasses.dataclass(frozen=True)
class Derived:
    """A property a stream's records get from other rows (not a column of the stream's own table)."""

    prop: str
    kind: str  # "string" or "number"


_BILLING = (Derived("amountInvoiced", "number"), Derived("amountPaid", "number"),
            Derived("amountRemaining", "number"))
#: Derived properties per stream.
DERIVED: dict[str, tuple[Derived, ...]] = {
    "salesOrder": (*_BILLING, Derived("fulfillmentState", "string")),
    "invoice": (Derived("salesOrder", "string"), Derived("salesOrderExternalId", "string"),
                Derived("entityExternalId", "string"), Derived("orderAmountInvoiced", "number"),
                Derived("orderAmountPaid", "number"), Derived("orderAmountRemaining", "number")),
    "itemFulfillment": (Derived("salesOrder", "string"), Derived("salesOrderExternalId", "string")),
}

Fetch = t.Callable[[str], list[Row]]  # a query → every row of it (all pages)


def _ids(values: Iterable[t.Any]) -> list[str]:
    """Internal ids (digits only: they are pasted into the query) without repeats, in order."""
    return list(dict.fromkeys(str(v) for v in values if v is not None and str(v).isdigit()))


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


class Links:
    """The derived properties of one stream's pages (`DERIVED`), through `fetch`."""

    def __init__(self, fetch: Fetch) -> None:
        self.fetch = fetch

    def _rows(self, template: str, ids: list[str]) -> list[Row]:
        rows: list[Row] = []
        for start in range(0, len(ids), ID_CHUNK):
            listed = ", ".join(f"'{i}'" for i in ids[start:start + ID_CHUNK])
            rows += self.fetch(template.format(ids=listed))
        return rows

    def fill(self, stream: str, records: list[Record], wanted: set[str]) -> None:
        """Set the `wanted` derived properties of `stream` on each record (in place)."""
        if not wanted or not records:
            return
        if stream == "salesOrder":
            self._orders(records, wanted)
        elif stream in ("invoice", "itemFulfillment"):
            self._made_from_orders(stream, records, wanted)

    def _orders(self, records: list[Record], wanted: set[str]) -> None:
        orders = _ids(r.get("id") for r in records)
        billing = self.billing(orders) if wanted & {d.prop for d in _BILLING} else {}
        shipped = self.fulfillment(orders) if "fulfillmentState" in wanted else {}
        for record in records:
            invoiced, paid, remaining = billing.get(str(record.get("id")), (0.0, 0.0, 0.0))
            values = {"amountInvoiced": invoiced, "amountPaid": paid, "amountRemaining": remaining,
                      "fulfillmentState": shipped.get(str(record.get("id")))}
            record.update({k: v for k, v in values.items() if k in wanted})

    def _made_from_orders(self, stream: str, records: list[Record], wanted: set[str]) -> None:
        made_from = self.created_from(_ids(r.get("id") for r in records))
        orders = _ids(made_from.values())
        order_eids = self.external_ids("transaction", orders) if "salesOrderExternalId" in wanted else {}
        entity_eids = (self.external_ids("customer", _ids(r.get("entity") for r in records))
                       if "entityExternalId" in wanted else {})
        billing = self.billing(orders) if wanted & {"orderAmountInvoiced", "orderAmountPaid",
                                                    "orderAmountRemaining"} else {}
        for record in records:
            order = made_from.get(str(record.get("id")))
            invoiced, paid, remaining = billing.get(order or "", (None, None, None))
            values = {"salesOrder": order, "salesOrderExternalId": order_eids.get(order or ""),
                      "entityExternalId": entity_eids.get(str(record.get("entity"))),
                      "orderAmountInvoiced": invoiced, "orderAmountPaid": paid, "orderAmountRemaining": remaining}
            record.update({k: v for k, v in values.items() if k in wanted and k in {d.prop for d in DERIVED[stream]}})

    # --- the queries ---------------------------------------------------------------------------------------

    def created_from(self, transactions: list[str]) -> dict[str, str]:
        """transaction → the transaction it was made from (its main line's `createdfrom`)."""
        rows = self._rows("SELECT transaction, createdfrom FROM transactionline WHERE mainline = 'T' "
                          "AND transaction IN ({ids}) ORDER BY transaction", transactions)
        return {str(r["transaction"]): str(r["createdfrom"]) for r in rows if r.get("createdfrom")}

    def external_ids(self, table: t.Literal["transaction", "customer"], ids: list[str]) -> dict[str, str]:
        rows = self._rows(f"SELECT id, externalid FROM {table} WHERE id IN ({{ids}}) ORDER BY id", ids)
        return {str(r["id"]): str(r["externalid"]) for r in rows if r.get("externalid")}

    def billing(self, orders: list[str]) -> dict[str, tuple[float, float, float]]:
        """order → (invoiced, paid, remaining): the sums over the invoices made from it (orders without: absent)."""
        children = self._rows("SELECT transaction, createdfrom FROM transactionline WHERE mainline = 'T' "
                              "AND createdfrom IN ({ids}) ORDER BY transaction", orders)
        order_of = {str(r["transaction"]): str(r["createdfrom"]) for r in children}
        invoices = self._rows("SELECT id, foreigntotal, foreignamountpaid, foreignamountunpaid FROM transaction "
                              "WHERE type = 'CustInvc' AND id IN ({ids}) ORDER BY id", _ids(order_of))
        sums: dict[str, list[Decimal]] = {}
        for invoice in invoices:
            total = sums.setdefault(order_of[str(invoice["id"])], [Decimal(0), Decimal(0), Decimal(0)])
            for position, column in enumerate(("foreigntotal", "foreignamountpaid", "foreignamountunpaid")):
                total[position] += Decimal(str(invoice.get(column) or 0))
        return {order: (_money(a), _money(b), _money(c)) for order, (a, b, c) in sums.items()}

    def fulfillment(self, orders: list[str]) -> dict[str, str]:
        """order → Not Fulfilled, Partially Fulfilled or Fulfilled, from its open lines' shipped quantities."""
        lines = self._rows("SELECT transaction, quantity, quantityshiprecv, isclosed FROM transactionline "
                           "WHERE mainline = 'F' AND transaction IN ({ids}) ORDER BY transaction, id", orders)
        ordered: dict[str, list[Decimal]] = {}
        for line in lines:
            if line.get("isclosed") == "T":
                continue
            sums = ordered.setdefault(str(line["transaction"]), [Decimal(0), Decimal(0)])
            sums[0] += abs(Decimal(str(line.get("quantity") or 0)))
            sums[1] += abs(Decimal(str(line.get("quantityshiprecv") or 0)))
        return {order: _state(quantity, shipped) for order, (quantity, shipped) in ordered.items()}


def _state(quantity: Decimal, shipped: Decimal) -> str:
    if shipped <= 0:
        return NOT_FULFILLED
    return FULFILLED if shipped >= quantity else PARTLY_FULFILLED


def derived_props(stream: str) -> tuple[Derived, ...]:
    return DERIVED.get(stream, ())


def fetch_all(page: Callable[[str, int, int], dict[str, t.Any]], page_size: int) -> Fetch:
    """Every row of a query, page by page (`hasMore`), through `page(query, limit, offset)`."""
    def fetch(query: str) -> list[Row]:
        rows: list[Row] = []
        offset = 0
        while True:
            body = page(query, page_size, offset)
            rows += body["items"]
            if not body.get("hasMore") or not body["items"]:
                return rows
            offset += page_size
    return fetch
