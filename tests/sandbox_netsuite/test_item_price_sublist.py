"""The stand-in's item pricing matrix as NetSuite keeps it (Oracle: "Working with the Pricing Sublist on Item
Records"): `price` rows `{currencyPage, priceLevel, quantity: {value}, price}`, one per currency, price level and
quantity tier; a write without `replace=price` updates the rows it names and keeps every other row."""

from __future__ import annotations

import requests
from ns_helpers import RECORD, Admin


def _row(currency: str, level: str, price: float, quantity: int = 0) -> dict[str, object]:
    return {"currencyPage": {"id": currency}, "priceLevel": {"id": level}, "quantity": {"value": quantity},
            "price": price}


def _prices(admin: Admin, key: str) -> dict[tuple[str, str, int], float]:
    rows = admin.record("nonInventorySaleItem", key)["price"]["items"]
    return {(row["currencyPage"]["id"], row["priceLevel"]["id"], row["quantity"]["value"]): row["price"]
            for row in rows}


def test_price_rows_merge_by_currency_level_and_quantity(admin: Admin, ns: requests.Session,
                                                         netsuite_url: str) -> None:
    created = ns.put(f"{netsuite_url}{RECORD}/nonInventorySaleItem/eid:01tW", json={
        "itemId": "Widget", "subsidiary": {"id": "1"},
        "price": {"items": [_row("1", "1", 25.5), _row("1", "2", 23.0), _row("1", "1", 22.0, quantity=10)]}})
    assert created.status_code == 204, created.text
    # a person's row, then a base-price update in USD and a new EUR row, without `replace`
    patched = ns.patch(f"{netsuite_url}{RECORD}/nonInventorySaleItem/eid:01tW",
                       json={"price": {"items": [_row("1", "1", 26.75), _row("4", "1", 24.1)]}})
    assert patched.status_code == 204, patched.text
    assert _prices(admin, "eid:01tW") == {("1", "1", 0): 26.75, ("1", "2", 0): 23.0, ("1", "1", 10): 22.0,
                                          ("4", "1", 0): 24.1}
    # with `replace=price` only the named rows remain
    replaced = ns.patch(f"{netsuite_url}{RECORD}/nonInventorySaleItem/eid:01tW?replace=price",
                        json={"price": {"items": [_row("1", "1", 27.0)]}})
    assert replaced.status_code == 204, replaced.text
    assert _prices(admin, "eid:01tW") == {("1", "1", 0): 27.0}


def test_a_price_row_must_be_a_number(ns: requests.Session, netsuite_url: str) -> None:
    refused = ns.put(f"{netsuite_url}{RECORD}/nonInventorySaleItem/eid:01tX", json={
        "itemId": "Gadget", "subsidiary": {"id": "1"}, "price": {"items": [_row("1", "1", "cheap")]}})  # type: ignore[arg-type]
    assert refused.status_code == 400
    assert refused.json()["o:errorDetails"][0]["o:errorPath"] == "price.items[0].price"
