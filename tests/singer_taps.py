"""Running a tap of this project as a real subprocess and reading its Singer output, for the taps' tests.

A module of its own (not conftest.py), imported by the tap test folders' helpers, so both taps are run and read
the same way.
"""

from __future__ import annotations

import json
import subprocess
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from pathlib import Path


@dataclass
class TapRun:
    """What one tap process printed: records per stream, STATE values, SCHEMA messages, stderr, exit code."""

    returncode: int
    stderr: str
    records: dict[str, list[dict[str, t.Any]]] = field(default_factory=dict)
    states: list[dict[str, t.Any]] = field(default_factory=list)
    schemas: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    #: The primary key's name and the stream `ids()`/`bookmark()` read when none is named.
    id_field: t.ClassVar[str] = "id"
    default_stream: t.ClassVar[str] = ""

    @property
    def state(self) -> dict[str, t.Any]:
        return self.states[-1] if self.states else {}

    def ids(self, stream: str = "") -> list[str]:
        return [r[self.id_field] for r in self.records.get(stream or self.default_stream, [])]

    def bookmark(self, stream: str = "") -> str | None:
        bookmarks = self.state.get("bookmarks", {})
        return bookmarks.get(stream or self.default_stream, {}).get("replication_key_value")

    def read(self, stdout: str) -> t.Self:
        for line in stdout.splitlines():
            message = json.loads(line)
            if message["type"] == "RECORD":
                self.records.setdefault(message["stream"], []).append(message["record"])
            elif message["type"] == "STATE":
                self.states.append(message["value"])
            elif message["type"] == "SCHEMA":
                self.schemas[message["stream"]] = message["schema"]
        return self


RunT = t.TypeVar("RunT", bound=TapRun)


def run_tap(executable: str, tmp_path: Path, config: dict[str, t.Any], *, run_class: type[RunT],
            state: dict | None = None, catalog: dict | None = None, args: tuple[str, ...] = (),
            timeout: float = 180) -> RunT:
    """`<executable> --config … [--state …] [--catalog …] [args]`, its output read into `run_class`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    command = [executable, "--config", write_json(tmp_path / "config.json", config), *args]
    if state is not None:
        command += ["--state", write_json(tmp_path / "state.json", state)]
    if catalog is not None:
        command += ["--catalog", write_json(tmp_path / "catalog.json", catalog)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    return run_class(returncode=done.returncode, stderr=done.stderr).read(done.stdout)


def write_json(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)
