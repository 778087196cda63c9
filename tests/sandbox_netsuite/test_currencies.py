"""The stand-in's currencies as NetSuite keeps them: the `currency` table answers SuiteQL by `symbol` (the ISO 4217
code); a customer's `currencyList` is keyed by currency, always holds the primary currency, and a write without
`replace` adds to it; a sales order in a currency not in its customer's list is refused (Oracle: "The Currency value
for a sales order must be one of the currencies defined for the transaction's customer, on the Customer Currencies
sublist"), with the USER_ERROR shape of wire sample error_400_user_error."""

from __future__ import annotations

import requests
from ns_helpers import RECORD, Admin

SUITEQL = "/services/rest/query/v1/suiteql"


def test_currencies_are_queryable_by_iso_code(ns: requests.Session, netsuite_url: str) -> None:
    answer = ns.post(f"{netsuite_url}{SUITEQL}", headers={"Prefer": "transient"},
                     json={"q": "SELECT id, symbol FROM currency WHERE UPPER(TRIM(symbol)) IN ('EUR', 'GBP', 'JPY')"})
    assert answer.status_code == 200, answer.text
    assert {row["symbol"]: row["id"] for row in answer.json()["items"]} == {"GBP": "2", "EUR": "4", "JPY": "5"}
    names = ns.post(f"{netsuite_url}{SUITEQL}", headers={"Prefer": "transient"},
                    json={"q": "SELECT id, symbol, currencyprecision FROM currency WHERE symbol = 'JPY'"}).json()
    assert names["items"][0]["currencyprecision"] == "0"


def _order(ns: requests.Session, url: str, key: str, customer_id: str, currency: str) -> requests.Response:
    return ns.put(f"{url}{RECORD}/salesOrder/eid:{key}", json={
        "entity": {"id": customer_id}, "subsidiary": {"id": "1"}, "currency": {"id": currency},
        "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 5.0}]}})


def test_an_order_currency_must_be_in_the_customers_list(admin: Admin, ns: requests.Session,
                                                          netsuite_url: str) -> None:
    put = ns.put(f"{netsuite_url}{RECORD}/customer/eid:C-EUR", json={
        "companyName": "Euro GmbH", "subsidiary": {"id": "1"}, "currency": {"id": "4"}})
    assert put.status_code == 204, put.text
    customer = admin.record("customer", "eid:C-EUR")
    assert [line["currency"]["id"] for line in customer["currencyList"]["items"]] == ["4"]
    customer_id = str(customer["id"])
    assert _order(ns, netsuite_url, "006EUR", customer_id, "4").status_code == 204
    refused = _order(ns, netsuite_url, "006GBP", customer_id, "2")
    assert refused.status_code == 400
    [detail] = refused.json()["o:errorDetails"]
    assert detail["o:errorCode"] == "USER_ERROR" and detail["o:errorPath"] == "currency"
    assert detail["detail"] == (f"Error while accessing a resource. Invalid currency reference key 2 for entity "
                                f"{customer_id}.")
    # a write without `replace` adds a currency line (keyed by the currency) and keeps the others
    added = ns.patch(f"{netsuite_url}{RECORD}/customer/eid:C-EUR",
                     json={"currencyList": {"items": [{"currency": {"id": "2"}}, {"currency": {"id": "4"}}]}})
    assert added.status_code == 204, added.text
    lines = admin.record("customer", "eid:C-EUR")["currencyList"]["items"]
    assert sorted(line["currency"]["id"] for line in lines) == ["2", "4"]
    assert _order(ns, netsuite_url, "006GBP", customer_id, "2").status_code == 204


def test_a_customer_without_a_currency_takes_its_subsidiarys(admin: Admin, ns: requests.Session,
                                                            netsuite_url: str) -> None:
    [usd_id] = admin.create_records("customer", [{"companyName": "Dollar Inc", "subsidiary": {"id": "1"}}])
    [cad_id] = admin.create_records("customer", [{"companyName": "Loonie Ltd", "subsidiary": {"id": "4"}}])
    assert _order(ns, netsuite_url, "006USD", usd_id, "1").status_code == 204
    assert _order(ns, netsuite_url, "006CAD", cad_id, "1").status_code == 400  # Canada's base currency is CAD


def test_the_lists_finance_keeps_are_queryable(ns: requests.Session, netsuite_url: str) -> None:
    """Employees, terms, price levels, departments, classes and locations answer SuiteQL like the currency table."""
    def rows(query: str) -> list[dict]:
        answer = ns.post(f"{netsuite_url}{SUITEQL}", headers={"Prefer": "transient"}, json={"q": query})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    assert [r["id"] for r in rows("SELECT id, email FROM employee WHERE UPPER(email) = 'ANN.ARCHER@EXAMPLE.COM'")] \
        == ["1"]
    assert sorted(r["id"] for r in rows("SELECT id, entityid FROM employee WHERE entityid = 'Bob Brown'")) == ["2", "3"]
    assert rows("SELECT id, name FROM term WHERE name = 'Net 30'") == [{"links": [], "id": "2", "name": "Net 30"}]
    for table in ("pricelevel", "department", "classification", "location"):
        assert rows(f"SELECT id, name FROM {table}"), table
