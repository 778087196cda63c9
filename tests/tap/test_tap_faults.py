"""The tap against a misbehaving sandbox: expired sessions, 503s, dropped connections, a spent quota, rotation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from singer_taps import write_json
from tap_helpers import TAP, admin, reset, run_tap, tap_config


def _live_ids() -> set[str]:
    return {r["Id"] for r in admin("GET", "records/Account")["records"] if not r.get("IsDeleted")}


def test_session_expiry_mid_run_relogins_and_loses_nothing(tmp_path: Path) -> None:
    reset(accounts=700)
    admin("POST", "knobs", {"fault_script": [{"match": "/query/", "expire_sessions": True}]})
    run = run_tap(tmp_path, tap_config(page_size=200))
    assert set(run.ids()) == _live_ids()
    assert "logging in again" in run.stderr


def test_injected_503s_and_dropped_connections_are_retried(tmp_path: Path) -> None:
    reset(accounts=1000)
    admin("POST", "knobs", {"error_rate_503": 0.15, "drop_rate": 0.1, "fault_seed": 5})
    run = run_tap(tmp_path, tap_config(page_size=200, max_retries=8))
    assert set(run.ids()) == _live_ids()
    assert "retry" in run.stderr


def test_quota_guard_stops_cleanly_and_the_next_run_resumes(tmp_path: Path) -> None:
    reset(accounts=1000)
    admin("POST", "knobs", {"api_limit": 100, "api_usage": 77})
    config = tap_config(page_size=200, max_api_usage_percent=80)
    stopped = run_tap(tmp_path / "1", config)
    assert "quota guard" in stopped.stderr and "api-usage is 80/100" in stopped.stderr
    assert admin("GET", "stats")["api_usage"] <= 80  # never went past the share
    assert 0 < len(stopped.ids()) < 1000
    assert stopped.bookmark() == max(r["SystemModstamp"] for r in stopped.records["Account"])

    admin("POST", "knobs", {"api_usage": 0})
    resumed = run_tap(tmp_path / "2", config, state=stopped.state)
    assert set(stopped.ids()) | set(resumed.ids()) == _live_ids()


def test_rotated_refresh_token_is_kept_for_the_next_run(tmp_path: Path) -> None:
    reset(accounts=5)
    admin("POST", "knobs", {"rotate_refresh_tokens": True})
    store = tmp_path / "token.json"
    config = tap_config(token_store_path=str(store))
    run_tap(tmp_path / "1", config)
    rotated = json.loads(store.read_text())["refresh_token"]
    assert rotated != "sandbox-refresh-token"
    second = run_tap(tmp_path / "2", config)
    assert len(second.ids()) == 5
    assert json.loads(store.read_text())["refresh_token"] != rotated
    assert rotated not in second.stderr


def test_quota_stop_during_discovery_is_a_clean_stop(tmp_path: Path) -> None:
    """Discovery that hits the quota guard: one warning line, exit 0, an empty catalog (nothing synced, no state)."""
    reset(accounts=5)
    admin("POST", "knobs", {"api_limit": 100, "api_usage": 79})
    config = tap_config(objects=["Account", "Contact", "Product2", "Opportunity"], max_api_usage_percent=80)
    discovery = subprocess.run([TAP, "--config", write_json(tmp_path / "config.json", config), "--discover"],
                               capture_output=True, text=True, timeout=120, check=False)
    assert discovery.returncode == 0, discovery.stderr[-2000:]
    assert json.loads(discovery.stdout)["streams"] == []
    assert "Traceback" not in discovery.stderr
    warnings = [line for line in discovery.stderr.splitlines() if "stopped early" in line]
    assert len(warnings) == 1 and "quota guard" in warnings[0]

    synced = run_tap(tmp_path / "sync", config)  # a sync that discovers by itself stops the same way
    assert synced.records == {} and synced.state == {}
    assert [line for line in synced.stderr.splitlines() if "stopped early" in line]
    assert "Traceback" not in synced.stderr
