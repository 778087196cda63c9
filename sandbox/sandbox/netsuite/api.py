"""The real NetSuite paths: REST Record API and SuiteQL, for one authenticated account.

Each handler is synchronous from the moment the request body is in hand: validation, the existence checks
and the write happen with no `await` between them, so two concurrent upserts of one external id cannot both
create a record (the event loop runs one handler at a time).
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from sandbox.netsuite import suiteql
from sandbox.netsuite.errors import external_id_refused, unsupported_media_type
from sandbox.netsuite.governance import Governor
from sandbox.netsuite.knobs import Knobs
from sandbox.netsuite.order_life import TRANSFORMS, OrderLife, receivables
from sandbox.netsuite.records import (
    STORED_TARGETS,
    TRAN_ID_PREFIXES,
    RecordType,
    Renderer,
    apply_changes,
    is_custom_field,
    keep_line_progress,
    order_status,
    record_type,
)
from sandbox.netsuite.responses import (
    COLLECTION_CONTENT_TYPE,
    RECORD_CONTENT_TYPE,
    NetSuiteError,
    build_response,
    json_response,
    not_found,
    user_error,
)
from sandbox.netsuite.routes import API_ROUTES, RECORD_PREFIX, SUITEQL_PATH, path_segments
from sandbox.netsuite.store import Store
from sandbox.netsuite.validation import Validator

RELATIONSHIP = "customerSubsidiaryRelationship"
# Oracle's help ("Using External IDs"): the pipe is a multi-select delimiter in REST web services.
EXTERNAL_ID_FORBIDDEN = "|"


def check_external_id_key(external_id: str) -> str:
    if not external_id:
        raise not_found()
    if EXTERNAL_ID_FORBIDDEN in external_id:
        raise external_id_refused()
    return external_id


def _json_write_body(request: Request, body: bytes) -> bytes:
    """Writes carry JSON: any other Content-Type is refused before the body is read."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json" and not (content_type.startswith("application/")
                                                    and content_type.endswith("+json")):
        raise unsupported_media_type(content_type)
    return body
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(T.*)?$")
_SUITEQL_TABLES = {
    "customer": (("customer", {}),),
    "contact": (("contact", {}),),
    "subsidiary": (("subsidiary", {}),),
    "currency": (("currency", {}),),
    "customersubsidiaryrelationship": ((RELATIONSHIP, {"isprimarysub": "F"}),),
    **{name.lower(): ((name, {}),) for name in ("employee", "term", "priceLevel", "department", "classification",
                                                "location")},
    "item": (("nonInventorySaleItem", {"itemtype": "NonInvtPart", "recordtype": "noninventoryitem"}),
             ("inventoryItem", {"itemtype": "InvtPart", "recordtype": "inventoryitem"}),
             ("serviceSaleItem", {"itemtype": "Service", "recordtype": "serviceitem"})),
    "transaction": (("salesOrder", {"type": "SalesOrd", "recordtype": "salesorder"}),
                    ("estimate", {"type": "Estimate", "recordtype": "estimate"}),
                    ("invoice", {"type": "CustInvc", "recordtype": "invoice"}),
                    ("customerPayment", {"type": "CustPymt", "recordtype": "customerpayment"}),
                    ("itemFulfillment", {"type": "ItemShip", "recordtype": "itemfulfillment"})),
}
#: SuiteQL's `transactionLine` (columns as in the recorded wide row, wire sample suiteql.yaml): one main line per
#: transaction (`mainline` T, id 0, with `createdfrom`, the order an invoice or fulfilment was made from) and one
#: row per item line (`id` = the line key; `quantityshiprecv` the fulfilled quantity of an order line).
_TRANSACTION_LINE_COLUMNS = frozenset({"id", "transaction", "mainline", "createdfrom", "entity", "item", "quantity",
                                       "quantitybilled", "quantityshiprecv", "rate", "foreignamount", "netamount",
                                       "isclosed", "linesequencenumber", "memo", "subsidiary"})
#: The customer's receivables, derived from its open invoices and unapplied payments (sandbox/netsuite/order_life.py):
#: SuiteQL's `balancesearch`/`overduebalancesearch` (SuiteQL has no plain `balance` of these: Tim Dietrich's
#: published customer queries and several open-source SuiteQL clients use these names), the REST record's `balance`
#: and `overdueBalance` (wire sample get_records.yaml: `balance`, `overduebalance`).
_CUSTOMER_RECEIVABLE_COLUMNS = frozenset({"balancesearch", "overduebalancesearch"})
#: SuiteQL's address book tables: one row per address book line of an entity (`entity` = the record's internal id,
#: `internalid` = the line's id, the key a REST write names the line by); the address itself is in the
#: `...EntityAddress` table (joined on `addressbookaddress` = `nkey`), which the stand-in does not serve.
# Columns of the `transaction` table every transaction has in NetSuite, beyond the record's own fields; NULL (left
# out of the row) unless `_transaction_columns` derives them.
_TRANSACTION_VIEW_COLUMNS = frozenset({"foreigntotal", "foreignamountpaid", "foreignamountunpaid", "duedate",
                                       "foreignpaymentamountunused",
                                       "recordtype", "type"})
_ADDRESSBOOK_TABLES = {"customeraddressbook": "customer", "contactaddressbook": "contact"}
_ADDRESSBOOK_COLUMNS = frozenset({"entity", "internalid", "label", "defaultbilling", "defaultshipping",
                                  "isresidential", "addressbookaddress"})


def base_url(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


def _bad_content(detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_CONTENT", f"Error while accessing resource: {detail}")


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise _bad_content("The request body is empty. Provide a JSON object.")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise _bad_content(f"Invalid content in the request body: {exc.msg}.") from exc
    except UnicodeDecodeError as exc:
        raise _bad_content("Invalid content in the request body: the body is not UTF-8 text.") from exc
    if not isinstance(data, dict):
        raise _bad_content("The request body must be a JSON object.")
    return data


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() == "true"


class RecordApi:
    """Handlers of `/services/rest/record/v1/...` and `/services/rest/query/v1/suiteql` for one account."""

    def __init__(self, store: Store, governor: Governor, knobs: Knobs) -> None:
        self.store = store
        self.governor = governor
        self.knobs = knobs
        self.order_life = OrderLife(store)

    def lookup(self, account: str) -> Any:
        """Resolve a reference target ("customer", "item", ...) and id to (record type path, record)."""
        def find(target: str, ref_id: str) -> tuple[str, dict[str, Any]] | None:
            for rtype_name in STORED_TARGETS.get(target, ()):
                rtype = record_type(rtype_name)
                assert rtype is not None
                found = self.store.get(account, rtype.name, ref_id)
                if found is not None:
                    return rtype.path_name, found
            return None
        return find

    def dispatch(self, request: Request, account: str, body: bytes) -> Response:
        """Match the request's decoded path segments against `API_ROUTES` and run the handler named there."""
        segments = path_segments(request)
        matching = [(route, captured) for route in API_ROUTES if (captured := route.match(segments)) is not None]
        for route, captured in matching:
            if route.method != request.method:
                continue
            rtype = None
            if "type" in captured:
                rtype = record_type(captured["type"])
                if rtype is None:
                    raise NetSuiteError(404, "INVALID_URL", f"Record type '{captured['type']}' does not exist.")
            handler: Callable[..., Response] = getattr(self, f"route_{route.handler}")
            return handler(request, account, body, rtype, captured.get("key", ""))
        if matching:
            captured = matching[0][1]
            if "type" in captured and record_type(captured["type"]) is None:
                raise NetSuiteError(404, "INVALID_URL", f"Record type '{captured['type']}' does not exist.")
            raise NetSuiteError(405, "INVALID_METHOD", f"The {request.method} method is not allowed.")
        if len(segments) > 2 and segments[:2] == ["record", "v1"]:
            raise NetSuiteError(404, "INVALID_URL", f"Record type '{segments[2]}' does not exist.")
        raise NetSuiteError(404, "INVALID_URL", f"The requested URL {request.url.path} was not found on this server.")

    # --- route handlers: (request, account, body, record type or None, key) -> response --------------------

    def _renderer(self, request: Request, account: str) -> Renderer:
        return Renderer(base_url(request) + RECORD_PREFIX.rstrip("/"), self.lookup(account))

    def route_suiteql(self, request: Request, account: str, body: bytes, rtype: None, key: str) -> Response:
        return self.suiteql(request, account, _json_write_body(request, body))

    def route_create(self, request: Request, account: str, body: bytes, rtype: RecordType, key: str) -> Response:
        return self.create(request, account, rtype, _json_object(_json_write_body(request, body)),
                           self._renderer(request, account))

    def _receivables(self, account: str) -> dict[str, tuple[float, float]]:
        return receivables(self.store.list(account, "invoice"), self.store.list(account, "customerPayment"))

    def route_transform(self, request: Request, account: str, body: bytes, rtype: RecordType,
                        key: str) -> Response:
        """`POST <type>/<id>/!transform/<target>`: 204 with the new record's Location, as a create."""
        target = record_type(path_segments(request)[-1])
        if target is None or (rtype.path_name, target.path_name) not in TRANSFORMS:
            raise NetSuiteError(400, "INVALID_PARAMETER", f"Transformation from {rtype.name} to "
                                f"{path_segments(request)[-1]} is not supported.")
        source = self._found(account, rtype, key)
        changes = _json_object(_json_write_body(request, body)) if body.strip() else {}
        if target.name == "customerPayment":
            new_id = self.order_life.pay_invoice(account, source["id"], changes)
        elif target.name == "invoice":
            new_id = self.order_life.bill(account, source["id"], changes)
        else:
            new_id = self.order_life.fulfil(account, source["id"], changes)
        self.governor.for_account(account).created += 1
        renderer = self._renderer(request, account)
        return build_response(204, headers=[("Location", f"{renderer.base}/{target.path_name}/{new_id}")])

    def route_list(self, request: Request, account: str, body: bytes, rtype: RecordType, key: str) -> Response:
        return self.list(request, account, rtype, self._renderer(request, account))

    def route_upsert(self, request: Request, account: str, body: bytes, rtype: RecordType, key: str) -> Response:
        if not key.startswith("eid:"):
            raise NetSuiteError(405, "INVALID_METHOD",
                                "PUT is only supported for upserts by external ID (eid:<externalId>).")
        external_id = check_external_id_key(key[4:])
        return self.upsert(request, account, rtype, external_id, _json_object(_json_write_body(request, body)),
                           self._renderer(request, account))

    def route_get(self, request: Request, account: str, body: bytes, rtype: RecordType, key: str) -> Response:
        record = self._found(account, rtype, key)
        if rtype.name == "customer":  # read-only receivables, derived from the open invoices
            balance = _receivable_fields(self._receivables(account), record["id"])
            record = {**record, "balance": balance["balancesearch"], "overdueBalance": balance["overduebalancesearch"]}
        fields = request.query_params.get("fields")
        wanted = {f.strip() for f in fields.split(",") if f.strip()} if fields else None
        data = self._renderer(request, account).render(rtype, record, expand=_flag(request, "expandSubResources"),
                                                       fields=wanted)
        return json_response(200, data, RECORD_CONTENT_TYPE)

    def route_update(self, request: Request, account: str, body: bytes, rtype: RecordType, key: str) -> Response:
        changes = _json_object(_json_write_body(request, body))
        return self.update(request, account, rtype, self._found(account, rtype, key), changes,
                           self._renderer(request, account))

    def route_delete(self, request: Request, account: str, body: bytes, rtype: RecordType, key: str) -> Response:
        return self.delete(account, rtype, self._found(account, rtype, key))

    def _found(self, account: str, rtype: RecordType, key: str) -> dict[str, Any]:
        if key.startswith("eid:"):
            check_external_id_key(key[4:])
        record = self._find(account, rtype, key)
        if record is None:
            raise not_found()
        return record

    def _find(self, account: str, rtype: RecordType, key: str) -> dict[str, Any] | None:
        if key.startswith("eid:"):
            return self.store.get_by_external_id(account, rtype.name, key[4:])
        return self.store.get(account, rtype.name, key)

    @staticmethod
    def _strict(request: Request) -> bool:
        return request.headers.get("x-netsuite-propertynamevalidation", "").lower() == "error"

    def _check_rejection(self, external_id: Any) -> None:
        if isinstance(external_id, str) and self.knobs.is_rejected(external_id):
            # Like a real account's validation rule (a workflow or a required custom field): the same words for
            # every record it refuses, naming no record, so identical refusals look identical.
            raise user_error("This record was refused by a validation rule of the account (the sandbox's "
                             "rejection rule: reject_external_ids / reject_external_id_pattern).", path="externalId")

    def _save(self, request: Request, account: str, rtype: RecordType, existing: dict[str, Any] | None,
              changes: dict[str, Any], replace: set[str], renderer: Renderer) -> Response:
        """Validate and write one create or update; 204 with Location and unknown-field warnings."""
        validator = Validator(rtype, self.lookup(account), strict_names=self._strict(request),
                              shared=lambda customer: self._shared_subsidiaries(account, customer))
        changes = validator.check_changes(changes)
        record = apply_changes(rtype, existing, changes, replace)
        if rtype.name == "customerSubsidiaryRelationship":
            self._check_relationship(account, existing, record)
        if (rtype.name == "customer" and existing is not None and self._has_dependents(account, rtype, existing["id"])
                and (existing.get("subsidiary") or {}).get("id") != (record.get("subsidiary") or {}).get("id")):
            # Oracle (customer record, `subsidiary`): "Once a transaction has posted for the entity or job, you are
            # not able to change the subsidiary selected on the entity or job record." The wording is a guess.
            raise user_error("You cannot change the subsidiary of this customer because it has transactions.",
                             path="subsidiary")
        if rtype.name == "salesOrder":
            refusal = keep_line_progress(existing, record)
            if refusal:
                raise user_error(refusal, path="item")
            record["orderStatus"] = record["status"] = order_status(record)
        external_id = record.get("externalId")
        if isinstance(external_id, str) and EXTERNAL_ID_FORBIDDEN in external_id:
            raise external_id_refused()
        self._check_rejection(external_id)
        if external_id is not None:
            other = self.store.get_by_external_id(account, rtype.name, str(external_id))
            if other is not None and (existing is None or other["id"] != existing["id"]):
                raise user_error("A record with this external ID already exists.", path="externalId")
        validator.check_record(record)
        counters = self.governor.for_account(account)
        if existing is None:
            record_id = self.store.insert(account, rtype.name, rtype.family, record)
            counters.created += 1
        else:
            record_id = existing["id"]
            self.store.replace(account, rtype.name, record_id, record)
            # An idempotent re-send (same content) is told apart, so tests and the demo can show "changed nothing".
            if _content(record, rtype) == _content(existing, rtype):
                counters.unchanged += 1
            else:
                counters.updated += 1
        headers = [("Location", f"{renderer.base}/{rtype.path_name}/{record_id}")]
        headers += [("X-NetSuite-PropertyValidation", w) for w in validator.warnings]
        return build_response(204, headers=headers)

    def _shared_subsidiaries(self, account: str, customer: str) -> set[str]:
        """The secondary subsidiaries a customer is shared with (its customerSubsidiaryRelationship records)."""
        return {str((rel.get("subsidiary") or {}).get("id")) for rel in self.store.list(account, RELATIONSHIP)
                if str((rel.get("entity") or {}).get("id")) == customer}

    def _check_relationship(self, account: str, existing: dict[str, Any] | None, record: dict[str, Any]) -> None:
        """A relationship names its customer and subsidiary once (only externalId and custom fields may change
        later), and a customer is assigned to a subsidiary at most once. The wording is the stand-in's own:
        no recording of NetSuite's refusal was found."""
        entity, subsidiary = (str((record.get(name) or {}).get("id")) for name in ("entity", "subsidiary"))
        if existing is not None:
            if any(existing.get(name) != record.get(name) for name in ("entity", "subsidiary")):
                raise user_error("You cannot change the customer or the subsidiary of a customer subsidiary "
                                 "relationship.", path="subsidiary")
            return
        customer = self.store.get(account, "customer", entity)
        primary = str(((customer or {}).get("subsidiary") or {}).get("id"))
        if subsidiary == primary or subsidiary in self._shared_subsidiaries(account, entity):
            raise user_error(f"Subsidiary {subsidiary} is already assigned to customer {entity}.", path="subsidiary")
        record["isPrimarySub"] = False

    @staticmethod
    def _replace(request: Request) -> set[str]:
        raw = request.query_params.get("replace", "")
        return {name.strip() for name in raw.split(",") if name.strip()}

    def create(self, request: Request, account: str, rtype: RecordType, changes: dict[str, Any],
               renderer: Renderer) -> Response:
        if rtype.name == "customerPayment":
            new_id = self.order_life.create_payment(account, changes)
            self.governor.for_account(account).created += 1
            return build_response(204, headers=[("Location", f"{renderer.base}/{rtype.path_name}/{new_id}")])
        if rtype.name in ("invoice", "itemFulfillment"):
            raise user_error(f"The stand-in makes a {rtype.name} only by transforming a sales order "
                             f"(POST salesOrder/<id>/!transform/{rtype.name}).")
        return self._save(request, account, rtype, None, changes, set(), renderer)

    def update(self, request: Request, account: str, rtype: RecordType, record: dict[str, Any],
               changes: dict[str, Any], renderer: Renderer) -> Response:
        return self._save(request, account, rtype, record, changes, self._replace(request), renderer)

    def upsert(self, request: Request, account: str, rtype: RecordType, external_id: str, changes: dict[str, Any],
               renderer: Renderer) -> Response:
        """PUT eid:<id>: create with that external id, or update the record that has it."""
        if not external_id:
            raise not_found()
        changes = {**changes, "externalId": external_id}
        existing = self.store.get_by_external_id(account, rtype.name, external_id)
        replace = self._replace(request) if existing is not None else set()
        return self._save(request, account, rtype, existing, changes, replace, renderer)

    def delete(self, account: str, rtype: RecordType, record: dict[str, Any]) -> Response:
        if self._has_dependents(account, rtype, record["id"]):
            raise user_error("This record cannot be deleted because it has dependent records.")
        self.store.delete(account, rtype.name, record["id"])
        self.governor.for_account(account).deleted += 1
        return build_response(204)

    def _has_dependents(self, account: str, rtype: RecordType, record_id: str) -> bool:
        """Sales orders and estimates pin their customer and items, an order the estimate it was created from, a
        fulfilment or an invoice its order (and customer), a payment its invoices, as in NetSuite."""
        if rtype.name == "estimate":
            return any((order.get("createdFrom") or {}).get("id") == record_id
                       for order in self.store.list(account, "salesOrder"))
        if rtype.name == "salesOrder":  # its fulfilments and invoices
            return any((made.get("createdFrom") or {}).get("id") == record_id
                       for made_type in ("itemFulfillment", "invoice") for made in self.store.list(account, made_type))
        if rtype.name == "invoice":  # the payments applied to it
            return any(str((line.get("doc") or {}).get("id")) == record_id
                       for payment in self.store.list(account, "customerPayment") for line in payment.get("apply", []))
        if rtype.name == "customer" and any(
                str((made.get("entity") or {}).get("id")) == record_id
                for made_type in ("invoice", "customerPayment", "itemFulfillment")
                for made in self.store.list(account, made_type)):
            return True
        if rtype.name not in ("customer", "nonInventorySaleItem", "inventoryItem"):
            return False
        for order in [*self.store.list(account, "salesOrder"), *self.store.list(account, "estimate")]:
            if rtype.name == "customer" and (order.get("entity") or {}).get("id") == record_id:
                return True
            if rtype.family == "item" and any((line.get("item") or {}).get("id") == record_id
                                              for line in order.get("item", [])):
                return True
        return False

    def list(self, request: Request, account: str, rtype: RecordType, renderer: Renderer) -> Response:
        """GET /record/v1/<type>: the id collection with NetSuite's paging envelope."""
        limit, offset = _paging(request, default_limit=1000)
        records = self.store.list(account, rtype.name)
        page = records[offset:offset + limit]
        items = [{"links": renderer.link(rtype.path_name, r["id"]), "id": r["id"]} for r in page]
        self_href = f"{renderer.base}/{rtype.path_name}"
        return json_response(200, _collection(self_href, request, items, offset, limit, len(records)),
                             COLLECTION_CONTENT_TYPE)

    def _candidates(self, account: str, rtype_name: str, query: suiteql.Query) -> builtins.list[dict[str, Any]]:
        """Rows that can match: an index lookup when the WHERE pins id/externalid, else the whole table."""
        column, values = query.narrowing or ("", set())
        if column == "id":
            return self.store.find(account, rtype_name, ids=values)
        if column == "externalid":
            return self.store.find(account, rtype_name, external_ids=values)
        return self.store.list(account, rtype_name)

    def _primary_relationship_rows(self, account: str) -> builtins.list[suiteql.Row]:
        """Every customer's primary subsidiary, as NetSuite lists it among the relationships (ids above the stored
        relationships' range, so each row has its own)."""
        return [suiteql.to_row({"id": str(1_000_000 + int(customer["id"])), "entity": customer["id"],
                                "subsidiary": customer["subsidiary"]}, {"isprimarysub": "T"})
                for customer in self.store.list(account, "customer") if isinstance(customer.get("subsidiary"), dict)]

    def _addressbook_rows(self, request: Request, account: str, query: suiteql.Query, limit: int,
                          offset: int) -> Response:
        """`customerAddressbook` / `contactAddressbook`: a row per address book line (see `_ADDRESSBOOK_TABLES`)."""
        unknown = sorted(query.referenced - _ADDRESSBOOK_COLUMNS - {out for _, out in query.columns or ()})
        if unknown:
            raise suiteql.unknown_field(unknown[0], query.table)
        column, values = query.narrowing or ("", set())
        rtype_name = _ADDRESSBOOK_TABLES[query.table]
        records = (self.store.find(account, rtype_name, ids=values) if column == "entity"
                   else self.store.list(account, rtype_name))
        rows = [_addressbook_row(record["id"], line) for record in records for line in record.get("addressbook", [])]
        rows.sort(key=lambda row: (int(row["entity"]), int(row["internalid"])))
        result = suiteql.execute(query, rows)
        page = [{"links": [], **row} for row in result[offset:offset + limit]]
        return json_response(200, _collection(base_url(request) + SUITEQL_PATH, request, page, offset, limit,
                                              len(result)),
                             COLLECTION_CONTENT_TYPE, headers=[("Preference-Applied", "transient")])

    def _transaction_line_rows(self, request: Request, account: str, query: suiteql.Query, limit: int,
                               offset: int) -> Response:
        """`transactionLine`: see `_TRANSACTION_LINE_COLUMNS`."""
        unknown = sorted(c for c in query.referenced - _TRANSACTION_LINE_COLUMNS - {out for _, out in query.columns
                                                                                   or ()} if not is_custom_field(c))
        if unknown:
            raise suiteql.unknown_field(unknown[0], query.table)
        column, values = query.narrowing or ("", set())
        rows: builtins.list[suiteql.Row] = []
        for rtype_name, _ in _SUITEQL_TABLES["transaction"]:
            records = (self.store.find(account, rtype_name, ids=values) if column == "transaction"
                       else self.store.list(account, rtype_name))
            for record in records:
                rows += _transaction_line_rows(record)
        rows.sort(key=lambda row: (int(row["transaction"]), int(row["id"])))
        result = suiteql.execute(query, rows)
        page = [{"links": [], **row} for row in result[offset:offset + limit]]
        return json_response(200, _collection(base_url(request) + SUITEQL_PATH, request, page, offset, limit,
                                              len(result)),
                             COLLECTION_CONTENT_TYPE, headers=[("Preference-Applied", "transient")])

    def suiteql(self, request: Request, account: str, body: bytes) -> Response:
        if request.headers.get("prefer", "").lower() != "transient":
            raise NetSuiteError(400, "INVALID_HEADER",
                                "SuiteQL requests require the header Prefer: transient.", header="Prefer")
        data = _json_object(body)
        if not isinstance(data.get("q"), str):
            raise _bad_content('Provide the query as {"q": "SELECT ..."}.')
        query = suiteql.parse(data["q"])
        sources = _SUITEQL_TABLES.get(query.table)
        if sources is None and query.table not in _ADDRESSBOOK_TABLES and query.table != "transactionline":
            raise suiteql.invalid_query()
        limit, offset = _paging(request, default_limit=1000)
        if offset % limit:
            raise NetSuiteError(400, "INVALID_PARAMETER",
                                f"Invalid value for the query parameter offset: {offset}. The offset must be a "
                                f"multiple of the limit ({limit}).", query_param="offset")
        if query.table == "transactionline":
            return self._transaction_line_rows(request, account, query, limit, offset)
        if sources is None:
            return self._addressbook_rows(request, account, query, limit, offset)
        known = set().union(*(_suiteql_columns(name, extra) for name, extra in sources))
        if query.table == "customer":
            known |= _CUSTOMER_RECEIVABLE_COLUMNS
        aliases = {out for src, out in query.columns or () if out != src}
        # Custom fields are assumed to exist (as for writes): an account defines them whether or not a record holds
        # a value yet, and SuiteQL answers NULL (a row without the column) for one that has none.
        unknown = sorted(c for c in query.referenced - known - aliases if not is_custom_field(c))
        if unknown:
            raise suiteql.unknown_field(unknown[0], query.table)
        rows = []
        owed = self._receivables(account) if query.table == "customer" else {}
        for rtype_name, extra in sources:
            for record in self._candidates(account, rtype_name, query):
                row_extra = ({**extra, **_transaction_columns(rtype_name, record)} if query.table == "transaction"
                             else extra)
                if query.table == "customer":
                    record = {**record, **_receivable_fields(owed, record["id"])}
                rows.append(suiteql.to_row({k: _suiteql_date(v) for k, v in record.items()}, row_extra))
        if query.table == "customersubsidiaryrelationship":
            rows += self._primary_relationship_rows(account)
        rows.sort(key=lambda row: int(row["id"]))
        result = suiteql.execute(query, rows)
        page = [{"links": [], **row} for row in result[offset:offset + limit]]
        self_href = base_url(request) + SUITEQL_PATH
        return json_response(200, _collection(self_href, request, page, offset, limit, len(result)),
                             COLLECTION_CONTENT_TYPE, headers=[("Preference-Applied", "transient")])


def _addressbook_row(entity: str, line: dict[str, Any]) -> suiteql.Row:
    row = {"entity": entity, "internalid": str(line["id"]), "label": line.get("label"),
           "defaultbilling": bool(line.get("defaultBilling")), "defaultshipping": bool(line.get("defaultShipping")),
           "isresidential": bool(line.get("isResidential")), "addressbookaddress": str(line["id"])}
    return {name: text for name, value in row.items() if (text := suiteql.row_value(value)) is not None}


def _receivable_fields(owed: dict[str, tuple[float, float]], customer_id: str) -> dict[str, float]:
    balance, overdue = owed.get(str(customer_id), (0.0, 0.0))
    return {"balancesearch": balance, "overduebalancesearch": overdue}


def _transaction_line_rows(record: dict[str, Any]) -> builtins.list[suiteql.Row]:
    """A transaction's main line and item lines as `transactionLine` rows (`_TRANSACTION_LINE_COLUMNS`)."""
    entity = record.get("entity") or record.get("customer")
    main = {"id": 0, "transaction": record["id"], "mainline": True, "createdfrom": record.get("createdFrom"),
            "entity": entity, "foreignamount": record.get("total"), "memo": record.get("memo"),
            "subsidiary": record.get("subsidiary"), "linesequencenumber": 0}
    rows = [main]
    for position, line in enumerate(record.get("item") or [], start=1):
        rows.append({"id": line.get("line"), "transaction": record["id"], "mainline": False, "entity": entity,
                     "item": line.get("item"), "quantity": line.get("quantity"), "rate": line.get("rate"),
                     "quantitybilled": line.get("quantityBilled", 0), "netamount": line.get("amount"),
                     "quantityshiprecv": line.get("quantityFulfilled", 0), "foreignamount": line.get("amount"),
                     "isclosed": bool(line.get("isClosed")), "linesequencenumber": position,
                     "subsidiary": record.get("subsidiary")})
    return [{name: text for name, value in row.items() if (text := suiteql.row_value(value)) is not None}
            for row in rows]


def _suiteql_columns(rtype_name: str, extra: dict[str, str]) -> set[str]:
    """The columns a SuiteQL table has: the record type's fields lower-cased, plus the view's own columns."""
    rtype = record_type(rtype_name)
    assert rtype is not None
    columns = {name.lower() for name in rtype.fields | rtype.read_only} | set(extra) | {"id", "externalid"}
    if rtype.family == "transaction":
        columns |= _TRANSACTION_VIEW_COLUMNS
    return columns


def _suiteql_date(value: Any) -> Any:
    """SuiteQL shows dates as M/D/YYYY, date-times too (the time only through TO_CHAR): a date-time becomes a
    `suiteql.Moment`, shown as its date and compared by its instant."""
    if isinstance(value, str) and (m := _ISO_DATE.match(value)):
        shown = f"{int(m.group(2))}/{int(m.group(3))}/{m.group(1)}"
        if m.group(4):
            try:
                at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return shown
            return suiteql.Moment(shown, at if at.tzinfo else at.replace(tzinfo=dt.UTC))
        return shown
    return value


def _transaction_columns(rtype_name: str, record: dict[str, Any]) -> dict[str, str]:
    """Columns of NetSuite's `transaction` table the stand-in derives from a record: `foreigntotal` (the total in the
    transaction's currency, what SuiteQL calls the record's `total`), an invoice's `foreignamountpaid` and
    `foreignamountunpaid`, a payment's `foreignpaymentamountunused`, and, for a record saved without one, the
    document number NetSuite assigned (`tranid`, as the REST record shows it: `SO<id>`, `INV<id>`)."""
    total = suiteql.row_value(record.get("total"))
    columns = {"foreigntotal": total} if total is not None else {}
    for column, name in (("foreignamountpaid", "amountPaid"), ("foreignamountunpaid", "amountRemaining"),
                         ("foreignpaymentamountunused", "unapplied")):
        value = suiteql.row_value(record.get(name))
        if value is not None:
            columns[column] = value
    if not record.get("tranId"):
        columns["tranid"] = f"{TRAN_ID_PREFIXES[rtype_name]}{record['id']}"
    return columns


def _paging(request: Request, *, default_limit: int) -> tuple[int, int]:
    values = {}
    for name, default, maximum in (("limit", default_limit, 1000), ("offset", 0, None)):
        raw = request.query_params.get(name)
        try:
            value = int(raw) if raw is not None else default
        except ValueError:
            value = -1
        if value < (1 if name == "limit" else 0) or (maximum is not None and value > maximum):
            raise NetSuiteError(400, "INVALID_PARAMETER",
                                f"Invalid value for the query parameter {name}: {raw}.", query_param=name)
        values[name] = value
    return values["limit"], values["offset"]


def _collection(href: str, request: Request, items: list[dict[str, Any]], offset: int, limit: int,
                total: int) -> dict[str, Any]:
    """NetSuite's collection envelope; the self link repeats limit/offset (in that order) only if given."""
    query = parse_qs(request.url.query)

    def link(rel: str, at: int) -> dict[str, str]:
        return {"rel": rel, "href": f"{href}?limit={limit}&offset={at}"}

    has_more = offset + len(items) < total
    links = []
    if offset > 0 or has_more:
        if offset > 0:
            links.append(link("previous", max(0, offset - limit)))
        links.append(link("first", 0))
        if has_more:
            links.append(link("next", offset + limit))
        links.append(link("last", max(0, (total - 1) // limit * limit)))
    paged = "limit" in query or "offset" in query
    links.append({"rel": "self", "href": f"{href}?limit={limit}&offset={offset}" if paged else href})
    return {"links": links, "count": len(items), "hasMore": has_more, "items": items, "offset": offset,
            "totalResults": total}


def _content(record: dict[str, Any], rtype: RecordType) -> dict[str, Any]:
    """A record without the fields NetSuite stamps itself on every write."""
    return {k: v for k, v in record.items() if k not in rtype.read_only}
