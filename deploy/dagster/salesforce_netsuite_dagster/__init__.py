"""This project's Meltano jobs under Dagster: one Dagster job per Meltano job, each one op that runs
`meltano run --run-id <uuid> <job>` in the project folder, and the schedules of meltano.yml.

Invariants:
- Meltano stays the engine: the op only starts the project's `meltano` executable (its own venv, its plugins, its
  system database and state), so a run under Dagster is the same run as from cron or Kubernetes, and Dagster never
  needs Meltano's or the connectors' packages;
- the Dagster run is failed exactly when `meltano run` exits non-zero; either way the op records, as metadata in
  Dagster's run history, the command, the return code, Meltano's run id (the one `pipeline-ops runs` and
  `pipeline-ops report` show), the connectors' `Run summary:` lines and the last lines of the log;
- the schedules are meltano.yml's (`schedules:` naming an orchestrated job), read when the definitions load, so
  the two never drift apart;
- no secret is added to what Meltano prints: the connectors log none, and the excerpt is their own output.

Load it with `dagster dev -m salesforce_netsuite_dagster` (or a workspace entry) from the project folder, or set
`MELTANO_PROJECT_ROOT`; README "Operations" says how.
"""

# No `from __future__ import annotations`: Dagster reads the ops' annotations (context, resources) at runtime.
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    ConfigurableResource,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

#: The Meltano jobs Dagster runs: Salesforce -> NetSuite and the write-back.
ORCHESTRATED_JOBS = ("sync-salesforce-to-netsuite", "sync-netsuite-to-salesforce")
#: Lines of Meltano's output kept as the run's log excerpt.
EXCERPT_LINES = 40
_SUMMARY_MARK = "Run summary: "


def project_root() -> Path:
    """The Meltano project: `MELTANO_PROJECT_ROOT`, else the current folder."""
    return Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path.cwd()).resolve()


def dagster_name(meltano_job: str) -> str:
    """A Dagster name for a Meltano job (Dagster allows letters, digits and underscores)."""
    return meltano_job.replace("-", "_")


class MeltanoProject(ConfigurableResource):  # type: ignore[misc]
    """Where and how `meltano` runs: the project folder, the executable, the environment (unset: meltano.yml's
    `default_environment`, or `MELTANO_ENVIRONMENT`)."""

    project_dir: str = ""
    executable: str = "meltano"
    environment: str = ""
    timeout_seconds: int = 6 * 3600

    def command(self, meltano_job: str, run_id: str) -> list[str]:
        environment = [f"--environment={self.environment}"] if self.environment else []
        return [self.executable, *environment, "run", "--run-id", run_id, meltano_job]


def _summaries(lines: list[str]) -> list[Any]:
    """The connectors' `Run summary: {json}` objects found in Meltano's output."""
    decoder = json.JSONDecoder()
    found = []
    for line in lines:
        if _SUMMARY_MARK in line:
            try:
                found.append(decoder.raw_decode(line.split(_SUMMARY_MARK, 1)[1])[0])
            except ValueError:
                continue
    return found


def run_meltano_job(context: OpExecutionContext, meltano: MeltanoProject, meltano_job: str) -> None:
    """Run one Meltano job; metadata either way; `Failure` on a non-zero exit."""
    run_id = str(uuid.uuid4())
    command = meltano.command(meltano_job, run_id)
    folder = Path(meltano.project_dir or project_root())
    context.log.info(f"Running {' '.join(command)} in {folder}")
    started = time.monotonic()
    summaries: list[str] = []
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as output:
        try:
            code = subprocess.run(command, cwd=folder, stdout=output, stderr=subprocess.STDOUT, check=False,
                                  timeout=meltano.timeout_seconds).returncode
        except FileNotFoundError:
            raise Failure(description=f"meltano executable {meltano.executable!r} not found") from None
        except subprocess.TimeoutExpired:
            code = -1
        output.seek(0)
        tail: deque[str] = deque(maxlen=EXCERPT_LINES)
        for line in output:
            tail.append(line.rstrip("\n"))
            if _SUMMARY_MARK in line:
                summaries.append(line)
    metadata = {
        "meltano_job": MetadataValue.text(meltano_job),
        "meltano_run_id": MetadataValue.text(run_id),
        "return_code": MetadataValue.int(code),
        "command": MetadataValue.text(" ".join(command)),
        "duration_seconds": MetadataValue.float(round(time.monotonic() - started, 1)),
        "run_summaries": MetadataValue.json(_summaries(summaries)),
        "log_excerpt": MetadataValue.text("\n".join(tail)),
    }
    if code != 0:
        reason = "timed out" if code == -1 else f"exited {code}"
        raise Failure(description=f"meltano run {meltano_job} {reason} (Meltano run id {run_id})", metadata=metadata)
    context.add_output_metadata(metadata)
    context.log.info(f"meltano run {meltano_job} succeeded (Meltano run id {run_id})")


def meltano_job_definition(meltano_job: str) -> JobDefinition:
    """A Dagster job of one op running `meltano run <meltano_job>`."""
    name = dagster_name(meltano_job)

    @op(name=f"meltano_run_{name}", description=f"meltano run {meltano_job}")
    def run_it(context: OpExecutionContext, meltano: MeltanoProject) -> None:
        run_meltano_job(context, meltano, meltano_job)

    @job(name=name, description=f"Meltano job {meltano_job} (meltano.yml)")
    def the_job() -> None:
        run_it()

    return the_job


def schedules(meltano_yml: Path, jobs: dict[str, JobDefinition]) -> list[ScheduleDefinition]:
    """meltano.yml's schedules of the orchestrated jobs, cron for cron (UTC), running once loaded."""
    project = yaml.safe_load(meltano_yml.read_text(encoding="utf-8")) or {}
    found = []
    for schedule in project.get("schedules") or []:
        if schedule.get("job") in jobs:
            found.append(ScheduleDefinition(
                name=dagster_name(str(schedule["name"])), cron_schedule=str(schedule["interval"]),
                job=jobs[schedule["job"]], execution_timezone="UTC",
                default_status=DefaultScheduleStatus.RUNNING,
            ))
    return found


def build_definitions(root: Path | None = None) -> Definitions:
    root = root or project_root()
    meltano_yml = root / "meltano.yml"
    if not meltano_yml.is_file():
        msg = f"no meltano.yml in {root}: run from the Meltano project or set MELTANO_PROJECT_ROOT"
        raise FileNotFoundError(msg)
    jobs = {name: meltano_job_definition(name) for name in ORCHESTRATED_JOBS}
    return Definitions(
        jobs=list(jobs.values()),
        schedules=schedules(meltano_yml, jobs),
        resources={"meltano": MeltanoProject(project_dir=str(root),
                                             executable=os.environ.get("MELTANO_EXECUTABLE", "meltano"))},
    )


defs = build_definitions()
