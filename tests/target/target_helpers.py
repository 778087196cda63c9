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

import requests

TARGET_EXE = str(Path(sys.executable).with_name("target-netsuite"))
DEMO_TBA = {
    "account_id": "1234567_SB1",
    "consumer_key": "sandbox-consumer-key",
    "consumer_secret": "sandbox-consumer-secret",
    "token_id": "sandbox-token-id",
    "token_secret": "sandbox-token-secret",
}
QUIET_KNOBS = {
    "concurrency_limit": 5, "latency_ms": 0, "error_rate_500": 0, "error_rate_429": 0, "drop_rate": 0,
    "slow_rate": 0, "locked_rate": 0, "error_script": [], "reject_external_ids": [],
    "reject_external_id_pattern": None, "send_retry_after": True, "pool_held_s": 0, "forbidden_record_types": [],
    "suiteql_forbidden": False,
}
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


class NetSuiteAdmin:
    """The sandbox's admin API (docs/interfaces.md)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def reset(self, **knobs: object) -> None:
        requests.post(f"{self.base_url}/__admin/reset", json={"knobs": True}, timeout=10).raise_for_status()
        self.knobs(**{**QUIET_KNOBS, **knobs})

    def knobs(self, **values: object) -> None:
        response = requests.post(f"{self.base_url}/__admin/knobs", json=values, timeout=10)
        assert response.status_code == 200, response.text

    def records(self, record_type: str) -> list[dict]:
        response = requests.get(f"{self.base_url}/__admin/records/{record_type}", timeout=10)
        response.raise_for_status()
        return response.json()["records"]

    def by_external_id(self, record_type: str) -> dict[str, dict]:
        return {r["externalId"]: r for r in self.records(record_type) if r.get("externalId")}

    def stats(self) -> dict:
        return requests.get(f"{self.base_url}/__admin/stats", timeout=10).json()

    def request_log(self) -> list[dict]:
        return requests.get(f"{self.base_url}/__admin/requests", timeout=10).json()

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
