"""An item's base prices through the real target over HTTP: the mapping sends Base Price rows (price level 1) of
the item's `price` matrix, one per currency; the target sends them without `replace=price`, so NetSuite updates the
rows they name and keeps every other price level and quantity tier a person set; a rerun writes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from target_helpers import run_target
from target_netsuite.merge import MERGE_FILE

ITEM_SCHEMA = {
    "type": "SCHEMA", "stream": "nonInventorySaleItem", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "itemId": {"type": ["string", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "price": {"type": ["object", "null"]},
    }},
}


def _base(currency: str, price: float) -> dict:
    return {"currencyPage": {"id": currency}, "priceLevel": {"id": "1"}, "quantity": {"value": 0}, "price": price}


def _item(prices: dict[str, float], state: int, item_id: str = "PRD-00001") -> list[dict]:
    record = {"externalId": "01tP1", "itemId": item_id, "subsidiary": {"id": "1"},
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


def _conflicts(config: dict) -> list[tuple]:
    with sqlite3.connect(Path(config["dead_letter_path"]) / MERGE_FILE) as db:
        return db.execute("SELECT external_id, field, incoming, netsuite, policy FROM conflicts").fetchall()


def test_a_persons_base_price_stands_until_salesforce_changes_it(admin, config: dict, tmp_path: Path) -> None:
    """The Base Price rows are merged three ways: a price a person set in NetSuite is kept while Salesforce's price
    is unchanged (another field of the product changed), and a change on both sides is a listed conflict that the
    policy decides (`report` keeps NetSuite's; `salesforce_wins` for `price` writes Salesforce's)."""
    assert run_target(config, _item({"1": 25.5, "4": 23.99}, 1), tmp_path).returncode == 0
    admin.edit_record("nonInventorySaleItem", "eid:01tP1", {"price": {"items": [
        {"currencyPage": {"id": "1"}, "priceLevel": {"id": "1"}, "quantity": {"value": 0}, "price": 24.0}]}})

    run = run_target(config, _item({"1": 25.5, "4": 23.99}, 2, item_id="PRD-00001 renamed"), tmp_path)
    assert run.returncode == 0, run.stderr
    assert admin.record("nonInventorySaleItem", "eid:01tP1")["itemId"] == "PRD-00001 renamed"
    assert _prices(admin) == {("1", "1", 0): 24.0, ("4", "1", 0): 23.99}
    assert _conflicts(config) == []

    run = run_target(config, _item({"1": 26.75, "4": 25.0}, 3, item_id="PRD-00001 renamed"), tmp_path)
    assert run.returncode == 0, run.stderr
    assert _prices(admin) == {("1", "1", 0): 24.0, ("4", "1", 0): 25.0}  # EUR: NetSuite still held ours
    assert _conflicts(config) == [("01tP1", "price[currency=1;level=1;quantity=0]", "26.75", "24", "report")]

    wins = {**config, "conflict_policy": {"nonInventorySaleItem": {"price": "salesforce_wins"}}}
    run = run_target(wins, _item({"1": 27.0, "4": 25.0}, 4, item_id="PRD-00001 renamed"), tmp_path)
    assert run.returncode == 0, run.stderr
    assert _prices(admin) == {("1", "1", 0): 27.0, ("4", "1", 0): 25.0}


def test_every_row_is_merged_the_last_of_one_key_winning() -> None:
    """Two rows of one key (two price book entries whose currency lookup fell back to one currency) are the one
    row NetSuite would keep, the last; a row without a price is an empty value: the matrix is still merged, never
    sent whole over a person's prices."""
    from target_netsuite.price_rows import flatten, restore
    from target_netsuite.writes import Write

    rows = [_base("1", 10.0), _base("1", 12.0), {**_base("4", 0), "price": None}]
    write = Write(external_id="01tX", action="upsert", record={}, body={"itemId": "X", "price": {"items": rows}},
                  refs=[], replace=[])
    matrix = flatten(write)
    assert write.body == {"itemId": "X", "price[currency=1;level=1;quantity=0]": 12.0,
                          "price[currency=4;level=1;quantity=0]": None}
    del write.body["price[currency=4;level=1;quantity=0]"]  # the merge left it out
    restore(write, matrix)
    assert write.body == {"itemId": "X", "price": {"items": [_base("1", 12.0)]}}
