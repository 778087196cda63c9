"""Issue 26, item 3: near real time through real `meltano run`. A run that follows changes (tap-salesforce-custom
`follow_seconds`, a read every `follow_poll_seconds`; target-netsuite with `drain_on_state` writes on the STATE
that ends each fresh read) writes a change made while it runs, without a new run; Meltano saves the
state read by read (its system database has the change's bookmark during the run); a SIGTERM (cron's `timeout`)
between or during reads loses nothing and the next, ordinary run writes nothing twice.
"""

from __future__ import annotations

import os
import signal
import time
import typing as t

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.e2e

ACCOUNTS = 8
FOLLOW = {
    "TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]',
    "TAP_SALESFORCE_CUSTOM_FOLLOW_SECONDS": "900",
    "TAP_SALESFORCE_CUSTOM_FOLLOW_POLL_SECONDS": "2",
    "TARGET_NETSUITE_DRAIN_ON_STATE": "true",
}


def _wait_for(condition: Callable[[], bool], what: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout:.0f} s; the run's output:\n{log.read_text()[-5000:]}")


def _names(netsuite: SandboxAdmin) -> dict[str, str]:
    return {c["externalId"]: c["companyName"] for c in netsuite.records("customer")}


def test_a_followed_run_writes_changes_while_it_runs_and_a_kill_loses_nothing(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, tmp_path: Path
) -> None:
    salesforce.post("reset", {"seed": 11, "accounts": ACCOUNTS, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.env.update(FOLLOW)
    accounts = sorted(a["Id"] for a in salesforce.records("Account") if not a.get("IsDeleted"))
    log = tmp_path / "followed-run.log"
    run = project.start_pipeline(log=log)
    try:
        _wait_for(lambda: len(_names(netsuite)) == ACCOUNTS, "the initial load", log)
        # A change made while the run goes on lands in NetSuite through that same run ...
        salesforce.patch(f"records/Account/{accounts[0]}", {"Name": "Followed Rename One"})
        _wait_for(lambda: _names(netsuite)[accounts[0]] == "Followed Rename One", "the followed change", log)
        assert run.poll() is None, log.read_text()[-5000:]
        # ... and Meltano has its bookmark while the run still goes on (state saved read by read).
        stamp = next(a for a in salesforce.records("Account") if a["Id"] == accounts[0])["SystemModstamp"]

        def bookmark_passed() -> bool:
            state = project.state()
            value = (state or {}).get("singer_state", {}).get("bookmarks", {}).get("Account", {})
            return str(value.get("replication_key_value", ""))[:19] >= stamp[:19]

        _wait_for(bookmark_passed, "Meltano's saved bookmark", log)
        assert run.poll() is None, log.read_text()[-5000:]
        # A second change, then cron's timeout: SIGTERM to the job, whatever the run was doing.
        salesforce.patch(f"records/Account/{accounts[1]}", {"Name": "Followed Rename Two"})
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
    # The next, ordinary run: the second change lands (if the killed run had not written it), nothing twice.
    project.env["TAP_SALESFORCE_CUSTOM_FOLLOW_SECONDS"] = "0"
    project.run_pipeline()
    names = _names(netsuite)
    assert len(names) == ACCOUNTS
    assert names[accounts[0]] == "Followed Rename One"
    assert names[accounts[1]] == "Followed Rename Two"
    writes = netsuite.get("stats")["writes"]
    assert (writes["created"], writes["updated"]) == (ACCOUNTS, 2)
