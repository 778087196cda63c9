"""Issue 11: record matching and create-only fields against the NetSuite sandbox (in-process target): the rule
order, contacts within their company, conflicts, two payloads claiming one record, explicit nulls of create-only
fields on updates, and the requests it costs."""

from __future__ import annotations

import io
import json

from target_helpers import CUSTOMER_SCHEMA, customer, dead_letters
from target_netsuite.target import TargetNetSuite

CONTACT_SCHEMA = {
    "type": "SCHEMA", "stream": "contact", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {"externalId": {"type": "string"}}, "additionalProperties": True},
}
SCHEMA = {**CUSTOMER_SCHEMA, "schema": {"type": "object", "properties": {"externalId": {"type": "string"}},
                                        "additionalProperties": True}}


def _listen(config: dict, messages: list[dict]) -> TargetNetSuite:
    target = TargetNetSuite(config=config)
    target.check_connection()
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    return target


def _by_hand(admin, rtype: str, *bodies: dict) -> list[str]:
    return admin.create_records(rtype, list(bodies))


def _contact(eid: str, first: str, last: str, company_eid: str, **extra: object) -> dict:
    return {"type": "RECORD", "stream": "contact", "record": {
        "externalId": eid, "firstName": first, "lastName": last, "subsidiary": {"id": "1"},
        "company": {"externalId": company_eid, "type": "customer"}, **extra}}


def test_rules_in_order_conflicts_and_claims(admin, config) -> None:
    sub = {"id": "1"}
    acme, by_phone, taken, shared = _by_hand(
        admin, "customer",
        {"companyName": "ACME, Inc.", "phone": "212 555 2301", "subsidiary": sub},
        {"companyName": "Old Name Ltd", "phone": "(415) 555-2100", "url": "http://old.example", "subsidiary": sub},
        {"companyName": "Taken Corp", "url": "taken.example", "subsidiary": sub, "externalId": "SOMEONE-ELSE"},
        {"companyName": "Shared Name", "phone": "312 555 7788", "subsidiary": sub},
    )
    target = _listen(config, [
        SCHEMA,
        customer("A1", "Acme", phone="+1 (212) 555-2301 x12"),   # rule 1, normalised name + phone
        customer("A2", "Brand New Name", phone="+1 415-555-2100", url="https://www.old.example/"),  # phone + domain
        customer("A3", "taken corp.", url="https://taken.example"),  # the match carries another external id
        customer("A4", "Shared Name", phone="3125557788"),
        customer("A5", "shared name", phone="312-555-7788"),  # two payloads, one candidate
        customer("A6", "Nobody Has This"),                        # created
    ])
    records = {r["id"]: r for r in admin.records("customer")}
    assert records[acme]["externalId"] == "A1" and records[acme]["companyName"] == "Acme"
    assert records[by_phone]["externalId"] == "A2"
    assert records[taken]["externalId"] == "SOMEONE-ELSE"
    assert "externalId" not in records[shared]
    assert len(records) == 5  # only A6 was created
    letters = {d["externalId"]: d for d in dead_letters(config)}
    assert letters["A3"]["code"] == "MATCH_CONFLICT" and taken in letters["A3"]["detail"]
    assert {letters["A4"]["code"], letters["A5"]["code"]} == {"AMBIGUOUS_MATCH"}
    assert shared in letters["A4"]["detail"]
    assert target.services.summary.as_dict()["customer"] == {
        "adopted": 2, "created": 1, "dead_lettered": 3, "updated": 2, "written": 3}


def test_contact_by_name_within_its_company(admin, config) -> None:
    _listen(config, [SCHEMA, customer("C1", "First Co"), customer("C2", "Second Co")])
    first, second = (admin.by_external_id("customer")[eid]["id"] for eid in ("C1", "C2"))
    ada_first, ada_second = _by_hand(
        admin, "contact",
        {"firstName": "Ada", "lastName": "Lovelace", "company": {"id": first}},
        {"firstName": "ADA", "lastName": "lovelace ", "company": {"id": second}},
    )
    _listen(config, [CONTACT_SCHEMA, _contact("K1", "Ada", "Lovelace", "C2")])
    contacts = {r["id"]: r for r in admin.records("contact")}
    assert contacts[ada_second]["externalId"] == "K1"
    assert "externalId" not in contacts[ada_first]
    assert len(contacts) == 2


def test_create_only_fields_left_out_of_updates_even_as_null(admin, config) -> None:
    settings = {**config, "create_only_fields": {"customer": ["creditLimit", "terms"]}}
    _listen(settings, [SCHEMA, customer("P1", "Payer", creditLimit=100, terms={"id": "3"})])
    created = admin.by_external_id("customer")["P1"]
    assert created["creditLimit"] == 100 and created["terms"] == {"id": "3"}
    admin.edit_record("customer", created["id"], {"creditLimit": 900})
    target = _listen(settings, [SCHEMA, customer("P1", "Payer Renamed", creditLimit=None, terms=None)])
    after = admin.by_external_id("customer")["P1"]
    assert after["companyName"] == "Payer Renamed"
    assert after["creditLimit"] == 900 and after["terms"] == {"id": "3"}
    assert target.services.summary.as_dict()["customer"]["create_only_skipped"] == 2
    puts = [e for e in admin.request_log() if e["method"] == "PUT"]
    assert len(puts) == 2


def test_requests_a_batch_costs(admin, config) -> None:
    """One existence query per 200 records, one candidate query per rule per 50 unknown records."""
    messages = [SCHEMA, *[customer(f"N{i:03}", f"New Company {i}") for i in range(120)]]
    _listen(config, messages)
    suiteql = [e for e in admin.request_log() if "suiteql" in e["path"]]
    # connection check + 1 existence query + 3 candidate queries (companyName rule, 120 records / 50); the
    # payloads carry no email or phone, so rules 2 and 3 query nothing
    assert len(suiteql) == 1 + 1 + 3
    before = len(admin.request_log())
    _listen({**config, "ledger": "ignore"}, messages)  # sent again (the write ledger would skip them all)
    again = [e for e in admin.request_log()[before:] if "suiteql" in e["path"]]
    assert len(again) == 1 + 1  # all known now: no candidate search
    before = len(admin.request_log())
    _listen(config, messages)
    assert len(admin.request_log()[before:]) == 1  # NetSuite has every payload: the connection check, no lookup


def test_report_then_approved_adopts_only_what_was_approved(admin, config, tmp_path) -> None:
    """Issue 24: the report names each candidate and what the first write would change; an admin approves in a
    copy of it; `match_mode: approved` adopts only what was approved."""
    sub = {"id": "1"}
    acme, beta, inactive = _by_hand(
        admin, "customer",
        {"companyName": "ACME, Inc.", "phone": "212 555 2301", "url": "acme.example", "subsidiary": sub},
        {"companyName": "Beta Ltd", "phone": "312 555 7788", "subsidiary": sub},
        {"companyName": "Gone Corp", "phone": "415 555 9911", "isInactive": True, "subsidiary": sub},
    )
    messages = [SCHEMA, customer("A1", "Acme", phone="+1 212 555 2301"), customer("A2", "Beta", phone="3125557788"),
                customer("A3", "Gamma New"), customer("A4", "Gone", phone="(415) 555-9911")]
    reports = tmp_path / "reports"
    _listen({**config, "match_mode": "report", "match_report_path": str(reports)}, messages)
    (report_file,) = reports.glob("match-*.json")
    report = json.loads(report_file.read_text())
    entries = {r["externalId"]: r for r in report["records"]}
    assert entries["A1"]["outcome"] == "would_adopt" and entries["A1"]["corroborated_by"] == "phone"
    candidate = entries["A1"]["candidates"][0]
    assert (candidate["internal_id"], candidate["name"], candidate["status"], candidate["subsidiary"]) == \
        (acme, "ACME, Inc.", "active", "1")
    assert entries["A1"]["would_change"]["companyName"] == {"netsuite": "ACME, Inc.", "salesforce": "Acme"}
    assert entries["A3"]["outcome"] == "would_create"
    assert entries["A4"]["outcome"] == "MATCH_INACTIVE" and entries["A4"]["candidates"][0]["status"] == "inactive"
    assert not [e for e in admin.request_log() if e["method"] in ("PUT", "PATCH", "POST")
                and "suiteql" not in e["path"]]

    for record in report["records"]:
        if record["externalId"] == "A1":
            record["decision"] = "adopt"
    approvals = tmp_path / "approved.json"
    approvals.write_text(json.dumps(report))
    approved = {**config, "match_mode": "approved", "match_approvals_path": str(approvals)}
    _listen(approved, messages)
    records = {r["id"]: r for r in admin.records("customer")}
    assert records[acme]["externalId"] == "A1"
    assert "externalId" not in records[beta]  # matched, not approved: held back
    assert "externalId" not in records[inactive] and records[inactive]["isInactive"] is True  # never reactivated
    assert "A3" in admin.by_external_id("customer")
    letters = {d["externalId"]: d["code"] for d in dead_letters(config)}
    assert letters == {"A2": "MATCH_NOT_APPROVED", "A4": "MATCH_INACTIVE"}

    for record in report["records"]:
        if record["externalId"] == "A2":
            record["decision"] = "create"
    approvals.write_text(json.dumps(report))
    _listen(approved, [SCHEMA, customer("A2", "Beta", phone="3125557788")])
    assert admin.by_external_id("customer")["A2"]["id"] != beta
    assert "externalId" not in {r["id"]: r for r in admin.records("customer")}[beta]


ORDER_SCHEMA = {**SCHEMA, "stream": "salesOrder"}


def _order(eid: str, customer_eid: str, date: str, memo: str, item: str) -> dict:
    return {"type": "RECORD", "stream": "salesOrder", "record": {
        "externalId": eid, "entity": {"externalId": customer_eid, "type": "customer"}, "tranDate": date,
        "memo": memo, "subsidiary": {"id": "1"},
        "item": {"items": [{"item": {"id": item}, "quantity": 1, "rate": 10}]}}}


def test_hand_keyed_orders_match_by_customer_date_and_name_when_a_rule_says_so(admin, config, tmp_path) -> None:
    """Issue 24: orders are only ever ours by default; with a salesOrder rule (customer + date + opportunity name)
    an order keyed by hand for a won opportunity is shown in report mode and adopted, never created again."""
    _listen(config, [SCHEMA, customer("0015g00000Order1", "Order Co")])
    entity = admin.by_external_id("customer")["0015g00000Order1"]["id"]
    (item,) = _by_hand(admin, "nonInventorySaleItem", {"itemId": "SKU-1", "subsidiary": {"id": "1"}})
    (by_hand,) = _by_hand(admin, "salesOrder", {"entity": {"id": entity}, "tranDate": "2024-05-20",
                                                "memo": "Big Deal ", "subsidiary": {"id": "1"},
                                                "item": {"items": [{"item": {"id": item}, "quantity": 2}]}})
    rules = {"match_rules": {"salesOrder": [["entity", "tranDate", "memo"]]}}
    messages = [ORDER_SCHEMA, _order("0065g00000Opp01", "0015g00000Order1", "2024-05-20", "big deal", item),
                _order("0065g00000Opp02", "0015g00000Order1", "2024-05-21", "big deal", item)]
    reports = tmp_path / "reports"
    _listen({**config, **rules, "match_mode": "report", "match_report_path": str(reports)}, messages)
    (report_file,) = reports.glob("match-*.json")
    listed = json.loads(report_file.read_text())["records"]
    outcomes = {r["externalId"]: (r["outcome"], r["internal_ids"]) for r in listed}
    assert outcomes == {"0065g00000Opp01": ("would_adopt", [by_hand]), "0065g00000Opp02": ("would_create", [])}
    _listen({**config, **rules}, messages)
    orders = admin.by_external_id("salesOrder")
    assert orders["0065g00000Opp01"]["id"] == by_hand
    assert orders["0065g00000Opp02"]["id"] != by_hand
    assert len(admin.records("salesOrder")) == 2
