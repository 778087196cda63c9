"""The three-way merge on a deployment that ran before it existed (or lost `merged.sqlite3`).

Records the pipeline wrote before the merge have no merge history; the pre-merge pipeline sent every mapped
value (nulls included) on every update and replaced the address book with unlabelled lines. Such a record (our
external id, no history, not adopted in this run) takes NetSuite's current values as what the pipeline last wrote,
and its unlabelled default billing / shipping lines as ours: a value cleared in Salesforce is cleared, and the
first update labels the old lines instead of adding a second billing and shipping address. Unit tests of the
decisions (a stub SuiteQL), then the real path against the NetSuite stand-in over HTTP, with a bare target.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from target_netsuite.merge import ADOPTED_MARK, MERGE_FILE, ConflictPolicies, Merger, MergeStore
from target_netsuite.writes import Write
from test_merge import StubClient, Summary, address_lines, customer, merger, run, settle

OURS = "0015g00000PreMrAAA"  # an Account Id: the form of an external id this pipeline writes to customers
OURS_2 = "0015g00000PreMrBAA"


def update(eid: str, *, exists: bool | None = True, adopted: bool = False, **body: object) -> Write:
    return Write(eid, "upsert", {}, dict(body), [], [], exists=exists, adopted=adopted)


# --- decisions (unit) -------------------------------------------------------------------------------------------


def test_a_record_written_before_the_merge_takes_netsuite_as_the_last_write(tmp_path: Path) -> None:
    m, client = merger(tmp_path, {OURS: {"phone": "+1 415 555 0142", "url": "old.example"}})
    cleared = update(OURS, phone=None, url="old.example", companyName="Acme")
    m.prepare("customer", "customer", [cleared])
    assert cleared.body == {"phone": None, "url": "old.example", "companyName": "Acme"}  # the clear is sent
    assert len(client.queries) == 1  # every field in one read
    assert m.outcomes.counts == {"netsuite_baselines": 1}  # type: ignore[attr-defined]


def test_adopted_this_run_and_foreign_ids_keep_netsuite_only_values(tmp_path: Path) -> None:
    m, client = merger(tmp_path, {OURS: {"phone": "+1 415 555 0142"}, "AD1": {"phone": "+1 415 555 0142"}})
    adopted = update(OURS, adopted=True, phone=None, companyName="Acme")
    foreign = update("AD1", phone=None, companyName="Acme")  # not an external id of ours
    m.prepare("customer", "customer", [adopted, foreign])
    assert adopted.body == {"companyName": "Acme"} and foreign.body == {"companyName": "Acme"}
    assert client.queries == [] and "netsuite_baselines" not in m.outcomes.counts  # type: ignore[attr-defined]


def test_a_record_with_history_gets_no_baseline_and_no_extra_read(tmp_path: Path) -> None:
    m, client = merger(tmp_path, {OURS: {"phone": "+1 111", "url": "person.example"}})
    settle(m, update(OURS, exists=False, phone="+1 111", url="u1"))  # created by the merge-era pipeline
    again = update(OURS, phone="+1 111", url="u1")
    m.prepare("customer", "customer", [again])
    assert again.body == {} and client.queries == []  # nothing changed: no read, the person's url stands


def test_a_new_record_gets_no_baseline(tmp_path: Path) -> None:
    m, client = merger(tmp_path, {})
    new = update(OURS, exists=False, phone=None)
    m.prepare("customer", "customer", [new])
    assert client.queries == [] and "netsuite_baselines" not in m.outcomes.counts  # type: ignore[attr-defined]


def test_an_adoption_marked_by_a_killed_run_is_never_taken_for_a_pre_merge_record(tmp_path: Path) -> None:
    """Killed between the adoption (our external id given) and the first write: no field history, but the mark."""
    MergeStore(tmp_path / MERGE_FILE, "acct").mark_adopted("customer", [OURS])
    m, client = merger(tmp_path, {OURS: {"phone": "+1 415 555 0142"}})
    rerun = update(OURS, phone=None, companyName="Acme")
    m.prepare("customer", "customer", [rerun])
    assert rerun.body == {"companyName": "Acme"} and client.queries == []
    with sqlite3.connect(tmp_path / MERGE_FILE) as db:
        assert db.execute("SELECT field FROM merged_fields ORDER BY field").fetchall() == [(ADOPTED_MARK,),
                                                                                            ("companyName",)]


def test_killed_after_the_baseline_before_the_write_still_clears(tmp_path: Path) -> None:
    """The baseline is committed with the pending values: a rerun finds NetSuite's old value ours, not an edit."""
    netsuite = {OURS: {"phone": "+1 415 555 0142"}}
    m, _ = merger(tmp_path, netsuite)
    m.prepare("customer", "customer", [update(OURS, phone=None)])  # killed before the write reached NetSuite
    fresh, _ = merger(tmp_path, netsuite)
    rerun = update(OURS, phone=None)
    fresh.prepare("customer", "customer", [rerun])
    assert rerun.body == {"phone": None}
    assert "netsuite_edits_kept" not in fresh.outcomes.counts  # type: ignore[attr-defined]


def test_reads_stay_one_per_200_records(tmp_path: Path) -> None:
    eids = [f"0015g00000P{i:04}AAA" for i in range(250)]
    m, client = merger(tmp_path, {eid: {"phone": "+1 111"} for eid in eids})
    m.prepare("customer", "customer", [update(eid, phone=None) for eid in eids])
    assert len(client.queries) == 2


class LinesClient(StubClient):
    """Also answers the address book read."""

    def __init__(self, rows: dict[str, dict[str, str]], lines: list[dict[str, str]]) -> None:
        super().__init__(rows)
        self.lines = lines

    def suiteql(self, query: str, **kwargs: object) -> dict:
        if "addressbook" in query:
            self.queries.append(query)
            return {"items": self.lines, "hasMore": False}
        return super().suiteql(query, **kwargs)


def book(*lines: tuple[bool, bool, str]) -> dict:
    return {"items": [{"defaultBilling": billing, "defaultShipping": shipping,
                       "addressbookaddress": {"addr1": "1 Main St", "city": city}}
                      for billing, shipping, city in lines]}


def lines_merger(path: Path, lines: list[dict[str, str]]) -> Merger:
    return Merger(client=LinesClient({OURS: {"phone": "1"}}, lines), outcomes=Summary(),  # type: ignore[arg-type]
                  store=MergeStore(path, "acct"), policies=ConflictPolicies(None), run_id="r1")


def test_unlabelled_default_lines_are_ours_labelled_lines_are_kept(tmp_path: Path) -> None:
    lines = [{"entity": "100", "internalid": "7", "defaultbilling": "T", "defaultshipping": "F"},
             {"entity": "100", "internalid": "8", "defaultbilling": "F", "defaultshipping": "T"},
             {"entity": "100", "internalid": "9", "label": "Remit-to", "defaultbilling": "F", "defaultshipping": "F"},
             {"entity": "100", "internalid": "10", "defaultbilling": "F", "defaultshipping": "F"}]
    first = update(OURS, phone="1", addressbook=book((False, True, "Reno"), (True, False, "Dallas")))
    lines_merger(tmp_path / MERGE_FILE, lines).prepare("customer", "customer", [first])
    items = first.body["addressbook"]["items"]
    assert [(item["label"], item.get("id")) for item in items] == [("Shipping (synced)", "8"),
                                                                   ("Billing (synced)", "7")]
    assert "addressbook" not in first.replace  # Remit-to and the unlabelled non-default line are left alone
    adopted = update(OURS, adopted=True, phone="1", addressbook=book((True, False, "Dallas")))
    lines_merger(tmp_path / "other.sqlite3", lines).prepare("customer", "customer", [adopted])
    assert "id" not in adopted.body["addressbook"]["items"][0]  # adopted this run: a line of its own, as before


def test_a_line_with_both_flags_is_claimed_by_the_matching_payload_line_first(tmp_path: Path) -> None:
    lines = [{"entity": "100", "internalid": "3", "defaultbilling": "T", "defaultshipping": "T"}]
    both = update(OURS, phone="1", addressbook=book((False, True, "Reno"), (True, True, "Dallas")))
    lines_merger(tmp_path / MERGE_FILE, lines).prepare("customer", "customer", [both])
    assert [item.get("id") for item in both.body["addressbook"]["items"]] == [None, "3"]


# --- through the stand-in (real HTTP), a bare target: no merged.sqlite3 -------------------------------------------


def written_the_old_way(admin, eid: str) -> None:
    """A customer as the pre-merge pipeline left it: every value written, unlabelled billing and shipping lines
    (it sent `replace=addressbook` without labels); and a line a person added and labelled since."""
    admin.create_records("customer", [{
        "externalId": eid, "companyName": f"Company {eid}", "subsidiary": {"id": "1"}, "phone": "+1 415 555 0142",
        "url": "https://sf.example",
        "addressbook": {"items": [
            {"defaultBilling": True, "defaultShipping": False,
             "addressbookaddress": {"addr1": "1 Main St", "city": "Austin", "country": "US"}},
            {"defaultBilling": False, "defaultShipping": True,
             "addressbookaddress": {"addr1": "1 Dock Rd", "city": "Reno", "country": "US"}},
            {"label": "Remit-to", "addressbookaddress": {"addr1": "PO Box 9", "city": "Waco", "country": "US"}}]},
    }])


def billing_and_shipping(billing_city: str) -> dict:
    return {"items": [
        {"defaultBilling": True, "defaultShipping": False,
         "addressbookaddress": {"addr1": "1 Main St", "city": billing_city, "country": "US"}},
        {"defaultBilling": False, "defaultShipping": True,
         "addressbookaddress": {"addr1": "1 Dock Rd", "city": "Reno", "country": "US"}}]}


def test_first_update_after_the_upgrade_clears_and_labels_without_duplicates(admin, config) -> None:
    written_the_old_way(admin, OURS)
    assert not (Path(config["dead_letter_path"]) / MERGE_FILE).exists()
    counts = run(config, customer(OURS, phone=None, url="https://sf.example",
                                  addressbook=billing_and_shipping("Dallas")))
    record = admin.by_external_id("customer")[OURS]
    assert not record.get("phone")  # Salesforce cleared it: NetSuite no longer keeps the stale number
    assert record["url"] == "https://sf.example"
    lines = address_lines(admin, OURS)
    assert len(lines) == 3  # no duplicate billing or shipping line
    by_label = {line.get("label"): line for line in lines}
    assert set(by_label) == {"Billing (synced)", "Shipping (synced)", "Remit-to"}
    assert [line["addressbookaddress"]["city"] for line in lines if line.get("defaultBilling")] == ["Dallas"]
    assert by_label["Shipping (synced)"]["defaultShipping"] is True
    assert by_label["Remit-to"]["addressbookaddress"]["city"] == "Waco"
    assert counts.get("netsuite_baselines") == 1
    run(config, customer(OURS, phone="+1 212 555 0199", url="https://sf.example",
                         addressbook=billing_and_shipping("Dallas")))  # from now on, the usual merge
    assert admin.by_external_id("customer")[OURS]["phone"] == "+1 212 555 0199"
    assert len(address_lines(admin, OURS)) == 3


def test_a_record_adopted_in_this_run_keeps_its_netsuite_only_values(admin, config) -> None:
    admin.create_records("customer", [{  # entered by hand, no external id: adopted by name, corroborated by city
        "companyName": f"Company {OURS_2}", "subsidiary": {"id": "1"}, "phone": "+1 415 555 0142",
        "url": "https://netsuite-only.example",
        "addressbook": {"items": [{"defaultBilling": True, "defaultShipping": False,
                                   "addressbookaddress": {"addr1": "1 Main St", "city": "Dallas", "country": "US"}}]},
    }])
    counts = run(config, customer(OURS_2, phone=None, url=None, addressbook=billing_and_shipping("Dallas")))
    assert counts.get("adopted") == 1 and "netsuite_baselines" not in counts
    record = admin.by_external_id("customer")[OURS_2]
    assert record["phone"] == "+1 415 555 0142" and record["url"] == "https://netsuite-only.example"
    assert counts.get("netsuite_values_kept") == 2
