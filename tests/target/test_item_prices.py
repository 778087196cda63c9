"""An item's base prices through the real target over HTTP: the mapping sends Base Price rows (price level 1) of
the item's `price` matrix, one per currency; the target sends them without `replace=price`, so NetSuite updates the
rows they name and keeps every other price level and quantity tier a person set; a rerun writes nothing."""

from __future__ import annotations

from pathlib import Path

from target_helpers import run_target

ITEM_SCHEMA = {
    "type": "SCHEMA", "stream": "nonInventorySaleItem", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "itemId": {"type": ["string", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "price": {"type": ["object", "null"]},
    }},
}


def _base(currency: str, price: float) -> dict:
    return {"currencyPage": {"id": currency}, "priceLevel": {"id": "1"}, "quantity": {"value": 0}, "price": price}


def _item(prices: dict[str, float], state: int) -> list[dict]:
    record = {"externalId": "01tP1", "itemId": "PRD-00001", "subsidiary": {"id": "1"},
              "price": {"items": [_base(currency, price) for currency, price in prices.items()]}}
    return [ITEM_SCHEMA, {"type": "RECORD", "stream": "nonInventorySaleItem", "record": record},
            {"type": "STATE", "value": {"bookmarks": {"Product2": {"position": state}}}}]


def _prices(admin) -> dict[tuple[str, str, int], float]:
    item = admin.record("nonInventorySaleItem", "eid:01tP1")
    return {(row["currencyPage"]["id"], row["priceLevel"]["id"], row["quantity"]["value"]): row["price"]
            for row in item["price"]["items"]}


def _item_writes(admin) -> int:
    return sum(1 for entry in admin.request_log()
               if "noninventorysaleitem" in entry["path"].lower() and entry["method"] in ("PUT", "PATCH", "POST"))


def test_base_prices_are_written_and_a_persons_price_levels_stay(admin, config: dict, tmp_path: Path) -> None:
    run = run_target(config, _item({"1": 25.5, "4": 23.99}, 1), tmp_path)
    assert run.returncode == 0, run.stderr
    assert _prices(admin) == {("1", "1", 0): 25.5, ("4", "1", 0): 23.99}
    # a person adds a price level and a quantity tier in NetSuite
    admin.edit_record("nonInventorySaleItem", "eid:01tP1", {"price": {"items": [
        {"currencyPage": {"id": "1"}, "priceLevel": {"id": "2"}, "quantity": {"value": 0}, "price": 21.0},
        {"currencyPage": {"id": "1"}, "priceLevel": {"id": "1"}, "quantity": {"value": 10}, "price": 20.0}]}})
    # Salesforce changes the USD standard price: only that Base Price row changes
    run = run_target(config, _item({"1": 26.75, "4": 23.99}, 2), tmp_path)
    assert run.returncode == 0, run.stderr
    assert _prices(admin) == {("1", "1", 0): 26.75, ("4", "1", 0): 23.99, ("1", "2", 0): 21.0,
                              ("1", "1", 10): 20.0}
    # a rerun of the same prices writes nothing
    writes = _item_writes(admin)
    run = run_target(config, _item({"1": 26.75, "4": 23.99}, 3), tmp_path)
    assert run.returncode == 0, run.stderr
    assert _item_writes(admin) == writes
    assert _prices(admin)[("1", "2", 0)] == 21.0
