"""tap-netsuite-custom through real HTTP to the NetSuite stand-in (TBA and M2M), as a subprocess.

Full read, incremental reads from the saved state (bookmark never ahead, the bookmark's second read again and
nothing else), a change made between runs arrives, an order's status change arrives, custom fields are
discovered, bad credentials end in one line without a secret.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from ns_tap_helpers import TAP, run_tap, tap_config
from sandbox.client import NetSuiteClient
from singer_taps import write_json

SERVICE_ITEM = "499"  # the stand-in's seeded "Professional Services" item


def _seed(admin: NetSuiteClient) -> dict[str, list[str]]:
    customers = admin.create_records("customer", [
        {"companyName": f"Tap Customer {i}", "subsidiary": {"id": "1"}, "custentity_tier": "gold" if i % 2 else None,
         "externalId": f"cust-{i}"} for i in range(6)])
    contacts = admin.create_records("contact", [
        {"firstName": "Ada", "lastName": f"Contact {i}", "company": {"id": customers[i]}, "subsidiary": {"id": "1"}}
        for i in range(3)])
    orders = admin.create_records("salesOrder", [
        {"entity": {"id": customers[0]}, "subsidiary": {"id": "1"}, "currency": {"id": "1"},
         "custbody_sf_id": "006xx", "item": {"items": [{"item": {"id": SERVICE_ITEM}, "quantity": 2, "rate": 50.0}]}}])
    return {"customer": customers, "contact": contacts, "salesOrder": orders}


def test_full_read_then_incremental_reads_from_state(ns_admin: NetSuiteClient, tmp_path: Path) -> None:
    seeded = _seed(ns_admin)
    first = run_tap(tmp_path, tap_config())
    assert first.returncode == 0, first.stderr[-2000:]
    for stream, ids in seeded.items():
        assert sorted(first.ids(stream)) == sorted(ids)
    order = first.records["salesOrder"][0]
    assert order["status"] == "B" and order["total"] == 100 and order["entity"] == seeded["customer"][0]
    assert order["custbody_sf_id"] == "006xx"
    assert order["tranDate"] and len(order["tranDate"]) == 10
    # Custom fields are discovered from the data: custentity_tier (set on some customers) is a property.
    assert first.schemas["customer"]["properties"]["custentity_tier"] == {"type": ["string", "null"]}
    assert {r["custentity_tier"] for r in first.records["customer"]} == {"gold", None}
    stamps = {s: max(r["lastModifiedDate"] for r in first.records[s]) for s in seeded}
    for stream in seeded:
        assert first.bookmark(stream) == stamps[stream]  # the greatest value sent, never "now"

    # Nothing changed: only the records of the bookmark's second come again (`>=`, second precision); the
    # bookmark stays.
    second = run_tap(tmp_path, tap_config(), state=first.state)
    assert second.returncode == 0, second.stderr[-2000:]
    for stream in seeded:
        assert all(r["lastModifiedDate"] == stamps[stream] for r in second.records.get(stream, []))
        assert second.bookmark(stream) == first.bookmark(stream)

    # A change between runs and an order fulfilled in NetSuite arrive with the next run.
    ns_admin.edit_record("customer", seeded["customer"][3], {"phone": "555-0100"})
    ns_admin.order_transition(seeded["salesOrder"][0], "fulfil")
    third = run_tap(tmp_path, tap_config(), state=second.state)
    assert third.returncode == 0, third.stderr[-2000:]
    changed = {r["id"]: r for r in third.records["customer"]}
    assert changed[seeded["customer"][3]]["phone"] == "555-0100"
    assert [r["status"] for r in third.records["salesOrder"]] == ["F"]  # Pending Billing
    assert third.bookmark("customer") >= second.bookmark("customer")


def test_order_life_streams_carry_their_order_and_its_billing(ns_admin: NetSuiteClient, tmp_path: Path) -> None:
    """Issue 28 item 1: invoice, customerPayment and itemFulfillment read incrementally like the other streams; an
    order carries its invoices' amounts and its fulfilment, an invoice its order (and both external ids) and the
    order's billing, a customer its balance and overdue balance; a payment re-reads the invoice and the customer."""
    [customer] = ns_admin.create_records("customer", [{"companyName": "Billing Co", "subsidiary": {"id": "1"},
                                                       "externalId": "001000000000042AAA"}])
    [order, untouched] = ns_admin.create_records("salesOrder", [
        {"entity": {"id": customer}, "subsidiary": {"id": "1"}, "externalId": "006000000000042AAA",
         "item": {"items": [{"item": {"id": SERVICE_ITEM}, "quantity": 4, "rate": 25.0}]}},
        {"entity": {"id": customer}, "subsidiary": {"id": "1"},
         "item": {"items": [{"item": {"id": SERVICE_ITEM}, "quantity": 1, "rate": 10.0}]}}])
    ns_admin.order_transition(order, "fulfil", {"1": 3})
    ns_admin.order_transition(order, "bill", {"1": 2}, tranDate="2026-01-05", dueDate="2026-02-04")
    [invoice] = [i["id"] for i in ns_admin.records("invoice")]
    streams = ["customer", "salesOrder", "invoice", "customerPayment", "itemFulfillment"]
    first = run_tap(tmp_path, tap_config(streams=streams))
    assert first.returncode == 0, first.stderr[-2000:]
    orders = {r["id"]: r for r in first.records["salesOrder"]}
    assert {k: orders[order][k] for k in ("amountInvoiced", "amountPaid", "amountRemaining", "fulfillmentState")} == {
        "amountInvoiced": 50, "amountPaid": 0, "amountRemaining": 50, "fulfillmentState": "Partially Fulfilled"}
    assert orders[untouched]["amountInvoiced"] == 0 and orders[untouched]["fulfillmentState"] == "Not Fulfilled"
    [billed] = first.records["invoice"]
    assert billed["salesOrder"] == order and billed["salesOrderExternalId"] == "006000000000042AAA"
    assert billed["entityExternalId"] == "001000000000042AAA" and billed["dueDate"] == "2026-02-04"
    assert (billed["total"], billed["amountPaid"], billed["amountRemaining"]) == (50, 0, 50)
    assert (billed["orderAmountInvoiced"], billed["orderAmountPaid"], billed["orderAmountRemaining"]) == (50, 0, 50)
    [shipment] = first.records["itemFulfillment"]
    assert shipment["salesOrder"] == order and shipment["salesOrderExternalId"] == "006000000000042AAA"
    [owing] = first.records["customer"]
    assert (owing["balance"], owing["overdueBalance"]) == (50, 50)  # due 2026-02-04: overdue
    assert "customerPayment" not in first.records

    _wait_past(first.bookmark("invoice"))  # NetSuite stamps whole seconds: pay in a later one
    ns_admin.pay_invoice(invoice, 20)
    second = run_tap(tmp_path, tap_config(streams=streams), state=first.state)
    assert second.returncode == 0, second.stderr[-2000:]
    [paid] = [r for r in second.records["invoice"] if r["id"] == invoice]
    assert (paid["amountPaid"], paid["amountRemaining"], paid["orderAmountPaid"]) == (20, 30, 20)
    assert [p["total"] for p in second.records["customerPayment"]] == [20]
    assert [(c["balance"], c["overdueBalance"]) for c in second.records["customer"]] == [(30, 30)]
    assert second.bookmark("invoice") > first.bookmark("invoice")  # the payment stamped the invoice


def _wait_past(stamp: str) -> None:
    """Until this machine's clock (the stand-in's) is in a later whole second than `stamp`."""
    moment = dt.datetime.fromisoformat(stamp)
    while dt.datetime.now(dt.UTC).replace(microsecond=0) <= moment:
        time.sleep(0.05)


def test_small_pages_deliver_every_record_once(ns_admin: NetSuiteClient, tmp_path: Path) -> None:
    ids = ns_admin.create_records("customer", [{"companyName": f"P{i}", "subsidiary": {"id": "1"}}
                                               for i in range(25)])
    run = run_tap(tmp_path, tap_config(streams=["customer"], page_size=4, discover_custom_fields=False))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("customer")) == sorted(ids)
    assert len(run.ids("customer")) == len(ids)


def test_m2m_auth_reads_through_a_bearer_token(ns_admin: NetSuiteClient, netsuite_url: str, tmp_path: Path) -> None:
    ids = ns_admin.create_records("customer", [{"companyName": "M2M", "subsidiary": {"id": "1"}}])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_id = f"tap-ns-{uuid.uuid4().hex[:8]}"
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    ns_admin.add_m2m_client(client_id, f"cert-{client_id}", public)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    config = tap_config(streams=["customer"], auth_method="oauth2_m2m", client_id=client_id,
                        certificate_id=f"cert-{client_id}", private_key=pem)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.ids("customer") == ids
    assert "PRIVATE KEY" not in run.stderr and client_id not in run.stderr


def test_refused_credentials_end_in_one_line_without_secrets(ns_admin: NetSuiteClient, tmp_path: Path) -> None:
    secret = "wrong-secret-" + uuid.uuid4().hex
    run = run_tap(tmp_path, tap_config(token_secret=secret))
    assert run.returncode == 1
    assert "refused the credentials" in run.stderr
    assert "Traceback" not in run.stderr
    assert secret not in run.stderr


def test_only_selected_properties_are_queried_and_sent(ns_admin: NetSuiteClient, tmp_path: Path) -> None:
    ids = ns_admin.create_records("customer", [{"companyName": "Sel", "phone": "555-0101", "subsidiary": {"id": "1"},
                                                "custentity_tier": "gold"}])
    config = tap_config(streams=["customer"])
    discovered = subprocess.run([TAP, "--config", write_json(tmp_path / "c.json", config), "--discover"],
                                capture_output=True, text=True, timeout=300, check=True)
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            breadcrumb = item["breadcrumb"]
            if not breadcrumb:
                item["metadata"]["selected"] = True
            elif breadcrumb[-1] in ("phone", "custentity_tier"):
                item["metadata"]["selected"] = False
    run = run_tap(tmp_path, config, args=("--catalog", write_json(tmp_path / "catalog.json", catalog)))
    assert run.returncode == 0, run.stderr[-2000:]
    [record] = run.records["customer"]
    assert record["id"] == ids[0] and record["companyName"] == "Sel"
    assert "phone" not in record and "custentity_tier" not in record

