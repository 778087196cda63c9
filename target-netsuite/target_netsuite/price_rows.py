"""An item's price rows in the three-way merge: each row of the pricing matrix the mapping sends (a Base Price row
per currency) is merged as one field of its own, so a person's price in NetSuite is ours only while it is the
price we wrote.

The `price` sublist is keyed (currency, price level, quantity tier) and never replaced (`ADDITIVE_SUBLISTS`): rows
the mapping does not send (other price levels, quantity tiers) are NetSuite's and are never sent at all. The rows
it does send are the pipeline's, and they follow merge.py's field rules: before the merge each row becomes a
pseudo-field named by its key (`price[currency=1;level=1;quantity=0]`, its value the row's price), and after it the
rows whose pseudo-field is still to be written go back into the sublist. So:
- Salesforce's price unchanged since the last merge → the row is not sent (a person's price stands, no read);
- Salesforce's price changed and NetSuite still holds what we wrote (or already the new price) → the row is sent;
- both changed → a conflict, decided by `conflict_policy` for the field `price` (or the row's own name) of the
  item's record type, counted and listed like any other (`pipeline-ops conflicts`).

NetSuite's current rows are read only for items with such a row to decide, with one GET of the item and its
sublists each (Oracle: "Working with the Pricing Sublist on Item Records"); SuiteQL is not used for them.

Invariant (merge.py's): the merged prices are never ahead of NetSuite: a row's price becomes the merged one only
after NetSuite accepted the write that sent it.
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from target_netsuite.client import RECORD_PATH, FatalError, error_details, json_body

if t.TYPE_CHECKING:
    from target_netsuite.client import NetSuiteClient
    from target_netsuite.writes import Write

PRICE_SUBLIST = "price"
_PREFIX = PRICE_SUBLIST + "["


def _ref(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("id", value.get("value"))
    if isinstance(value, float) and value == int(value):
        value = int(value)
    return "" if value is None else str(value)


def row_field(row: dict[str, t.Any]) -> str:
    """The pseudo-field of one pricing row: its key, lower case (SuiteQL-style names compare lower case)."""
    return (f"{_PREFIX}currency={_ref(row.get('currencyPage'))};level={_ref(row.get('priceLevel'))};"
            f"quantity={_ref(row.get('quantity'))}]")


def is_row_field(name: str) -> bool:
    return name.startswith(_PREFIX)


def policy_field(name: str) -> str:
    """The field name `conflict_policy` is looked up by: `price` for every row."""
    return PRICE_SUBLIST if is_row_field(name) else name


def flatten(write: Write) -> dict[str, dict[str, t.Any]]:
    """Turn the write's pricing rows into pseudo-fields of its body; the rows by pseudo-field name (for `restore`).
    A write without a `price` matrix is left alone (an empty dict)."""
    matrix = write.body.get(PRICE_SUBLIST)
    if not isinstance(matrix, dict) or not isinstance(matrix.get("items"), list):
        return {}
    if not all(isinstance(row, dict) for row in matrix["items"]):  # not a pricing matrix NetSuite would take
        return {}
    # Two rows of one key: NetSuite would apply the last one, so the last one is the row; a row without a price is
    # an empty value, merged like any field left empty.
    rows = {row_field(row): row for row in matrix["items"]}
    body = {name: value for name, value in write.body.items() if name != PRICE_SUBLIST}
    body.update({name: row.get("price") for name, row in rows.items()})
    write.body = body
    return rows


def restore(write: Write, rows: dict[str, dict[str, t.Any]]) -> None:
    """Put the rows whose pseudo-field the merge kept back into the `price` sublist; no sublist when none is left."""
    if not rows:
        return
    kept = [dict(row, price=write.body[name]) for name, row in rows.items() if name in write.body]
    body = {name: value for name, value in write.body.items() if not is_row_field(name)}
    if kept:
        body[PRICE_SUBLIST] = {"items": kept}
    write.body = body


def read(client: NetSuiteClient, record_type: str, external_ids: t.Iterable[str]) -> dict[str, dict[str, t.Any]]:
    """NetSuite's pricing rows of these items, as pseudo-field -> price, by external id (an item NetSuite does not
    hold is absent)."""
    found: dict[str, dict[str, t.Any]] = {}
    for external_id in sorted(set(external_ids)):
        path = f"{RECORD_PATH}/{record_type}/eid:{quote(external_id, safe='')}"
        response = client.request("GET", path, params={"expandSubResources": "true"})
        if response.status_code == 404:
            continue
        if response.status_code >= 400:
            code, detail, _ = error_details(response)
            msg = (f"reading the prices of {record_type} {external_id}, needed to keep a price a person set in "
                   f"NetSuite, failed ({response.status_code} {code}: {detail[:200]})")
            raise FatalError(msg)
        item = json_body(response, f"GET {record_type} {external_id}")
        matrix = item.get(PRICE_SUBLIST)
        rows = matrix.get("items") if isinstance(matrix, dict) else None
        found[external_id] = {row_field(row): row.get("price") for row in rows or [] if isinstance(row, dict)}
    return found
