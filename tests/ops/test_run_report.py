"""The run report is rebuilt from Meltano's JSON log; these feed it log lines in the forms the connectors print."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline_ops.cli import main
from pipeline_ops.runs import collect_runs, log_lines

RUN = "01a220ef-0000-0000-0000-000000000001"
OTHER = "01a220ef-0000-0000-0000-000000000002"


def _event(run_id: str, plugin: str, text: str, ts: str, level: str = "info") -> str:
    return json.dumps(
        {
            "string_id": plugin,
            "job_name": "dev:tap-salesforce-custom-to-target-netsuite",
            "event": text,
            "run_id": run_id,
            "level": level,
            "timestamp": ts,
        }
    )


def _metric(stream: str, value: int) -> str:
    return "METRIC: " + json.dumps(
        {"type": "counter", "metric": "record_count", "value": value, "tags": {"stream": stream}}
    )


def _write_log(path: Path) -> None:
    summary = {
        "dead_letter_file": "dead_letters/x.jsonl",
        "requests": 12,
        "retries": 2,
        "throttled_429": 1,
        "streams": {"customer": {"written": 9, "dead_lettered": 1}, "contact": {"written": 2},
                    "audit": {"ignored": 3}},
    }
    lines = [
        _event(RUN, "meltano", "Running job", "2026-11-28T06:00:00Z"),
        _event(RUN, "tap-salesforce-custom", _metric("Account", 6), "2026-11-28T06:00:01Z"),
        _event(RUN, "tap-salesforce-custom", _metric("Account", 4), "2026-11-28T06:00:02Z"),
        _event(RUN, "tap-salesforce-custom", _metric("Contact", 2), "2026-11-28T06:00:02Z"),
        _event(
            RUN,
            "tap-salesforce-custom",
            'Salesforce API usage: {"calls": 3, "used": 120, "limit": 15000}',
            "2026-11-28T06:00:03Z",
        ),
        "not json at all",
        _event(RUN, "target-netsuite", _metric("customer", 10), "2026-11-28T06:00:04Z"),
        _event(RUN, "target-netsuite", _metric("contact", 2), "2026-11-28T06:00:04Z"),
        _event(RUN, "target-netsuite", "Run summary: " + json.dumps(summary), "2026-11-28T06:00:05Z"),
        _event(RUN, "meltano", "Run completed", "2026-11-28T06:00:10Z"),
        _event(OTHER, "meltano", "Running job", "2026-11-28T06:05:00Z"),
        _event(OTHER, "tap-salesforce-custom", _metric("Account", 1), "2026-11-28T06:05:01Z"),
        _event(OTHER, "meltano", "Extractor failed", "2026-11-28T06:05:02Z", level="error"),
        _event(OTHER, "meltano", "Block run completed", "2026-11-28T06:05:03Z", level="error"),
        _event(OTHER, "meltano", "Run completed", "2026-11-28T06:05:03Z"),
    ]
    path.write_text("\n".join(lines) + "\n")


def test_runs_are_grouped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    _write_log(log)
    first, second = collect_runs(log_lines(log))
    report = first.as_dict()
    assert report["outcome"] == "succeeded"
    assert report["duration_seconds"] == 10.0
    assert report["extracted"] == {"Account": 10, "Contact": 2}
    assert report["loaded"]["customer"] == {"mapped": 10, "written": 9, "dead_lettered": 1, "deleted": 0,
                                            "ignored": 0}
    assert report["loaded"]["contact"]["written"] == 2
    assert report["loaded"]["audit"]["ignored"] == 3  # records the target dropped on purpose have their column
    assert report["salesforce_api"] == {"calls": 3, "used": 120, "limit": 15000}
    assert report["netsuite"] == {"requests": 12, "retries": 2, "throttled_429": 1}
    assert second.as_dict()["outcome"] == "failed"
    assert second.as_dict()["errors"] == ["Extractor failed"]


def test_rotated_logs_are_read_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    _write_log(tmp_path / "app.log.1")
    log.write_text(_event(RUN, "tap-salesforce-custom", _metric("Account", 5), "2026-11-28T06:00:11Z") + "\n")
    first = collect_runs(log_lines(log))[0]
    assert first.extracted["Account"] == 15
    assert first.ended == "2026-11-28T06:00:11Z"


def test_report_command_writes_json_and_prints_table(tmp_path: Path, capsys) -> None:
    log = tmp_path / "app.log"
    _write_log(log)
    assert main(["--log", str(log), "report", "--run-id", RUN, "--reports-dir", str(tmp_path / "reports")]) == 0
    printed = capsys.readouterr().out
    assert "customer" in printed and "dead letters: dead_letters/x.jsonl" in printed
    assert "ignored" in printed.splitlines()[2]
    saved = json.loads((tmp_path / "reports" / f"{RUN}.json").read_text())
    assert saved["loaded"]["customer"]["dead_lettered"] == 1


def test_dead_letters_command_counts_by_type_and_code(tmp_path: Path, capsys) -> None:
    letters = tmp_path / "dead_letters"
    letters.mkdir()
    entries = [
        {"record_type": "customer", "externalId": f"001{i}", "code": "USER_ERROR", "detail": "d", "time": "t"}
        for i in range(3)
    ]
    (letters / "run1.jsonl").write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    assert main(["dead-letters", "--path", str(letters)]) == 0
    out = capsys.readouterr().out
    assert "3 dead letters" in out and "USER_ERROR" in out
