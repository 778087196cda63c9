"""The run history and freshness as one PNG (matplotlib, no display needed).

Top: each run's duration, coloured by outcome (failed and killed runs included, marked at zero records).
Middle: records written and dead-lettered per run. Bottom: freshness, the age of each stream's bookmark when each
run ended (a line that keeps rising while runs succeed means nothing changed in Salesforce; one that rises while
runs fail means the pipeline is behind).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from pipeline_ops.runs import parse_time

COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "killed": "#6a1b9a", "running": "#f9a825"}


def render_history(reports: list[dict[str, Any]], out: Path, title: str = "") -> Path:
    """Draw the runs (as `RunReport.as_dict()`) into `out` (PNG) and return it."""
    runs = [r for r in reports if r["started"]]
    times = [parse_time(r["started"]) for r in runs]
    fig, (duration, volume, fresh) = plt.subplots(3, 1, figsize=(10, 8.5), sharex=True, constrained_layout=True)
    fig.suptitle(title or f"Pipeline runs ({len(runs)})", fontsize=12)
    width = _bar_width(times)

    for outcome, colour in COLOURS.items():
        picked = [(t, r["duration_seconds"] or 0) for t, r in zip(times, runs, strict=True) if r["outcome"] == outcome]
        if picked:
            duration.bar([p[0] for p in picked], [p[1] for p in picked], width=width, color=colour, label=outcome)
    duration.set_ylabel("duration (s)")
    duration.legend(loc="upper left", fontsize=8, ncols=4)

    written = [sum(s["written"] for s in r["loaded"].values()) for r in runs]
    dead = [sum(s["dead_lettered"] for s in r["loaded"].values()) for r in runs]
    volume.bar(times, written, width=width, color="#1565c0", label="written")
    volume.bar(times, dead, width=width, bottom=written, color="#ef6c00", label="dead-lettered")
    for t, r in zip(times, runs, strict=True):
        if r["outcome"] in ("failed", "killed"):
            volume.annotate("✕", (t, 0), ha="center", va="bottom", color=COLOURS[r["outcome"]], fontsize=11)
    volume.set_ylabel("records")
    volume.legend(loc="upper left", fontsize=8, ncols=2)

    streams = sorted({s for r in runs for s in r["freshness_seconds"]})
    for stream in streams:
        points = [(t, r["freshness_seconds"][stream] / 3600) for t, r in zip(times, runs, strict=True)
                  if stream in r["freshness_seconds"]]
        fresh.plot([p[0] for p in points], [max(p[1], 1 / 60) for p in points], marker="o", markersize=3,
                   label=stream)
    fresh.set_yscale("log")  # minutes and months on one axis
    fresh.set_ylabel("bookmark age (h, log)")
    fresh.set_xlabel("run start (UTC)")
    if streams:
        fresh.legend(loc="center right", fontsize=8, ncols=min(len(streams), 5))
    fresh.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
    for axis in (duration, volume, fresh):
        axis.grid(axis="y", alpha=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _bar_width(times: list) -> float:
    """Bars a little narrower than the typical gap between runs (in days, matplotlib's date unit)."""
    if len(times) < 2:
        return 1 / 288
    gaps = sorted((b - a).total_seconds() for a, b in pairwise(times) if b > a)
    return max((gaps[len(gaps) // 2] if gaps else 300) * 0.6 / 86400, 1 / 86400)
