"""Issue 18, the tap's side: the read window is anchored at the last complete read's start (Salesforce's clock),
so a quiet run no longer re-sends the last burst of changes, while late commits, interrupted reads and a
bookmark rewound by hand still get everything they must; blank text is null on every read path."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import requests
import responses
from tap_helpers import admin, reset, run_tap, tap_config
from tap_salesforce_custom.client import server_sent_time
from tap_salesforce_custom.streams import blank_to_null, valid_read_start, window_start

LOOKBACK = 2


def _queries(before: int) -> list[str]:
    return [e["q"] for e in admin("GET", "requests")["requests"][before:] if e["q"]]


def test_quiet_runs_after_a_burst_re_send_nothing(tmp_path: Path) -> None:
    reset(accounts=40, products=5, opportunities=10)
    config = tap_config(objects=["Account", "Opportunity"], lookback_seconds=LOOKBACK)
    first = run_tap(tmp_path / "1", config)
    for account_id in first.ids()[:30]:  # a burst, sharing seconds
        admin("PATCH", f"records/Account/{account_id}", {"Phone": "+1 415 555 0199"})
    line = next(r for r in admin("GET", "records/OpportunityLineItem")["records"] if not r["IsDeleted"])
    admin("PATCH", f"records/OpportunityLineItem/{line['Id']}", {"Quantity": line["Quantity"] + 1})
    # Past the lookback, with a second to spare: the read start is floored to the second in the SOQL literal.
    time.sleep(LOOKBACK + 2)
    burst = run_tap(tmp_path / "2", config, state=first.state)
    assert set(first.ids()[:30]) <= set(burst.ids()) and line["OpportunityId"] in burst.ids("Opportunity")
    state = burst.state["bookmarks"]["Account"]
    assert state["read_started_bookmark"] == state["replication_key_value"] < state["read_started"]

    before = len(admin("GET", "requests")["requests"])
    quiet = run_tap(tmp_path / "3", config, state=burst.state)
    resent = {stream: [r["SystemModstamp"] for r in records] for stream, records in quiet.records.items()}
    assert resent == {}  # before issue 18: the 30 accounts and the opportunity again, run after run
    assert sorted(q.split(" FROM ")[1].split()[0] for q in _queries(before)) == [
        "Account", "Opportunity", "OpportunityLineItem"]
    assert quiet.bookmark() == burst.bookmark()
    assert quiet.state["bookmarks"]["Account"]["read_started"] > state["read_started"]


def test_late_commit_inside_the_window_of_the_last_read_is_delivered(tmp_path: Path) -> None:
    reset(accounts=10)
    config = tap_config(lookback_seconds=60)
    first = run_tap(tmp_path / "1", config)
    read_started = dt.datetime.fromisoformat(first.state["bookmarks"]["Account"]["read_started"])
    stamp = (read_started - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = admin("POST", "records/Account", {"Name": "Late Commit GmbH", "system_modstamp": stamp})["id"]
    too_late = (read_started - dt.timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    admin("POST", "records/Account", {"Name": "Later than the lookback", "system_modstamp": too_late})
    second = run_tap(tmp_path / "2", config, state=first.state)
    assert second.ids() == [late]  # a commit lag past the lookback is what the lookback setting is for
    assert second.bookmark() == second.records["Account"][0]["SystemModstamp"]


def test_rewound_or_interrupted_bookmark_ignores_the_saved_read_start(tmp_path: Path) -> None:
    reset(accounts=30)
    config = tap_config(lookback_seconds=0)
    first = run_tap(tmp_path / "1", config)
    stamps = sorted(r["SystemModstamp"] for r in first.records["Account"])
    rewound = {"bookmarks": {"Account": {**first.state["bookmarks"]["Account"], "replication_key_value": stamps[9]}}}
    again = run_tap(tmp_path / "2", config, state=rewound)  # `meltano state merge` of an older bookmark
    assert {r["SystemModstamp"] for r in again.records["Account"]} == set(stamps[9:])
    assert valid_read_start(rewound["bookmarks"]["Account"], "read_started", "replication_key_value") is None


def test_window_start_and_server_clock() -> None:
    assert window_start(None, None, 300) is None
    assert window_start("2026-01-01T00:00:10+00:00", "2026-01-01T00:05:00+00:00", 60) == dt.datetime(
        2026, 1, 1, 0, 4, tzinfo=dt.UTC)
    assert window_start("2026-01-01T00:00:10.000000+00:00", None, 10) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with responses.RequestsMock() as mock:
        mock.get("https://x.my.salesforce.com/a", headers={"Date": "Tue, 01 Dec 2026 21:00:05 GMT"})
        mock.get("https://x.my.salesforce.com/b")
        sent = server_sent_time(requests.get("https://x.my.salesforce.com/a", timeout=5))
        assert sent is not None and sent <= dt.datetime(2026, 12, 1, 21, 0, 5, tzinfo=dt.UTC)
        assert dt.datetime(2026, 12, 1, 21, 0, 4, tzinfo=dt.UTC) < sent
        assert server_sent_time(requests.get("https://x.my.salesforce.com/b", timeout=5)) is None


def test_blank_text_becomes_null() -> None:
    record = {"Fax": "", "Name": "Acme", "BillingAddress": {"city": "Köln", "country": "", "state": None},
              "NumberOfEmployees": 0, "Description": " "}
    blank_to_null(record, ["Fax", "Name", "BillingAddress", "Description"])
    assert record == {"Fax": None, "Name": "Acme", "BillingAddress": {"city": "Köln", "country": None, "state": None},
                      "NumberOfEmployees": 0, "Description": " "}
