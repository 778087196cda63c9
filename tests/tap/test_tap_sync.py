"""The tap as a real subprocess against the Salesforce sandbox: incremental correctness, parent/child, Bulk.

Each test resets the sandbox to a small deterministic data set first.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from tap_helpers import TAP, admin, discover, parse_output, reset, run_tap, sf_url, tap_config


def _all_ids(stream: str) -> set[str]:
    return {r["Id"] for r in admin("GET", f"records/{stream}")["records"] if not r.get("IsDeleted")}


def test_full_then_incremental_bookmarks(tmp_path: Path) -> None:
    reset(accounts=40)
    first = run_tap(tmp_path / "1", tap_config())
    assert set(first.ids()) == _all_ids("Account") and len(first.ids()) == 40
    stamps = [r["SystemModstamp"] for r in first.records["Account"]]
    assert stamps == sorted(stamps)
    assert all(dt.datetime.fromisoformat(s).utcoffset() == dt.timedelta(0) for s in stamps)
    assert all(r["IsDeleted"] is False for r in first.records["Account"])
    assert first.bookmark() == max(stamps)  # a value of an emitted record, not "now"

    # Nothing changed: only the record(s) at the bookmark come back (>=), and the bookmark stays.
    second = run_tap(tmp_path / "2", tap_config(), state=first.state)
    assert {r["SystemModstamp"] for r in second.records.get("Account", [])} <= {first.bookmark()}
    assert second.bookmark() == first.bookmark()

    changed = sorted(first.ids())[:3]
    for record_id in changed:
        admin("PATCH", f"records/Account/{record_id}", {"Phone": "+1 555 0100"})
    third = run_tap(tmp_path / "3", tap_config(), state=second.state)
    assert set(changed) <= set(third.ids()) <= {*changed, *second.ids()}
    assert all(r["Phone"] == "+1 555 0100" for r in third.records["Account"] if r["Id"] in changed)
    assert third.bookmark() > first.bookmark()


def test_late_commit_inside_lookback_is_delivered(tmp_path: Path) -> None:
    reset(accounts=10)
    first = run_tap(tmp_path / "1", tap_config())
    admin("PATCH", f"records/Account/{first.ids()[-1]}", {"Phone": "+1 555 0101"})  # moves the bookmark to now
    second = run_tap(tmp_path / "2", tap_config(), state=first.state)
    # A record committed now, but stamped 60 s ago: older than the saved bookmark.
    late = admin("POST", "records/Account", {"Name": "Late Commit Ltd", "late_seconds": 60})["id"]
    without = run_tap(tmp_path / "3", tap_config(lookback_seconds=0), state=second.state)
    assert late not in without.ids()  # proves the late record really is behind the bookmark
    with_lookback = run_tap(tmp_path / "4", tap_config(lookback_seconds=300), state=second.state)
    assert late in with_lookback.ids()
    assert with_lookback.bookmark() == second.bookmark()  # lookback records never move the bookmark back


def test_deleted_records_arrive_with_isdeleted(tmp_path: Path) -> None:
    reset(accounts=10)
    first = run_tap(tmp_path / "1", tap_config())
    gone = first.ids()[0]
    admin("DELETE", f"records/Account/{gone}")
    second = run_tap(tmp_path / "2", tap_config(), state=first.state)
    deleted = [r for r in second.records["Account"] if r["Id"] == gone]
    assert deleted and deleted[0]["IsDeleted"] is True
    hidden = run_tap(tmp_path / "3", tap_config(include_deleted=False), state=first.state)
    assert gone not in hidden.ids()


def test_records_sharing_one_timestamp_across_pages_and_an_interrupted_run(tmp_path: Path) -> None:
    reset(accounts=5200)
    shared = admin("POST", "share_modstamp/Account", {"count": 5000})
    assert len(shared["ids"]) == 5000
    config = tap_config(page_size=200)
    full = run_tap(tmp_path / "full", config, timeout=300)
    assert set(full.ids()) == _all_ids("Account")

    # Kill the tap mid-stream, then resume from the last STATE it printed: nothing may be missing.
    process = subprocess.Popen([TAP, "--config", str(tmp_path / "full" / "config.json")], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines = []
    records_seen = 0
    for line in process.stdout:
        lines.append(line)
        records_seen += '"type":"RECORD"' in line
        if records_seen >= 4500:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = parse_output("".join(lines), -9, "")
    assert partial.states, "a STATE is expected at least every page"
    assert 0 < len(partial.ids()) < 5200, "the tap must have been cut off mid-stream"
    resumed = run_tap(tmp_path / "resume", config, state=partial.state, timeout=300)
    assert set(partial.ids()) | set(resumed.ids()) == _all_ids("Account")


def _without_compound_fields(catalog: dict) -> dict:
    """Bulk cannot select compound fields: deselect BillingAddress/ShippingAddress (their parts stay)."""
    catalog = json.loads(json.dumps(catalog))
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"][-1:] in (["BillingAddress"], ["ShippingAddress"]):
                entry["metadata"]["selected"] = False
    return catalog


def test_bulk_results_bookmark_only_the_maximum(tmp_path: Path) -> None:
    reset(accounts=300)
    config = tap_config(api_type="bulk")
    run = run_tap(tmp_path / "b", config, catalog=_without_compound_fields(discover(tmp_path / "d", config)))
    assert "Bulk 2.0" in run.stderr
    stamps = [r["SystemModstamp"] for r in run.records["Account"]]
    assert stamps != sorted(stamps), "the sandbox returns Bulk results unordered"
    assert set(run.ids()) == _all_ids("Account")
    assert run.bookmark() == max(stamps)
    # Every STATE before the last one still holds no bookmark (or the old one): never one from mid-results.
    assert all(s.get("bookmarks", {}).get("Account", {}).get("replication_key_value") in (None, max(stamps))
               for s in run.states)
    typed = run.records["Account"][0]
    assert isinstance(typed["IsDeleted"], bool) and typed["SystemModstamp"].endswith("+00:00")


def test_auto_picks_bulk_above_threshold_and_rest_for_compound_fields(tmp_path: Path) -> None:
    reset(accounts=120)
    catalog = discover(tmp_path / "d", tap_config())
    config = tap_config(api_type="auto", bulk_threshold=50)
    # Address parts selected: BillingAddress is rebuilt from them, so Bulk can serve the object.
    bulk = run_tap(tmp_path / "a", config, catalog=catalog)
    assert "switching to Bulk 2.0" in bulk.stderr and len(bulk.ids()) == 120
    rebuilt = next(r for r in bulk.records["Account"] if r.get("BillingCity"))
    assert rebuilt["BillingAddress"]["city"] == rebuilt["BillingCity"]
    # Only the compound field selected: Bulk cannot select it, so the read stays on REST.
    only_compound = json.loads(json.dumps(catalog))
    for stream in only_compound["streams"]:
        for entry in stream["metadata"]:
            name = (entry["breadcrumb"] or [""])[-1]
            if name.startswith(("Billing", "Shipping")) and not name.endswith("Address"):
                entry["metadata"]["selected"] = False
    rest = run_tap(tmp_path / "b", config, catalog=only_compound)
    assert "Bulk 2.0" not in rest.stderr and len(rest.ids()) == 120
    record = next(r for r in rest.records["Account"] if r.get("BillingAddress"))
    assert record["BillingAddress"]["city"] and "BillingCity" not in record
    small = run_tap(tmp_path / "c", tap_config(api_type="auto", bulk_threshold=500), catalog=catalog)
    assert "Bulk 2.0" not in small.stderr and len(small.ids()) == 120


def test_interrupted_bulk_read_aborts_its_job(tmp_path: Path) -> None:
    reset(accounts=50)
    admin("POST", "knobs", {"bulk_polls_per_state": 1000})  # the job stays InProgress
    config = tap_config(api_type="bulk")
    catalog = _without_compound_fields(discover(tmp_path / "d", config))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen([TAP, "--config", str(tmp_path / "config.json"), "--catalog",
                                str(tmp_path / "catalog.json")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    assert process.stderr is not None
    job_id = None
    for line in process.stderr:
        if match := re.search(r"Bulk 2.0 queryAll job (\S+) created", line):
            job_id = match[1]
            break
    assert job_id
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=60)[1]
    assert f"job {job_id} aborted" in rest
    token = requests.post(f"{sf_url()}/services/oauth2/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret",
        "refresh_token": "sandbox-refresh-token"}).json()
    job = requests.get(f"{token['instance_url']}/services/data/v61.0/jobs/query/{job_id}", timeout=10,
                       headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert job["state"] == "Aborted"


def test_opportunity_carries_current_lines_and_is_resent_when_a_line_changes(tmp_path: Path) -> None:
    reset(accounts=5, products=5, opportunities=8)
    config = tap_config(objects=["Opportunity", "OpportunityLineItem"])
    first = run_tap(tmp_path / "1", config)
    lines = {r["Id"]: r for r in admin("GET", "records/OpportunityLineItem")["records"] if not r.get("IsDeleted")}
    for opportunity in first.records["Opportunity"]:
        expected = {i for i, line in lines.items() if line["OpportunityId"] == opportunity["Id"]}
        assert {line["Id"] for line in opportunity["OpportunityLineItems"]} == expected
    target = next(r for r in first.records["Opportunity"] if len(r["OpportunityLineItems"]) >= 2)
    changed_line, deleted_line = target["OpportunityLineItems"][0]["Id"], target["OpportunityLineItems"][1]["Id"]

    admin("PATCH", f"records/OpportunityLineItem/{changed_line}", {"Quantity": 77})
    admin("DELETE", f"records/OpportunityLineItem/{deleted_line}")
    second = run_tap(tmp_path / "2", config, state=first.state)
    resent = [r for r in second.records["Opportunity"] if r["Id"] == target["Id"]]
    assert resent, "an opportunity whose lines changed must be re-sent"
    current = {line["Id"]: line for line in resent[-1]["OpportunityLineItems"]}
    assert deleted_line not in current and current[changed_line]["Quantity"] == 77
    assert second.state["bookmarks"]["Opportunity"]["line_items_bookmark"]


def test_sync_with_catalog_makes_no_describe_calls(tmp_path: Path) -> None:
    reset(accounts=10, products=3)
    config = tap_config(objects=["Account", "Product2"])
    catalog = discover(tmp_path / "d", config)
    first = run_tap(tmp_path / "1", config, catalog=catalog)
    before = admin("GET", "stats")["api_usage"]
    run_tap(tmp_path / "2", config, catalog=catalog, state=first.state)
    # An empty incremental run: one query per object (no describe), plus Product2's price book entry changes (its
    # lines; the standard book is read only when products are sent); the token call is not an API call.
    assert admin("GET", "stats")["api_usage"] - before == 3


def test_bad_credentials_fail_fast_with_one_line(tmp_path: Path) -> None:
    reset(accounts=1)
    run = run_tap(tmp_path, tap_config(client_secret="wrong-secret"), check=False)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "tap-salesforce-custom: Salesforce authentication failed" in last
    assert "wrong-secret" not in run.stderr and "sandbox-refresh-token" not in run.stderr
    assert not run.records


def test_unknown_optional_object_is_skipped_and_custom_objects_are_discovered(tmp_path: Path) -> None:
    reset(accounts=1)
    done = subprocess.run([TAP, "--discover", "--config", _config_file(tmp_path, tap_config(
        objects=["Account", "Invoice__c"], optional_objects=["NoSuchThing__c"]))],
        capture_output=True, text=True, timeout=120, check=True)
    assert "optional_objects not found or not queryable in this org, skipped: NoSuchThing__c" in done.stderr
    catalog = json.loads(done.stdout)
    names = {s["tap_stream_id"] for s in catalog["streams"]}
    assert names == {"Account", "Invoice__c"}
    account = next(s for s in catalog["streams"] if s["tap_stream_id"] == "Account")
    assert json.dumps(account["schema"]["properties"]["SystemModstamp"]) == json.dumps(
        {"format": "date-time", "type": ["string"]})
    root = next(m for m in account["metadata"] if m["breadcrumb"] == [])
    assert root["metadata"]["replication-key"] == "SystemModstamp"


def _config_file(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("objects", "message"), [
    (["Account", "Acount"], "objects: 'Acount' not found or not queryable in this org (check the spelling"),
    (["Account WHERE Name != null"], "objects: 'Account WHERE Name != null' is not an object API name"),
])
@pytest.mark.parametrize("mode", ["discover", "sync"])
def test_object_that_is_not_an_object_stops_at_start_up(tmp_path: Path, objects: list[str], message: str,
                                                        mode: str) -> None:
    """An `objects` entry the org cannot query (a typo, a filter) stops the tap before it reads anything: one line
    naming it, exit 1 (issue 23: it was skipped with a warning and the run exited 0)."""
    reset(accounts=2)
    args = [TAP, "--config", _config_file(tmp_path, tap_config(objects=objects))]
    done = subprocess.run(args + (["--discover"] if mode == "discover" else []), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "ERROR" in last and message in last, done.stderr[-2000:]


def test_tls_is_verified_with_ca_bundle_and_never_skipped(tmp_path: Path) -> None:
    reset(accounts=3)
    tls = {"login_url": os.environ["SANDBOX_SALESFORCE_TLS_URL"], "ca_bundle": os.environ["SANDBOX_CA_BUNDLE"]}
    run = run_tap(tmp_path / "ok", tap_config(**tls))  # REQUESTS_CA_BUNDLE in the environment must not win
    assert len(run.ids()) == 3
    refused = run_tap(tmp_path / "no", tap_config(login_url=tls["login_url"]), check=False)
    assert refused.returncode == 1 and not refused.records
    assert "tap-salesforce-custom: TLS verification of" in refused.stderr.strip().splitlines()[-1]


def test_empty_first_run_leaves_no_bookmark(tmp_path: Path) -> None:
    reset(accounts=0)
    run = run_tap(tmp_path, tap_config())
    assert not run.records and run.bookmark() is None  # never "now" when nothing came back


def test_streams_are_discovered_and_read_parents_first(tmp_path: Path) -> None:
    """Whatever order `objects` lists, parents come first: Account before Contact and Opportunity, Product2 before
    Opportunity (its embedded lines reference products) and OpportunityLineItem; the sync follows the catalog."""
    reset(accounts=3, contacts=3, products=3, opportunities=4)
    objects = ["OpportunityLineItem", "Opportunity", "Contact", "Product2", "Account"]
    config = tap_config(objects=objects)
    catalog = discover(tmp_path / "d", config)
    order = [stream["tap_stream_id"] for stream in catalog["streams"]]
    assert order.index("Account") < min(order.index("Contact"), order.index("Opportunity"))
    assert order.index("Product2") < order.index("Opportunity") < order.index("OpportunityLineItem")
    synced = run_tap(tmp_path / "1", config, catalog=catalog)
    assert list(synced.records) == order
    discovered_in_sync = run_tap(tmp_path / "2", config)
    assert list(discovered_in_sync.records) == order


def test_quote_carries_current_lines_and_is_resent_when_a_line_changes(tmp_path: Path) -> None:
    """Quote is read like Opportunity: with its QuoteLineItems, re-sent with fresh lines when one changes."""
    reset(accounts=5, products=5, opportunities=12)
    config = tap_config(objects=["Quote", "Opportunity"])
    first = run_tap(tmp_path / "1", config)
    lines = {r["Id"]: r for r in admin("GET", "records/QuoteLineItem")["records"] if not r.get("IsDeleted")}
    assert first.records["Quote"]
    for quote in first.records["Quote"]:
        expected = {i for i, line in lines.items() if line["QuoteId"] == quote["Id"]}
        assert {line["Id"] for line in quote["QuoteLineItems"]} == expected
    assert "OpportunityLineItems" not in first.records["Quote"][0]
    target = next(r for r in first.records["Quote"] if len(r["QuoteLineItems"]) >= 2)
    changed_line, deleted_line = target["QuoteLineItems"][0]["Id"], target["QuoteLineItems"][1]["Id"]

    admin("PATCH", f"records/QuoteLineItem/{changed_line}", {"Quantity": 77})
    admin("DELETE", f"records/QuoteLineItem/{deleted_line}")
    second = run_tap(tmp_path / "2", config, state=first.state)
    resent = [r for r in second.records["Quote"] if r["Id"] == target["Id"]]
    assert resent, "a quote whose lines changed must be re-sent"
    current = {line["Id"]: line for line in resent[-1]["QuoteLineItems"]}
    assert deleted_line not in current and current[changed_line]["Quantity"] == 77
    assert second.state["bookmarks"]["Quote"]["line_items_bookmark"]
