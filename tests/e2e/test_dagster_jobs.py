"""Issue 27 item 5: the orchestrator integration runs here. deploy/dagster's jobs are executed in-process
(`execute_in_process`) on a Dagster instance kept in a temporary folder, each through real `meltano run` against
the sandboxes: the sync twice, the sync with NetSuite refusing the target's credentials, then the write-back job.
The history is read back from the instance afterwards (tests/e2e/dagster_driver.py, run with deploy/dagster's own
venv, which `make install` builds): four runs with their status, the failed one failed because the target exited
non-zero, each with Meltano's return code, run id (the one in Meltano's system database) and the target's run
summary. The schedules are meltano.yml's.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy
import yaml
from e2e_harness import MELTANO, ROOT, MeltanoProject, SandboxAdmin, write_back_project

pytestmark = pytest.mark.e2e

DAGSTER_PYTHON = ROOT / "deploy" / "dagster" / ".venv" / "bin" / "python"
DRIVER = Path(__file__).with_name("dagster_driver.py")


def _driver(project: MeltanoProject, *args: str, env: dict[str, str] | None = None) -> object:
    result = subprocess.run(
        [str(DAGSTER_PYTHON), str(DRIVER), *args], cwd=ROOT, text=True, capture_output=True, timeout=900,
        env={**project.base_env(), "MELTANO_PROJECT_ROOT": str(ROOT), "MELTANO_EXECUTABLE": str(MELTANO),
             "DAGSTER_HOME": "", **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _meltano_run_ids(project: MeltanoProject) -> set[str]:
    engine = sqlalchemy.create_engine(project.base_env()["MELTANO_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            return {str(uuid.UUID(str(row[0]))) for row in conn.execute(sqlalchemy.text("SELECT run_id FROM runs"))}
    finally:
        engine.dispose()


def test_dagster_runs_the_meltano_jobs_and_keeps_their_history(
    tmp_path: Path, salesforce: SandboxAdmin, netsuite: SandboxAdmin
) -> None:
    assert DAGSTER_PYTHON.exists(), "make install builds deploy/dagster/.venv"
    salesforce.post("reset", {"seed": 27, "accounts": 6, "contacts": 4, "products": 2, "opportunities": 4})
    netsuite.post("reset", {"knobs": True})
    project = write_back_project(tmp_path, ("Account", "Contact", "Product2", "Opportunity"))
    instance = tmp_path / "dagster"
    instance.mkdir()

    first = _driver(project, "run", "sync_salesforce_to_netsuite", str(instance))
    second = _driver(project, "run", "sync_salesforce_to_netsuite", str(instance))
    refused = _driver(project, "run", "sync_salesforce_to_netsuite", str(instance),
                      env={"TARGET_NETSUITE_TOKEN_SECRET": "not-the-secret"})
    write_back = _driver(project, "run", "sync_netsuite_to_salesforce", str(instance))
    assert [first["success"], second["success"], refused["success"], write_back["success"]] == [  # type: ignore[index]
        True, True, False, True]

    history = _driver(project, "history", str(instance))
    assert isinstance(history, list)
    assert [(run["job"], run["status"]) for run in history] == [
        ("sync_salesforce_to_netsuite", "SUCCESS"), ("sync_salesforce_to_netsuite", "SUCCESS"),
        ("sync_salesforce_to_netsuite", "FAILURE"), ("sync_netsuite_to_salesforce", "SUCCESS")]
    assert [run["run_id"] for run in history] == [r["run_id"] for r in (first, second, refused, write_back)]  # type: ignore[index]
    meta = [run["metadata"] for run in history]
    assert [m["return_code"] for m in meta][:2] == [0, 0] and meta[3]["return_code"] == 0
    assert meta[2]["return_code"] != 0
    assert history[2]["failure"].startswith("meltano run sync-salesforce-to-netsuite exited ")
    assert "NetSuite refused the credentials" in meta[2]["log_excerpt"], meta[2]["log_excerpt"]
    assert "not-the-secret" not in json.dumps(history)
    # Meltano's run ids, as its system database (and so `pipeline-ops runs`) knows them.
    assert {m["meltano_run_id"] for m in meta} <= _meltano_run_ids(project)
    assert len({m["meltano_run_id"] for m in meta}) == 4
    # The target's run summary: the first run wrote the accounts, the second found nothing new to write.
    written = [sum(stream.get("written", 0) for stream in summary["streams"].values())
               for summary in (m["run_summaries"][0] for m in meta[:2])]
    assert written[0] >= 6 and written[1] == 0, meta[:2]

    # The schedules Dagster runs are meltano.yml's.
    schedules = {s["job"]: s["interval"] for s in yaml.safe_load((ROOT / "meltano.yml").read_text())["schedules"]}
    listed = subprocess.run(
        [str(DAGSTER_PYTHON), "-c", "from salesforce_netsuite_dagster import defs; import json; print(json.dumps("
         "{s.job_name: s.cron_schedule for s in defs.schedules}))"],
        cwd=ROOT, text=True, capture_output=True, timeout=300, env={**os.environ, "MELTANO_PROJECT_ROOT": str(ROOT)},
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert json.loads(listed.stdout) == {job.replace("-", "_"): schedules[job] for job in
                                         ("sync-salesforce-to-netsuite", "sync-netsuite-to-salesforce")}
