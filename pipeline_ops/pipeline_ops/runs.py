"""Rebuild what happened in each `meltano run` of the pipeline: outcome from Meltano's system database, counts
from Meltano's JSON log.

Two records, each used for what it is reliable for:

- **Meltano's system database** (`runs` and `state` tables; SQLite `.meltano/meltano.db` or the PostgreSQL of
  `MELTANO_DATABASE_URI`): one row per pipeline run with its state id (`<environment>:<pipeline>[:suffix]`),
  start, end, heartbeat, outcome (`SUCCESS`/`FAIL`/`RUNNING`), Meltano's failure reason, and the bookmarks it
  saved. It does not depend on any log handler, so every run appears: succeeded, failed, killed (a `RUNNING` row
  whose heartbeat stopped more than 5 minutes ago — Meltano's own staleness rule) and still running.
- **`app.log`** (logging.yaml's JSON file handler; rotated files are read too): the connectors' own counts,
  matched to the run by the `run_id` Meltano puts on every line. The connectors print them in a few forms:
  the Singer SDK's `record_count` metrics (tap: extracted per Salesforce object; target: received, i.e. mapped,
  per NetSuite record type), the target's `Run summary: {...}`, the tap's `Salesforce API usage: {...}` (once for
  discovery when it calls Salesforce, once for the sync), progress lines, and the first error line of a failure.

A run found in the database but not in the log is reported with `logged: false` and a warning naming the missing
handler, so a changed logging.yaml cannot silently turn counts into zeros. A run in the log but not in the
database (Meltano failed before it saved the run, e.g. during discovery) still appears, its outcome from the log.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAP = "tap-salesforce-custom"
TARGET = "target-netsuite"
MAPPER = "netsuite-mapper"
CONNECTORS = (TAP, MAPPER, TARGET)
METRIC_PREFIX = "METRIC: "
TARGET_SUMMARY_PREFIX = "Run summary: "
TAP_USAGE_PREFIX = "Salesforce API usage: "
PROGRESS_PREFIX = "Progress: "
RUNNING_JOB_PREFIX = "Running job with name "
#: Meltano considers a RUNNING run whose heartbeat is older than this dead (meltano.core.job.job).
HEARTBEAT_VALID = dt.timedelta(minutes=5)


@dataclass
class RunReport:
    """Everything known about one Meltano run of the pipeline."""

    run_id: str
    state_id: str = ""
    started: str = ""
    ended: str = ""
    outcome: str = "running"
    cause: str = ""
    in_database: bool = False
    logged: bool = False
    extracted: dict[str, int] = field(default_factory=dict)
    mapped: dict[str, int] = field(default_factory=dict)
    target_summary: dict[str, Any] = field(default_factory=dict)
    target_progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    api_calls: int | None = None
    api_usage: dict[str, Any] = field(default_factory=dict)
    bookmarks: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    log_outcome: str = ""
    last_event: str = ""

    @property
    def environment(self) -> str:
        return self.state_id.split(":", 1)[0] if ":" in self.state_id else ""

    @property
    def duration_seconds(self) -> float | None:
        if not (self.started and self.ended):
            return None
        return round((parse_time(self.ended) - parse_time(self.started)).total_seconds(), 1)

    def freshness(self) -> dict[str, float]:
        """Age in seconds of each stream's bookmark when the run ended (or now, for a run still going)."""
        at = parse_time(self.ended) if self.ended else dt.datetime.now(dt.UTC)
        ages = {}
        for stream, value in self.bookmarks.items():
            try:
                ages[stream] = round((at - parse_time(value)).total_seconds())
            except ValueError:
                continue
        return dict(sorted(ages.items()))

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable report (one JSON file per run)."""
        streams = {
            stream: {
                "mapped": self.mapped.get(stream, 0),
                "written": counts.get("written", 0),
                "dead_lettered": counts.get("dead_lettered", 0),
                "deleted": counts.get("deleted", 0),
                "ignored": counts.get("ignored", 0),
                "unchanged": counts.get("unchanged", 0),  # NetSuite already had the payload (the write ledger)
                # NetSuite refused that very payload before: not sent again, its dead letter still waiting
                "still_refused": counts.get("still_refused", 0),
            }
            # A run still going (or killed) has no summary yet: its latest progress lines stand in.
            for stream, counts in (self.target_summary.get("streams") or self.target_progress).items()
        }
        for stream, count in self.mapped.items():
            streams.setdefault(stream, {"mapped": count, "written": 0, "dead_lettered": 0, "deleted": 0,
                                        "ignored": 0, "unchanged": 0, "still_refused": 0})
        extracted, mapped = sum(self.extracted.values()), sum(self.mapped.values())
        return {
            "run_id": self.run_id,
            "state_id": self.state_id,
            "environment": self.environment,
            "outcome": self.outcome,
            "cause": self.cause,
            "started": self.started,
            "ended": self.ended,
            "duration_seconds": self.duration_seconds,
            "extracted": dict(sorted(self.extracted.items())),
            "loaded": dict(sorted(streams.items())),
            # Records the mapping dropped on purpose (unwon opportunities, streams mapped to nothing, deletions
            # with action `ignore`). Records NetSuite already had are each stream's `unchanged` (never sent).
            "ignored_by_mapping": max(extracted - mapped, 0) if self.logged else None,
            "dead_letter_file": self.target_summary.get("dead_letter_file"),
            "netsuite": {k: self.target_summary.get(k) for k in ("requests", "retries", "throttled_429")},
            "salesforce_api": {"calls": self.api_calls, **{k: self.api_usage.get(k) for k in ("used", "limit")}},
            "freshness_seconds": self.freshness(),
            "logged": self.logged,
            "errors": self.errors[-5:],
        }


def parse_time(value: str) -> dt.datetime:
    """ISO 8601 (with `Z`, an offset, or naive meaning UTC) → aware datetime."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _iso(value: Any) -> str:
    if value in (None, ""):
        return ""
    parsed = value if isinstance(value, dt.datetime) else parse_time(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def database_uri(root: Path) -> str:
    """Meltano's system database: `MELTANO_DATABASE_URI` (Meltano passes the environment and `.env` on), else
    the default SQLite file of the project."""
    return os.environ.get("MELTANO_DATABASE_URI") or f"sqlite:///{root / '.meltano' / 'meltano.db'}"


def database_runs(uri: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Rows of Meltano's `runs` table (pipeline runs only) and the current bookmarks per state id."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(uri)
    try:
        tables = set(inspect(engine).get_table_names())
        if "runs" not in tables:
            return [], {}
        with engine.connect() as connection:
            rows = [
                dict(r._mapping)
                for r in connection.execute(
                    text(
                        "SELECT run_id, job_name, state, started_at, ended_at, last_heartbeat_at, payload FROM runs "
                        "WHERE state IN ('RUNNING', 'SUCCESS', 'FAIL', 'DEAD') ORDER BY started_at"
                    )
                )
            ]
            states = {}
            if "state" in tables:
                for r in connection.execute(text("SELECT state_id, completed_state, partial_state FROM state")):
                    states[r.state_id] = _bookmarks(_json(r.completed_state))
    finally:
        engine.dispose()
    return rows, states


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _bookmarks(payload: dict[str, Any]) -> dict[str, str]:
    bookmarks = (payload.get("singer_state") or {}).get("bookmarks") or {}
    return {
        stream: str(value["replication_key_value"])
        for stream, value in bookmarks.items()
        if isinstance(value, dict) and value.get("replication_key_value")
    }


def log_lines(log_file: Path) -> Iterator[dict[str, Any]]:
    """JSON log events from the rotated files (oldest first) and the live one; non-JSON lines are skipped."""
    rotated = sorted(log_file.parent.glob(log_file.name + ".*"), key=lambda p: -int(p.suffix[1:] or 0))
    for path in [*rotated, log_file]:
        if not path.exists():
            continue
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event


def _json_after(text: str, prefix: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text[text.index(prefix) + len(prefix) :])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _metric(event: dict[str, Any], text: str) -> dict[str, Any]:
    """An SDK metric, as plain text (`METRIC: {json}`) or structured (`metric_info`, Meltano's `structured-logging`
    capability; app.log holds it as the repr of a dict or as an object)."""
    info = event.get("metric_info")
    if isinstance(info, dict):
        return info
    if isinstance(info, str):
        try:
            value = ast.literal_eval(info)
        except (ValueError, SyntaxError):
            value = _json_after(METRIC_PREFIX + info, METRIC_PREFIX)
        return value if isinstance(value, dict) else {}
    if METRIC_PREFIX in text:
        return _json_after(text, METRIC_PREFIX) or {}
    return {}


def _raw_fatal_line(event: dict[str, Any], text: str) -> bool:
    """A connector's one-line fatal error written straight to stderr (no SDK log record, so no level of its own):
    Meltano logs those at info, e.g. during discovery."""
    return "pid" not in event and text.startswith(tuple(f"{c}: " for c in CONNECTORS))


def _plugin(event: dict[str, Any]) -> str:
    name = event.get("string_id") or event.get("plugin_logger") or event.get("name") or ""
    return next((c for c in CONNECTORS if str(name).startswith(c)), str(name))


def _apply(report: RunReport, event: dict[str, Any]) -> None:
    text = str(event.get("event", ""))
    plugin = _plugin(event)
    timestamp = event.get("timestamp", "")
    report.logged = True
    report.state_id = report.state_id or event.get("job_name", "")
    report.last_event = timestamp or report.last_event
    if not report.in_database:
        report.started = report.started or timestamp
        report.ended = timestamp or report.ended
    if text.startswith(RUNNING_JOB_PREFIX) and not report.state_id:
        report.state_id = text[len(RUNNING_JOB_PREFIX) :].split("'")[1]
    metric = _metric(event, text) if plugin in (TAP, TARGET) else {}
    if metric:
        if metric.get("metric") == "record_count":
            stream = (metric.get("tags") or {}).get("stream", "?")
            bucket = report.extracted if plugin == TAP else report.mapped
            bucket[stream] = bucket.get(stream, 0) + int(metric.get("value", 0))
    elif TARGET_SUMMARY_PREFIX in text and plugin == TARGET:
        report.target_summary = _json_after(text, TARGET_SUMMARY_PREFIX) or {}
    elif PROGRESS_PREFIX in text and plugin == TARGET:
        line = _json_after(text, PROGRESS_PREFIX) or {}
        if line.get("stream"):
            report.target_progress[str(line["stream"])] = line
    elif TAP_USAGE_PREFIX in text and plugin == TAP:
        usage = _json_after(text, TAP_USAGE_PREFIX) or {}
        report.api_calls = (report.api_calls or 0) + int(usage.get("calls") or 0)
        if usage.get("used") is not None:
            report.api_usage = usage
    elif text == "Run completed":
        report.log_outcome = "failed" if event.get("status") == "failure" or report.log_outcome == "failed" else (
            "succeeded"
        )
    elif text == "Block run completed" and (str(event.get("success")) == "False" or event.get("level") == "error"):
        report.log_outcome = "failed"
    elif text.strip() and (event.get("level") in ("error", "critical") or _raw_fatal_line(event, text)):
        report.errors.append(f"{plugin + ': ' if plugin in CONNECTORS and not text.startswith(plugin) else ''}"
                             f"{text.strip().splitlines()[0][:300]}")


def collect_runs(
    events: Iterable[dict[str, Any]],
    rows: Iterable[dict[str, Any]] = (),
    states: dict[str, dict[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> list[RunReport]:
    """Every pipeline run, in the order they started: the database's rows, completed with the log's counts."""
    now = now or dt.datetime.now(dt.UTC)
    runs: dict[str, RunReport] = {}
    for row in rows:
        run_id = str(uuid.UUID(str(row["run_id"])))
        report = runs[run_id] = RunReport(run_id=run_id, state_id=row["job_name"] or "", in_database=True)
        report.started, report.ended = _iso(row["started_at"]), _iso(row["ended_at"])
        payload = _json(row.get("payload"))
        report.bookmarks = _bookmarks(payload)
        state, error = row["state"], str(payload.get("error") or "")
        if state == "SUCCESS":
            report.outcome = "succeeded"
        elif state in ("FAIL", "DEAD"):
            report.outcome = "killed" if "killed" in error or "SIGTERM" in error else "failed"
            report.cause = error
        else:
            beat = row.get("last_heartbeat_at") or row["started_at"]
            if beat and now - parse_time(_iso(beat)) > HEARTBEAT_VALID:
                report.outcome, report.cause = "killed", f"no heartbeat since {_iso(beat)}"
    pipeline_runs = set(runs)
    for event in events:
        if not event.get("run_id"):
            continue
        run_id = str(event["run_id"])
        if str(event.get("event", "")).startswith(RUNNING_JOB_PREFIX):
            pipeline_runs.add(run_id)
        _apply(runs.setdefault(run_id, RunReport(run_id=run_id)), event)
    ordered = sorted((runs[r] for r in pipeline_runs), key=lambda r: r.started)
    for report in ordered:
        _finish(report, now)
    for i, report in enumerate(ordered):  # a run that saved no bookmarks: those in force when it ended
        if not report.bookmarks:
            earlier = [r.bookmarks for r in ordered[:i] if r.state_id == report.state_id and r.bookmarks]
            later = any(r.state_id == report.state_id for r in ordered[i + 1 :])
            current = {} if later else (states or {}).get(report.state_id, {})
            report.bookmarks = dict(earlier[-1] if earlier else current)
    return ordered


def _finish(report: RunReport, now: dt.datetime) -> None:
    if not report.in_database:
        if report.log_outcome:
            report.outcome = report.log_outcome
        elif report.last_event and now - parse_time(report.last_event) > HEARTBEAT_VALID:
            report.outcome, report.cause = "killed", f"no log line since {report.last_event}"
    if report.outcome in ("failed", "killed"):
        connector_errors = [e for e in report.errors if e.split(":", 1)[0] in CONNECTORS]
        report.cause = (connector_errors or [report.cause])[0] or (report.errors or [""])[0]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def render(report: dict[str, Any]) -> str:
    """The human-readable run report."""
    lines = [
        f"Run {report['run_id']} ({report['state_id']}): {report['outcome']}, "
        f"{report['duration_seconds']} s, {report['started']} → {report['ended'] or '…'}",
    ]
    if report["cause"]:
        lines.append(f"  cause: {report['cause']}")
    if not report["logged"]:
        lines.append("  counts: none in app.log for this run (is logging.yaml's JSON file handler still there?)")
    lines += [
        "  extracted from Salesforce: " + (", ".join(f"{s} {n}" for s, n in report["extracted"].items()) or "nothing"),
        f"  {'NetSuite record type':<24}{'mapped':>8}{'written':>9}{'dead-lettered':>15}{'deleted':>9}{'ignored':>9}"
        f"{'unchanged':>11}{'still refused':>15}",
    ]
    for stream, counts in report["loaded"].items():
        lines.append(
            f"  {stream:<24}{counts['mapped']:>8}{counts['written']:>9}{counts['dead_lettered']:>15}"
            f"{counts['deleted']:>9}{counts.get('ignored', 0):>9}{counts.get('unchanged', 0):>11}"
            f"{counts.get('still_refused', 0):>15}"
        )
    if report["ignored_by_mapping"]:
        lines.append(f"  ignored by the mapping (filtered or mapped to nothing): {report['ignored_by_mapping']}")
    ns = report["netsuite"]
    if any(v is not None for v in ns.values()):
        lines.append(
            f"  NetSuite requests {ns['requests']}, retries {ns['retries']}, answered 429: {ns['throttled_429']}"
        )
    api = report["salesforce_api"]
    if api.get("calls") is not None:
        usage = f", daily usage {api['used']}/{api['limit']}" if api.get("used") is not None else ""
        lines.append(f"  Salesforce API calls this run (discovery included) {api['calls']}{usage}")
    if report["freshness_seconds"]:
        lines.append(
            "  freshness (bookmark age): "
            + ", ".join(f"{s} {_age(a)}" for s, a in report["freshness_seconds"].items())
        )
    if report["dead_letter_file"]:
        lines.append(f"  dead letters: {report['dead_letter_file']}")
    elif any(s.get("dead_lettered") for s in report["loaded"].values()):  # a shared store writes no file
        lines.append("  dead letters: in the store (pipeline-ops dead-letters)")
    lines.extend(f"  error: {e}" for e in report["errors"] if e != report["cause"])
    return "\n".join(lines)
