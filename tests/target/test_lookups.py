"""Lookups by name or code (target_netsuite/lookups.py), through the real target over HTTP: markers are resolved
with one SuiteQL query per record type and field per batch, cached for the run, case- and space-insensitively; a
value NetSuite holds no record for, or several, dead-letters that record naming the type, field and value (never a
guess) while the others are written; a replay after the value is created in NetSuite writes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from target_helpers import dead_letters, run_target
from target_netsuite.lookups import LOOKUP_FIELDS, find_lookups, normalise, substitute_lookups, unsupported

REPLAY = str(Path(sys.executable).with_name("target-netsuite-replay"))
SCHEMA = {
    "type": "SCHEMA", "stream": "customer", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "companyName": {"type": ["string", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "currency": {"type": ["object", "null"]},
    }},
}
STATE = {"type": "STATE", "value": {"bookmarks": {"Account": {"position": 1}}}}


def _customer(external_id: str, currency: str, subsidiary: str = "Parent Company") -> dict:
    return {"type": "RECORD", "stream": "customer", "record": {
        "externalId": external_id, "companyName": f"Lookup {external_id}",
        "subsidiary": {"type": "subsidiary", "by": "name", "value": subsidiary},
        "currency": {"type": "currency", "by": "symbol", "value": currency}}}


def _suiteql(admin: object, since: int = 0) -> int:
    return sum(1 for entry in admin.request_log()[since:] if entry["path"].endswith("/suiteql"))  # type: ignore[attr-defined]


def test_markers_are_found_replaced_and_checked_against_the_allowlist() -> None:
    body = {"currency": {"type": "currency", "by": "symbol", "value": "eur"},
            "item": {"items": [{"price": {"type": "priceLevel", "by": "name", "value": "Base  Price"}}]},
            "entity": {"externalId": "001", "type": "customer"}}
    assert [path for path, _ in find_lookups(body)] == ["currency", "item.items[0].price"]
    ids = {("currency", "symbol", "EUR"): "4", ("priceLevel", "name", "BASE PRICE"): "1"}
    assert substitute_lookups(body, ids) == {"currency": {"id": "4"}, "item": {"items": [{"price": {"id": "1"}}]},
                                             "entity": {"externalId": "001", "type": "customer"}}
    assert normalise("  base \t price ") == "BASE PRICE"
    assert "not supported" in (unsupported({"type": "customer; DROP TABLE", "by": "name", "value": "x"}) or "")
    assert "only by" in (unsupported({"type": "currency", "by": "exchangerate", "value": "1"}) or "")
    assert all(table.table.isidentifier() and all(f.isidentifier() for f in table.fields)
               for table in LOOKUP_FIELDS.values())


def test_lookups_are_batched_cached_and_ignore_case_and_spaces(admin, config: dict, tmp_path: Path) -> None:
    records = [_customer(f"L{n}", code, sub) for n, (code, sub) in enumerate([
        ("EUR", "Parent Company"), ("eur", "parent company"), (" Gbp ", "  PARENT   company "), ("JPY", "Canada"),
        ("usd", "California"), ("EUR", "Canada"),
    ])]
    run = run_target(config, [SCHEMA, *records, STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    assert dead_letters(config) == []
    written = admin.by_external_id("customer")
    assert {key: (c["currency"]["id"], c["subsidiary"]["id"]) for key, c in written.items()} == {
        "L0": ("4", "1"), "L1": ("4", "1"), "L2": ("2", "1"), "L3": ("5", "4"), "L4": ("1", "2"), "L5": ("4", "4")}
    with_lookups = _suiteql(admin)
    plain = [{**r, "record": {**r["record"], "externalId": "P" + r["record"]["externalId"],
                              "currency": {"id": "1"}, "subsidiary": {"id": "1"}}} for r in records]
    before = len(admin.request_log())
    assert run_target(config, [SCHEMA, *plain, STATE], tmp_path).returncode == 0
    # 6 records, 12 lookups: exactly one query for currency by symbol and one for subsidiary by name
    assert with_lookups - _suiteql(admin, before) == 2


def test_no_match_and_several_matches_dead_letter_naming_the_value(admin, config: dict, tmp_path: Path) -> None:
    admin.create_records("subsidiary", [{"name": "california ", "parent": {"id": "1"}, "currency": {"id": "1"},
                                         "country": "US"}])
    records = [_customer("OK1", "EUR"), _customer("BAD1", "XTS"), _customer("AMB1", "EUR", "CALIFORNIA"),
               _customer("OK2", "cad")]
    run = run_target(config, [SCHEMA, *records, STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.states, "a bad lookup is data: state advances"
    assert set(admin.by_external_id("customer")) == {"OK1", "OK2"}
    letters = {letter["externalId"]: letter for letter in dead_letters(config)}
    assert set(letters) == {"BAD1", "AMB1"}
    assert letters["BAD1"]["code"] == "LOOKUP_FAILED"
    assert "currency with symbol 'XTS'" in letters["BAD1"]["detail"] and letters["BAD1"]["path"] == "currency"
    assert letters["AMB1"]["code"] == "LOOKUP_AMBIGUOUS"
    assert "2 subsidiary records have name 'CALIFORNIA'" in letters["AMB1"]["detail"]
    assert "Traceback" not in run.stderr
    assert sum("Dead-lettered" in line and "LOOKUP_" in line for line in run.stderr.splitlines()) == 2


def test_replay_after_the_value_is_created_writes_the_record(admin, config: dict, tmp_path: Path) -> None:
    run = run_target(config, [SCHEMA, _customer("CHF1", "chf"), STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    [letter] = dead_letters(config)
    assert letter["code"] == "LOOKUP_FAILED" and "'chf'" in letter["detail"]
    [franc] = admin.create_records("currency", [{"name": "Swiss Franc", "symbol": "CHF", "currencyPrecision": 2}])
    files = sorted(Path(config["dead_letter_path"]).glob("*.jsonl"))
    replayed = subprocess.run([REPLAY, *map(str, files)], capture_output=True, text=True, timeout=60, check=False)
    assert replayed.returncode == 0, replayed.stderr
    messages = [json.loads(line) for line in replayed.stdout.splitlines()]
    again = run_target(config, messages, tmp_path)
    assert again.returncode == 0, again.stderr
    assert admin.by_external_id("customer")["CHF1"]["currency"]["id"] == franc


def test_an_unsupported_lookup_is_a_dead_letter_not_a_query(admin, config: dict, tmp_path: Path) -> None:
    record = _customer("U1", "EUR")
    record["record"]["currency"] = {"type": "customer", "by": "companyname", "value": "x' OR '1'='1"}
    before = len(admin.request_log())
    run = run_target(config, [SCHEMA, record, STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    [letter] = dead_letters(config)
    assert letter["code"] == "LOOKUP_UNSUPPORTED" and "'customer'" in letter["detail"]
    queries = [e for e in admin.request_log()[before:] if e["path"].endswith("/suiteql")]
    assert all("companyname" not in json.dumps(e) for e in queries)


@pytest.mark.parametrize("value", ["O'Brien & Sons", "x') OR (1=1", "Net\u00a030"])
def test_values_are_quoted_never_interpolated(admin, config: dict, tmp_path: Path, value: str) -> None:
    record = _customer("Q1", "EUR", value)
    run = run_target(config, [SCHEMA, record, STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    [letter] = dead_letters(config)
    assert letter["code"] == "LOOKUP_FAILED", letter


class _CountingClient:
    """Answers SuiteQL like NetSuite for a fixed currency table and counts the queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.rows = [{"id": "1", "symbol": "USD"}, {"id": "4", "symbol": "EUR"}]

    def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> dict:
        self.queries.append(query)
        return {"items": [row for row in self.rows if f"'{row['symbol']}'" in query], "hasMore": False}


def test_the_cache_asks_once_per_value_per_run_found_or_not() -> None:
    from target_netsuite.lookups import LookupResolver

    client = _CountingClient()
    resolver = LookupResolver(client)  # type: ignore[arg-type]
    marker = {"type": "currency", "by": "symbol", "value": "eur"}
    missing = {"type": "currency", "by": "symbol", "value": "XTS"}
    first = resolver.resolve([marker, missing, {**marker, "value": " EUR "}])
    assert first == {("currency", "symbol", "EUR"): ("4",), ("currency", "symbol", "XTS"): ()}
    assert len(client.queries) == 1 and "IN ('EUR', 'XTS')" in client.queries[0]
    assert resolver.resolve([marker, missing]) == first
    assert len(client.queries) == 1  # cached, the miss too
    assert resolver.resolve([{"type": "currency", "by": "symbol", "value": "O'X"}])
    assert "'O''X'" in client.queries[-1]  # a quote in a value is doubled inside the literal


ORDER_SCHEMA = {
    "type": "SCHEMA", "stream": "salesOrder", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": ["string", "null"]}, "entity": {"type": ["object", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "item": {"type": ["object", "null"]},
        "salesRep": {"type": ["object", "null"]}, "terms": {"type": ["object", "null"]},
        "department": {"type": ["object", "null"]}, "class": {"type": ["object", "null"]},
        "location": {"type": ["object", "null"]},
    }},
}


def test_people_terms_and_lists_by_name_on_an_order(admin, config: dict, tmp_path: Path) -> None:
    """The lists finance keeps (employees by email or name, terms, price levels, departments, classes,
    locations), looked up on an order and on its lines; a name two employees of the order's subsidiary share is
    ambiguous (the seeded second Bob Brown works for Canada, so a person added by hand in the parent makes two)."""
    [customer_id] = admin.create_records("customer", [{"companyName": "Lists Ltd", "subsidiary": {"id": "1"}}])
    [second_bob] = admin.create_records("employee", [{"firstName": "Bob", "lastName": "Brown",
                                                      "email": "bob.b@example.com", "subsidiary": {"id": "1"}}])

    def order(key: str, rep: dict) -> dict:
        return {"type": "RECORD", "stream": "salesOrder", "record": {
            "externalId": key, "entity": {"id": customer_id}, "subsidiary": {"id": "1"}, "salesRep": rep,
            "terms": {"type": "term", "by": "name", "value": "net 30"},
            "department": {"type": "department", "by": "name", "value": "SALES"},
            "class": {"type": "class", "by": "name", "value": "Software"},
            "location": {"type": "location", "by": "name", "value": "main  warehouse"},
            "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 10.0,
                                "price": {"type": "priceLevel", "by": "name", "value": "Base Price"}}]}}}

    records = [order("006E1", {"type": "employee", "by": "email", "value": "Ann.Archer@Example.com "}),
               order("006E2", {"type": "employee", "by": "entityid", "value": "bob brown"})]
    run = run_target(config, [ORDER_SCHEMA, *records, STATE], tmp_path)
    assert run.returncode == 0, run.stderr
    written = admin.record("salesOrder", "eid:006E1")
    assert (written["salesRep"]["id"], written["terms"]["id"], written["department"]["id"], written["class"]["id"],
            written["location"]["id"]) == ("1", "2", "1", "2", "1")
    assert written["item"]["items"][0]["price"]["id"] == "1"
    [letter] = dead_letters(config)
    assert (letter["externalId"], letter["code"]) == ("006E2", "LOOKUP_AMBIGUOUS")
    assert f"2 employee records have entityid 'bob brown' (internal ids 2, {second_bob})" in letter["detail"]


def test_the_api_cost_of_lookups_for_a_thousand_orders(admin, config: dict, tmp_path: Path) -> None:
    """1,000 orders in four currencies, each with a currency and a terms lookup: the run summary counts one SuiteQL
    request per record type and field (2), for 6 distinct values, whatever the number of orders."""
    customers = admin.create_records("customer", [
        {"companyName": f"Cost {code}", "subsidiary": {"id": "1"}, "currency": {"id": currency}}
        for code, currency in (("USD", "1"), ("EUR", "4"), ("GBP", "2"), ("JPY", "5"))])
    codes = ("usd", "EUR", "gbp ", "JPY")
    orders = [{"type": "RECORD", "stream": "salesOrder", "record": {
        "externalId": f"006C{n:04d}", "entity": {"id": customers[n % 4]}, "subsidiary": {"id": "1"},
        "currency": {"type": "currency", "by": "symbol", "value": codes[n % 4]},
        "terms": {"type": "term", "by": "name", "value": "Net 30" if n % 2 else "net 60"},
        "item": {"items": [{"item": {"id": "499"}, "quantity": 1, "rate": 10.0}]}}} for n in range(1000)]
    schema = json.loads(json.dumps(ORDER_SCHEMA))
    schema["schema"]["properties"]["currency"] = {"type": ["object", "null"]}
    run = run_target({**config, "run_report_path": str(tmp_path / "report.json")}, [schema, *orders, STATE],
                     tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert dead_letters(config) == []
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["lookups"] == {"queries": 2, "values": 6}, report["lookups"]  # 4 codes + 2 terms
    assert len(admin.by_external_id("salesOrder")) == 1000
