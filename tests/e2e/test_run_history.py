"""Issue 17: the run history tells the truth, through real `meltano run` and `meltano invoke pipeline-ops`.

One history holds a run that succeeded, one whose target was refused by NetSuite, one whose tap was refused by
Salesforce (it fails in discovery, before Meltano has a state to save), a `:backfill` run, and a run killed with
SIGKILL mid-load: seen as `running` while it goes, `killed` once its heartbeat is older than Meltano's 5 minutes.
Each appears once, with its environment, state id and cause; the Salesforce calls it reports (discovery
included) equal the sandbox's own counter; a failed run gets its report file too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy
import yaml
from e2e_harness import MELTANO, PIPELINE, ROOT, STATE_ID, MeltanoProject, SandboxAdmin

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.e2e

ACCOUNTS = 12
ONLY_ACCOUNTS = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}


def _wait(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _written_in_progress_lines(log: Path) -> int:
    """The most records a `Progress:` line of the target logged so far says were written (the run's JSON log)."""
    written = 0
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []:
        try:
            event = str(json.loads(line).get("event", ""))
        except (ValueError, AttributeError):
            continue
        found = re.search(r"Progress: (\{.*\})", event)
        if found:
            written = max(written, int(json.loads(found.group(1)).get("written", 0)))
    return written


def _private_log(tmp: Path) -> tuple[Path, str]:
    """logging.yaml with its JSON file in `tmp`, so this test's history holds this test's runs only."""
    config = yaml.safe_load((ROOT / "logging.yaml").read_text())
    log = tmp / "app.log"
    config["handlers"]["file"]["filename"] = str(log)
    path = tmp / "logging.yaml"
    path.write_text(yaml.safe_dump(config))
    return log, f"--log-config={path}"


def _usage(salesforce: SandboxAdmin) -> int:
    return int(salesforce.get("stats")["api_usage"])


def _history(project: MeltanoProject, flag: str, log: Path, command: str, *extra: str) -> tuple[int, str, str]:
    result = project.meltano(flag, "invoke", "pipeline-ops", "--log", str(log), command, *extra)
    return result.returncode, result.stdout, result.stderr


def _reports(project: MeltanoProject, flag: str, log: Path, tmp: Path) -> dict[str, dict]:
    code, _, err = _history(project, flag, log, "report", "--reports-dir", str(tmp / "reports"))
    assert code == 0, err[-3000:]
    return {p.stem: json.loads(p.read_text()) for p in (tmp / "reports").glob("*.json")}


def test_history_shows_every_run_with_its_outcome_and_cause(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, tmp_path: Path
) -> None:
    salesforce.post("reset", {"seed": 5, "accounts": ACCOUNTS, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    project.env.update(ONLY_ACCOUNTS)
    log, flag = _private_log(tmp_path)

    before = _usage(salesforce)
    ok = project.meltano(flag, "run", *PIPELINE)
    assert ok.returncode == 0, ok.stderr[-3000:]
    calls_ok = _usage(salesforce) - before

    bad_target = project.meltano(flag, "run", *PIPELINE, env={"TARGET_NETSUITE_TOKEN_SECRET": "wrong"})
    assert bad_target.returncode != 0
    bad_tap = project.meltano(flag, "run", *PIPELINE, env={"TAP_SALESFORCE_CUSTOM_CLIENT_SECRET": "wrong"})
    assert bad_tap.returncode != 0
    backfill = project.meltano(flag, "run", "--state-id-suffix", "backfill", *PIPELINE)
    assert backfill.returncode == 0, backfill.stderr[-3000:]

    # A slow load, seen while it runs, then killed outright (no handler runs: as with the OOM killer or a reboot).
    salesforce.post("reset", {"seed": 6, "accounts": 40, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("knobs", {"latency_ms": 1500})
    requests_before = netsuite.get("stats")["requests"]
    slow = subprocess.Popen(
        [str(MELTANO), flag, "run", "--full-refresh", *PIPELINE],
        cwd=ROOT,
        env={**project.base_env(), "TARGET_NETSUITE_PROGRESS_INTERVAL_SECONDS": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait(lambda: netsuite.get("stats")["requests"] >= requests_before + 8, "the slow run's first writes")
        netsuite.post("knobs", {"held_writes": 1000})  # its later writes are held: it cannot end before the kill
        _wait(lambda: _written_in_progress_lines(log) > 0, "a progress line with written records")
        code, out, err = _history(project, flag, log, "runs")
        assert code == 0, err[-3000:]
        assert out.count("running") == 1, out
    finally:
        os.killpg(slow.pid, signal.SIGKILL)
        slow.wait(timeout=60)
        netsuite.post("knobs", {"latency_ms": 0, "held_writes": 0})

    code, out, err = _history(project, flag, log, "runs")
    assert code == 0, err[-3000:]
    assert "running" in out  # Meltano itself cannot tell yet: its heartbeat is less than 5 minutes old

    # Six minutes later (the heartbeat moved back instead of waiting): killed.
    engine = sqlalchemy.create_engine(project.base_env()["MELTANO_DATABASE_URI"])
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "UPDATE runs SET last_heartbeat_at = datetime(last_heartbeat_at, '-6 minutes') WHERE state = 'RUNNING'"))
    engine.dispose()

    code, out, err = _history(project, flag, log, "runs", "--last", "50")
    assert code == 0, err[-3000:]
    assert out.count(f"{STATE_ID} ") == 4 and out.count(f"{STATE_ID}:backfill ") == 1, out
    assert "running" not in out

    reports = sorted(_reports(project, flag, log, tmp_path).values(), key=lambda r: r["started"])
    assert [r["outcome"] for r in reports] == ["succeeded", "failed", "failed", "succeeded", "killed"], reports
    assert len({r["run_id"] for r in reports}) == 5
    first, target_failed, tap_failed, backfilled, killed = reports
    assert {r["environment"] for r in reports} == {"dev"}
    assert backfilled["state_id"] == f"{STATE_ID}:backfill"

    assert first["extracted"] == {"Account": ACCOUNTS}
    assert first["loaded"]["customer"]["written"] == ACCOUNTS
    assert first["salesforce_api"]["calls"] == calls_ok  # discovery included, as the sandbox counted them
    assert first["netsuite"]["requests"] >= ACCOUNTS
    assert set(first["freshness_seconds"]) == {"Account"}

    assert "NetSuite refused the credentials" in target_failed["cause"]
    assert "wrong" not in json.dumps(reports)
    assert tap_failed["cause"].startswith("tap-salesforce-custom")
    # Every connector line keeps its level in app.log: the tap's fatal line too (an error record, not raw stderr).
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    fatal = [e for e in events if "tap-salesforce-custom: Salesforce" in str(e.get("event", ""))]
    assert fatal and {e.get("level") for e in fatal} == {"error"}, fatal[:3]
    assert "no heartbeat" in killed["cause"]
    assert 0 < sum(s["written"] for s in killed["loaded"].values()) < 40  # its progress lines, not a zero
