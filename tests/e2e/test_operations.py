"""Issue 8: running the pipeline unattended: overlapping runs, killed runs, replay recipes, state backends,
secret redaction and configuration errors — each through real `meltano` commands against the sandboxes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import MELTANO, PIPELINE, ROOT, STATE_ID, MeltanoProject, SandboxAdmin, run_summaries

pytestmark = pytest.mark.e2e

ACCOUNTS = 30
ONLY_ACCOUNTS = {"TAP_SALESFORCE_CUSTOM__SELECT": '["Account.*"]'}
DEMO_SECRETS = ("sandbox-client-secret", "sandbox-refresh-token", "sandbox-consumer-secret", "sandbox-token-secret")


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of discovered catalogs for this file's projects (the org's describe never changes here)."""
    return tmp_path_factory.mktemp("catalogs")


@pytest.fixture
def meltano_project(tmp_path: Path, catalogs: Path) -> MeltanoProject:
    return MeltanoProject(tmp=tmp_path, catalogs=catalogs)


@pytest.fixture(autouse=True)
def fresh_sandboxes(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> Iterator[None]:
    salesforce.post("reset", {"seed": 11, "accounts": ACCOUNTS, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    yield
    netsuite.post("reset", {"knobs": True})  # leave no latency or rejection rule behind for other tests


def _external_ids(netsuite: SandboxAdmin) -> list[str]:
    return sorted(r["externalId"] for r in netsuite.records("customer"))


def _account_ids(salesforce: SandboxAdmin) -> list[str]:
    return sorted(a["Id"] for a in salesforce.records("Account") if not a.get("IsDeleted"))


def _start_run(project: MeltanoProject) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(MELTANO), "run", *PIPELINE],
        cwd=ROOT,
        env=project.base_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _start_slow_run(
    project: MeltanoProject, netsuite: SandboxAdmin, *, latency_ms: int, requests_before: int
) -> subprocess.Popen[str]:
    """Start an Accounts-only run against a slow NetSuite and return once it has sent `requests_before` requests."""
    project.env.update(ONLY_ACCOUNTS)
    netsuite.post("knobs", {"latency_ms": latency_ms})
    run = _start_run(project)
    _wait_for_writes(netsuite, requests_before)
    return run


def _wait_for_writes(netsuite: SandboxAdmin, at_least: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netsuite.get("stats")["requests"] >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError(f"NetSuite saw fewer than {at_least} requests within {timeout}s")


def test_overlapping_runs_never_both_write(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    first = _start_slow_run(meltano_project, netsuite, latency_ms=2500, requests_before=2)
    project = meltano_project
    try:
        second = project.run_pipeline(check=False)
        assert second.returncode != 0
        assert "already running" in second.stderr
    finally:
        netsuite.post("knobs", {"latency_ms": 0})  # the second run is refused: the first may finish at full speed
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-4000:]
    assert _external_ids(netsuite) == _account_ids(salesforce)


def test_run_killed_like_cron_timeout_resumes_without_loss(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    run = _start_slow_run(project, netsuite, latency_ms=1500, requests_before=5)
    run.send_signal(signal.SIGTERM)  # what `timeout` in the crontab line sends
    run.communicate(timeout=120)
    assert run.returncode != 0
    netsuite.post("knobs", {"latency_ms": 0})
    # State never runs ahead of NetSuite: whatever bookmark was saved, every Account up to it is already a customer.
    saved = project.state()
    if saved is not None:
        bookmark = saved["singer_state"]["bookmarks"]["Account"]["replication_key_value"]
        written = set(_external_ids(netsuite))
        for account in salesforce.records("Account"):
            if account["SystemModstamp"].replace("+0000", "") <= bookmark[:23]:
                assert account["Id"] in written

    project.run_pipeline()
    assert _external_ids(netsuite) == _account_ids(salesforce)
    assert len(netsuite.records("customer")) == ACCOUNTS


def test_replay_recipes_never_duplicate(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    project.env.update(ONLY_ACCOUNTS)
    project.run_pipeline()
    expected = _account_ids(salesforce)
    bookmark = project.state()["singer_state"]["bookmarks"]["Account"]

    # Re-sync everything, ignoring saved state.
    project.run_pipeline("--full-refresh")
    assert _external_ids(netsuite) == expected

    # Re-sync one stream: drop its bookmark from the saved state, keep the rest (`meltano state get` and `set`;
    # the harness reads state from the system database elsewhere: it must read what `state get` prints).
    state = project.state(cli=True)
    assert state == project.state()
    del state["singer_state"]["bookmarks"]["Account"]
    assert project.meltano("state", "set", "--force", STATE_ID, json.dumps(state)).returncode == 0
    rerun = project.run_pipeline()
    [summary] = run_summaries(rerun.stderr)
    # Every account was sent again; the write ledger skips (and counts) the ones NetSuite already has.
    assert summary["streams"]["customer"].get("unchanged", 0) + summary["streams"]["customer"].get("written", 0) \
        >= ACCOUNTS
    assert _external_ids(netsuite) == expected

    # Re-sync from a date: move the bookmark back with `state merge`.
    merge = {
        "singer_state": {
            "bookmarks": {
                "Account": {"replication_key": "SystemModstamp", "replication_key_value": "2000-01-01T00:00:00+00:00"}
            }
        }
    }
    assert project.meltano("state", "merge", STATE_ID, json.dumps(merge)).returncode == 0
    project.run_pipeline()
    assert _external_ids(netsuite) == expected
    assert (
        project.state()["singer_state"]["bookmarks"]["Account"]["replication_key_value"]
        == bookmark["replication_key_value"]
    )

    # A pipeline of its own (e.g. a backfill) with --state-id-suffix keeps the main pipeline's state apart.
    project.run_pipeline("--state-id-suffix", "backfill")
    assert project.state(f"{STATE_ID}:backfill") is not None
    assert _external_ids(netsuite) == expected


def test_file_state_backend(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, tmp_path: Path
) -> None:
    project = meltano_project
    state_dir = tmp_path / "state"
    project.env.update({**ONLY_ACCOUNTS, "MELTANO_STATE_BACKEND_URI": f"file://{state_dir}"})
    project.run_pipeline()
    files = list(state_dir.rglob("*.json"))
    assert files, "the file backend wrote no state file"
    saved = json.loads(files[0].read_text())
    assert "Account" in json.dumps(saved)
    project.run_pipeline()
    assert _external_ids(netsuite) == _account_ids(salesforce)


def test_logs_never_contain_secrets(meltano_project: MeltanoProject, netsuite: SandboxAdmin, tmp_path: Path) -> None:
    project = meltano_project
    project.discover_every_run = True  # discovery's own debug lines (the OAuth exchange, describe) are read too
    project.env.update(ONLY_ACCOUNTS)
    result = project.meltano("--log-level=debug", "run", *PIPELINE)
    assert result.returncode == 0, result.stderr[-4000:]
    logs = result.stdout + result.stderr + (ROOT / "app.log").read_text(errors="replace")
    for dead_letter in (tmp_path / "dead_letters").rglob("*"):
        if dead_letter.is_file():
            logs += dead_letter.read_text(errors="replace")  # the SQLite files too (parked records, ledger)
    leaked = [secret for secret in DEMO_SECRETS if secret in logs]
    assert not leaked, f"secrets found in logs: {leaked}"


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TARGET_NETSUITE_ACCOUNT_ID", "", "account_id"),
        ("TAP_SALESFORCE_CUSTOM_CLIENT_ID", "not-a-client", "invalid_client"),
        ("TARGET_NETSUITE_BASE_URL", "http://127.0.0.1:9", "NetSuite not reachable"),
    ],
)
def test_configuration_errors_fail_with_one_clear_line(
    meltano_project: MeltanoProject, netsuite: SandboxAdmin, variable: str, value: str, named: str
) -> None:
    project = meltano_project
    project.env.update({**ONLY_ACCOUNTS, variable: value})
    result = project.run_pipeline(check=False)
    assert result.returncode != 0
    assert named in result.stderr, result.stderr[-4000:]
    assert netsuite.records("customer") == []
    assert project.state() is None


def test_job_prints_and_saves_a_run_report_matching_netsuite(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    project = meltano_project
    project.env.update(ONLY_ACCOUNTS)
    rejected = _account_ids(salesforce)[:2]
    netsuite.post("knobs", {"reject_external_ids": rejected})

    result = project.meltano("run", "sync-salesforce-to-netsuite")
    assert result.returncode == 0, result.stderr[-4000:]
    run_id = re.search(r"run ID '([0-9a-f-]+)'", result.stderr).group(1)
    report = json.loads((ROOT / "reports" / f"{run_id}.json").read_text())

    assert report["outcome"] == "succeeded"
    assert report["extracted"] == {"Account": ACCOUNTS}
    customers = report["loaded"]["customer"]
    assert customers["mapped"] == ACCOUNTS
    assert customers["written"] == len(netsuite.records("customer"))
    dead = (
        sum(1 for _ in Path(report["dead_letter_file"]).read_text().splitlines()) if report["dead_letter_file"] else 0
    )
    assert customers["dead_lettered"] == dead >= len(rejected)
    assert customers["written"] + customers["dead_lettered"] == ACCOUNTS
    assert "NetSuite record type" in result.stdout + result.stderr
    assert report["salesforce_api"]["calls"] >= 1
    assert report["salesforce_api"]["limit"] > report["salesforce_api"]["used"] > 0


def test_connection_checks_verify_credentials_without_writing(
    meltano_project: MeltanoProject, netsuite: SandboxAdmin
) -> None:
    """`meltano config test` for the tap; for the target, an empty input (it checks the connection at start-up).

    (`meltano config test target-netsuite` would be safe too — the target ignores Meltano's test stream — but
    Meltano 4.4.1 itself crashes with ProcessLookupError once any loader has exited.)"""
    project = meltano_project
    tap = project.meltano("--environment=dev", "config", "test", "tap-salesforce-custom")
    assert tap.returncode == 0, tap.stderr[-3000:]
    assert "Plugin configuration is valid" in tap.stdout + tap.stderr

    check = subprocess.run(
        [str(MELTANO), "--environment=dev", "invoke", "target-netsuite"],
        cwd=ROOT,
        env=project.base_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    assert "target-netsuite: connection OK" in check.stderr
    assert netsuite.records("customer") == []
    writes = [r for r in netsuite.get("requests") if r["method"] in ("PUT", "PATCH", "DELETE")]
    assert writes == []

    bad = subprocess.run(
        [str(MELTANO), "--environment=dev", "invoke", "target-netsuite"],
        cwd=ROOT,
        env={**project.base_env(), "TARGET_NETSUITE_TOKEN_SECRET": "wrong-secret"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0
    assert "INVALID_LOGIN" in bad.stderr
    assert "wrong-secret" not in bad.stdout + bad.stderr
