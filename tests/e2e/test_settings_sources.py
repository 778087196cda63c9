"""Every setting kind the project declares works from meltano.yml, from `.env` and from the process environment
(issue 13: a `kind: decimal` setting from `.env` crashed Meltano before the plugin started).

Each case runs real `meltano invoke` in a copy of the project (its own meltano.yml and `.env`, the installed plugin
venvs linked in), so the values travel exactly as they do in production: Meltano casts them by kind and writes the
plugin's config file, and the plugin validates them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from e2e_harness import MELTANO, ROOT

pytestmark = pytest.mark.e2e

# One setting of every kind each plugin declares (string-kind numbers are the former decimals), as YAML values
# and as the text `.env` and the environment carry.
TAP = {
    "max_api_usage_percent": (80.5, "80.5"), "request_timeout": (60, "60"),  # kind: string (numbers)
    "page_size": (500, "500"),  # integer
    "include_deleted": (False, "false"),  # boolean
    "start_date": ("2024-01-01", "2024-01-01"),  # date_iso8601
    "objects": (["Account"], '["Account"]'), "optional_objects": ([], '[]'),  # array (the project reads Quote too)
    "api_type": ("rest", "rest"),  # options
    "api_version": ("61.0", "61.0"),  # string
}
TARGET = {
    "request_timeout": (30.5, "30.5"), "backoff_factor": (0.5, "0.5"), "max_throttle_wait_seconds": (20, "20"),
    "checkpoint_interval_seconds": (60, "60"), "reference_wait_hours": (12.5, "12.5"),  # kind: string (numbers)
    "max_concurrency": (3, "3"), "max_identical_errors": (4, "4"),  # integer
    "fail_on_dead_letters": (True, "true"), "dry_run": (True, "true"),  # boolean
    "record_types": ({"customers": "customer"}, '{"customers": "customer"}'),  # object
    "ignored_streams": (["audit"], '["audit"]'),  # array
    "auth_method": ("tba", "tba"),  # options
}


def _env_name(plugin: str, setting: str) -> str:
    return f"{plugin}_{setting}".upper().replace("-", "_")


def _project(tmp: Path) -> Path:
    """A copy of the project: meltano.yml copied, the installed plugins linked."""
    project = tmp / "project"
    (project / ".meltano").mkdir(parents=True)
    (project / "meltano.yml").write_text((ROOT / "meltano.yml").read_text())
    for kind in ("extractors", "loaders", "mappers", "utilities"):
        if (ROOT / ".meltano" / kind).exists():
            (project / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind)
    return project


def _set_in_yaml(project: Path, plugin_type: str, plugin: str, values: dict) -> None:
    path = project / "meltano.yml"
    document = yaml.safe_load(path.read_text())
    dev = next(env for env in document["environments"] if env["name"] == "dev")
    entry = next(p for p in dev["config"]["plugins"][plugin_type] if p["name"] == plugin)
    entry["config"].update(values)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _meltano(project: Path, *args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_SALESFORCE_CUSTOM_LOGIN_URL": os.environ["SANDBOX_SALESFORCE_URL"],
        "TARGET_NETSUITE_BASE_URL": os.environ["SANDBOX_NETSUITE_URL"],
        "TARGET_NETSUITE_DEAD_LETTER_PATH": str(project / "dead_letters"),
        **env,
    }
    return subprocess.run([str(MELTANO), *args], cwd=project, env=full_env, input=stdin, text=True,
                          capture_output=True, timeout=300, check=False)


def _apply(project: Path, source: str, plugin_type: str, plugin: str, values: dict) -> dict[str, str]:
    """Put `values` where `source` says; returns the environment variables to run with."""
    if source == "meltano.yml":
        _set_in_yaml(project, plugin_type, plugin, {name: value[0] for name, value in values.items()})
        return {}
    lines = {_env_name(plugin, name): value[1] for name, value in values.items()}
    if source == ".env":
        with (project / ".env").open("a") as env_file:
            env_file.writelines(f"{name}='{value}'\n" for name, value in lines.items())
        return {}
    return lines


@pytest.mark.parametrize("source", ["meltano.yml", ".env", "environment"])
def test_every_setting_kind_from_every_source(tmp_path: Path, source: str) -> None:
    project = _project(tmp_path)
    env = _apply(project, source, "extractors", "tap-salesforce-custom", TAP)
    env |= _apply(project, source, "loaders", "target-netsuite", TARGET)

    discovered = _meltano(project, "invoke", "tap-salesforce-custom", "--discover", env=env)
    assert discovered.returncode == 0, discovered.stderr[-3000:]
    catalog = json.loads(discovered.stdout)
    assert [stream["tap_stream_id"] for stream in catalog["streams"]] == ["Account"]  # the array arrived

    loaded = _meltano(project, "invoke", "target-netsuite", env=env)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "Decimal" not in loaded.stderr + discovered.stderr

    if source == "meltano.yml":
        return
    # Text values reach the plugin and are checked there: a negative timeout is one line naming the setting.
    bad = _apply(project, source, "loaders", "target-netsuite", {"request_timeout": (-1, "-1")})
    refused = _meltano(project, "invoke", "target-netsuite", env={**env, **bad})
    assert refused.returncode != 0
    assert "request_timeout" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr[-3000:]
