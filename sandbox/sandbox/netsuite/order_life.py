"""A sales order's life after it is approved: item fulfilments, invoices and customer payments made from it.

Invariant: an order's per-line `quantityFulfilled`/`quantityBilled` are always the sums of the fulfilment and
invoice lines made from it (`orderLine` = the order's line key), the order's status follows from them
(`records.order_status`), an invoice's `amountPaid`/`amountRemaining` are its total split by the payments applied
to it, and a customer's `balance`/`overdueBalance` are the sums of its invoices' `amountRemaining` (all, and those
due before today). Every record a step changes gets a new `lastModifiedDate`, as NetSuite stamps a transaction
saved by a transform or by a payment applied to it; the customer is stamped too when its balance moves.

Paths (Oracle, "Transforming Records" and the sales order use cases): `POST /salesOrder/{id}/!transform/
itemFulfillment` and `.../!transform/invoice` with an optional body `{"item": {"items": [{"orderLine": 1,
"quantity": 3}, {"orderLine": 2, "itemReceive": false}]}}` (empty body: every line's remaining quantity; an
invoice: every fulfilled quantity not yet billed), `POST /invoice/{id}/!transform/customerPayment` (optional
`payment`) and `POST /customerPayment` with an `apply` sublist (`{"doc": {"id"}, "apply": true, "amount"}`).
The admin transitions (`/__admin/salesorder/<id>/fulfil|bill`, `/__admin/invoice/<id>/pay`) stand for a person
doing the same in the UI and go through the same functions. Shapes not in Oracle's pages are listed as guesses in
sandbox/docs/netsuite.md ("Order life").
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.netsuite.records import RECORD_TYPES, order_status
from sandbox.netsuite.responses import NetSuiteError, user_error
from sandbox.netsuite.store import Store

#: Statuses (SuiteQL's letter; the saved-search form is `CustInvc:A`) of an invoice.
INVOICE_OPEN, INVOICE_PAID = "A", "B"
INVOICE_STATUS_NAMES = {INVOICE_OPEN: "Open", INVOICE_PAID: "Paid In Full"}
#: An item fulfilment the stand-in makes is shipped at once (ItemShip:C), a payment is not deposited (CustPymt:B).
FULFILMENT_SHIPPED, PAYMENT_NOT_DEPOSITED = "C", "B"
TRANSFORMS = {("salesorder", "itemfulfillment"), ("salesorder", "invoice"), ("invoice", "customerpayment")}


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def _ref(value: Any) -> dict[str, str] | None:
    return {"id": str(value["id"])} if isinstance(value, dict) and "id" in value else None


class OrderLife:
    """Fulfil, bill and pay, for one store; every method validates, then writes all it changes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- fulfilments and invoices from an order ------------------------------------------------------------

    def _open_order(self, account: str, order_id: str) -> dict[str, Any]:
        order = self.store.get(account, "salesOrder", order_id)
        if order is None:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"The record instance does not exist. Provide a valid record "
                                f"instance ID. (salesOrder {order_id})")
        if order.get("status") in ("A", "C", "H"):
            raise user_error(f"You cannot transform sales order {order_id}: it is "
                             f"{ {'A': 'pending approval', 'C': 'cancelled', 'H': 'closed'}[order['status']]}.")
        return order

    @staticmethod
    def _chosen(body: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
        """`item.items` of a transform body by `orderLine`; None when the body names no lines."""
        items = ((body.get("item") or {}).get("items")) if isinstance(body.get("item"), dict) else None
        if not items:
            return None
        chosen: dict[str, dict[str, Any]] = {}
        for position, line in enumerate(items):
            if not isinstance(line, dict) or line.get("orderLine") is None:
                raise user_error("Please enter value(s) for: Order Line.", path=f"item.items[{position}].orderLine")
            chosen[str(line["orderLine"])] = line
        return chosen

    def _lines(self, order: dict[str, Any], body: dict[str, Any], done_field: str,
               available: Any, *, clamp: bool) -> list[tuple[dict[str, Any], Decimal]]:
        """(order line, quantity) for each line the transform takes; a quantity beyond what is left is refused
        (`clamp`: cut to what is left, as a person's entry in the UI is)."""
        chosen = self._chosen(body)
        taken = []
        for line in order.get("item", []):
            if line.get("isClosed"):
                continue
            key = str(line.get("line"))
            left = available(line)
            if chosen is None:
                quantity = left
            elif key not in chosen or chosen[key].get("itemReceive", chosen[key].get("itemreceive")) is False:
                continue
            else:
                raw = chosen[key].get("quantity", left)
                if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0:
                    raise user_error(f"Invalid quantity for order line {key}.", path="item")
                quantity = min(_dec(raw), left) if clamp else _dec(raw)
                if quantity > left:
                    raise user_error(f"You cannot {'bill' if done_field == 'quantityBilled' else 'fulfill'} more "
                                     f"than {left.normalize()} of order line {key}.", path="item")
            if quantity > 0:
                taken.append((line, quantity))
        if chosen is not None:
            unknown = sorted(set(chosen) - {str(line.get("line")) for line in order.get("item", [])})
            if unknown:
                raise user_error(f"Order line {unknown[0]} does not exist on sales order {order['id']}.", path="item")
        if not taken:
            raise user_error("You must enter at least one line item for this transaction.")
        return taken

    def fulfil(self, account: str, order_id: str, body: dict[str, Any], *, clamp: bool = False) -> str:
        """An item fulfilment of the order's lines (all that is left, or the body's); the order's quantities move."""
        order = self._open_order(account, order_id)
        taken = self._lines(order, body, "quantityFulfilled",
                            lambda line: _dec(line.get("quantity")) - _dec(line.get("quantityFulfilled")),
                            clamp=clamp)
        now = _stamp()
        items = []
        for position, (line, quantity) in enumerate(taken, start=1):
            line["quantityFulfilled"] = float(_dec(line.get("quantityFulfilled")) + quantity)
            items.append({"line": position, "orderLine": line["line"], "item": dict(line["item"]),
                          "quantity": float(quantity), "itemReceive": True})
        record = {"entity": dict(order["entity"]), "createdFrom": {"id": order_id},
                  "tranDate": str(body.get("tranDate") or _today()), "shipStatus": FULFILMENT_SHIPPED,
                  "status": FULFILMENT_SHIPPED, "item": items, "createdDate": now, "lastModifiedDate": now,
                  **{k: dict(order[k]) for k in ("subsidiary",) if isinstance(order.get(k), dict)},
                  **_extra(body, ("memo", "externalId"))}
        return self._save_with_order(account, "itemFulfillment", record, order, now)

    def bill(self, account: str, order_id: str, body: dict[str, Any], *, fulfilled_only: bool = True,
             clamp: bool = False) -> str:
        """An invoice of the order's lines: by default what is fulfilled and not billed (Oracle's empty body);
        `fulfilled_only=False` (a person billing in the UI, the admin transition) bills what is not billed."""
        order = self._open_order(account, order_id)

        def available(line: dict[str, Any]) -> Decimal:
            ceiling = _dec(line.get("quantityFulfilled")) if fulfilled_only else _dec(line.get("quantity"))
            return max(ceiling - _dec(line.get("quantityBilled")), Decimal(0))

        taken = self._lines(order, body, "quantityBilled", available, clamp=clamp)
        now = _stamp()
        items, total = [], Decimal(0)
        for position, (line, quantity) in enumerate(taken, start=1):
            line["quantityBilled"] = float(_dec(line.get("quantityBilled")) + quantity)
            rate = _dec(line.get("rate")) if line.get("rate") is not None else (
                _dec(line.get("amount")) / _dec(line.get("quantity") or 1))
            amount = _money(rate * quantity) if quantity != _dec(line.get("quantity")) or line.get("amount") is None \
                else float(line["amount"])
            total += Decimal(str(amount))
            items.append({"line": position, "orderLine": line["line"], "item": dict(line["item"]),
                          "quantity": float(quantity), "rate": float(rate), "amount": amount,
                          **({"description": line["description"]} if line.get("description") else {})})
        tran_date = str(body.get("tranDate") or _today())
        record = {"entity": dict(order["entity"]), "createdFrom": {"id": order_id}, "tranDate": tran_date,
                  "dueDate": str(body.get("dueDate") or self._due_date(account, order, tran_date)),
                  "item": items, "subtotal": _money(total), "total": _money(total), "amountPaid": 0.0,
                  "amountRemaining": _money(total), "status": INVOICE_OPEN, "createdDate": now,
                  "lastModifiedDate": now,
                  **{k: dict(order[k]) for k in ("subsidiary", "currency", "terms") if isinstance(order.get(k), dict)},
                  **_extra(body, ("memo", "externalId"))}
        invoice_id = self._save_with_order(account, "invoice", record, order, now)
        self._stamp_customer(account, str(order["entity"]["id"]), now)
        return invoice_id

    def _due_date(self, account: str, order: dict[str, Any], tran_date: str) -> str:
        """The terms' days until net due after the invoice date (the order's terms, else the customer's); without
        terms the invoice is due on its date, as NetSuite does."""
        terms = _ref(order.get("terms"))
        if terms is None:
            customer = self.store.get(account, "customer", str(order["entity"]["id"])) or {}
            terms = _ref(customer.get("terms"))
        days = 0
        if terms is not None:
            days = int((self.store.get(account, "term", terms["id"]) or {}).get("daysUntilNetDue") or 0)
        return (dt.date.fromisoformat(tran_date[:10]) + dt.timedelta(days=days)).isoformat()

    def _save_with_order(self, account: str, rtype_name: str, record: dict[str, Any], order: dict[str, Any],
                         now: str) -> str:
        rtype = RECORD_TYPES[rtype_name.lower()]
        self._check_external_id(account, rtype.name, record)
        order_id = order["id"]
        order = {k: v for k, v in order.items() if k != "id"}
        order["orderStatus"] = order["status"] = order_status(order)
        order["lastModifiedDate"] = now
        # No await between these writes (one event loop): no other request sees one without the other.
        record_id = self.store.insert(account, rtype.name, rtype.family, record)
        self.store.replace(account, "salesOrder", order_id, order)
        return record_id

    def _check_external_id(self, account: str, rtype_name: str, record: dict[str, Any]) -> None:
        eid = record.get("externalId")
        if eid is not None and self.store.get_by_external_id(account, rtype_name, str(eid)) is not None:
            raise user_error("A record with this external ID already exists.", path="externalId")

    # --- payments ------------------------------------------------------------------------------------------

    def pay_invoice(self, account: str, invoice_id: str, body: dict[str, Any]) -> str:
        """`invoice/{id}/!transform/customerPayment`: a payment of this invoice, its remaining amount by default."""
        invoice = self.store.get(account, "invoice", invoice_id)
        if invoice is None:
            raise NetSuiteError(404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record "
                                f"instance ID. (invoice {invoice_id})")
        amount = body.get("payment", invoice.get("amountRemaining"))
        payment = {"customer": dict(invoice["entity"]), "payment": amount,
                   "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]},
                   **_extra(body, ("tranDate", "memo", "externalId"))}
        return self.create_payment(account, payment)

    def create_payment(self, account: str, body: dict[str, Any]) -> str:
        """`POST /customerPayment`: the payment applied to the invoices its `apply` lines name (Oracle's sample)."""
        customer = _ref(body.get("customer"))
        if customer is None:
            raise user_error("Please enter value(s) for: Customer.")
        if self.store.get(account, "customer", customer["id"]) is None:
            raise user_error(f"Invalid customer reference key {customer['id']}.", path="customer")
        payment = body.get("payment")
        if isinstance(payment, bool) or not isinstance(payment, (int, float)) or payment <= 0:
            raise user_error("Please enter value(s) for: Payment Amount.", path="payment")
        lines = ((body.get("apply") or {}).get("items") or []) if isinstance(body.get("apply"), dict) else []
        now = _stamp()
        applied = Decimal(0)
        changed: dict[str, dict[str, Any]] = {}
        apply_lines: list[dict[str, Any]] = []
        for position, line in enumerate(lines):
            if not isinstance(line, dict) or line.get("apply") is False:
                continue
            doc = _ref(line.get("doc"))
            invoice = self.store.get(account, "invoice", doc["id"]) if doc else None
            if doc is None or invoice is None or str((invoice.get("entity") or {}).get("id")) != customer["id"]:
                raise user_error(f"Invalid doc reference key {(doc or {}).get('id')} for customer {customer['id']}.",
                                 path=f"apply.items[{position}].doc")
            remaining = _dec(invoice.get("amountRemaining"))
            amount = _dec(line.get("amount", remaining))
            if amount <= 0 or amount > remaining:
                raise user_error(f"The amount applied to invoice {doc['id']} must be between 0 and "
                                 f"{_money(remaining)}.", path=f"apply.items[{position}].amount")
            invoice["amountPaid"] = _money(_dec(invoice.get("amountPaid")) + amount)
            invoice["amountRemaining"] = _money(remaining - amount)
            invoice["status"] = INVOICE_PAID if invoice["amountRemaining"] == 0 else INVOICE_OPEN
            invoice["lastModifiedDate"] = now
            changed[doc["id"]] = invoice
            applied += amount
            apply_lines.append({"line": len(apply_lines), "doc": doc, "apply": True, "amount": _money(amount)})
        if applied > _dec(payment):
            raise user_error("The total amount applied is more than the payment amount.", path="apply")
        record = {"customer": customer, "entity": dict(customer), "payment": float(payment), "total": float(payment),
                  "applied": _money(applied), "unapplied": _money(_dec(payment) - applied),
                  "apply": apply_lines, "status": PAYMENT_NOT_DEPOSITED, "tranDate": str(body.get("tranDate") or
                                                                                      _today()),
                  "createdDate": now, "lastModifiedDate": now,
                  **{k: _ref(body[k]) for k in ("currency", "subsidiary") if _ref(body.get(k))},
                  **_extra(body, ("memo", "externalId"))}
        self._check_external_id(account, "customerPayment", record)
        payment_id = self.store.insert(account, "customerPayment", "transaction", record)
        for invoice_id, invoice in changed.items():
            self.store.replace(account, "invoice", invoice_id, {k: v for k, v in invoice.items() if k != "id"})
        self._stamp_customer(account, customer["id"], now)
        return payment_id

    # --- the customer's receivables ------------------------------------------------------------------------

    def _stamp_customer(self, account: str, customer_id: str, now: str) -> None:
        """The customer's balance moved: NetSuite shows the new balance with the record (stamped modified, so an
        incremental reader sees it; a guess: Oracle does not say whether a balance change stamps the customer)."""
        customer = self.store.get(account, "customer", customer_id)
        if customer is not None:
            customer = {k: v for k, v in customer.items() if k != "id"}
            customer["lastModifiedDate"] = now
            self.store.replace(account, "customer", customer_id, customer)


def receivables(invoices: list[dict[str, Any]], payments: list[dict[str, Any]],
                today: str | None = None) -> dict[str, tuple[float, float]]:
    """customer id → (balance, overdue balance): the open amounts of its invoices less its payments' unapplied
    amounts, and the open amounts of the invoices due before today (unapplied payments do not lower it: NetSuite's
    overdue balance counts due invoices only)."""
    day = today or _today()
    sums: dict[str, list[Decimal]] = {}
    for payment in payments:
        customer = str((payment.get("customer") or {}).get("id"))
        sums.setdefault(customer, [Decimal(0), Decimal(0)])[0] -= _dec(payment.get("unapplied"))
    for invoice in invoices:
        customer = str((invoice.get("entity") or {}).get("id"))
        remaining = _dec(invoice.get("amountRemaining"))
        balance = sums.setdefault(customer, [Decimal(0), Decimal(0)])
        balance[0] += remaining
        if invoice.get("dueDate") and str(invoice["dueDate"])[:10] < day:
            balance[1] += remaining
    return {customer: (_money(b), _money(o)) for customer, (b, o) in sums.items()}


def _extra(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: body[name] for name in names if body.get(name) is not None}
