"""The mapper CLI on Singer messages: start-up errors, flagged records, deletes, sales order lines, stream maps,
STATE ordering, and a plain shell pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden")
MAPPER = Path(sys.executable).with_name("netsuite-mapper")
# An Account without any address still carries its (empty) addressbook: sublists are sent whole.
NO_ADDRESS = {"addressbook": {"items": []}}
# The mapped fields an Account left empty: sent as null so that NetSuite empties them too.
EMPTY_FIELDS = {"phone": None, "fax": None, "url": None, "accountNumber": None}


def golden_lines(case: str) -> list[str]:
    return (GOLDEN / f"{case}.in.jsonl").read_text().splitlines()


def account_schema() -> dict:
    return json.loads(golden_lines("accounts")[0])


def account(record_id: str, **fields: object) -> dict:
    return {"type": "RECORD", "stream": "Account", "record": {"Id": record_id, "Name": f"Name {record_id}",
                                                              "IsDeleted": False, **fields}}


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "Mapping error" in line]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_expression_that_does_not_parse_fails_at_config_load(mapper, mapping_config) -> None:
    mapping_config["payloads"]["customer"]["companyName"] = "truncate(Name, "
    run = mapper(mapping_config, [])
    assert run.returncode == 1
    line = one_error_line(run.stderr)
    assert "mapping 'salesforce-to-netsuite', payload 'customer': companyName: expression 'truncate(Name, '" in line
    assert "does not parse" in line


def test_unknown_field_fails_when_the_schema_arrives(mapper, mapping_config) -> None:
    mapping_config["payloads"]["customer"]["addressbook"]["items"][0]["addressbookaddress"]["city"] = "BillingTown"
    run = mapper(mapping_config, [account_schema(), account("001X")])
    assert run.returncode == 1
    line = one_error_line(run.stderr)
    assert "stream 'Account' -> 'customer'" in line
    assert "addressbook.items[0].addressbookaddress.city" in line
    assert "'BillingTown', which stream 'Account' does not have" in line
    assert run.records() == []


def test_missing_setting_used_by_the_mapping_fails_at_config_load(mapper, mapping_config) -> None:
    del mapping_config["subsidiary_id"]
    run = mapper(mapping_config, [])
    assert run.returncode == 1
    assert "'subsidiary_id', which 'config' does not have" in one_error_line(run.stderr)


@pytest.mark.parametrize(("change", "expected"), [
    ({"__filter__": "IsWon ==="}, "Failed to parse expression"),
    ({"__filter__": "NoSuchField == 1"}, "stream 'Account'"),
])
def test_bad_sdk_stream_map_fails_with_one_line(mapper, mapping_config, change, expected) -> None:
    mapping_config["stream_maps"]["Account"].update(change)
    run = mapper(mapping_config, [account_schema(), account("001X")])
    assert run.returncode == 1
    assert expected in one_error_line(run.stderr)


def test_unknown_template_option_is_refused(mapper, mapping_config) -> None:
    mapping_config["payloads"]["salesOrder"]["__on_delet__"] = "delete"
    run = mapper(mapping_config, [])
    assert run.returncode == 1
    assert "unknown option '__on_delet__'" in one_error_line(run.stderr)


def test_records_that_cannot_be_mapped_are_flagged_never_dropped(mapper, mapping_config) -> None:
    records = [account(f"001{i:03d}", BillingCountry=country, Phone=phone) for i, (country, phone) in enumerate(
        [("US", None), ("Narnia", None), ("Mordor", "not a phone"), (None, "+1 415 555 0123"), ("usa", "x")])]
    run = mapper(mapping_config, [account_schema(), *records])
    assert run.returncode == 0, run.stderr
    out = run.records("customer")
    assert [r["externalId"] for r in out] == [r["record"]["Id"] for r in records]
    errors = [r.get("_sdc_mapping_error") for r in out]
    assert errors[0] is None
    assert errors[3] is None
    assert "country: cannot resolve country 'Narnia'" in errors[1]
    assert "customer.phone: not a phone number: 'not a phone'" in errors[2]
    assert "country: cannot resolve country 'Mordor'" in errors[2]
    assert "phone: not a phone number: 'x'" in errors[4]


def test_null_key_is_flagged(mapper, mapping_config) -> None:
    run = mapper(mapping_config, [account_schema(), account(None)])
    assert run.records("customer")[0] == {"externalId": None, "companyName": "Name None", **EMPTY_FIELDS,
                                           "subsidiary": {"id": "1"}, **NO_ADDRESS, "isInactive": False,
                                           "_sdc_mapping_error": "customer.externalId: key property is null"}


@pytest.mark.parametrize(("action", "expected"), [
    ("ignore", []),
    ("inactivate", [{"externalId": "001D", "companyName": "Gone", **EMPTY_FIELDS, "subsidiary": {"id": "1"},
                     **NO_ADDRESS, "isInactive": True}]),
    ("delete", [{"externalId": "001D", "_sdc_action": "delete"}]),
])
def test_deleted_record_actions(mapper, mapping_config, action, expected) -> None:
    """A live record carries `isInactive: false` only where deletion inactivates, so an undeleted one is active."""
    mapping_config["deleted_record_action"] = action
    deleted = account("001D", Name="Gone", IsDeleted=True)
    run = mapper(mapping_config, [account_schema(), deleted, account("001L")])
    assert run.returncode == 0, run.stderr
    live = {"externalId": "001L", "companyName": "Name 001L", **EMPTY_FIELDS, "subsidiary": {"id": "1"},
            **NO_ADDRESS, **({"isInactive": False} if action == "inactivate" else {})}
    assert run.records("customer") == [*expected, live]


def test_template_overrides_the_deleted_record_action(mapper, mapping_config) -> None:
    mapping_config["payloads"]["customer"]["__on_delete__"] = "delete"
    mapping_config["deleted_record_action"] = "ignore"
    run = mapper(mapping_config, [account_schema(), account("001D", IsDeleted=True)])
    assert run.records("customer") == [{"externalId": "001D", "_sdc_action": "delete"}]


def test_sales_orders_carry_exactly_the_current_lines(mapper, mapping_config) -> None:
    schema = json.loads(golden_lines("opportunities")[0])

    def opportunity(*lines: tuple[str, str, float, float, float | None, float]) -> dict:
        items = [{"Id": i, "Product2Id": p, "Quantity": q, "UnitPrice": u, "Discount": d, "TotalPrice": total}
                 for i, p, q, u, d, total in lines]
        return {"type": "RECORD", "stream": "Opportunity", "record": {
            "Id": "006A", "AccountId": "001A", "CloseDate": "2024-05-20", "IsWon": True, "IsDeleted": False,
            "Amount": sum(line[5] for line in lines), "OpportunityLineItems": items}}

    run = mapper(mapping_config, [
        schema,
        opportunity(("L1", "P1", 1, 10.0, None, 10.0), ("L2", "P2", 2, 20.0, None, 40.0)),
        opportunity(("L1", "P1", 5, 10.0, None, 50.0)),  # L2 deleted, L1 quantity changed
        opportunity(("L1", "P1", 5, 10.0, None, 50.0), ("L3", "P3", 2.5, 99.99, 12.25, 219.35)),  # L3 added
    ])
    orders = run.records("salesOrder")
    lines = [[(x["item"]["externalId"], x["quantity"], x["rate"], x["amount"]) for x in r["item"]["items"]]
             for r in orders]
    # The rate is the net unit price (TotalPrice / Quantity), the amount Salesforce's TotalPrice after the discount.
    assert lines == [[("P1", 1, 10, 10.0), ("P2", 2, 20, 40.0)], [("P1", 5, 10, 50.0)],
                     [("P1", 5, 10, 50.0), ("P3", 2.5, 87.74, 219.35)]]
    assert all(x["price"] == {"id": "-1"} for r in orders for x in r["item"]["items"])  # Custom: NetSuite keeps it
    assert [r["_sdc_expected_total"] for r in orders] == [50.0, 50.0, 269.35]


def test_won_opportunity_without_products_is_one_service_line(mapper, mapping_config) -> None:
    schema = json.loads(golden_lines("opportunities")[0])
    mapping_config["service_item_id"] = "499"
    record = {"Id": "006S", "AccountId": "001A", "CloseDate": "2024-05-20", "IsWon": True, "IsDeleted": False,
              "Name": "Support retainer", "Amount": 1234.5, "OpportunityLineItems": []}
    run = mapper(mapping_config, [schema, {"type": "RECORD", "stream": "Opportunity", "record": record}])
    [order] = run.records("salesOrder")
    assert order["item"]["items"] == [{"item": {"id": "499"}, "quantity": 1, "rate": 1234.5, "amount": 1234.5,
                                       "price": {"id": "-1"}, "description": "Support retainer"}]
    assert order["_sdc_expected_total"] == 1234.5

    mapping_config["stream_map_config"] = {"service_deals": "filter"}
    run = mapper(mapping_config, [schema, {"type": "RECORD", "stream": "Opportunity", "record": record}])
    assert run.records("salesOrder") == []


def test_state_passes_unchanged_and_in_order(mapper, mapping_config) -> None:
    state = {"type": "STATE", "value": {"bookmarks": {"Account": {"replication_key_value": "2024-01-01"}}}}
    other = {"type": "RECORD", "stream": "OpportunityLineItem", "record": {"Id": "00k"}}
    other_schema = {"type": "SCHEMA", "stream": "OpportunityLineItem", "schema": {"properties": {}},
                    "key_properties": []}
    run = mapper(mapping_config, [account_schema(), account("1"), state, other_schema, other, account("2"), state])
    assert [(m["type"], m.get("stream")) for m in run.messages] == [
        ("SCHEMA", "customer"), ("RECORD", "customer"), ("STATE", None), ("RECORD", "customer"), ("STATE", None)]
    assert run.messages[2]["value"] == state["value"]


def test_plain_sdk_stream_maps_work_alone(mapper) -> None:
    """Without payloads the mapper is a standard SDK stream-map mapper (alias, filter, __else__, expressions)."""
    config = {"stream_maps": {
        "Account": {"__alias__": "accounts", "__filter__": "Name != 'skip me'", "__else__": "__NULL__",
                    "__key_properties__": ["account_id"], "account_id": "Id", "name_upper": "Name.upper()"},
        "__else__": "__NULL__"}}
    run = mapper(config, [account_schema(), account("1", Name="Acme"), account("2", Name="skip me")])
    assert run.returncode == 0, run.stderr
    assert run.schema("accounts")["key_properties"] == ["account_id"]
    assert run.records() == [{"account_id": "1", "name_upper": "ACME"}]


def test_payload_on_top_of_an_sdk_stream_map(mapper, mapping_config) -> None:
    """Fields a stream map adds are visible to the payload template, and checked against its schema."""
    mapping_config["stream_maps"]["Account"]["Segment"] = "'Key account' if AccountNumber else 'Other'"
    mapping_config["payloads"]["customer"]["comments"] = "Segment"
    run = mapper(mapping_config, [account_schema(), account("1", AccountNumber="A-1"),
                                        account("2", AccountNumber=None)])
    assert [r["comments"] for r in run.records("customer")] == ["Key account", "Other"]


def test_output_schema_types(mapper, mapping_config) -> None:
    run = mapper(mapping_config, [*golden_lines("opportunities")])
    schema = run.schema("salesOrder")
    assert schema["key_properties"] == ["externalId"]
    props = schema["schema"]["properties"]
    line = props["item"]["properties"]["items"]["items"]["properties"]
    assert line["quantity"]["type"] == ["number", "null"]
    assert line["item"]["properties"]["externalId"] == {"type": "string"}
    assert props["tranDate"] == {"type": ["string", "null"], "format": "date"}
    assert props["_sdc_mapping_error"]["type"] == ["string", "null"]
    customer = mapper(mapping_config, golden_lines("accounts")).schema("customer")["schema"]["properties"]
    address = customer["addressbook"]["properties"]["items"]["items"]
    assert address["properties"]["defaultBilling"] == {"type": ["boolean", "null"]}
    assert address["properties"]["addressbookaddress"]["properties"]["addr1"]["maxLength"] == 150
    assert customer["isInactive"]["type"] == ["boolean", "null"]


def test_works_in_a_plain_shell_pipe(tmp_path: Path, mapping_config) -> None:
    (tmp_path / "c.json").write_text(json.dumps(mapping_config))
    (tmp_path / "in.jsonl").write_text((GOLDEN / "products.in.jsonl").read_text())
    done = subprocess.run(f"cat in.jsonl | '{MAPPER}' --config c.json | cat", shell=True, cwd=tmp_path,
                          capture_output=True, check=True, timeout=60)
    expected = (GOLDEN / "products.out.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in done.stdout.decode().splitlines()] == [json.loads(x) for x in expected]


def _contact_schema() -> dict:
    return json.loads(golden_lines("contacts")[0])


def test_mapped_field_gone_holds_only_that_stream_and_pins_its_state(mapper, mapping_config) -> None:
    schema = account_schema()
    del schema["schema"]["properties"]["Website"]  # deleted (or hidden) in Salesforce since the mapping was written
    before = {"bookmarks": {"Account": {"replication_key_value": "2024-01-01T00:00:00+00:00"},
                            "Contact": {"replication_key_value": "2024-01-01T00:00:00+00:00"}}}
    after = {"bookmarks": {"Account": {"replication_key_value": "2025-06-01T00:00:00+00:00"},
                           "Contact": {"replication_key_value": "2025-06-01T00:00:00+00:00"}}}
    contact = {"type": "RECORD", "stream": "Contact",
               "record": {"Id": "003X", "LastName": "Doe", "IsDeleted": False}}
    run = mapper(mapping_config, [{"type": "STATE", "value": before}, schema, account("001X"), _contact_schema(),
                                  contact, {"type": "STATE", "value": after}])
    assert run.returncode == 1
    line = one_error_line(run.stderr)
    assert "stream 'Account' -> 'customer': url: expression 'Website' names 'Website'" in line
    assert "stream 'Account' held" in line
    assert run.records("customer") == []  # held: not written, so never acknowledged
    assert [r["externalId"] for r in run.records("contact")] == ["003X"]
    states = [m["value"] for m in run.messages if m["type"] == "STATE"]
    assert states[-1]["bookmarks"]["Contact"] == after["bookmarks"]["Contact"]  # the other stream advances
    assert states[-1]["bookmarks"]["Account"] == before["bookmarks"]["Account"]  # the held one does not


def test_held_stream_without_a_previous_bookmark_leaves_none(mapper, mapping_config) -> None:
    schema = account_schema()
    del schema["schema"]["properties"]["Website"]
    run = mapper(mapping_config, [schema, account("001X"), {"type": "STATE", "value": {"bookmarks": {
        "Account": {"replication_key_value": "2025-06-01T00:00:00+00:00"}}}}])
    assert run.returncode == 1
    assert [m["value"] for m in run.messages if m["type"] == "STATE"] == [{"bookmarks": {}}]
