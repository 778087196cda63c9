"""The peers' setting names (singer-io, MeltanoLabs tap-salesforce): each is read as the project's setting, or
refused with one line naming it; never silently ignored (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from connector_kit.salesforce_auth import DEFAULT_LOGIN_URL
from tap_helpers import admin, discover, reset, run_tap, tap_config
from tap_salesforce_custom.compat import SANDBOX_LOGIN_URL, apply_aliases
from tap_salesforce_custom.errors import SalesforceFatalError


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "| tap-salesforce-custom: " in line]
    assert len(lines) == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    return lines[0]


def test_api_type_bulk_in_capitals_reads_by_bulk(tmp_path: Path) -> None:
    reset(accounts=20)
    run = run_tap(tmp_path, tap_config(api_type="BULK", objects=["Contact"]))
    assert "api_type: BULK read as api_type: bulk" in run.stderr
    assert "Bulk 2.0" in run.stderr


def test_lookback_window_is_lookback_seconds(tmp_path: Path) -> None:
    reset(accounts=20)
    config = tap_config()
    first = run_tap(tmp_path / "1", config)
    config.pop("lookback_seconds")
    without = run_tap(tmp_path / "2", {**config, "lookback_seconds": 0}, state=first.state)
    with_alias = run_tap(tmp_path / "3", {**config, "lookback_window": 10 ** 9}, state=first.state)
    assert len(without.ids()) < 20
    assert sorted(with_alias.ids()) == sorted(first.ids()), "a huge lookback re-reads every record"
    assert "lookback_window: 1000000000 read as lookback_seconds" in with_alias.stderr


def test_lookback_window_and_a_different_lookback_seconds_are_refused(tmp_path: Path) -> None:
    run = run_tap(tmp_path, tap_config(lookback_seconds=60, lookback_window=600), check=False)
    assert run.returncode == 1
    line = _one_error_line(run.stderr)
    assert "lookback_window and lookback_seconds are both set" in line and "keep only lookback_seconds" in line


def test_quota_percent_total_is_max_api_usage_percent(tmp_path: Path) -> None:
    reset(accounts=500)
    catalog = discover(tmp_path / "d", tap_config())
    admin("POST", "knobs", {"api_limit": 100, "api_usage": 50})
    run = run_tap(tmp_path, tap_config(quota_percent_total=40, page_size=200), catalog=catalog)
    assert "quota guard" in run.stderr and "max_api_usage_percent is 40" in run.stderr
    assert len(run.ids()) == 200, "the first page is read, then the guard (40% of 100) stops the run"


def test_quota_percent_per_run_is_refused_naming_the_project_setting(tmp_path: Path) -> None:
    run = run_tap(tmp_path, tap_config(quota_percent_per_run=25), check=False)
    assert run.returncode == 1
    assert "quota_percent_per_run (singer-io tap-salesforce) is not supported; use max_api_usage_percent" in (
        _one_error_line(run.stderr))


def test_is_sandbox_with_a_login_url_is_refused(tmp_path: Path) -> None:
    run = run_tap(tmp_path, tap_config(is_sandbox=True), check=False)
    assert run.returncode == 1
    assert "is_sandbox and login_url are both set; keep only login_url" in _one_error_line(run.stderr)


@pytest.mark.parametrize(("config", "login_url"), [
    ({"is_sandbox": True}, SANDBOX_LOGIN_URL),
    ({"is_sandbox": True, "login_url": DEFAULT_LOGIN_URL}, SANDBOX_LOGIN_URL),  # the default, as the SDK fills it
    ({"is_sandbox": False, "login_url": DEFAULT_LOGIN_URL}, DEFAULT_LOGIN_URL),
])
def test_is_sandbox_means_the_sandbox_login_host(config: dict, login_url: str) -> None:
    # test.salesforce.com is not reachable from the tests: the translation itself is checked here, the refusal
    # above goes through the real CLI.
    apply_aliases(config, DEFAULT_LOGIN_URL)
    assert config.get("login_url", DEFAULT_LOGIN_URL) == login_url


def test_is_sandbox_with_a_my_domain_is_refused() -> None:
    with pytest.raises(SalesforceFatalError, match="keep only login_url"):
        apply_aliases({"is_sandbox": True, "login_url": "https://acme.my.salesforce.com"}, DEFAULT_LOGIN_URL)
