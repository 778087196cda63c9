"""The run report: outcome from Meltano's system database, counts from Meltano's JSON log.

These feed it log lines and database rows in the forms Meltano and the connectors write them; the real path
(`meltano run` with a failed tap, a failed target and a killed run) is tests/e2e/test_run_history.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pipeline_ops.cli import main
from pipeline_ops.runs import collect_runs, log_lines

RUN = "01a220ef-0000-0000-0000-000000000001"
OTHER = "01a220ef-0000-0000-0000-000000000002"
STATE = "dev:tap-salesforce-custom-to-target-netsuite"
KILLED = "01a220ef-0000-0000-0000-000000000003"
LIVE = "01a220ef-0000-0000-0000-000000000004"


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
        "streams": {"customer": {"written": 9, "dead_lettered": 1}, "contact": {"written": 2, "unchanged": 4},
                    "audit": {"ignored": 3}},
    }
    lines = [
        _event(RUN, "meltano", f"Running job with name '{STATE}' and run ID '{RUN}'", "2026-11-28T06:00:00Z"),
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
        _event(OTHER, "meltano", f"Running job with name '{STATE}' and run ID '{OTHER}'", "2026-11-28T06:05:00Z"),
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
                                            "ignored": 0, "unchanged": 0, "still_refused": 0}
    assert report["loaded"]["contact"]["written"] == 2
    assert report["loaded"]["contact"]["unchanged"] == 4  # NetSuite already had them: the write ledger skipped them
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
    database = f"sqlite:///{tmp_path / 'meltano.db'}"
    args = ["--log", str(log), "--database-uri", database, "report", "--run-id", RUN]
    assert main([*args, "--reports-dir", str(tmp_path / "reports")]) == 0
    printed = capsys.readouterr().out
    assert "customer" in printed and "dead letters: dead_letters/x.jsonl" in printed
    assert "ignored" in printed.splitlines()[2]
    assert "unchanged" in printed.splitlines()[2]
    saved = json.loads((tmp_path / "reports" / f"{RUN}.json").read_text())
    assert saved["loaded"]["customer"]["dead_lettered"] == 1


def test_dead_letters_command_counts_by_type_and_code(tmp_path: Path, capsys) -> None:
    letters = tmp_path / "dead_letters"
    letters.mkdir()
    entries = [
        {"record_type": "customer", "externalId": f"001{i}", "code": "USER_ERROR", "detail": "d",
         "time": f"2026-11-28T06:00:0{i}+00:00", "stream": "Account", "payload": {"externalId": f"001{i}"}}
        for i in range(3)
    ]
    (letters / "run1.jsonl").write_text("\n".join(json.dumps(e) for e in entries) + "\n")
    assert main(["dead-letters", "--path", str(letters)]) == 0
    out = capsys.readouterr().out
    assert "3 dead letters" in out and "USER_ERROR" in out
    assert "meltano --environment=" in out  # the replay hint names the environment (else Meltano uses dev)


def _row(run_id: str, state: str, started: str, ended: str | None, payload: dict, beat: str | None = None) -> dict:
    return {"run_id": run_id.replace("-", ""), "job_name": STATE, "state": state, "started_at": started,
            "ended_at": ended, "last_heartbeat_at": beat or started, "payload": json.dumps(payload)}


def test_database_outcomes_win_over_the_log_and_structured_metrics_are_counted() -> None:
    """The outcome is Meltano's (a failed block whose `Run completed` looks ordinary is still failed); a RUNNING row
    is `running` until its heartbeat is 5 minutes old, then `killed`; metrics in structured-logging form count."""
    bookmarks = {"singer_state": {"bookmarks": {"Account": {"replication_key_value": "2026-11-28T05:00:00+00:00"}}}}
    rows = [
        _row(RUN, "SUCCESS", "2026-11-28 06:00:00.1", "2026-11-28 06:00:10.1", bookmarks),
        _row(OTHER, "FAIL", "2026-11-28 06:05:00", "2026-11-28 06:05:03", {"error": "Loader failed"}),
        _row(KILLED, "RUNNING", "2026-11-28 06:10:00", None, {}, beat="2026-11-28 06:11:00"),
        _row(LIVE, "RUNNING", "2026-11-28 06:20:00", None, {}, beat="2026-11-28 06:21:30"),
    ]
    structured = {"string_id": "target-netsuite", "event": "METRIC", "run_id": OTHER, "level": "info",
                  "metric_info": "{'type': 'counter', 'metric': 'record_count', 'value': 3, 'tags': {'stream': 'x'}}",
                  "timestamp": "2026-11-28T06:05:02Z"}
    refused = _event(OTHER, "target-netsuite", "target-netsuite: NetSuite refused the credentials (INVALID_LOGIN)",
                     "2026-11-28T06:05:02Z", level="error")
    completed = _event(OTHER, "meltano", "Run completed", "2026-11-28T06:05:03Z")
    events = [json.loads(refused), structured, json.loads(completed)]
    now = dt.datetime(2026, 11, 28, 6, 22, tzinfo=dt.UTC)
    ok, failed, killed, live = (r.as_dict() for r in collect_runs(events, rows, {}, now=now))
    assert ok["outcome"] == "succeeded" and ok["duration_seconds"] == 10.0 and ok["environment"] == "dev"
    assert ok["freshness_seconds"] == {"Account": 3610}
    assert not ok["logged"]  # in the database only: counts unknown, said so
    assert failed["outcome"] == "failed"
    assert failed["cause"] == "target-netsuite: NetSuite refused the credentials (INVALID_LOGIN)"
    assert failed["loaded"]["x"]["mapped"] == 3
    assert failed["freshness_seconds"] == {"Account": 3903}  # the bookmarks in force: the previous run's
    assert killed["outcome"] == "killed" and "no heartbeat" in killed["cause"]
    assert live["outcome"] == "running"


def test_commands_say_when_the_log_has_none_of_the_runs(tmp_path: Path, capsys) -> None:
    """A logging.yaml without the JSON file handler must not turn counts into silent zeros."""
    import sqlalchemy

    database = tmp_path / "meltano.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, job_name VARCHAR, state VARCHAR, started_at DATETIME, "
            "ended_at DATETIME, payload VARCHAR, payload_flags INTEGER, run_id CHAR(32), trigger VARCHAR, "
            "last_heartbeat_at DATETIME)"))
        connection.execute(sqlalchemy.text(
            "INSERT INTO runs (job_name, state, started_at, ended_at, payload, run_id, last_heartbeat_at) VALUES "
            f"('{STATE}', 'SUCCESS', '2026-11-28 06:00:00', '2026-11-28 06:00:09', '{{}}', "
            f"'{RUN.replace('-', '')}', '2026-11-28 06:00:09')"))
    engine.dispose()
    args = ["--log", str(tmp_path / "app.log"), "--database-uri", f"sqlite:///{database}"]
    assert main([*args, "runs"]) == 1
    assert main([*args, "report", "--reports-dir", str(tmp_path / "reports")]) == 1
    captured = capsys.readouterr()
    assert "keep the JSON file handler of logging.yaml" in captured.err
    assert "succeeded" in captured.out and (tmp_path / "reports" / "history.png").stat().st_size > 10_000
