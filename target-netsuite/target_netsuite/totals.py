"""The order-total check: a transaction is written only when its lines add up to the total its source expects.

A record may carry two control keys (never sent to NetSuite, like every `_sdc_` key):
- `_sdc_expected_total`: the total the lines must make, e.g. the Opportunity's Amount;
- `_sdc_total_precision`: the currency's decimal places (default 2; 0 for JPY, 3 for BHD).

The lines are the record's `item.items`. Each line's amount is computed as NetSuite computes it: the `amount` the
line gives, else quantity x rate rounded half up to the precision. A line with neither would be priced by NetSuite
from the item, so its total cannot be known: that too is a mismatch. Invariant: a record carrying an expected total
is written only if the sum of its line amounts equals it at the currency's precision; otherwise it becomes an
`AMOUNT_MISMATCH` dead letter naming both numbers, and nothing is sent. Records without the key are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

EXPECTED_TOTAL_KEY = "_sdc_expected_total"
PRECISION_KEY = "_sdc_total_precision"
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
DEFAULT_PRECISION = 2


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def total_mismatch(record: Mapping[str, Any]) -> str | None:
    """Why the record's lines do not make its expected total, or None when they do (or nothing is expected)."""
    if record.get(EXPECTED_TOTAL_KEY) is None:
        return None
    expected = _decimal(record[EXPECTED_TOTAL_KEY])
    if expected is None:
        return f"{EXPECTED_TOTAL_KEY} is not a number: {record[EXPECTED_TOTAL_KEY]!r}"
    precision = record.get(PRECISION_KEY)
    if precision is None:
        precision = DEFAULT_PRECISION
    if not isinstance(precision, int) or isinstance(precision, bool) or not 0 <= precision <= 6:
        return f"{PRECISION_KEY} must be a whole number of decimal places from 0 to 6, got {precision!r}"
    step = Decimal(1).scaleb(-precision)
    lines = ((record.get("item") or {}).get("items") or []) if isinstance(record.get("item"), Mapping) else []
    total = Decimal(0)
    for number, line in enumerate(lines, start=1):
        amount = _decimal(line.get("amount")) if isinstance(line, Mapping) else None
        if amount is None:
            rate = _decimal(line.get("rate")) if isinstance(line, Mapping) else None
            quantity = _decimal(line.get("quantity", 1)) if isinstance(line, Mapping) else None
            if rate is None or quantity is None:
                return (f"line {number} has neither an amount nor a rate and quantity, so NetSuite would price it "
                        f"from the item; the expected total is {expected.quantize(step, ROUND_HALF_UP)}")
            amount = rate * quantity
        total += amount.quantize(step, ROUND_HALF_UP)
    want = expected.quantize(step, ROUND_HALF_UP)
    if total == want:
        return None
    return (f"the lines total {total} but the expected total ({EXPECTED_TOTAL_KEY}, e.g. the Opportunity's "
            f"Amount) is {want}, a difference of {total - want} at {precision} decimal places")
