"""Record types the stand-in serves, and how a stored record is merged and rendered like the REST Record API.

Records are stored as the client sent them (references as `{"id": "..."}`, sublists as plain line lists with a
line key added), and rendered on GET in NetSuite's shape: top-level `links`, ids as strings, references as
`{links, id, refName}`, sublists as link stubs unless `expandSubResources=true`.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ADDRESS_FIELDS = frozenset({
    "addr1", "addr2", "addr3", "addressee", "addrText", "addrPhone", "attention", "city", "state", "zip",
    "country", "override",
})


@dataclass(frozen=True)
class Sublist:
    """A sublist (`addressbook`, `item`): its line fields, line references and the key that names a line."""

    fields: frozenset[str]
    references: dict[str, str]
    key: str
    subrecords: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Flags only one line may carry (the default billing/shipping address): a line that sets one clears it on
    #: every other line, as NetSuite does on save.
    unique_flags: frozenset[str] = frozenset()
    #: A matrix sublist (an item's `price`) names a line by several fields instead of a line number: the line key
    #: is `currencypage=1,pricelevel=1,quantity=0`, as in the row's REST path.
    key_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordType:
    name: str
    family: str
    fields: frozenset[str]
    references: dict[str, str]
    sublists: dict[str, Sublist]
    lengths: dict[str, int]
    read_only: frozenset[str] = frozenset({"id", "dateCreated", "createdDate", "lastModifiedDate"})
    subrecords: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def path_name(self) -> str:
        """NetSuite lower-cases the type in Location and link URLs (purchaseOrder -> purchaseorder)."""
        return self.name.lower()


_ENTITY_LENGTHS = {
    "companyName": 83, "entityId": 83, "firstName": 32, "middleName": 32, "lastName": 32, "salutation": 15,
    "title": 99, "phone": 32, "altPhone": 32, "mobilePhone": 32, "homePhone": 32, "officePhone": 32, "fax": 32,
    "email": 254, "altEmail": 254, "url": 999, "accountNumber": 99, "externalId": 255, "comments": 999,
}
ADDRESS_LENGTHS = {"addr1": 150, "addr2": 150, "addr3": 150, "city": 50, "zip": 36, "addressee": 150,
                    "attention": 150, "addrPhone": 32}

ADDRESSBOOK = Sublist(
    fields=frozenset({"addressbookaddress", "defaultBilling", "defaultShipping", "isResidential", "label", "id",
                      "internalId", "addressId"}),
    references={},
    key="id",
    subrecords={"addressbookaddress": ADDRESS_FIELDS},
    unique_flags=frozenset({"defaultBilling", "defaultShipping"}),
)
ITEM_LINES = Sublist(
    fields=frozenset({"item", "quantity", "rate", "amount", "description", "price", "units", "location", "class",
                      "department", "taxCode", "line", "isClosed", "createPo", "expectedShipDate",
                      "quantityFulfilled", "quantityBilled"}),
    references={"item": "item", "price": "priceLevel", "location": "location", "class": "classification",
                "department": "department", "taxCode": "salesTaxItem", "units": "unitsType"},
    key="line",
)

#: Lines of a transaction made from an order (an invoice's, a fulfilment's): each names its order line.
TRANSFORMED_LINES = Sublist(
    fields=frozenset({"line", "orderLine", "item", "quantity", "rate", "amount", "description", "itemReceive",
                      "location"}),
    references={"item": "item", "location": "location"},
    key="line",
)
#: A payment's apply sublist (Oracle's customer payment sample): the invoice (`doc`) and the amount applied to it.
APPLY_LINES = Sublist(fields=frozenset({"line", "doc", "apply", "amount"}), references={"doc": "invoice"}, key="line")

#: A customer's currencies (Oracle: "Setting Multiple Transaction Currencies for Customers"): one line per currency,
#: keyed by the currency itself; the primary currency is always in it, and a transaction's currency must be.
CURRENCY_LIST = Sublist(
    fields=frozenset({"currency", "balance", "depositBalance", "overdueBalance", "unbilledOrders", "consolBalance",
                      "overrideCurrencyFormat", "displaySymbol", "symbolPlacement"}),
    references={"currency": "currency"},
    key="currency",
)

#: An item's pricing matrix (Oracle: "Working with the Pricing Sublist on Item Records"): one row per currency,
#: price level and quantity tier, `{"currencyPage": {"id"}, "priceLevel": {"id"}, "quantity": {"value"}, "price"}`;
#: a row the request does not name keeps its price unless the request says `replace=price`.
PRICE_MATRIX = Sublist(
    fields=frozenset({"currencyPage", "priceLevel", "quantity", "price", "key"}),
    references={"currencyPage": "currency", "priceLevel": "priceLevel"},
    key="key",
    key_fields=("currencyPage", "priceLevel", "quantity"),
)

_CUSTOMER_REFS = {"subsidiary": "subsidiary", "parent": "customer", "currency": "currency",
                  "category": "customerCategory", "salesRep": "employee", "terms": "term", "priceLevel": "priceLevel",
                  "entityStatus": "customerStatus", "receivablesAccount": "account"}
_CONTACT_REFS = {"subsidiary": "subsidiary", "company": "customer", "supervisor": "contact",
                 "assistant": "contact", "contactRole": "contactRole"}
_ITEM_REFS = {"subsidiary": "subsidiary", "taxSchedule": "taxSchedule", "incomeAccount": "account",
              "expenseAccount": "account", "cogsAccount": "account", "assetAccount": "account",
              "class": "classification", "department": "department", "location": "location",
              "unitsType": "unitsType", "saleUnit": "unitsType"}
_ITEM_FIELDS = {"itemId", "displayName", "salesDescription", "purchaseDescription", "externalId", "isInactive",
                "includeChildren", "basePrice", "cost", "upcCode", "vendorName", "manufacturer", "mpn", "customForm",
                "isTaxable", "createdDate", "lastModifiedDate", "itemType", "weight", "id", "price", *_ITEM_REFS}
_ITEM_LENGTHS = {"itemId": 60, "displayName": 60, "salesDescription": 999, "purchaseDescription": 999,
                 "externalId": 255, "upcCode": 99, "vendorName": 60}

RECORD_TYPES: dict[str, RecordType] = {t.name.lower(): t for t in [
    RecordType(
        name="customer", family="entity",
        fields=frozenset({
            "companyName", "firstName", "middleName", "lastName", "salutation", "title", "isPerson", "entityId",
            "externalId", "email", "phone", "altPhone", "mobilePhone", "homePhone", "fax", "url", "comments",
            "creditLimit", "isInactive", "taxable", "customForm", "emailPreference", "accountNumber",
            "defaultAddress", "addressbook", "dateCreated", "lastModifiedDate", "balance", "printTransactions",
            "emailTransactions", "faxTransactions", "shipComplete", "isBudgetApproved", "language", "id",
            "currencyList", *_CUSTOMER_REFS,
        }),
        references=_CUSTOMER_REFS,
        sublists={"addressbook": ADDRESSBOOK, "currencyList": CURRENCY_LIST},
        lengths=_ENTITY_LENGTHS,
    ),
    RecordType(
        name="contact", family="entity",
        fields=frozenset({
            "firstName", "middleName", "lastName", "salutation", "title", "entityId", "externalId", "email",
            "altEmail", "phone", "mobilePhone", "homePhone", "officePhone", "fax", "comments", "isInactive",
            "isPrivate", "customForm", "addressbook", "dateCreated", "lastModifiedDate", "id", *_CONTACT_REFS,
        }),
        references=_CONTACT_REFS,
        sublists={"addressbook": ADDRESSBOOK},
        lengths=_ENTITY_LENGTHS,
    ),
    RecordType(name="nonInventorySaleItem", family="item", fields=frozenset(_ITEM_FIELDS), references=_ITEM_REFS,
               sublists={"price": PRICE_MATRIX}, lengths=_ITEM_LENGTHS),
    RecordType(name="inventoryItem", family="item", fields=frozenset(_ITEM_FIELDS), references=_ITEM_REFS,
               sublists={"price": PRICE_MATRIX}, lengths=_ITEM_LENGTHS),
    RecordType(name="serviceSaleItem", family="item", fields=frozenset(_ITEM_FIELDS), references=_ITEM_REFS,
               sublists={"price": PRICE_MATRIX}, lengths=_ITEM_LENGTHS),
    RecordType(
        name="salesOrder", family="transaction",
        fields=frozenset({
            "entity", "tranDate", "tranId", "externalId", "memo", "otherRefNum", "subsidiary", "currency",
            "location", "department", "class", "salesRep", "terms", "orderStatus", "startDate", "endDate",
            "shipDate", "item", "total", "subtotal", "customForm", "createdDate", "lastModifiedDate",
            "exchangeRate", "opportunity", "message", "email", "shipMethod", "status", "id", "createdFrom",
        }),
        # createdFrom: the estimate the order was made from (the stand-in's only source transaction; it must exist).
        references={"entity": "customer", "subsidiary": "subsidiary", "currency": "currency",
                    "location": "location", "department": "department", "class": "classification",
                    "salesRep": "employee", "terms": "term", "shipMethod": "shipItem", "opportunity": "opportunity",
                    "createdFrom": "estimate"},
        sublists={"item": ITEM_LINES},
        lengths={"externalId": 255, "memo": 999, "otherRefNum": 45, "tranId": 45},
    ),
    # Estimate (Oracle: "Estimate", REST record `estimate`): a quote to a customer; its lines priced like an order's.
    RecordType(
        name="estimate", family="transaction",
        fields=frozenset({
            "entity", "tranDate", "tranId", "externalId", "memo", "title", "otherRefNum", "subsidiary", "currency",
            "location", "department", "class", "salesRep", "terms", "dueDate", "expectedCloseDate", "probability",
            "entityStatus", "item", "total", "subtotal", "customForm", "createdDate", "lastModifiedDate",
            "exchangeRate", "opportunity", "message", "email", "status", "id",
        }),
        references={"entity": "customer", "subsidiary": "subsidiary", "currency": "currency",
                    "location": "location", "department": "department", "class": "classification",
                    "salesRep": "employee", "terms": "term", "opportunity": "opportunity",
                    "entityStatus": "customerStatus"},
        sublists={"item": ITEM_LINES},
        lengths={"externalId": 255, "memo": 999, "otherRefNum": 45, "tranId": 45, "title": 99},
    ),
    # The order's life (sandbox/netsuite/order_life.py): made by transforming an order (an invoice, by paying it),
    # never by a plain POST; what the transform computes is read-only.
    RecordType(
        name="itemFulfillment", family="transaction",
        fields=frozenset({"entity", "createdFrom", "tranDate", "tranId", "externalId", "memo", "subsidiary",
                          "shipStatus", "status", "item", "createdDate", "lastModifiedDate", "id"}),
        references={"entity": "customer", "createdFrom": "salesOrder", "subsidiary": "subsidiary"},
        sublists={"item": TRANSFORMED_LINES},
        lengths={"externalId": 255, "memo": 999, "tranId": 45},
        read_only=frozenset({"id", "createdDate", "lastModifiedDate", "entity", "createdFrom", "item", "status",
                             "shipStatus"}),
    ),
    RecordType(
        name="invoice", family="transaction",
        fields=frozenset({"entity", "createdFrom", "tranDate", "tranId", "externalId", "memo", "subsidiary",
                          "currency", "terms", "dueDate", "item", "subtotal", "total", "amountPaid",
                          "amountRemaining", "status", "createdDate", "lastModifiedDate", "id"}),
        references={"entity": "customer", "createdFrom": "salesOrder", "subsidiary": "subsidiary",
                    "currency": "currency", "terms": "term"},
        sublists={"item": TRANSFORMED_LINES},
        lengths={"externalId": 255, "memo": 999, "tranId": 45},
        read_only=frozenset({"id", "createdDate", "lastModifiedDate", "entity", "createdFrom", "item", "subtotal",
                             "total", "amountPaid", "amountRemaining", "status", "currency"}),
    ),
    RecordType(
        name="customerPayment", family="transaction",
        fields=frozenset({"customer", "entity", "payment", "total", "applied", "unapplied", "apply", "tranDate",
                          "tranId", "externalId", "memo", "currency", "subsidiary", "account", "status",
                          "createdDate", "lastModifiedDate", "id"}),
        references={"customer": "customer", "entity": "customer", "currency": "currency",
                    "subsidiary": "subsidiary", "account": "account"},
        sublists={"apply": APPLY_LINES},
        lengths={"externalId": 255, "memo": 999, "tranId": 45},
        read_only=frozenset({"id", "createdDate", "lastModifiedDate", "customer", "entity", "payment", "total",
                             "applied", "unapplied", "apply", "status", "currency"}),
    ),
    RecordType(
        name="currency", family="currency",
        fields=frozenset({"name", "symbol", "displaySymbol", "currencyPrecision", "exchangeRate", "isBaseCurrency",
                          "isInactive", "externalId", "id"}),
        references={},
        sublists={},
        lengths={"name": 25, "symbol": 3},
    ),
    RecordType(
        name="employee", family="employee",
        fields=frozenset({"firstName", "lastName", "middleName", "entityId", "email", "title", "phone", "isInactive",
                          "subsidiary", "department", "location", "supervisor", "salesRep", "externalId", "id",
                          "dateCreated", "lastModifiedDate"}),
        references={"subsidiary": "subsidiary", "department": "department", "location": "location",
                    "supervisor": "employee"},
        sublists={},
        lengths={"firstName": 32, "lastName": 32, "email": 254, "entityId": 83, "externalId": 255},
    ),
    *(RecordType(name=name, family=name.lower(), fields=frozenset({"name", "isInactive", "externalId", "id", *extra}),
                 references=references, sublists={}, lengths={"name": 31 if name == "term" else 83,
                                                              "externalId": 255})
      for name, extra, references in (
          ("term", {"daysUntilNetDue", "discountPercent", "daysUntilExpiry", "preferred"}, {}),
          ("priceLevel", {"discountPct", "isOnline"}, {}),
          ("department", {"parent", "subsidiary", "includeChildren"},
           {"parent": "department", "subsidiary": "subsidiary"}),
          ("classification", {"parent", "subsidiary", "includeChildren"},
           {"parent": "classification", "subsidiary": "subsidiary"}),
          ("location", {"parent", "subsidiary", "mainAddress", "locationType", "makeInventoryAvailable"},
           {"parent": "location", "subsidiary": "subsidiary"}),
      )),
    # OneWorld's Multi-Subsidiary Customer (Oracle: "Customer Subsidiary Relationship", REST record id
    # customerSubsidiaryRelationship): one record per secondary subsidiary a customer is shared with; GET, POST,
    # DELETE; only externalId and custom fields are updatable. The primary relationship is the customer's own
    # `subsidiary` (SuiteQL lists it with isprimarysub T).
    RecordType(
        name="customerSubsidiaryRelationship", family="relationship",
        fields=frozenset({"entity", "subsidiary", "isPrimarySub", "primaryCurrency", "externalId", "id"}),
        references={"entity": "customer", "subsidiary": "subsidiary", "primaryCurrency": "currency"},
        sublists={},
        lengths={"externalId": 255},
    ),
    RecordType(
        name="subsidiary", family="subsidiary",
        fields=frozenset({"name", "legalName", "country", "state", "parent", "currency", "isInactive",
                          "isElimination", "url", "mainAddress", "externalId", "email", "fax", "id"}),
        references={"parent": "subsidiary", "currency": "currency"},
        sublists={},
        lengths={"name": 83, "legalName": 83, "externalId": 255},
        subrecords={"mainAddress": ADDRESS_FIELDS},
    ),
]}

# Reference target names that are records this sandbox stores (and so must exist); "item" means either item type.
STORED_TARGETS = {"customer": ("customer",), "contact": ("contact",), "subsidiary": ("subsidiary",),
                  "currency": ("currency",), "estimate": ("estimate",), "salesOrder": ("salesOrder",),
                  "invoice": ("invoice",),
                  "item": ("noninventorysaleitem", "inventoryitem", "servicesaleitem")}


#: The document number NetSuite assigns a transaction saved without one (the stand-in's auto-numbering).
TRAN_ID_PREFIXES = {"salesOrder": "SO", "estimate": "EST", "invoice": "INV", "customerPayment": "PYMT",
                    "itemFulfillment": "IF"}


def record_type(name: str) -> RecordType | None:
    """Record type names in paths are case-insensitive in NetSuite (salesOrder == salesorder)."""
    return RECORD_TYPES.get(name.lower())


def is_custom_field(name: str) -> bool:
    """Custom fields (custentity…, custbody…, custcol…, custitem…, custrecord…) are assumed to exist."""
    return name.startswith(("custentity", "custbody", "custcol", "custitem", "custrecord"))


def normalize_reference(value: dict[str, Any]) -> dict[str, Any]:
    """Keep only the id of a reference, as a string (`{"id": 107}` is accepted like NetSuite does)."""
    return {"id": str(value["id"])}


def _today() -> str:
    return dt.date.today().isoformat()


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalize_line(sublist: Sublist, line: dict[str, Any]) -> dict[str, Any]:
    """A line as stored; `null` values are kept here (they empty a field of an existing line)."""
    out = {}
    for name, value in line.items():
        if name in sublist.references and isinstance(value, dict) and "id" in value:
            value = normalize_reference(value)
        out[name] = copy.deepcopy(value)
    return out


def _merge_lines(sublist: Sublist, current: list[dict[str, Any]], incoming: list[dict[str, Any]],
                 normalize: Callable[[dict[str, Any]], dict[str, Any]], *,
                 replace: bool = False) -> list[dict[str, Any]]:
    """NetSuite's keyed-sublist rules (Oracle: "Updating a Sublist", "Replacing a Sublist"): a line naming an
    existing line key updates that line (`null` empties a field of it); any other line is added, its `null` fields
    simply not set. With `replace`, the existing lines no incoming line names are removed. A line setting a unique
    flag (`defaultBilling`) takes it from every other line."""
    lines = [dict(line) for line in current]
    # keyed by what the line names (a customer's currency, a price row's currency, level and quantity)
    natural = sublist.key in sublist.references or bool(sublist.key_fields)
    next_key = 0 if natural else max((int(line[sublist.key]) for line in lines), default=0) + 1
    kept: set[str] = set()
    for raw in incoming:
        line = normalize(raw)
        if sublist.key_fields:
            line[sublist.key] = matrix_key(sublist, line)
        key = line.get(sublist.key)
        existing = (next((old for old in lines if _key_text(old.get(sublist.key)) == _key_text(key)), None)
                    if key else None)
        if existing is not None:
            for name, value in line.items():
                if value is None:
                    existing.pop(name, None)
                else:
                    existing[name] = value
            kept.add(_key_text(existing[sublist.key]))
            _take_flags(sublist, lines, existing, line)
            continue
        line = {name: value for name, value in line.items() if value is not None}
        if not natural:
            line[sublist.key] = next_key
            next_key += 1
        lines.append(line)
        kept.add(_key_text(line.get(sublist.key)))
        _take_flags(sublist, lines, line, line)
    if replace:
        lines = [line for line in lines if _key_text(line.get(sublist.key)) in kept]
    return lines


def matrix_key(sublist: Sublist, line: dict[str, Any]) -> str:
    """A matrix line's key, `currencypage=1,pricelevel=1,quantity=0` (a row without a quantity is tier 0)."""
    parts = []
    for name in sublist.key_fields:
        value = line.get(name)
        text = str(value.get("value", value.get("id"))) if isinstance(value, dict) else str(value or 0)
        parts.append(f"{name.lower()}={text}")
    return ",".join(parts)


def _key_text(value: Any) -> str:
    """A line key as text: a line number, or the id of the record a naturally keyed line names."""
    return str(value.get("id")) if isinstance(value, dict) else str(value)


def _take_flags(sublist: Sublist, lines: list[dict[str, Any]], owner: dict[str, Any], sent: dict[str, Any]) -> None:
    for flag in sublist.unique_flags:
        if sent.get(flag) is True:
            for other in lines:
                if other is not owner and other.get(flag) is True:
                    other[flag] = False


def apply_changes(rtype: RecordType, stored: dict[str, Any] | None, changes: dict[str, Any],
                  replace: set[str]) -> dict[str, Any]:
    """Merge a write into a record as NetSuite does: a field not sent keeps its value; `null` empties a body field
    (a reference, a subrecord); sublists merge line-wise by line key; a sublist named in `replace` keeps only the
    lines the request names by key (updated) plus the ones it adds, and a `null` sublist empties it only when named
    in `replace` too."""
    record = copy.deepcopy(stored) if stored else {}
    record.pop("id", None)
    for name in replace & set(rtype.sublists):
        if not isinstance(changes.get(name), dict):
            record[name] = []
    for name, value in changes.items():
        if name in rtype.read_only:
            continue
        if value is None and name in rtype.sublists:
            continue  # emptied above when in `replace`; without it there is nothing to merge
        if value is None:
            record.pop(name, None)
        elif name in rtype.sublists and isinstance(value, dict):
            sublist = rtype.sublists[name]
            record[name] = _merge_lines(sublist, record.get(name, []), value.get("items") or [],
                                        functools.partial(_normalize_line, sublist), replace=name in replace)
        elif name in rtype.references and isinstance(value, dict) and "id" in value:
            record[name] = normalize_reference(value)
        else:
            record[name] = copy.deepcopy(value)
    now = _stamp()
    created_field = "dateCreated" if rtype.family == "entity" else "createdDate"
    record.setdefault(created_field, now)
    record["lastModifiedDate"] = now
    _derive(rtype, record)
    return record


def _derive(rtype: RecordType, record: dict[str, Any]) -> None:
    """Server-computed fields NetSuite fills in on save."""
    if rtype.name == "customer":
        primary = record.get("currency")
        currencies = record.get("currencyList") or []
        if primary and not any(_key_text(line.get("currency")) == str(primary["id"]) for line in currencies):
            record["currencyList"] = [{"currency": dict(primary)}, *currencies]  # the primary is always listed
        record.setdefault("isPerson", False)
        record.setdefault("isInactive", False)
        if record.get("isPerson"):
            record["entityId"] = " ".join(p for p in (record.get("firstName"), record.get("lastName")) if p)
        elif "entityId" not in record and record.get("companyName"):
            record["entityId"] = record["companyName"]
    elif rtype.name == "employee":
        record.setdefault("isInactive", False)
        record["entityId"] = " ".join(p for p in (record.get("firstName"), record.get("lastName")) if p)
    elif rtype.family in ("term", "pricelevel", "department", "classification", "location"):
        record.setdefault("isInactive", False)
    elif rtype.name == "contact":
        record.setdefault("isInactive", False)
        record["entityId"] = " ".join(p for p in (record.get("firstName"), record.get("lastName")) if p)
    elif rtype.family == "item":
        record.setdefault("isInactive", False)
    elif rtype.name in ("salesOrder", "estimate"):
        record.setdefault("tranDate", _today())
        # NetSuite: a line's amount is what the request gave, else quantity x rate rounded to the currency's
        # precision (half up); the transaction's subtotal is the sum of the line amounts (no tax, shipping or
        # discount item here, so total = subtotal).
        total = Decimal(0)
        for line in record.get("item", []):
            if line.get("amount") is None and isinstance(line.get("rate"), (int, float)):
                line["amount"] = _money(Decimal(str(line["rate"])) * Decimal(str(line.get("quantity", 1) or 0)))
            total += Decimal(str(line.get("amount") or 0))
        record["subtotal"] = record["total"] = _money(total)
        if rtype.name == "salesOrder":
            record["orderStatus"] = record["status"] = order_status(record)
        else:
            record.setdefault("status", "Open")


# transaction.status of a sales order (SuiteScript/saved-search form "SalesOrd:<letter>"; SuiteQL and REST give the
# letter): what the order's approval and its lines' fulfilled/billed/closed quantities make it.
ORDER_STATUS_NAMES = {"A": "Pending Approval", "B": "Pending Fulfillment", "C": "Cancelled",
                      "D": "Partially Fulfilled", "E": "Pending Billing/Partially Fulfilled", "F": "Pending Billing",
                      "G": "Billed", "H": "Closed"}


def order_status(record: dict[str, Any]) -> str:
    """The status NetSuite derives: approval first (A until approved), then the open lines' quantities."""
    if record.get("orderStatus") in ("A", "C"):
        return str(record["orderStatus"])
    lines = record.get("item", [])
    open_lines = [line for line in lines if not line.get("isClosed")]
    if lines and not open_lines:
        return "H"

    def qty(line: dict[str, Any], name: str) -> Decimal:
        return Decimal(str(line.get(name) or 0))

    ordered = sum((qty(line, "quantity") for line in open_lines), Decimal(0))
    fulfilled = sum((qty(line, "quantityFulfilled") for line in open_lines), Decimal(0))
    billed = sum((qty(line, "quantityBilled") for line in open_lines), Decimal(0))
    if ordered and billed >= ordered:
        return "G"
    if fulfilled == 0 and billed == 0:
        return "B"
    if ordered and fulfilled >= ordered:
        return "F"
    return "E" if fulfilled > billed else "D"


LINE_PROGRESS = ("quantityFulfilled", "quantityBilled")  # set by fulfilments and invoices, never by a write
_PRICED = ("item", "quantity", "rate", "amount", "price", "units")


def keep_line_progress(existing: dict[str, Any] | None, record: dict[str, Any]) -> str | None:
    """Put back the fulfilled/billed quantities an API write may not set; the refusal, if the write removes or
    reprices a line that has been fulfilled or billed (NetSuite keeps such a line as it is), else None."""
    old_lines = {str(line.get("line")): line for line in (existing or {}).get("item", [])}
    new_lines = {str(line.get("line")): line for line in record.get("item", [])}
    for key, line in new_lines.items():
        old = old_lines.get(key, {})
        for name in LINE_PROGRESS:
            line.pop(name, None)
            if old.get(name):
                line[name] = old[name]
    for key, old in old_lines.items():
        if not any(old.get(name) for name in LINE_PROGRESS):
            continue
        new = new_lines.get(key)
        done = "billed" if old.get("quantityBilled") else "fulfilled"
        if new is None:
            return f"You cannot remove line {key}: it has been {done}."
        changed = [name for name in _PRICED if new.get(name) != old.get(name)]
        if changed:
            return f"You cannot change {', '.join(changed)} of line {key}: it has been {done}."
    return None


def _money(value: Decimal) -> float:
    """An amount in the currency's precision (2 decimals, the stand-in's currencies), rounded half up."""
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def ref_name(rtype_name: str, record: dict[str, Any]) -> str | None:
    if rtype_name in ("customer", "contact"):
        return record.get("entityId") or record.get("companyName")
    if rtype_name in ("noninventorysaleitem", "inventoryitem", "servicesaleitem"):
        return record.get("itemId")
    if rtype_name == "subsidiary":
        return record.get("name")
    return None


class Renderer:
    """Turns stored records into GET bodies for one base URL (`<scheme>://<host>/services/rest/record/v1`)."""

    def __init__(self, base: str, lookup: Callable[[str, str], tuple[str, dict[str, Any]] | None]) -> None:
        self.base = base
        self._lookup = lookup

    def link(self, *parts: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": "/".join([self.base, *parts])}]

    def reference(self, target: str, value: dict[str, Any]) -> dict[str, Any]:
        ref_id = str(value.get("id"))
        found = self._lookup(target, ref_id) if target in STORED_TARGETS else None
        path_type = found[0] if found else target.lower()
        out: dict[str, Any] = {"links": self.link(path_type, ref_id), "id": ref_id}
        name = ref_name(found[0], found[1]) if found else None
        if name is not None:
            out["refName"] = name
        return out

    def _line(self, sublist: Sublist, self_parts: list[str], line: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"links": []}
        for name, value in line.items():
            if sublist.key_fields and name == sublist.key:
                continue  # a matrix row's key is its path, not a field
            if name in sublist.references and isinstance(value, dict) and "id" in value:
                out[name] = self.reference(sublist.references[name], value)
            elif name in sublist.subrecords and isinstance(value, dict):
                out[name] = {"links": self.link(*self_parts, str(line[sublist.key]), name), **value}
            else:
                out[name] = value
        return out

    def render(self, rtype: RecordType, record: dict[str, Any], *, expand: bool = False,
               fields: set[str] | None = None) -> dict[str, Any]:
        record_id = str(record["id"])
        body: dict[str, Any] = {"links": self.link(rtype.path_name, record_id)}
        values = dict(record)
        for name in rtype.sublists:
            values.setdefault(name, [])
        if rtype.name == "customer":
            values.setdefault("balance", 0.0)
        if rtype.name in TRAN_ID_PREFIXES:
            values.setdefault("tranId", f"{TRAN_ID_PREFIXES[rtype.name]}{record_id}")
        for name in sorted(values, key=str.lower):
            if fields is not None and name not in fields:
                continue
            value = values[name]
            if name in rtype.sublists:
                sublist = rtype.sublists[name]
                stub = self.link(rtype.path_name, record_id, name)
                if expand:
                    items = [self._line(sublist, [rtype.path_name, record_id, name], line) for line in value]
                    body[name] = {"links": stub, "items": items, "totalResults": len(items)}
                else:
                    body[name] = {"links": stub}
            elif name in rtype.references and isinstance(value, dict) and "id" in value:
                body[name] = self.reference(rtype.references[name], value)
            elif name in rtype.subrecords and isinstance(value, dict):
                body[name] = {"links": self.link(rtype.path_name, record_id, name), **value}
            else:
                body[name] = value
        return body
