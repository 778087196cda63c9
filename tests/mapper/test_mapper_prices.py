"""The shipped mapping's item base prices: each active standard price book entry of a Product2 becomes the Base
Price row (price level 1, quantity tier 0) of its currency (looked up by ISO code; `currency_id` in a
single-currency org); inactive entries send nothing; a product without entries sends no `price` at all."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import read_jsonl

GOLDEN = Path(__file__).parent / "golden"
ENTRY_SCHEMA = {"type": "object", "properties": {
    "Id": {"type": ["string"]}, "Pricebook2Id": {"type": ["string", "null"]}, "Product2Id": {"type": ["string"]},
    "UnitPrice": {"type": ["number", "null"]}, "IsActive": {"type": ["boolean", "null"]},
    "CurrencyIsoCode": {"type": ["string", "null"]}}}


def _products_with_prices(entries: dict[str, list[dict]]) -> list[dict]:
    messages = read_jsonl(GOLDEN / "products.in.jsonl")
    for message in messages:
        if message["type"] == "SCHEMA":
            message["schema"]["properties"]["StandardPricebookEntries"] = {"type": ["array", "null"],
                                                                         "items": ENTRY_SCHEMA}
        elif message["type"] == "RECORD":
            message["record"]["StandardPricebookEntries"] = entries.get(message["record"]["Id"], [])
    return messages


def test_standard_entries_become_base_price_rows(mapper, mapping_config) -> None:
    product = read_jsonl(GOLDEN / "products.in.jsonl")[1]["record"]["Id"]

    def entry(code: str | None, price: float, *, active: bool = True) -> dict:
        return {"Id": f"01u{code}", "Pricebook2Id": "01sSTD", "Product2Id": product, "UnitPrice": price,
                "IsActive": active, "CurrencyIsoCode": code}

    run = mapper(mapping_config, _products_with_prices({product: [
        entry("USD", 1249.99), entry("JPY", 188749), entry("GBP", 987.49, active=False)]}))
    assert run.returncode == 0
    [priced, *unpriced] = run.records("nonInventorySaleItem")
    assert priced["price"] == {"items": [
        {"currencyPage": {"type": "currency", "by": "symbol", "value": "USD"}, "priceLevel": {"id": "1"},
         "quantity": {"value": 0}, "price": 1249.99},
        {"currencyPage": {"type": "currency", "by": "symbol", "value": "JPY"}, "priceLevel": {"id": "1"},
         "quantity": {"value": 0}, "price": 188749}]}
    assert all("price" not in record or record["price"] == {"items": []} for record in unpriced), json.dumps(
        unpriced)


def test_a_single_currency_org_prices_in_currency_id(mapper, mapping_config) -> None:
    product = read_jsonl(GOLDEN / "products.in.jsonl")[1]["record"]["Id"]
    entry = {"Id": "01uX", "Pricebook2Id": "01sSTD", "Product2Id": product, "UnitPrice": 10.5, "IsActive": True,
             "CurrencyIsoCode": None}
    run = mapper(mapping_config, _products_with_prices({product: [entry]}))
    [row] = run.records("nonInventorySaleItem")[0]["price"]["items"]
    assert row["currencyPage"] == {"id": mapping_config["currency_id"]} and row["price"] == 10.5
