"""A busy or misconfigured NetSuite account (issue 13), against the NetSuite sandbox's knobs: throttling is waited
out within a time budget, timed-out requests keep their slot, account-wide errors stop the run before state
advances, transient 400s are retried, and every failure is one true line."""

from __future__ import annotations

from pathlib import Path

from target_helpers import CUSTOMER_SCHEMA, NetSuiteAdmin, customer, dead_letters, run_target, state


def _one_line(stderr: str, needle: str) -> None:
    assert [line for line in stderr.splitlines() if needle in line], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]


def test_a_pool_held_by_another_integration_is_waited_out(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    """429s without Retry-After for some seconds: far more than `max_retries` 1 allows, well within the time budget.
    (Long enough that a slow start of the target under load still meets the held pool.)"""
    admin.knobs(send_retry_after=False, pool_held_s=8)
    messages = [CUSTOMER_SCHEMA, customer("W1"), customer("W2"), state(2)]
    result = run_target({**config, "max_retries": 1, "backoff_factor": 0.2}, messages, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(admin.by_external_id("customer")) == {"W1", "W2"}
    assert result.states[-1] == state(2)["value"]
    assert "NetSuite busy (HTTP 429" in result.stderr and "so far" in result.stderr


def test_throttling_beyond_the_budget_fails_without_state(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    admin.knobs(send_retry_after=False)
    messages = [CUSTOMER_SCHEMA, customer("B1"), state(1)]
    admin.knobs(pool_held_s=60)
    try:
        result = run_target({**config, "max_throttle_wait_seconds": 1, "backoff_factor": 0.2}, messages, tmp_path)
    finally:
        admin.knobs(pool_held_s=0)
    assert result.returncode == 1 and result.states == []
    _one_line(result.stderr, "still busy after waiting")
    assert not admin.by_external_id("customer")


def test_a_timed_out_request_keeps_its_slot(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    """NetSuite goes on with a request the target gave up on: the account must never see more than
    `max_concurrency` of ours at once."""
    admin.knobs(error_script=["ok", "slow", "slow", "slow"], slow_ms=1700)  # over the timeout, under twice it
    messages = [CUSTOMER_SCHEMA, *(customer(f"T{i}") for i in range(6)), state(6)]
    result = run_target({**config, "max_concurrency": 2, "request_timeout": 1}, messages, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(admin.by_external_id("customer")) == 6
    assert admin.stats()["peak_concurrency"] <= 2


def test_account_wide_errors_stop_the_run(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    """A role without the permission for a record type: not 30 dead letters, exit 0 and advanced state."""
    # Each refusal takes a second, as a real write does: the breaker's reaction, not the machine's speed, decides
    # how many of the 30 are sent (with instant answers a fast machine sends them all before the fifth is read).
    admin.knobs(forbidden_record_types=["customer"], write_latency_ms=1000)
    messages = [CUSTOMER_SCHEMA, *(customer(f"P{i:02}") for i in range(30)), state(30)]
    result = run_target({**config, "max_identical_errors": 5}, messages, tmp_path)
    assert result.returncode == 1 and result.states == []
    _one_line(result.stderr, "403 INSUFFICIENT_PERMISSION")
    assert len(dead_letters(config)) < 30


def test_record_changed_and_locked_400s_are_retried(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    admin.knobs(error_script=["ok", "locked", "locked"])
    messages = [CUSTOMER_SCHEMA, customer("R1"), state(1)]
    result = run_target(config, messages, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "R1" in admin.by_external_id("customer")
    assert dead_letters(config) == []


def test_html_5xx_is_one_line(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    admin.knobs(error_script=["ok", "html502", "html502"])
    result = run_target({**config, "max_retries": 1}, [CUSTOMER_SCHEMA, customer("H1"), state(1)], tmp_path)
    assert result.returncode == 1 and result.states == []
    _one_line(result.stderr, "HTTP 502 HTTP_502: HTML page: 502 Bad Gateway")
    assert "<html" not in result.stderr.lower()


def test_401_mid_run_is_retried(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    admin.knobs(error_script=["ok", "401"])
    result = run_target(config, [CUSTOMER_SCHEMA, customer("A1"), state(1)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "A1" in admin.by_external_id("customer")


def test_unresolved_reference_says_suiteql_was_refused(admin: NetSuiteAdmin, config: dict, tmp_path: Path) -> None:
    """Not "not in NetSuite yet" when the lookup was never allowed: the parked record says why."""
    admin.knobs(suiteql_forbidden=True)
    record = customer("C1", parent={"externalId": "P9", "type": "customer"})
    # (matching existing records needs SuiteQL too: this role only creates)
    result = run_target({**config, "match_mode": "create"}, [CUSTOMER_SCHEMA, record, state(1)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    [waiting] = [line for line in result.stderr.splitlines() if "Waiting: customer C1" in line]
    assert "could not look up customer externalId 'P9': SuiteQL not permitted (403 INSUFFICIENT_PERMISSION" in waiting
    assert "not in NetSuite yet" not in waiting
