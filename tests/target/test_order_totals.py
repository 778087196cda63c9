"""The order-total check (target_netsuite/totals.py): unit cases, and through the real target over HTTP a sales
order whose lines do not make its expected total is dead-lettered `AMOUNT_MISMATCH` naming both numbers, while one
that does is written and NetSuite's stored total equals it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from target_helpers import dead_letters, run_target
from target_netsuite.totals import total_mismatch

ORDER_SCHEMA = {
    "type": "SCHEMA", "stream": "salesOrder", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "entity": {"type": ["object", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "item": {"type": ["object", "null"]},
        "currency": {"type": ["object", "null"]},
        "_sdc_expected_total": {"type": ["number", "null"]}, "_sdc_total_precision": {"type": ["integer", "null"]},
    }},
}


def _order(lines: list[dict], expected: object, **extra: object) -> dict:
    return {"externalId": "006T", "item": {"items": lines}, "_sdc_expected_total": expected, **extra}


@pytest.mark.parametrize(("lines", "expected", "precision"), [
    ([{"amount": 43.85}, {"amount": 0.53}], 44.38, None),
    ([{"quantity": 3, "rate": 0.175}], 0.53, None),               # 0.525 rounds half up, as NetSuite rounds
    ([{"quantity": 2.5, "rate": 17.54}, {"amount": 100}], "143.85", None),
    ([{"quantity": 3, "rate": 333.333}], 1000, 0),                # JPY: no decimals
    ([], 0, None),
])
def test_lines_that_make_the_total_pass(lines: list[dict], expected: object, precision: int | None) -> None:
    extra = {} if precision is None else {"_sdc_total_precision": precision}
    assert total_mismatch(_order(lines, expected, **extra)) is None


def test_mismatches_name_both_numbers() -> None:
    assert "lines total 43.85" in (total_mismatch(_order([{"amount": 43.85}], 44.38)) or "")
    assert "is 44.38" in (total_mismatch(_order([{"amount": 43.85}], 44.38)) or "")
    assert "neither an amount nor a rate" in (total_mismatch(_order([{"quantity": 1}], 10)) or "")
    assert "not a number" in (total_mismatch(_order([], "ten")) or "")
    assert "decimal places" in (total_mismatch(_order([], 1, _sdc_total_precision=-1)) or "")
    assert total_mismatch({"externalId": "x", "item": {"items": [{"quantity": 1}]}}) is None  # nothing expected


def test_target_dead_letters_a_mismatch_and_writes_a_match(admin, config: dict, tmp_path: Path) -> None:
    [customer_id] = admin.create_records("customer", [{"companyName": "Totals Ltd", "subsidiary": {"id": "1"}}])
    base = {"entity": {"id": customer_id}, "subsidiary": {"id": "1"}}
    good = {**base, "externalId": "006GOOD", "_sdc_expected_total": 144.38,
            "item": {"items": [{"item": {"id": "499"}, "quantity": 2.5, "rate": 17.54, "amount": 43.85},
                               {"item": {"id": "499"}, "quantity": 3, "rate": 33.51}]}}  # 100.53
    bad = {**base, "externalId": "006BAD", "_sdc_expected_total": 100.0,
           "item": {"items": [{"item": {"id": "499"}, "quantity": 3, "rate": 33.33}]}}  # 99.99
    run = run_target(config, [ORDER_SCHEMA, *({"type": "RECORD", "stream": "salesOrder", "record": r}
                                              for r in (good, bad))], tmp_path)
    assert run.returncode == 0, run.stderr
    orders = admin.by_external_id("salesOrder")
    assert set(orders) == {"006GOOD"}
    assert orders["006GOOD"]["total"] == 144.38
    [letter] = dead_letters(config)
    assert letter["code"] == "AMOUNT_MISMATCH" and letter["externalId"] == "006BAD"
    assert "99.99" in letter["detail"] and "100.00" in letter["detail"]
    assert "_sdc_expected_total" in json.dumps(letter["payload"])  # the record as received, for a replay


def _with_fixed_ids(currency: str, item: str) -> dict:
    """The orders' SCHEMA as the mapper sends it when currency and the line item come from its settings."""
    schema = json.loads(json.dumps(ORDER_SCHEMA))
    properties = schema["schema"]["properties"]
    properties["currency"] = {"type": ["object", "null"], "properties": {"id": {"type": "string", "const": currency}}}
    properties["item"] = {"type": ["object", "null"], "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"item": {"type": "object", "properties": {
            "id": {"type": "string", "const": item}}}}}}}}
    return schema


def test_a_fixed_id_netsuite_lacks_stops_the_run_before_any_write(admin, config: dict, tmp_path: Path) -> None:
    """The currency/line item ids a mapping sets from its settings (`const` in the SCHEMA) are looked up when the
    stream starts; a wrong one stops the run with one line naming it, nothing written, no STATE."""
    [customer_id] = admin.create_records("customer", [{"companyName": "Fixed Ids Ltd", "subsidiary": {"id": "1"},
                                                       "currencyList": {"items": [{"currency": {"id": "4"}}]}}])

    def order(external_id: str, currency: str) -> dict:
        return {"type": "RECORD", "stream": "salesOrder", "record": {
            "externalId": external_id, "entity": {"id": customer_id}, "subsidiary": {"id": "1"},
            "currency": {"id": currency}, "_sdc_expected_total": 10,
            "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 10}]}}}
    state = {"type": "STATE", "value": {"bookmarks": {"Opportunity": {"position": 1}}}}

    run = run_target(config, [_with_fixed_ids("4", "499"), order("006A", "4"), order("006B", "4"), state], tmp_path)
    assert run.returncode == 0, run.stderr
    assert set(admin.by_external_id("salesOrder")) == {"006A", "006B"}
    queries = [e for e in admin.request_log() if "suiteql" in e["path"]]
    # the connection check, one query per checked table (currency, item), one for the orders' status (lifecycle)
    assert len(queries) == 1 + 2 + 1

    run = run_target(config, [_with_fixed_ids("77", "499"), order("006C", "77"), state], tmp_path)
    assert run.returncode != 0 and not run.states
    errors = [line for line in run.stderr.splitlines() if "does not exist in NetSuite" in line]
    assert len(errors) == 1 and "salesOrder.currency: currency '77'" in errors[0], run.stderr
    assert "Traceback" not in run.stderr
    run = run_target(config, [_with_fixed_ids("4", "12345"), order("006D", "4"), state], tmp_path)
    assert "salesOrder.item.items[].item: item '12345' does not exist" in run.stderr
    assert set(admin.by_external_id("salesOrder")) == {"006A", "006B"}
