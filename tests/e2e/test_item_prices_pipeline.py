"""Issue 25 item 6 (prices) through real `meltano run`, with a multi-currency Salesforce org (USD, EUR, GBP, JPY):
every product's item holds its standard price book price as the Base Price row (price level 1) of each currency, to
that currency's places, and no custom book's price; a price level a person set in NetSuite stays; a standard price
changed in Salesforce updates only that Base Price row; a rerun writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e
PLACES = {"JPY": 0}
STANDARD_BOOK = "Standard Price Book"


def _money(value: object, code: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-PLACES.get(code, 2)))


def _rows(netsuite: SandboxAdmin, product_id: str) -> dict[tuple[str, str, int], float]:
    item = netsuite.get(f"records/nonInventorySaleItem/eid:{product_id}")
    return {(str(row["currencyPage"]["id"]), str(row["priceLevel"]["id"]), row["quantity"]["value"]): row["price"]
            for row in item["price"]["items"]}


def _item_writes(netsuite: SandboxAdmin) -> int:
    return sum(1 for entry in netsuite.request_log() if entry["method"] in ("PUT", "PATCH", "POST")
               and "noninventorysaleitem" in entry["path"].lower() and "/admin/" not in entry["path"])


def test_items_carry_their_standard_prices_and_keep_a_persons_price_levels(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 25, "accounts": 2, "contacts": 0, "products": 4, "opportunities": 0,
                              "currencies": 4})
    netsuite.post("reset", {"knobs": True})
    [standard] = [b["Id"] for b in salesforce.records("Pricebook2") if b["Name"] == STANDARD_BOOK]
    entries = [e for e in salesforce.records("PricebookEntry") if not e.get("IsDeleted")]
    standard_entries = [e for e in entries if e["Pricebook2Id"] == standard]
    assert {e["CurrencyIsoCode"] for e in standard_entries} == {"USD", "EUR", "GBP", "JPY"}
    products = sorted({e["Product2Id"] for e in standard_entries})
    assert len(products) == 4

    result = meltano_project.run_pipeline()
    assert "Traceback" not in result.stderr
    currency_ids = {c["symbol"]: str(c["id"]) for c in netsuite.records("currency")}
    for product_id in products:
        expected = {(currency_ids[e["CurrencyIsoCode"]], "1", 0): _money(e["UnitPrice"], e["CurrencyIsoCode"])
                    for e in standard_entries if e["Product2Id"] == product_id}
        rows = _rows(netsuite, product_id)
        codes = {currency_id: code for code, currency_id in currency_ids.items()}
        assert {key: _money(price, codes[key[0]]) for key, price in rows.items()} == expected, product_id

    # a person sets an Alternate Price 1 (level 2) row and a quantity tier in NetSuite
    first = products[0]
    usd = currency_ids["USD"]
    netsuite.patch(f"records/nonInventorySaleItem/eid:{first}", {"price": {"items": [
        {"currencyPage": {"id": usd}, "priceLevel": {"id": "2"}, "quantity": {"value": 0}, "price": 1.23},
        {"currencyPage": {"id": usd}, "priceLevel": {"id": "1"}, "quantity": {"value": 10}, "price": 0.99}]}})
    before = _rows(netsuite, first)
    # Salesforce changes the product's standard USD price
    [usd_entry] = [e for e in standard_entries if e["Product2Id"] == first and e["CurrencyIsoCode"] == "USD"]
    new_price = round(float(usd_entry["UnitPrice"]) + 10.07, 2)
    salesforce.patch(f"records/PricebookEntry/{usd_entry['Id']}", {"UnitPrice": new_price})
    others = {product_id: _rows(netsuite, product_id) for product_id in products[1:]}

    result = meltano_project.run_pipeline()
    assert "Traceback" not in result.stderr
    after = _rows(netsuite, first)
    assert after == {**before, (usd, "1", 0): new_price}
    assert after[(usd, "2", 0)] == 1.23 and after[(usd, "1", 10)] == 0.99
    assert {product_id: _rows(netsuite, product_id) for product_id in products[1:]} == others

    writes = _item_writes(netsuite)
    result = meltano_project.run_pipeline()
    assert "Traceback" not in result.stderr
    assert _item_writes(netsuite) == writes
    assert _rows(netsuite, first) == after
