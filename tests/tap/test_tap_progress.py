"""Issue 17: a long read says how far along it is: done / expected (REST totalSize, Bulk job count), rate, ETA."""

from __future__ import annotations

import json
from pathlib import Path

from tap_helpers import reset, run_tap, tap_config


def _progress(stderr: str) -> list[dict]:
    lines = []
    for line in stderr.splitlines():
        if "Progress: " in line:
            text = line.split("Progress: ", 1)[1]
            lines.append(json.loads(text[: text.rindex("}") + 1]))
    return lines


def test_rest_read_logs_progress_against_total_size(tmp_path: Path) -> None:
    reset(accounts=450)
    run = run_tap(tmp_path, tap_config(page_size=200, progress_interval_seconds=0))
    lines = [p for p in _progress(run.stderr) if p["stream"] == "Account"]
    assert [p["done"] for p in lines] == [200, 400, 450, 450]  # every page, then the final line
    assert {p["expected"] for p in lines} == {450}
    assert lines[-1]["eta_seconds"] == 0 and all(p["rate"] > 0 for p in lines)


def test_bulk_read_takes_expected_from_the_job(tmp_path: Path) -> None:
    reset(accounts=30)
    run = run_tap(tmp_path, tap_config(api_type="bulk", progress_interval_seconds=0))
    lines = [p for p in _progress(run.stderr) if p["stream"] == "Account"]
    assert lines and {p["expected"] for p in lines} == {30} and lines[-1]["done"] == 30


def test_a_short_read_stays_quiet(tmp_path: Path) -> None:
    reset(accounts=5)
    run = run_tap(tmp_path, tap_config())
    assert _progress(run.stderr) == []
