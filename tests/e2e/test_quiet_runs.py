"""Issue 18 end to end: after a burst of Salesforce changes, a quiet `meltano run` costs one query per object and
writes nothing to NetSuite, while a late commit inside the lookback window is still delivered.

Counted on the wire: the Salesforce sandbox's request log (`GET /__admin/requests`) and NetSuite's write counters.
The lookback is 5 s here so the test can step past it: the run that delivers the burst starts more than one
lookback after it, so the next run's window (from that run's start minus the lookback) no longer covers it.
(When the delivering run starts within the lookback of the burst, as with a 5-minute cron and the default 300 s
lookback, the burst is re-sent once more by the next run, whose window must still catch late commits, and never
after that; before issue 18 it was re-sent by every run until a newer change moved the bookmark.)
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e

LOOKBACK = 5
#: PricebookEntry: the price book entry changes Product2 is re-read for (its prices).
OBJECTS = {"Account", "Product2", "PricebookEntry", "Opportunity", "OpportunityLineItem"}
ENV = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*", "Product2.*", "Opportunity.*"]',
       "TAP_SALESFORCE_CUSTOM_LOOKBACK_SECONDS": str(LOOKBACK)}


def _writes(netsuite: SandboxAdmin) -> dict[str, int]:
    return netsuite.get("stats")["writes"]


def _calls_during(project: MeltanoProject, salesforce: SandboxAdmin) -> list[dict]:
    """The Salesforce API calls one `meltano run` made."""
    before = len(salesforce.get("requests")["requests"])
    project.run_pipeline()
    return salesforce.get("requests")["requests"][before:]


def _is_token_or_describe(path: str) -> bool:
    return path.endswith("/oauth2/token") or path.endswith("/sobjects/") or path.endswith("/describe")


def _queried_objects(calls: list[dict]) -> list[str]:
    return [re.search(r"\bFROM (\w+)", c["q"]).group(1) for c in calls if c["q"]]


def test_quiet_run_after_a_burst_costs_one_query_per_object_and_writes_nothing(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    salesforce.post("reset", {"seed": 5, "accounts": 30, "contacts": 0, "products": 6, "opportunities": 12})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.discover_every_run = True  # the calls counted include discovery's, as in production
    project.env.update(ENV)
    project.run_pipeline()  # initial load

    # A burst: an automation touches 25 accounts and 3 opportunity lines within a second or two.
    accounts = sorted(a["Id"] for a in salesforce.records("Account") if not a.get("IsDeleted"))[:25]
    for n, account_id in enumerate(accounts):
        salesforce.patch(f"records/Account/{account_id}", {"Phone": f"+1 415 555 {n:04d}"})
    lines = [li for li in salesforce.records("OpportunityLineItem") if not li.get("IsDeleted")][:3]
    for line in lines:
        salesforce.patch(f"records/OpportunityLineItem/{line['Id']}", {"Quantity": line["Quantity"] + 1})
    stamps = {a["SystemModstamp"] for a in salesforce.records("Account") if a["Id"] in accounts}
    assert len(stamps) < len(accounts), "a burst shares seconds, as real SystemModstamps do"
    time.sleep(LOOKBACK + 2)  # the burst is now older than any window that starts after it was read

    before = _writes(netsuite)
    burst_run = _calls_during(project, salesforce)
    after_burst = _writes(netsuite)
    assert after_burst["updated"] - before["updated"] >= len(accounts)
    assert sorted(set(_queried_objects(burst_run))) == sorted(OBJECTS)

    # The quiet run: one query per object, nothing re-sent, nothing written. Besides the queries it makes only
    # the token call and Meltano's discovery (describe calls: Meltano caches no catalog of an editable plugin).
    quiet = _calls_during(project, salesforce)
    assert sorted(_queried_objects(quiet)) == sorted(OBJECTS), quiet
    assert [c for c in quiet if not c["q"] and not _is_token_or_describe(c["path"])] == [], quiet
    assert _writes(netsuite) == after_burst

    # A late commit: stamped inside the lookback window before the quiet run began, committed after it ended.
    state = project.state()["singer_state"]["bookmarks"]["Account"]
    read_started = dt.datetime.fromisoformat(state["read_started"])
    late_stamp = (read_started - dt.timedelta(seconds=LOOKBACK - 2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late_account = accounts[0]
    salesforce.patch(f"records/Account/{late_account}", {"Phone": "+1 415 555 9999", "system_modstamp": late_stamp})
    late_run = _calls_during(project, salesforce)
    assert sorted(_queried_objects(late_run)) == sorted(OBJECTS)
    after_late = _writes(netsuite)
    assert after_late["updated"] == after_burst["updated"] + 1 and after_late["created"] == after_burst["created"]
    assert after_late["unchanged"] == after_burst["unchanged"]
    customer = next(c for c in netsuite.records("customer") if c["externalId"] == late_account)
    assert "9999" in str(customer.get("phone"))
