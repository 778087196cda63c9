"""Issue 25 item 3 in the target (target_netsuite/subsidiaries.py, lookups.py), through the real target over HTTP
against the OneWorld stand-in (Parent Company 1 with children California 2, Virginia 3, Canada 4, UK Ltd 5,
Japan KK 6): a contact follows its customer's subsidiary as NetSuite holds it (parked while the customer is not
there, never given the default); lookups of employees are scoped by the record's subsidiary; a customer is shared
with more subsidiaries through customerSubsidiaryRelationship records, added only, and a rerun adds nothing."""

from __future__ import annotations

import typing as t
from pathlib import Path

from target_helpers import dead_letters, run_target
from target_netsuite.lookups import LookupResolver

CUSTOMERS = {
    "type": "SCHEMA", "stream": "customer", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "companyName": {"type": ["string", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "salesRep": {"type": ["object", "null"]},
        "_sdc_subsidiaries": {"type": ["object", "null"]},
    }},
}
CONTACTS = {
    "type": "SCHEMA", "stream": "contact", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "lastName": {"type": ["string", "null"]},
        "company": {"type": ["object", "null"]}, "subsidiary": {"type": ["object", "null"]},
    }},
}
STATE = {"type": "STATE", "value": {"bookmarks": {"Account": {"position": 1}}}}


def _name(value: str) -> dict:
    return {"type": "subsidiary", "by": "name", "value": value}


def _customer(external_id: str, subsidiary: dict, **extra: object) -> dict:
    return {"type": "RECORD", "stream": "customer", "record": {
        "externalId": external_id, "companyName": f"Sub {external_id}", "subsidiary": subsidiary, **extra}}


def _contact(external_id: str, account: str) -> dict:
    return {"type": "RECORD", "stream": "contact", "record": {
        "externalId": external_id, "lastName": f"Person {external_id}",
        "company": {"externalId": account, "type": "customer"},
        "subsidiary": {"subsidiaryOf": {"externalId": account, "type": "customer"}}}}


def test_contacts_follow_their_customers_subsidiary_or_wait(admin, config: dict, tmp_path: Path) -> None:
    # a customer entered in NetSuite by hand, in Japan KK, before the pipeline wrote it
    admin.create_records("customer", [{"companyName": "By hand KK", "externalId": "C-JP", "subsidiary": {"id": "6"}}])
    run = run_target(config, [CUSTOMERS, _customer("C-UK", _name("uk  LTD")), _customer("C-1", {"id": "1"}),
                              CONTACTS, _contact("P-UK", "C-UK"), _contact("P-JP", "C-JP"), _contact("P-1", "C-1"),
                              _contact("P-LATE", "C-LATER"), STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    assert dead_letters(config) == []
    contacts = admin.by_external_id("contact")
    assert {key: c["subsidiary"]["id"] for key, c in contacts.items()} == {"P-UK": "5", "P-JP": "6", "P-1": "1"}
    assert "P-LATE" not in contacts  # its customer is not in NetSuite: parked, not written into the default

    later = run_target(config, [CUSTOMERS, _customer("C-LATER", {"id": "4"}), STATE], tmp_path)
    assert later.returncode == 0, later.stderr
    assert admin.by_external_id("contact")["P-LATE"]["subsidiary"]["id"] == "4"  # the parked contact, at run end


def test_a_contact_in_another_subsidiary_than_its_customer_is_refused(admin, config: dict, tmp_path: Path) -> None:
    """The stand-in refuses what NetSuite refuses: the old mapping's fixed subsidiary for every contact."""
    run = run_target(config, [CUSTOMERS, _customer("C-UK", {"id": "5"}), CONTACTS,
                              {**_contact("P-FIXED", "C-UK"), "record": {**_contact("P-FIXED", "C-UK")["record"],
                                                                          "subsidiary": {"id": "1"}}}, STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    [letter] = dead_letters(config)
    assert letter["code"] == "USER_ERROR" and "for subsidiary 1" in letter["detail"], letter


def test_employee_lookups_are_scoped_by_the_records_subsidiary(admin, config: dict, tmp_path: Path) -> None:
    """Two employees are named Bob Brown (subsidiaries 1 and 4): each customer gets the one of its subsidiary;
    one in UK Ltd has none available (LOOKUP_FAILED naming the value and the subsidiary)."""
    rep = {"type": "employee", "by": "entityid", "value": "bob brown"}
    run = run_target(config, [CUSTOMERS, _customer("R-1", {"id": "1"}, salesRep=rep),
                              _customer("R-CA", _name("Canada"), salesRep=rep),
                              _customer("R-UK", _name("UK Ltd"), salesRep=rep), STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    written = admin.by_external_id("customer")
    assert {key: c["salesRep"]["id"] for key, c in written.items()} == {"R-1": "2", "R-CA": "3"}
    [letter] = dead_letters(config)
    assert letter["externalId"] == "R-UK" and letter["code"] == "LOOKUP_FAILED"
    assert "'bob brown'" in letter["detail"] and "subsidiary 5" in letter["detail"], letter


def test_customers_are_shared_with_more_subsidiaries_additively(admin, config: dict, tmp_path: Path) -> None:
    [by_hand] = admin.create_records("customer", [{"companyName": "Shared", "externalId": "S-1",
                                                   "subsidiary": {"id": "1"}}])
    admin.create_records("customerSubsidiaryRelationship", [{"entity": {"id": by_hand}, "subsidiary": {"id": "4"}}])
    shared = {"additional": [_name("UK Ltd"), {"id": "6"}, {"id": "4"}, _name("Parent Company")]}
    messages = [CUSTOMERS, _customer("S-1", {"id": "1"}, _sdc_subsidiaries=shared),
                _customer("S-2", _name("Japan KK"), _sdc_subsidiaries={"additional": [_name("Ghost Ltd")]}), STATE]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr

    def relationships() -> set[tuple[str, str]]:
        return {(r["entity"]["id"], r["subsidiary"]["id"]) for r in admin.records("customerSubsidiaryRelationship")}

    # the person's relationship (4) stays, 5 and 6 are added, the primary (1) is not a relationship
    assert relationships() == {(by_hand, "4"), (by_hand, "5"), (by_hand, "6")}
    [letter] = dead_letters(config)
    assert letter["record_type"] == "customerSubsidiaryRelationship" and letter["externalId"] == "S-2"
    assert letter["code"] == "LOOKUP_FAILED" and "'Ghost Ltd'" in letter["detail"]
    assert admin.by_external_id("customer")["S-2"]["subsidiary"]["id"] == "6"  # the customer itself is written

    before = len(admin.request_log())
    again = run_target(config, messages, tmp_path)
    assert again.returncode == 0, again.stderr
    posts = [e for e in admin.request_log()[before:] if e["method"] == "POST" and "suiteql" not in e["path"]]
    assert posts == [] and relationships() == {(by_hand, "4"), (by_hand, "5"), (by_hand, "6")}


class _Tree:
    """A SuiteQL stand-in for the subsidiary tree: 1 → 5 → 7, and 1 → 6."""

    def suiteql_rows(self, query: str) -> t.Iterator[dict]:
        assert query == "SELECT id, parent FROM subsidiary"
        yield from ({"id": "1"}, {"id": "5", "parent": "1"}, {"id": "6", "parent": "1"}, {"id": "7", "parent": "5"})


def test_include_children_makes_a_list_value_available_below_its_subsidiary() -> None:
    resolver = LookupResolver(t.cast("t.Any", _Tree()))
    for row in ({"id": "1", "subsidiary": "1", "includechildren": "T"}, {"id": "4", "subsidiary": "5"},
                {"id": "9", "subsidiary": "5, 6", "includechildren": "F"}):
        resolver._remember_scope("department", row)
    marker = {"type": "department", "by": "name", "value": "x"}
    assert resolver.available(marker, ("1", "4", "9"), "7") == ("1",)  # 1 includes children; 4 and 9 do not
    assert resolver.available(marker, ("1", "4", "9"), "5") == ("1", "4", "9")
    assert resolver.available(marker, ("1", "4", "9"), "6") == ("1", "9")  # a multi-select "5, 6"
    assert resolver.available(marker, ("1", "4", "9"), None) == ("1", "4", "9")  # no subsidiary: unscoped
    assert resolver.available({**marker, "type": "term"}, ("1", "4"), "6") == ("1", "4")  # terms are not scoped
    assert LookupResolver.problem(marker, (), "6") == (
        "LOOKUP_FAILED", "no department with name 'x' available to subsidiary 6 in NetSuite (compared ignoring "
                         "case and spaces)")


def test_a_customer_routed_by_name_is_not_adopted_from_another_subsidiary(admin, config: dict,
                                                                         tmp_path: Path) -> None:
    """Matching compares the subsidiary a routed record names (a lookup by name) with the candidate's."""
    admin.create_records("customer", [{"companyName": "Thames Trading Ltd", "phone": "+44 20 7946 0321",
                                       "subsidiary": {"id": "1"}},
                                      {"companyName": "Fuji Trading KK", "phone": "+81 3-5412-7788",
                                       "subsidiary": {"id": "6"}}])
    schema = {**CUSTOMERS, "schema": {**CUSTOMERS["schema"], "properties": {
        **CUSTOMERS["schema"]["properties"], "phone": {"type": ["string", "null"]}}}}
    run = run_target(config, [schema,
                              _customer("M-UK", _name("UK Ltd"), companyName="Thames Trading Ltd",
                                        phone="+44 20 7946 0321"),
                              _customer("M-JP", _name("japan kk"), companyName="Fuji Trading KK",
                                        phone="+81 3-5412-7788"), STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    [letter] = dead_letters(config)
    assert (letter["externalId"], letter["code"]) == ("M-UK", "MATCH_OTHER_SUBSIDIARY"), letter
    adopted = admin.by_external_id("customer")["M-JP"]
    assert adopted["companyName"] == "Fuji Trading KK" and adopted["subsidiary"]["id"] == "6"
    assert len([c for c in admin.records("customer") if c["companyName"] == "Fuji Trading KK"]) == 1


def test_a_rerouted_customer_with_transactions_keeps_its_subsidiary_and_its_updates_land(
    admin, config: dict, tmp_path: Path,
) -> None:
    """NetSuite refuses to move a customer that has transactions to another subsidiary. With `subsidiary` among the
    customer's create_only_fields (the project's meltano.yml) a re-routed customer keeps its subsidiary, so its
    contacts and orders stay valid, and its other changes keep landing; without it every later update of that
    customer would be refused."""
    assert run_target(config, [CUSTOMERS, _customer("C-MOVE", {"id": "1"}), STATE], tmp_path).returncode == 0
    customer_id = admin.by_external_id("customer")["C-MOVE"]["id"]
    admin.create_records("salesOrder", [{"entity": {"id": customer_id}, "subsidiary": {"id": "1"},
                                         "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 5.0}]}}])
    moved = _customer("C-MOVE", _name("UK Ltd"), companyName="Moved HQ Ltd")

    run = run_target(config, [CUSTOMERS, moved, STATE], tmp_path)  # the pipeline moves it: NetSuite refuses
    assert run.returncode == 0, run.stderr
    [letter] = [d for d in dead_letters(config) if d["externalId"] == "C-MOVE"]
    assert "because it has transactions" in letter["detail"]

    kept = {**config, "create_only_fields": {"customer": ["subsidiary"]}}
    run = run_target(kept, [CUSTOMERS, moved, STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    customer = admin.by_external_id("customer")["C-MOVE"]
    assert customer["companyName"] == "Moved HQ Ltd" and customer["subsidiary"]["id"] == "1"
    assert len([d for d in dead_letters(kept) if d["externalId"] == "C-MOVE"]) == 1  # no new letter
