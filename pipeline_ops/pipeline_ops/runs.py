"""Rebuild what happened in each `meltano run` from Meltano's JSON log (`app.log`, see logging.yaml).

Meltano tags every line a plugin prints with the run's `run_id`, the pipeline's `job_name` and the plugin's
`string_id`; the connectors print what they did in a few well-known forms, which this module reads:

- tap and target: the Singer SDK's `METRIC: {"metric": "record_count", "tags": {"stream": ...}}` counters
  (tap: records extracted per Salesforce object; target: records received per NetSuite record type, i.e. mapped);
- target: `Run summary: {...}` (written / dead-lettered per record type, requests, 429s, retries);
- tap: `Salesforce API usage: {...}` (calls this run, daily usage and limit from `Sforce-Limit-Info`);
- Meltano: `Run completed` / `Block run completed` / errors, for the outcome and duration.

No extra database is needed, and it works whatever system database or state backend Meltano uses.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAP = "tap-salesforce-custom"
TARGET = "target-netsuite"
METRIC_PREFIX = "METRIC: "
TARGET_SUMMARY_PREFIX = "Run summary: "
TAP_USAGE_PREFIX = "Salesforce API usage: "


@dataclass
class RunReport:
    """Everything known about one Meltano run of the pipeline."""

    run_id: str
    job_name: str = ""
    started: str = ""
    ended: str = ""
    outcome: str = "running or killed"
    extracted: dict[str, int] = field(default_factory=dict)
    mapped: dict[str, int] = field(default_factory=dict)
    target_summary: dict[str, Any] = field(default_factory=dict)
    api_usage: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float | None:
        if not (self.started and self.ended):
            return None
        return round((_parse_time(self.ended) - _parse_time(self.started)).total_seconds(), 1)

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable report (one JSON file per run)."""
        streams = {
            stream: {
                "mapped": self.mapped.get(stream, 0),
                "written": counts.get("written", 0),
                "dead_lettered": counts.get("dead_lettered", 0),
                "deleted": counts.get("deleted", 0),
                "ignored": counts.get("ignored", 0),
            }
            for stream, counts in (self.target_summary.get("streams") or {}).items()
        }
        for stream, count in self.mapped.items():
            streams.setdefault(stream, {"mapped": count, "written": 0, "dead_lettered": 0, "deleted": 0, "ignored": 0})
        return {
            "run_id": self.run_id,
            "job_name": self.job_name,
            "outcome": self.outcome,
            "started": self.started,
            "ended": self.ended,
            "duration_seconds": self.duration_seconds,
            "extracted": dict(sorted(self.extracted.items())),
            "loaded": dict(sorted(streams.items())),
            "dead_letter_file": self.target_summary.get("dead_letter_file"),
            "netsuite": {k: self.target_summary.get(k) for k in ("requests", "retries", "throttled_429")},
            "salesforce_api": self.api_usage,
            "errors": self.errors[-5:],
        }


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


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


def _apply(report: RunReport, event: dict[str, Any]) -> None:
    text = str(event.get("event", ""))
    plugin = event.get("string_id") or ""
    timestamp = event.get("timestamp", "")
    report.job_name = report.job_name or event.get("job_name", "")
    report.started = report.started or timestamp
    report.ended = timestamp or report.ended
    if METRIC_PREFIX in text and plugin in (TAP, TARGET):
        metric = _json_after(text, METRIC_PREFIX) or {}
        if metric.get("metric") == "record_count":
            stream = (metric.get("tags") or {}).get("stream", "?")
            bucket = report.extracted if plugin == TAP else report.mapped
            bucket[stream] = bucket.get(stream, 0) + int(metric.get("value", 0))
    elif TARGET_SUMMARY_PREFIX in text and plugin == TARGET:
        report.target_summary = _json_after(text, TARGET_SUMMARY_PREFIX) or {}
    elif TAP_USAGE_PREFIX in text and plugin == TAP:
        report.api_usage = _json_after(text, TAP_USAGE_PREFIX) or {}
    elif text in ("Run completed", "Block run completed"):
        # Meltano logs these after a failed block too; a failure already seen stands.
        report.outcome = "failed" if report.outcome == "failed" else "succeeded"
    elif event.get("level") in ("error", "critical") and plugin not in (TAP, TARGET, "netsuite-mapper"):
        report.outcome = "failed"
        report.errors.append(text.splitlines()[0][:300] if text else "")


def collect_runs(events: Iterable[dict[str, Any]]) -> list[RunReport]:
    """Group log events by Meltano run id, in the order the runs started."""
    runs: dict[str, RunReport] = {}
    for event in events:
        run_id = event.get("run_id")
        if not run_id:
            continue
        _apply(runs.setdefault(run_id, RunReport(run_id=run_id)), event)
    return list(runs.values())


def render(report: dict[str, Any]) -> str:
    """The human-readable run report."""
    lines = [
        f"Run {report['run_id']} ({report['job_name']}): {report['outcome']}, "
        f"{report['duration_seconds']} s, {report['started']} → {report['ended']}",
        "  extracted from Salesforce: " + (", ".join(f"{s} {n}" for s, n in report["extracted"].items()) or "nothing"),
        f"  {'NetSuite record type':<24}{'mapped':>8}{'written':>9}{'dead-lettered':>15}{'deleted':>9}{'ignored':>9}",
    ]
    for stream, counts in report["loaded"].items():
        lines.append(
            f"  {stream:<24}{counts['mapped']:>8}{counts['written']:>9}{counts['dead_lettered']:>15}"
            f"{counts['deleted']:>9}{counts.get('ignored', 0):>9}"
        )
    ns = report["netsuite"]
    if any(v is not None for v in ns.values()):
        lines.append(
            f"  NetSuite requests {ns['requests']}, retries {ns['retries']}, answered 429: {ns['throttled_429']}"
        )
    api = report["salesforce_api"]
    if api:
        lines.append(
            f"  Salesforce API calls this run {api.get('calls')}, daily usage {api.get('used')}/{api.get('limit')}"
        )
    if report["dead_letter_file"]:
        lines.append(f"  dead letters: {report['dead_letter_file']}")
    lines.extend(f"  error: {e}" for e in report["errors"])
    return "\n".join(lines)
