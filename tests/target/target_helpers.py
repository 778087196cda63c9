"""Helpers for target-netsuite tests against the real NetSuite sandbox (started by tests/conftest.py).

A module of its own (not conftest.py) so test modules can import it by a name no other test folder uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox.client import NETSUITE_QUIET_KNOBS, NetSuiteClient
from sandbox.credentials import NETSUITE

TARGET_EXE = str(Path(sys.executable).with_name("target-netsuite"))
DEMO_TBA = {"account_id": NETSUITE.account_id, **NETSUITE.tba()}
QUIET_KNOBS = NETSUITE_QUIET_KNOBS
CUSTOMER_SCHEMA = {
    "type": "SCHEMA",
    "stream": "customer",
    "key_properties": ["externalId"],
    "schema": {
        "type": "object",
        "properties": {
            "externalId": {"type": ["string", "null"]},
            "companyName": {"type": ["string", "null"]},
            "subsidiary": {"type": ["object", "null"], "properties": {"id": {"type": "string"}}},
            "phone": {"type": ["string", "null"]},
            "addressbook": {"type": ["object", "null"]},
            "_sdc_action": {"type": ["string", "null"]},
            "_sdc_mapping_error": {"type": ["string", "null"]},
        },
    },
}


def customer(external_id: str, name: str | None = None, **extra: object) -> dict:
    """A RECORD message for a valid customer payload (subsidiary and companyName are required)."""
    record = {"externalId": external_id, "companyName": name or f"Company {external_id}", "subsidiary": {"id": "1"}}
    return {"type": "RECORD", "stream": "customer", "record": {**record, **extra}}


def state(value: object) -> dict:
    return {"type": "STATE", "value": {"bookmarks": {"customer": {"position": value}}}}


class NetSuiteAdmin(NetSuiteClient):
    """The shipped admin client (`sandbox.client.NetSuiteClient`); `reset(**knobs)` restores quiet knobs."""

    def reset(self, **knobs: object) -> None:  # type: ignore[override]
        super().reset(**knobs)

    def wait_until_idle(self, timeout: float = 60) -> None:
        """Wait until the sandbox has answered every request it admitted. A killed client's requests go on
        inside NetSuite (the sandbox applies a write after its latency, answer or no answer): a test that
        writes again after a kill must let them land first, or its own write may be overtaken by the dead one."""
        deadline = time.monotonic() + timeout
        while self.stats()["in_flight"] > 0:
            assert time.monotonic() < deadline, f"sandbox still busy after {timeout} s: {self.stats()}"
            time.sleep(0.02)


@dataclass
class TargetRun:
    returncode: int
    states: list[dict]
    stderr: str


def run_target(config: dict, messages: list[dict], tmp_path: Path, *, env: dict | None = None,
               timeout: float = 120) -> TargetRun:
    """Run `target-netsuite` as a subprocess with the messages on stdin (as Meltano does)."""
    config_file = tmp_path / "target-config.json"
    config_file.write_text(json.dumps(config))
    stdin = "".join(json.dumps(message) + "\n" for message in messages)
    result = subprocess.run(
        [TARGET_EXE, "--config", str(config_file)],
        input=stdin, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, check=False,
    )
    states = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return TargetRun(result.returncode, states, result.stderr)


def dead_letters(config: dict) -> list[dict]:
    """Every dead letter written under the configured directory."""
    directory = Path(config["dead_letter_path"])
    if not directory.exists():
        return []
    return [json.loads(line) for file in sorted(directory.glob("*.jsonl")) for line in file.read_text().splitlines()]
