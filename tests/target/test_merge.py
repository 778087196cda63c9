"""Issue 24 items 4 and 5: the three-way merge of every update (target_netsuite/merge.py).

Unit tests of the decisions (a stub SuiteQL), then the real path: the target in-process against the NetSuite
stand-in over HTTP, with people's edits made through the stand-in's "by hand" admin route.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from target_netsuite.client import FatalError, NetSuiteClient
from target_netsuite.merge import MERGE_FILE, ConflictPolicies, Merger, MergeStore, canonical
from target_netsuite.target import TargetNetSuite
from target_netsuite.writes import Write

SCHEMA = {
    "type": "SCHEMA", "stream": "customer", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {
        "externalId": {"type": "string"}, "companyName": {"type": ["string", "null"]},
        "subsidiary": {"type": ["object", "null"]}, "phone": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"]}, "addressbook": {"type": ["object", "null"]},
    }},
}


def customer(eid: str, **fields: object) -> dict:
    return {"type": "RECORD", "stream": "customer",
            "record": {"externalId": eid, "companyName": f"Company {eid}", "subsidiary": {"id": "1"}, **fields}}


def shipping(city: str) -> dict:
    return {"items": [{"defaultBilling": False, "defaultShipping": True,
                       "addressbookaddress": {"addr1": "1 Dock Rd", "city": city, "country": "US"}}]}


def run(config: dict, *records: dict) -> dict:
    target = TargetNetSuite(config=config)
    target.check_connection()
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in [SCHEMA, *records])))
    target.finish()
    return json.loads(Path(config["run_report_path"]).read_text())["streams"].get("customer", {})


def address_lines(admin, eid: str) -> list[dict]:
    book = admin.by_external_id("customer")[eid].get("addressbook") or {}
    return book["items"] if isinstance(book, dict) else book


def conflicts(config: dict) -> list[tuple]:
    with sqlite3.connect(Path(config["dead_letter_path"]) / MERGE_FILE) as db:
        return db.execute("SELECT external_id, field, incoming, netsuite, policy FROM conflicts "
                          "ORDER BY external_id, field").fetchall()


# --- decisions (unit) -------------------------------------------------------------------------------------------


class StubClient:
    """Answers the merge's SuiteQL reads from a dict of rows; counts the queries."""

    def __init__(self, rows: dict[str, dict[str, str]]) -> None:
        self.rows = rows
        self.queries: list[str] = []

    def suiteql(self, query: str, **_: object) -> dict:
        self.queries.append(query)
        items = [{"id": str(100 + i), "externalid": eid, **row} for i, (eid, row) in enumerate(self.rows.items())
                 if f"'{eid}'" in query]
        return {"items": items, "hasMore": False}

    suiteql_rows = NetSuiteClient.suiteql_rows  # the real pager, over the stub's pages


class Summary:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, _stream: str, outcome: str, n: int = 1) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + n


def merger(tmp_path: Path, rows: dict[str, dict[str, str]], policy: dict | None = None) -> tuple[Merger, StubClient]:
    client = StubClient(rows)
    return Merger(client=client, outcomes=Summary(), store=MergeStore(tmp_path / MERGE_FILE, "acct"),  # type: ignore[arg-type]
                  policies=ConflictPolicies(policy), run_id="r1"), client


def write(eid: str, exists: bool | None = True, **body: object) -> Write:
    return Write(eid, "upsert", {}, dict(body), [], [], exists=exists)


def settle(m: Merger, *writes: Write) -> None:
    m.prepare("customer", "customer", list(writes))
    m.accepted("customer", list(writes))


def test_canonical_compares_payload_values_with_suiteql_text() -> None:
    assert canonical("") is None and canonical(None) is None
    assert canonical(True) == "T" and canonical({"id": 7}) == "7" and canonical(10.0) == "10"
    assert canonical("5/20/2024") == canonical("2024-05-20")


def test_policies_by_type_and_field() -> None:
    policies = ConflictPolicies({"customer": {"phone": "salesforce_wins", "*": "netsuite_wins"}, "*": "report"})
    assert policies.for_field("customer", "phone") == "salesforce_wins"
    assert policies.for_field("customer", "url") == "netsuite_wins"
    assert policies.for_field("contact", "phone") == "report"
    assert ConflictPolicies(None).for_field("customer", "phone") == "report"
    with pytest.raises(FatalError, match=r"conflict_policy\.customer\.phone"):
        ConflictPolicies({"customer": {"phone": "sometimes"}})


def test_never_written_and_empty_is_left_alone_without_a_read(tmp_path: Path) -> None:
    m, client = merger(tmp_path, {"A": {"phone": "555", "url": "ns.example"}})
    adopted = write("A", phone=None, url="", companyName="Acme")
    m.prepare("customer", "customer", [adopted])
    assert adopted.body == {"companyName": "Acme"}  # no null sent for what we never wrote
    assert client.queries == []  # nothing to merge: no read


def test_unchanged_source_field_is_not_sent_and_costs_no_read(tmp_path: Path) -> None:
    m, client = merger(tmp_path, {"U": {"phone": "1", "url": "person.example"}})
    settle(m, write("U", phone="1", url="u1"))
    again = write("U", phone="2", url="u1")
    m.prepare("customer", "customer", [again])
    assert again.body == {"phone": "2"}  # the url case: Salesforce's url did not change, NetSuite's edit stands
    assert len(client.queries) == 1 and "url" not in client.queries[0].split("FROM")[0]


@pytest.mark.parametrize(("policy", "sent", "listed"), [
    ("report", {}, True), ("netsuite_wins", {}, True), ("salesforce_wins", {"phone": "2"}, True),
])
def test_both_changed_is_a_conflict_decided_by_policy(tmp_path: Path, policy: str, sent: dict, listed: bool) -> None:
    m, _ = merger(tmp_path, {"C": {"phone": "person"}}, {"customer": policy})
    settle(m, write("C", phone="1"))
    update = write("C", phone="2")
    m.prepare("customer", "customer", [update])
    assert update.body == sent
    assert m.outcomes.counts.get("conflicts") == 1  # type: ignore[attr-defined]
    assert [(c["field"], c["incoming"], c["netsuite"]) for c in m.store.conflicts()] == [("phone", "2", "person")]


def test_netsuite_still_holding_our_value_takes_the_source_value_and_a_clear(tmp_path: Path) -> None:
    m, _ = merger(tmp_path, {"W": {"phone": "1"}})
    settle(m, write("W", phone="1", url="u"))
    update = write("W", phone=None, url="u")
    m.prepare("customer", "customer", [update])
    assert update.body == {"phone": None}  # a value Salesforce cleared is cleared


def test_a_write_not_recorded_is_neither_a_conflict_nor_lost(tmp_path: Path) -> None:
    """Killed between NetSuite's answer and `accepted`: the pending value counts as ours next time."""
    netsuite = {"K": {"phone": "1"}}
    m, _ = merger(tmp_path, netsuite)
    settle(m, write("K", phone="1"))
    m.prepare("customer", "customer", [write("K", phone="2")])  # sent, applied ...
    netsuite["K"]["phone"] = "2"  # ... and never recorded (no `accepted`)
    fresh, _ = merger(tmp_path, netsuite)  # the next run
    replay = write("K", phone="2")
    fresh.prepare("customer", "customer", [replay])
    assert fresh.store.conflicts() == [] and "conflicts" not in fresh.outcomes.counts  # type: ignore[attr-defined]
    revert = write("K", phone="1")  # Salesforce went back to the old value: still written
    fresh.prepare("customer", "customer", [revert])
    assert revert.body == {"phone": "1"}


# --- through the stand-in (real HTTP) ---------------------------------------------------------------------------


def test_adopted_customer_keeps_netsuite_only_values_addresses_and_labels(admin, config) -> None:
    admin.create_records("customer", [{
        "externalId": "AD1", "companyName": "Company AD1", "subsidiary": {"id": "1"}, "phone": "+1 415 555 0100",
        "url": "https://netsuite-only.example",
        "addressbook": {"items": [
            {"label": "HQ", "defaultBilling": True, "addressbookaddress": {"addr1": "1 Main St", "city": "Austin"}},
            {"label": "Warehouse", "addressbookaddress": {"addr1": "9 Depot Ave", "city": "Waco"}}]},
    }])
    counts = run(config, customer("AD1", phone=None, url=None, addressbook=shipping("Reno")))
    record = admin.by_external_id("customer")["AD1"]
    assert record["phone"] == "+1 415 555 0100" and record["url"] == "https://netsuite-only.example"
    lines = {line["label"]: line for line in address_lines(admin, "AD1")}
    assert set(lines) == {"HQ", "Warehouse", "Shipping (synced)"}
    assert lines["HQ"]["defaultBilling"] is True  # Salesforce has no billing address: NetSuite's stays the default
    assert lines["Shipping (synced)"]["addressbookaddress"]["city"] == "Reno"
    assert counts.get("netsuite_values_kept") == 2
    run(config, customer("AD1", phone=None, url=None, addressbook=shipping("Elko")))  # our line, updated in place
    lines = {line["label"]: line for line in address_lines(admin, "AD1")}
    assert len(address_lines(admin, "AD1")) == 3
    assert lines["Shipping (synced)"]["addressbookaddress"]["city"] == "Elko"
    assert lines["Warehouse"]["addressbookaddress"]["city"] == "Waco"
    run(config, customer("AD1", phone=None, url=None, addressbook={"items": []}))  # Salesforce dropped it: ours goes
    assert {line["label"] for line in address_lines(admin, "AD1")} == {"HQ", "Warehouse"}


@pytest.mark.parametrize(("policy", "expected"), [
    ("report", "+1 999 person"), ("netsuite_wins", "+1 999 person"), ("salesforce_wins", "+1 222"),
])
def test_a_hand_edit_under_each_policy(admin, config, policy: str, expected: str) -> None:
    config = {**config, "conflict_policy": {"customer": {"phone": policy}}}
    run(config, customer("HE1", phone="+1 111"))
    admin.edit_record("customer", "eid:HE1", {"phone": "+1 999 person"})
    counts = run(config, customer("HE1", phone="+1 222"))
    assert admin.by_external_id("customer")["HE1"]["phone"] == expected
    assert counts.get("conflicts") == 1
    assert conflicts(config) == [("HE1", "phone", "+1 222", "+1 999 person", policy)]


def test_the_url_case_a_phone_change_never_rewrites_an_edited_url(admin, config) -> None:
    run(config, customer("URL1", phone="+1 111", url="https://sf.example"))
    admin.edit_record("customer", "eid:URL1", {"url": "https://person.example"})
    counts = run(config, customer("URL1", phone="+1 222", url="https://sf.example"))
    record = admin.by_external_id("customer")["URL1"]
    assert record["phone"] == "+1 222" and record["url"] == "https://person.example"
    assert "conflicts" not in counts and conflicts(config) == []


def test_killed_before_recording_then_replayed_no_false_conflict(admin, config, monkeypatch) -> None:
    run(config, customer("KR1", phone="+1 111"))

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies between NetSuite's answer and the commit

    monkeypatch.setattr(MergeStore, "settle", killed)
    with pytest.raises(KeyboardInterrupt):
        run(config, customer("KR1", phone="+1 222"))
    monkeypatch.undo()
    assert admin.by_external_id("customer")["KR1"]["phone"] == "+1 222"  # applied, not recorded
    counts = run(config, customer("KR1", phone="+1 222"))  # the replay
    assert "conflicts" not in counts and conflicts(config) == []
    run(config, customer("KR1", phone="+1 111"))  # a revert after the unrecorded write is not lost
    assert admin.by_external_id("customer")["KR1"]["phone"] == "+1 111"


def test_a_role_without_suiteql_still_writes_updates_whole(admin, config) -> None:
    """No SuiteQL permission (403): the merge cannot read NetSuite, so updates go as they came (the old behaviour),
    with one warning, instead of failing every run."""
    admin.knobs(suiteql_forbidden=True)
    config = {**config, "match_mode": "create"}
    run(config, customer("NQ1", phone="+1 111", url="https://sf.example"))
    run(config, customer("NQ1", phone="+1 222", url="https://sf.example"))
    record = admin.by_external_id("customer")["NQ1"]
    assert record["phone"] == "+1 222" and record["url"] == "https://sf.example"


def test_reads_are_batched_and_skipped_when_there_is_nothing_to_merge(admin, config) -> None:
    """One SuiteQL read per 200 updated records whose changed fields were written before; none for a run whose
    fields Salesforce did not change (`ledger: ignore`, so every record is sent)."""
    config = {**config, "ledger": "ignore", "batch_size_rows": 1000}
    eids = [f"B{i:03}" for i in range(250)]
    run(config, *[customer(eid, phone="+1 111") for eid in eids])

    def suiteql_requests(*records: dict) -> int:
        before = len(admin.request_log())
        run(config, *records)
        return sum(1 for r in admin.request_log()[before:] if r["path"].endswith("/suiteql"))

    unchanged = suiteql_requests(*[customer(eid, phone="+1 111") for eid in eids])
    changed = suiteql_requests(*[customer(eid, phone="+1 222") for eid in eids])
    assert changed - unchanged == 2  # 250 records: two merge reads; the rest is the check and existence lookups
    assert {r["phone"] for r in admin.records("customer")} == {"+1 222"}


def test_a_phone_netsuite_reformatted_is_still_ours(tmp_path: Path) -> None:
    """NetSuite formats phones on save (the account's preference): not a person's edit, so no conflict."""
    m, _ = merger(tmp_path, {"P": {"phone": "(512) 555-0100"}})
    settle(m, write("P", phone="+1 512-555-0100"))
    update = write("P", phone="+1 512-555-0199")
    m.prepare("customer", "customer", [update])
    assert update.body == {"phone": "+1 512-555-0199"} and m.store.conflicts() == []
