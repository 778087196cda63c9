"""Optional references (target_netsuite/optional_references.py): unit cases, and through the real target over HTTP a
sales order whose estimate (`createdFrom`) is not in NetSuite is written at once without it, linked by a later
end-of-run try once the estimate exists, and given up (`unlinked`, never a dead letter) past `reference_wait_hours`;
with the field not optional the same order would wait unwritten (the behaviour before)."""

from __future__ import annotations

import json
from pathlib import Path

from target_helpers import dead_letters, run_target
from target_netsuite.optional_references import (
    LINK_WAIT,
    OptionalReferences,
    is_link_wait,
    waiting_for,
    without_links,
)

ORDER_SCHEMA = {
    "type": "SCHEMA", "stream": "salesOrder", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "entity": {"type": ["object", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "item": {"type": ["object", "null"]},
        "createdFrom": {"type": ["object", "null"]},
    }},
}
ESTIMATE_SCHEMA = {**ORDER_SCHEMA, "stream": "estimate"}
ESTIMATE_REF = {"externalId": "0Q0OPT", "type": "estimate"}


def test_split_keeps_required_references_required() -> None:
    optional = OptionalReferences({"salesOrder": ["createdFrom"]})
    missing = [("createdFrom", ("estimate", "0Q0A")), ("entity", ("customer", "001A")),
               ("item.items[0].item", ("nonInventorySaleItem", "01tA"))]
    required, links = optional.split("salesOrder", missing)
    assert links == [("createdFrom", ("estimate", "0Q0A"))]
    assert [path for path, _ in required] == ["entity", "item.items[0].item"]
    assert optional.split("estimate", missing) == (missing, [])  # another record type: nothing optional
    assert OptionalReferences(None).split("salesOrder", missing) == (missing, [])


def test_without_links_and_the_waiting_marker() -> None:
    body = {"entity": {"id": "7"}, "createdFrom": {"externalId": "0Q0A", "type": "estimate"}, "memo": "m"}
    links = [("createdFrom", ("estimate", "0Q0A"))]
    assert without_links(body, links) == {"entity": {"id": "7"}, "memo": "m"}
    assert "createdFrom" in body  # the record as received is kept for the later try
    marker = waiting_for(links)
    assert marker.startswith("estimate 0Q0A") and LINK_WAIT in marker and is_link_wait(marker)
    assert not is_link_wait("customer 001A") and not is_link_wait(None)


def _order(customer_id: str) -> dict:
    return {"type": "RECORD", "stream": "salesOrder", "record": {
        "externalId": "006OPT", "entity": {"id": customer_id}, "subsidiary": {"id": "1"},
        "createdFrom": ESTIMATE_REF, "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 10.0}]}}}


def _estimate(customer_id: str) -> dict:
    return {"type": "RECORD", "stream": "estimate", "record": {
        "externalId": "0Q0OPT", "entity": {"id": customer_id}, "subsidiary": {"id": "1"},
        "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 10.0}]}}}


def test_an_order_is_written_at_once_and_linked_when_its_estimate_arrives(admin, config: dict,
                                                                          tmp_path: Path) -> None:
    [customer_id] = admin.create_records("customer", [{"companyName": "Links Ltd", "subsidiary": {"id": "1"}}])
    first = run_target(config, [ORDER_SCHEMA, _order(customer_id)], tmp_path)
    assert first.returncode == 0, first.stderr
    order = admin.by_external_id("salesOrder")["006OPT"]
    assert "createdFrom" not in order  # written at once, without the link
    report = _report(first.stderr)
    assert (report["parked"], report["awaiting_link"]) == (0, 1)  # parked only to add the link, not unwritten

    second = run_target(config, [ESTIMATE_SCHEMA, _estimate(customer_id)], tmp_path)  # the order is not resent
    assert second.returncode == 0, second.stderr
    estimate = admin.by_external_id("estimate")["0Q0OPT"]
    order = admin.by_external_id("salesOrder")["006OPT"]
    assert str(order["createdFrom"]["id"]) == str(estimate["id"])  # linked by the end-of-run try
    assert not dead_letters(config)

    third = run_target(config, [ORDER_SCHEMA, _order(customer_id)], tmp_path)  # a replay: nothing to write
    assert third.returncode == 0, third.stderr
    assert _summary(third.stderr)["salesOrder"].get("unchanged") == 1
    assert not _summary(third.stderr)["salesOrder"].get("written")


def _report(stderr: str) -> dict:
    line = next(line for line in reversed(stderr.splitlines()) if "Run summary: " in line)
    return json.JSONDecoder().raw_decode(line.split("Run summary: ", 1)[1])[0]


def _summary(stderr: str) -> dict:
    return _report(stderr)["streams"]


def test_a_link_that_never_comes_is_given_up_not_dead_lettered(admin, config: dict, tmp_path: Path) -> None:
    [customer_id] = admin.create_records("customer", [{"companyName": "Never Ltd", "subsidiary": {"id": "1"}}])
    config = {**config, "reference_wait_hours": 0}
    runs = [run_target(config, [ORDER_SCHEMA, _order(customer_id)] if n == 0 else [], tmp_path) for n in range(4)]
    assert all(run.returncode == 0 for run in runs), [run.stderr[-2000:] for run in runs]
    assert "createdFrom" not in admin.by_external_id("salesOrder")["006OPT"]
    assert any("Unlinked: salesOrder 006OPT" in run.stderr for run in runs)
    assert not any("Unlinked" in run.stderr for run in runs[:2])  # at least MIN_ATTEMPTS end-of-run tries first
    assert not dead_letters(config)


def test_a_required_reference_still_waits_unwritten(admin, config: dict, tmp_path: Path) -> None:
    """The behaviour without the setting (and before it): the order is parked, not written."""
    [customer_id] = admin.create_records("customer", [{"companyName": "Waits Ltd", "subsidiary": {"id": "1"}}])
    run = run_target({**config, "optional_references": {}}, [ORDER_SCHEMA, _order(customer_id)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "006OPT" not in admin.by_external_id("salesOrder")
    assert "Waiting: salesOrder 006OPT references estimate '0Q0OPT'" in run.stderr
