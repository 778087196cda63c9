"""Opportunity money as Salesforce computes it: line Subtotal, TotalPrice after Discount, the Amount roll-up.

Salesforce's documented formulas (Object Reference, OpportunityLineItem): `Subtotal` = Quantity x UnitPrice,
`TotalPrice` = Subtotal x (1 - Discount/100), `Discount` a percent with two decimals. Currency fields hold the
currency's decimal places (2, or 0 for the zero-decimal currencies such as JPY in a multi-currency org) and round
half away from zero, as
Salesforce's ROUND does; the Opportunity's `Amount` is the sum of its lines' stored TotalPrice, so it is exact.
Computed in `Decimal`, never in binary floats, so 2.5 x 19.99 x 0.8775 rounds as a person would round it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

CURRENCY_PLACES = 2
#: Currencies of the stand-in's multi-currency orgs whose amounts have no decimals (CurrencyType.DecimalPlaces 0).
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW"})


def places(currency: str | None) -> int:
    """Decimal places of a currency's amounts (the corporate currency, None, has 2)."""
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else CURRENCY_PLACES


def _money(value: Decimal, currency: str | None = None) -> float:
    return float(value.quantize(Decimal(1).scaleb(-places(currency)), rounding=ROUND_HALF_UP))


def subtotal(quantity: float, unit_price: float, currency: str | None = None) -> float:
    """Quantity x UnitPrice, rounded to the currency."""
    return _money(Decimal(str(quantity)) * Decimal(str(unit_price)), currency)


def total_price(quantity: float, unit_price: float, discount: float | None, currency: str | None = None) -> float:
    """Quantity x UnitPrice x (1 - Discount/100), rounded once, to the currency."""
    factor = 1 - Decimal(str(discount or 0)) / 100
    return _money(Decimal(str(quantity)) * Decimal(str(unit_price)) * factor, currency)


def amount(total_prices: Iterable[float]) -> float:
    """The Opportunity's Amount: the sum of its lines' TotalPrice."""
    return _money(sum((Decimal(str(price)) for price in total_prices), Decimal(0)))


def quote_money(lines: Iterable[tuple[float, float]], tax: float | None, shipping: float | None,
                currency: str | None = None) -> tuple[float, float, float | None, float]:
    """A quote's roll-ups from its lines' (Subtotal, TotalPrice): Subtotal and TotalPrice are their sums, Discount the
    weighted discount in percent (None without a subtotal), GrandTotal = TotalPrice + Tax + ShippingHandling."""
    subtotals, totals = Decimal(0), Decimal(0)
    for line_subtotal, line_total in lines:
        subtotals += Decimal(str(line_subtotal))
        totals += Decimal(str(line_total))
    discount = (float(((1 - totals / subtotals) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
                if subtotals else None)
    grand = totals + Decimal(str(tax or 0)) + Decimal(str(shipping or 0))
    return _money(subtotals, currency), _money(totals, currency), discount, _money(grand, currency)
