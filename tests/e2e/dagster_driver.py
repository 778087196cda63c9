"""Run by tests/e2e/test_dagster_jobs.py with deploy/dagster/.venv's Python (Dagster lives in its own venv):

    dagster_driver.py run JOB INSTANCE_DIR     execute_in_process one Dagster job on the instance kept in INSTANCE_DIR
    dagster_driver.py history INSTANCE_DIR     that instance's run history as JSON, oldest first: each run's job,
                                               status and the op's metadata (from its step output or step failure)

Each call opens the instance anew from its folder, so the history read is the one Dagster persisted.
"""

import json
import sys
from typing import Any

from dagster import DagsterEventType, DagsterInstance, RunsFilter
from salesforce_netsuite_dagster import defs


def _plain(metadata: dict[str, Any]) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def run(job_name: str, folder: str) -> int:
    instance = DagsterInstance.local_temp(tempdir=folder)
    result = defs.get_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)
    print(json.dumps({"run_id": result.run_id, "success": result.success}))
    return 0


def history(folder: str) -> int:
    instance = DagsterInstance.local_temp(tempdir=folder)
    runs = []
    for record in reversed(instance.get_run_records(RunsFilter())):
        metadata: dict[str, Any] = {}
        failure = ""
        for entry in instance.all_logs(record.dagster_run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.STEP_OUTPUT:
                metadata = _plain(dict(event.event_specific_data.metadata))
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                data = event.event_specific_data.user_failure_data
                metadata = _plain(dict(data.metadata)) if data else {}
                failure = (data.description or "") if data else ""
        runs.append({"job": record.dagster_run.job_name, "status": record.dagster_run.status.value,
                     "run_id": record.dagster_run.run_id, "failure": failure, "metadata": metadata})
    print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3]))
    sys.exit(history(sys.argv[2]))
