"""The order lifecycle (target_netsuite/order_lifecycle.py) through the real target over HTTP against the stand-in:
an order NetSuite billed (even in part) is never rewritten (ORDER_LOCKED, counted `conflict`, memo still updated),
replaying the same change decides the same way, and an un-won opportunity closes its untouched order's lines or
is reported when the order is billed."""

from __future__ import annotations

from pathlib import Path

import pytest
from target_helpers import dead_letters, run_target

ORDER_SCHEMA = {
    "type": "SCHEMA", "stream": "salesOrder", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "entity": {"type": ["object", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "item": {"type": ["object", "null"]},
        "memo": {"type": ["string", "null"]}, "_sdc_on_unwin": {"type": ["string", "null"]},
        "_sdc_action": {"type": ["string", "null"]},
    }},
}


def _order(customer_id: str, external_id: str, quantity: float, memo: str, **extra: object) -> dict:
    return {"externalId": external_id, "entity": {"id": customer_id}, "subsidiary": {"id": "1"}, "memo": memo,
            "item": {"items": [{"item": {"id": "499"}, "quantity": quantity, "rate": 10.0}]}, **extra}


def _run(config: dict, tmp_path: Path, *records: dict) -> None:
    run = run_target(config, [ORDER_SCHEMA, *({"type": "RECORD", "stream": "salesOrder", "record": r}
                                              for r in records)], tmp_path)
    assert run.returncode == 0, run.stderr


@pytest.fixture
def customer_id(admin) -> str:
    [created] = admin.create_records("customer", [{"companyName": "Lifecycle Ltd", "subsidiary": {"id": "1"}}])
    return str(created)


def test_stand_in_statuses_and_refusal(admin, customer_id: str, config: dict, tmp_path: Path) -> None:
    _run(config, tmp_path, _order(customer_id, "006S", 4, "first"))
    assert admin.record("salesOrder", "eid:006S")["status"] == "B"
    assert admin.order_transition("eid:006S", "fulfil", {"1": 1})["status"] == "E"
    assert admin.order_transition("eid:006S", "bill", {"1": 1})["status"] == "D"
    assert admin.order_transition("eid:006S", "fulfil")["status"] == "F"
    assert admin.order_transition("eid:006S", "bill")["status"] == "G"
    order = admin.record("salesOrder", "eid:006S")
    line = order["item"]["items"][0]
    assert line["quantityBilled"] == 4 and line["quantityFulfilled"] == 4


def test_billed_order_is_not_rewritten_and_replay_decides_the_same(
    admin, customer_id: str, config: dict, tmp_path: Path,
) -> None:
    _run(config, tmp_path, _order(customer_id, "006B", 2, "v1"))
    admin.order_transition("eid:006B", "fulfil", {"1": 1})
    admin.order_transition("eid:006B", "bill", {"1": 1})
    change = _order(customer_id, "006B", 5, "v2 renamed")
    for attempt in (1, 2):  # a replay of the same change (e.g. after a kill) reaches the same decision
        _run(config, tmp_path, change)
        order = admin.record("salesOrder", "eid:006B")
        assert [line["quantity"] for line in order["item"]["items"]] == [2]
        assert order["memo"] == "v2 renamed"  # order_locked_fields: memo (the default)
        letters = [d for d in dead_letters(config) if d["externalId"] == "006B"]
        assert letters and letters[-1]["code"] == "ORDER_LOCKED", attempt
        assert "SalesOrd:D" in letters[-1]["detail"]


def test_unwon_closes_an_untouched_order_and_reports_a_billed_one(
    admin, customer_id: str, config: dict, tmp_path: Path,
) -> None:
    _run(config, tmp_path, _order(customer_id, "006U", 3, "untouched"), _order(customer_id, "006V", 3, "billed"))
    admin.order_transition("eid:006V", "bill")
    unwon = [_order(customer_id, eid, 3, memo, _sdc_on_unwin="close")
             for eid, memo in (("006U", "untouched"), ("006V", "billed"), ("006NEVER", "never won"))]
    for _ in (1, 2):  # the rerun finds the lines closed: unchanged, and the billed one reported again
        _run(config, tmp_path, *unwon)
        untouched = admin.record("salesOrder", "eid:006U")
        assert untouched["status"] == "H"
        assert all(line["isClosed"] for line in untouched["item"]["items"])
        billed = admin.record("salesOrder", "eid:006V")
        assert billed["status"] == "G" and not any(line.get("isClosed") for line in billed["item"]["items"])
        codes = {(d["externalId"], d["code"]) for d in dead_letters(config)}
        assert ("006V", "ORDER_LOCKED") in codes and "006U" not in {e for e, _ in codes}
    assert "006NEVER" not in admin.by_external_id("salesOrder")

    # won again with the very payload NetSuite accepted before: not skipped as unchanged, the closed order is reported
    _run(config, tmp_path, _order(customer_id, "006U", 3, "untouched"))
    letters = [d for d in dead_letters(config) if d["externalId"] == "006U"]
    assert letters and letters[-1]["code"] == "ORDER_LOCKED" and "SalesOrd:H" in letters[-1]["detail"]



def test_deleted_opportunity_never_deletes_a_billed_order(
    admin, customer_id: str, config: dict, tmp_path: Path,
) -> None:
    """`__on_delete__: delete` mirrors a deleted opportunity, but only onto an order nothing was done with."""
    _run(config, tmp_path, _order(customer_id, "006DB", 2, "billed"), _order(customer_id, "006DO", 2, "open"))
    admin.order_transition("eid:006DB", "fulfil", {"1": 1})
    deletes = [{"externalId": eid, "_sdc_action": "delete"} for eid in ("006DB", "006DO")]
    for attempt in (1, 2):  # the replay (a rerun after a kill) decides the same way
        _run(config, tmp_path, *deletes)
        held = admin.by_external_id("salesOrder")
        assert "006DB" in held and "006DO" not in held, attempt
        letters = [d for d in dead_letters(config) if d["externalId"] == "006DB"]
        assert letters and letters[-1]["code"] == "ORDER_LOCKED" and "not deleted" in letters[-1]["detail"]
        assert "SalesOrd:E" in letters[-1]["detail"]


def test_locked_fields_keep_a_memo_a_person_changed(admin, customer_id: str, config: dict, tmp_path: Path) -> None:
    """The locked order's memo goes through the three-way merge: Salesforce did not change the memo, a person did
    in NetSuite, so the person's memo stays while the rest of the change is an ORDER_LOCKED conflict."""
    _run(config, tmp_path, _order(customer_id, "006M", 2, "from salesforce"))
    admin.edit_record("salesOrder", "eid:006M", {"memo": "finance: ship with the May batch"})
    admin.order_transition("eid:006M", "bill", {"1": 1})
    _run(config, tmp_path, _order(customer_id, "006M", 7, "from salesforce"))
    order = admin.record("salesOrder", "eid:006M")
    assert order["memo"] == "finance: ship with the May batch"
    assert [line["quantity"] for line in order["item"]["items"]] == [2]
    letters = [d for d in dead_letters(config) if d["externalId"] == "006M"]
    assert letters[-1]["code"] == "ORDER_LOCKED" and "memo kept" in letters[-1]["detail"]
    # Salesforce changes the memo too: both sides changed it, a listed conflict; `report` (the default) keeps NetSuite's
    _run(config, tmp_path, _order(customer_id, "006M", 7, "customer asked for a call first"))
    assert admin.record("salesOrder", "eid:006M")["memo"] == "finance: ship with the May batch"


def test_unreadable_status_stops_the_run_before_writing(admin, customer_id: str, config: dict, tmp_path: Path) -> None:
    """Fail closed: a role that may not use SuiteQL cannot tell a billed order, so no order is written."""
    admin.knobs(suiteql_forbidden=True)
    run = run_target(config, [ORDER_SCHEMA, {"type": "RECORD", "stream": "salesOrder",
                                             "record": _order(customer_id, "006F", 1, "x")}], tmp_path)
    assert run.returncode != 0 and not run.states
    assert "cannot read the status of sales orders" in run.stderr and "Traceback" not in run.stderr
    assert "006F" not in admin.by_external_id("salesOrder")
