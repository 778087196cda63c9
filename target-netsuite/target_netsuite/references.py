"""Resolving `{"externalId": ..., "type": ...}` references to NetSuite internal ids `{"id": ...}`.

Ids come first from this run's own writes (the `Location` header of an upsert), else from batched SuiteQL
lookups on `externalid`, and are cached for the run. SuiteQL has no table per record type for transactions and
items: those live in the `transaction` and `item` tables.

A reference's `type` comes from the input, so it is used in SuiteQL only when it is a record type name (the
checked form of `client.RECORD_TYPE_PATTERN`), never as free text. When a reference stays unresolved,
`lookup_failure` says why truthfully: absent from NetSuite, or not looked up (SuiteQL refused, a bad type).
"""

from __future__ import annotations

import logging
import threading
import typing as t

from target_netsuite.client import RecordError, is_record_type

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from target_netsuite.client import NetSuiteClient

Ref = tuple[str, str]  # (record type, external id)

# REST record type → SuiteQL `transaction.type` code (external ids are unique per type, not per table).
_TRANSACTION_TYPES = {
    "salesOrder": "SalesOrd", "invoice": "CustInvc", "estimate": "Estimate", "opportunity": "Opprtnty",
    "cashSale": "CashSale", "creditMemo": "CustCred", "returnAuthorization": "RtnAuth", "purchaseOrder": "PurchOrd",
    "vendorBill": "VendBill", "vendorCredit": "VendCred", "vendorPayment": "VendPymt", "customerPayment": "CustPymt",
    "customerDeposit": "CustDep", "customerRefund": "CustRfnd", "journalEntry": "Journal",
    "itemFulfillment": "ItemShip", "itemReceipt": "ItemRcpt", "transferOrder": "TrnfrOrd", "workOrder": "WorkOrd",
    "check": "Check", "deposit": "Deposit", "expenseReport": "ExpRept", "cashRefund": "CashRfnd",
}
_LOOKUP_CHUNK = 200
_LOGGER = logging.getLogger("target_netsuite.references")


def suiteql_source(record_type: str) -> tuple[str, str]:
    """(table, extra condition) selecting the records of a REST record type in SuiteQL."""
    if record_type in _TRANSACTION_TYPES:
        return "transaction", f" AND type = '{_TRANSACTION_TYPES[record_type]}'"
    if record_type.startswith("customtransaction"):
        return "transaction", ""
    if record_type.endswith("Item") or record_type == "item":
        return "item", ""
    return record_type.lower(), ""


def is_reference(value: object) -> t.TypeGuard[dict[str, str]]:
    """The mapper's reference shape: exactly `externalId` and `type`, both strings."""
    return (
        isinstance(value, dict)
        and value.keys() == {"externalId", "type"}
        and isinstance(value["externalId"], str)
        and isinstance(value["type"], str)
    )


def find_references(value: object, path: str = "") -> Iterator[tuple[str, Ref]]:
    """(path, reference) for every reference anywhere in a payload, e.g. `item.items[0].item`."""
    if is_reference(value):
        assert isinstance(value, dict)
        yield path, (value["type"], value["externalId"])
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from find_references(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from find_references(child, f"{path}[{index}]")


def substitute(value: object, ids: dict[Ref, str]) -> object:
    """A copy of the payload with every reference replaced by `{"id": ...}` (all must be in `ids`)."""
    if is_reference(value):
        assert isinstance(value, dict)
        return {"id": ids[(value["type"], value["externalId"])]}
    if isinstance(value, dict):
        return {key: substitute(child, ids) for key, child in value.items()}
    if isinstance(value, list):
        return [substitute(child, ids) for child in value]
    return value


class ReferenceResolver:
    """Run-wide cache of external id → internal id, filled by writes and by batched SuiteQL lookups."""

    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client
        self._ids: dict[Ref, str] = {}
        self._failed: dict[str, str] = {}  # record type → why its lookup failed
        self._lock = threading.Lock()

    def remember(self, ref: Ref, internal_id: str) -> None:
        with self._lock:
            self._ids[ref] = internal_id

    def forget(self, ref: Ref) -> None:
        with self._lock:
            self._ids.pop(ref, None)

    def known(self, refs: Iterable[Ref]) -> dict[Ref, str]:
        with self._lock:
            return {ref: self._ids[ref] for ref in refs if ref in self._ids}

    def resolve(self, refs: Iterable[Ref]) -> dict[Ref, str]:
        """Internal ids for every reference that exists in NetSuite; the missing ones are simply absent."""
        wanted = set(refs)
        found = self.known(wanted)
        by_type: dict[str, list[str]] = {}
        for record_type, external_id in sorted(wanted - found.keys()):
            if is_record_type(record_type):
                by_type.setdefault(record_type, []).append(external_id)
        for record_type, external_ids in by_type.items():
            for start in range(0, len(external_ids), _LOOKUP_CHUNK):
                try:
                    rows = list(self._lookup(record_type, external_ids[start : start + _LOOKUP_CHUNK]))
                except RecordError as exc:  # SuiteQL not permitted, or a record type it has no table for
                    reason = "SuiteQL not permitted" if exc.status in (401, 403) else "SuiteQL lookup failed"
                    with self._lock:
                        self._failed[record_type] = f"{reason} ({exc.status} {exc.code}: {exc.detail[:160]})"
                    _LOGGER.warning("SuiteQL lookup of %s external ids failed: %s", record_type, exc)
                    break
                for external_id, internal_id in rows:
                    self.remember((record_type, external_id), internal_id)
                    found[(record_type, external_id)] = internal_id
        return found

    def lookup_failure(self, ref: Ref) -> str | None:
        """Why an unresolved reference was never looked up (a bad type, SuiteQL refused); None when it was looked
        up and NetSuite has no such record."""
        record_type, external_id = ref
        if not is_record_type(record_type):
            return f"reference type {record_type[:60]!r} is not a NetSuite record type; not looked up"
        with self._lock:
            failure = self._failed.get(record_type)
        return f"could not look up {record_type} externalId {external_id!r}: {failure}" if failure else None

    def _lookup(self, record_type: str, external_ids: list[str]) -> Iterator[tuple[str, str]]:
        quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in external_ids)
        table, condition = suiteql_source(record_type)
        query = f"SELECT id, externalid FROM {table} WHERE externalid IN ({quoted}){condition}"
        for row in self._client.suiteql_rows(query):
            if "externalid" in row and "id" in row:
                yield str(row["externalid"]), str(row["id"])
