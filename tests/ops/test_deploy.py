"""Issue 27 item 5: the deployment files that cannot run on this machine (no container daemon, no cluster) are
validated: the Dockerfile follows Meltano's container conventions and matches the project; the CronJob is a valid
batch/v1 CronJob with `concurrencyPolicy: Forbid`, every credential from a Secret, and Meltano's system database
and target-netsuite's store in PostgreSQL; the image leaves secrets and local state out."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), as (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, arguments = line.strip().partition(" ")
            found.append((instruction.upper(), arguments.strip()))
    return found


def _meltano_project() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def test_the_dockerfile_follows_meltanos_container_conventions() -> None:
    steps = _instructions()
    known = {"ARG", "FROM", "WORKDIR", "COPY", "RUN", "ENV", "ENTRYPOINT", "CMD", "LABEL", "USER", "EXPOSE"}
    assert {instruction for instruction, _ in steps} <= known
    [(first, image_arg)] = steps[:1]
    assert first == "ARG" and image_arg.startswith("MELTANO_IMAGE=meltano/meltano:")
    tag = image_arg.split(":", 1)[1]
    pinned = re.search(r"^meltano==([\d.]+)$", (ROOT / "requirements/constraints.txt").read_text(), re.MULTILINE)
    assert pinned and tag.startswith(f"v{pinned.group(1)}-python3."), "the image's Meltano is the project's"
    assert ("FROM", "$MELTANO_IMAGE") in steps
    assert ("WORKDIR", "/project") in steps
    assert ("COPY", ". .") in steps
    assert ("RUN", "meltano install") in steps
    assert steps.index(("RUN", "meltano install")) > steps.index(("COPY", ". ."))
    assert ("ENV", "MELTANO_PROJECT_READONLY=1") in steps
    assert ("ENTRYPOINT", '["meltano"]') in steps
    for instruction, arguments in steps:  # every file copied exists in the build context (the repository root)
        if instruction == "COPY" and arguments != ". .":
            assert (ROOT / shlex.split(arguments)[0]).exists(), arguments
    [(_, cmd)] = [step for step in steps if step[0] == "CMD"]
    environment, _, job = yaml.safe_load(cmd)
    project = _meltano_project()
    assert environment.removeprefix("--environment=") in {e["name"] for e in project["environments"]}
    assert job in {j["name"] for j in project["jobs"]}


def test_the_image_leaves_secrets_and_local_state_out() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", ".venv/", ".meltano/", "dead_letters/", ".git/"} <= ignored


def _documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if d]


def test_the_cronjob_forbids_overlap_and_takes_every_credential_from_a_secret() -> None:
    [cronjob] = _documents("cronjob.yaml")
    [secret] = _documents("secret.example.yaml")
    assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    project = _meltano_project()
    schedules = {s["job"]: s["interval"] for s in project["schedules"]}
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    [container] = pod["containers"]
    assert container["name"] and container["image"]
    environment, _, job = container["args"]
    assert spec["schedule"] == schedules[job]
    assert environment.removeprefix("--environment=") in {e["name"] for e in project["environments"]}

    # every credential comes from the Secret: envFrom it, and no literal value for a sensitive setting
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in container["envFrom"]
    assert (secret["apiVersion"], secret["kind"]) == ("v1", "Secret")
    plugins = {p["name"]: p for kind in project["plugins"].values() for p in kind}
    sensitive = {f"{name.upper().replace('-', '_')}_{s['name'].upper()}"
                 for name in ("tap-salesforce-custom", "target-netsuite")
                 for s in plugins[name].get("settings", []) if s.get("sensitive")}
    assert sensitive <= set(secret["stringData"]), sensitive - set(secret["stringData"])
    literal = {e["name"] for e in container.get("env", []) if "value" in e}
    assert not literal & (sensitive | {"MELTANO_DATABASE_URI"})
    # the system database and the store are PostgreSQL: nothing durable on the pod's disk
    assert secret["stringData"]["MELTANO_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert secret["stringData"]["TARGET_NETSUITE_STORE_URI"].startswith("postgresql://")
    assert all(value == "CHANGE-ME" or "CHANGE-ME" in value for value in secret["stringData"].values())
    assert not pod.get("volumes")
