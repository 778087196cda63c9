"""Issue 17: the plugin definitions in plugin-definitions/ are all another Meltano project needs.

A new Meltano project outside this repository adds the three connectors with `meltano add --from-ref` from those
files alone (their pip_url pointed at this checkout instead of the git host), pastes the mapper's mapping, and
runs the demo pipeline against the sandboxes. The files must also still match meltano.yml.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from e2e_harness import MELTANO, ROOT, SandboxAdmin

pytestmark = pytest.mark.e2e

FOLDERS = {"tap-salesforce-custom": "tap-salesforce-custom", "netsuite-mapper": "transform_mappers",
           "target-netsuite": "target-netsuite"}
TYPES = {"tap-salesforce-custom": "extractor", "netsuite-mapper": "mapper", "target-netsuite": "loader"}


def _generator():
    spec = importlib.util.spec_from_file_location("plugin_definitions", ROOT / "scripts" / "plugin_definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_definition_files_match_meltano_yml() -> None:
    for file, text in _generator().definitions().items():
        assert (ROOT / "plugin-definitions" / file).read_text() == text, f"run `make plugin-definitions` ({file})"


def _meltano(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(MELTANO), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stderr[-4000:]}"
    return result


def test_a_separate_project_runs_the_pipeline_from_the_definitions_alone(
    salesforce_url: str, netsuite_url: str, tmp_path: Path
) -> None:
    salesforce, netsuite = SandboxAdmin(salesforce_url), SandboxAdmin(netsuite_url)
    salesforce.post("reset", {"seed": 3, "accounts": 6, "contacts": 4, "products": 3, "opportunities": 3})
    netsuite.post("reset", {"knobs": True})
    project = tmp_path / "elsewhere"
    project.mkdir()
    (project / "meltano.yml").write_text(
        "version: 1\nproject_id: plugin-definitions-test\nsend_anonymous_usage_stats: false\n"
        "default_environment: dev\nenvironments:\n- name: dev\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_", "TARGET_", "NETSUITE_"))}
    env.update({
        # pip keeps wheels built from `connector-kit @ file:///…` by URL: a cached one from an older checkout at this
        # path would stand in for today's kit. A user after `git pull` gets the same advice (README).
        "PIP_NO_CACHE_DIR": "1",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_SALESFORCE_CUSTOM_LOGIN_URL": salesforce_url,
        "TAP_SALESFORCE_CUSTOM_CLIENT_ID": "sandbox-client-id",
        "TAP_SALESFORCE_CUSTOM_CLIENT_SECRET": "sandbox-client-secret",
        "TAP_SALESFORCE_CUSTOM_REFRESH_TOKEN": "sandbox-refresh-token",
        "TAP_SALESFORCE_CUSTOM_START_DATE": "2000-01-01",
        "NETSUITE_MAPPER_SUBSIDIARY_ID": "1",
        "NETSUITE_MAPPER_CURRENCY_ID": "1",
        "NETSUITE_MAPPER_SERVICE_ITEM_ID": "499",
        "TARGET_NETSUITE_ACCOUNT_ID": "1234567_SB1",
        "TARGET_NETSUITE_BASE_URL": netsuite_url,
        "TARGET_NETSUITE_CONSUMER_KEY": "sandbox-consumer-key",
        "TARGET_NETSUITE_CONSUMER_SECRET": "sandbox-consumer-secret",
        "TARGET_NETSUITE_TOKEN_ID": "sandbox-token-id",
        "TARGET_NETSUITE_TOKEN_SECRET": "sandbox-token-secret",
    })
    mappings = None
    for name, folder in FOLDERS.items():
        definition = yaml.safe_load((ROOT / "plugin-definitions" / f"{name}.yml").read_text())
        assert definition["pip_url"].endswith(f"#subdirectory={folder}")  # the kit comes with it (issue 27)
        constraints = ROOT / "requirements" / "constraints.txt"
        definition["pip_url"] = f"{ROOT / folder} -c {constraints}"
        mappings = definition.get("mappings", mappings)
        ref = tmp_path / f"{name}.yml"
        ref.write_text(yaml.safe_dump(definition))
        _meltano(project, env, "add", "--plugin-type", TYPES[name], "--from-ref", str(ref), name)

    # `--from-ref` keeps the definition only: paste the mapping, as its file says.
    config = yaml.safe_load((project / "meltano.yml").read_text())
    config["plugins"]["mappers"][0]["mappings"] = mappings
    (project / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    listed = _meltano(project, env, "config", "list", "--all", "target-netsuite")
    assert "Setting groups" in listed.stdout and "max_concurrency" in listed.stdout
    _meltano(project, env, "run", "tap-salesforce-custom", "salesforce-to-netsuite", "target-netsuite")
    accounts = [a["Id"] for a in salesforce.records("Account") if not a.get("IsDeleted")]
    assert sorted(c["externalId"] for c in netsuite.records("customer")) == sorted(accounts)
    assert len(netsuite.records("contact")) == len([c for c in salesforce.records("Contact") if not c["IsDeleted"]])
