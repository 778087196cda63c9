"""Issue 25 items 2 and 4 through real `meltano run`, with a multi-currency Salesforce org (USD, EUR, GBP, JPY): every
won opportunity becomes an order in its own currency (looked up in NetSuite by ISO code) whose total is its Amount
to that currency's places (JPY: none); every customer has its Account's currency in its currency list; an ISO code
NetSuite does not hold (CHF) dead-letters that record naming the code, and the run goes on (exit 0)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin, run_summaries

pytestmark = pytest.mark.e2e
PLACES = {"JPY": 0}


def _letters(project: MeltanoProject) -> list[dict]:
    folder = project.tmp / "dead_letters"
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_orders_land_in_their_currency_and_an_unknown_code_is_a_dead_letter(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 15, "accounts": 10, "contacts": 0, "products": 6, "opportunities": 30,
                              "currencies": 4})
    netsuite.post("reset", {"knobs": True})
    accounts = {a["Id"]: a for a in salesforce.records("Account") if not a.get("IsDeleted")}
    opportunities = [o for o in salesforce.records("Opportunity") if not o.get("IsDeleted")]
    won = [o for o in opportunities if o.get("IsWon")]
    assert {o["CurrencyIsoCode"] for o in won} == {"USD", "EUR", "GBP", "JPY"}

    # NetSuite holds no CHF: one won deal (a service deal if there is one) and one Account without opportunities
    # are moved to it in Salesforce.
    swiss_deal = next((o for o in won if not o.get("HasOpportunityLineItem")), won[-1])
    salesforce.patch(f"records/Opportunity/{swiss_deal['Id']}", {"CurrencyIsoCode": "CHF"})
    [swiss_account] = sorted(set(accounts) - {o["AccountId"] for o in opportunities})
    salesforce.patch(f"records/Account/{swiss_account}", {"CurrencyIsoCode": "CHF"})

    result = meltano_project.run_pipeline()
    assert "Traceback" not in result.stderr

    currency_ids = {c["symbol"]: str(c["id"]) for c in netsuite.records("currency")}
    orders = {o["externalId"]: o for o in netsuite.records("salesOrder")}
    landed = [o for o in won if o["Id"] != swiss_deal["Id"]]
    assert set(orders) == {o["Id"] for o in landed}
    for opportunity in landed:
        order, code = orders[opportunity["Id"]], opportunity["CurrencyIsoCode"]
        assert str(order["currency"]["id"]) == currency_ids[code], (opportunity["Id"], code)
        step = Decimal(1).scaleb(-PLACES.get(code, 2))
        expected = Decimal(str(opportunity["Amount"] or 0)).quantize(step)
        assert Decimal(str(order["total"])).quantize(step) == expected, (opportunity["Id"], code)

    customers = {c["externalId"]: c for c in netsuite.records("customer")}
    for account_id, account in accounts.items():
        if account_id == swiss_account:
            assert account_id not in customers
            continue
        listed = {str(line["currency"]["id"]) for line in customers[account_id]["currencyList"]["items"]}
        assert currency_ids[account["CurrencyIsoCode"]] in listed, account_id

    letters = {(letter["externalId"], letter["code"]): letter for letter in _letters(meltano_project)}
    assert set(letters) == {(swiss_deal["Id"], "LOOKUP_FAILED"), (swiss_account, "LOOKUP_FAILED")}
    assert all("'CHF'" in letter["detail"] and "currency with symbol" in letter["detail"]
               for letter in letters.values())
    [summary] = run_summaries(result.stderr + result.stdout)[-1:]
    assert "dead_lettered" in json.dumps(summary)
