"""Fixtures for the mapper tests: the shipped mapping (read from meltano.yml) and a way to run the mapper CLI.

The mapper is run as a real subprocess on Singer messages, exactly as Meltano or a shell pipe would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MAPPER = Path(sys.executable).with_name("netsuite-mapper")
GOLDEN = Path(__file__).with_name("golden")


def shipped_mapping_config() -> dict[str, Any]:
    """The `salesforce-to-netsuite` mapping config from meltano.yml as Meltano gives it in `dev`: the plugin's
    setting defaults, the dev environment's values (subsidiary and currency have no default elsewhere), the mapping."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugin = next(p for p in project["plugins"]["mappers"] if p["name"] == "netsuite-mapper")
    defaults = {s["name"]: s["value"] for s in plugin.get("settings", []) if "value" in s}
    dev = next(e for e in project["environments"] if e["name"] == "dev")["config"]["plugins"]
    dev_config = next((m.get("config") or {} for m in dev.get("mappers", []) if m["name"] == "netsuite-mapper"), {})
    mapping = next(m for m in plugin["mappings"] if m["name"] == "salesforce-to-netsuite")
    return {**defaults, **plugin.get("config", {}), **dev_config, **mapping["config"]}


@dataclass
class MapperRun:
    """What one mapper process did."""

    returncode: int
    messages: list[dict[str, Any]]
    stderr: str

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        """RECORD payloads, optionally of one output stream."""
        return [m["record"] for m in self.messages
                if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)]

    def schema(self, stream: str) -> dict[str, Any]:
        """The SCHEMA message of one output stream."""
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)


def run_mapper(config: dict[str, Any], lines: Iterable[dict[str, Any] | str], tmp_path: Path) -> MapperRun:
    """Run `netsuite-mapper --config <file>` with the given Singer messages on stdin."""
    config_file = tmp_path / "mapper-config.json"
    config_file.write_text(json.dumps(config))
    stdin = "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines)
    done = subprocess.run([str(MAPPER), "--config", str(config_file)], input=stdin.encode(), capture_output=True,
                          timeout=60, check=False)
    out = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    return MapperRun(done.returncode, out, done.stderr.decode())


@pytest.fixture
def mapping_config() -> dict[str, Any]:
    """A fresh copy of the shipped mapping's config (tests may change it)."""
    return shipped_mapping_config()


@pytest.fixture
def mapper(tmp_path: Path) -> Callable[[dict[str, Any], Iterable[dict[str, Any] | str]], MapperRun]:
    """`mapper(config, messages)` runs the mapper CLI and returns a `MapperRun`."""
    return lambda config, lines: run_mapper(config, lines, tmp_path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Singer messages from a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
