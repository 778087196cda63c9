"""Dead-letter replay safety (issue 13): a garbage line stops replay before anything is sent, naming the line; a
letter whose record was written since is resolved, never replayed over newer data, and no longer listed by
`pipeline-ops dead-letters`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from target_helpers import CUSTOMER_SCHEMA, NetSuiteAdmin, customer, dead_letters, run_target, state

REPLAY = str(Path(sys.executable).with_name("target-netsuite-replay"))
PIPELINE_OPS = str(Path(sys.executable).with_name("pipeline-ops"))


def _replay(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REPLAY, *map(str, files)], capture_output=True, text=True, timeout=60, check=False)


def test_a_garbage_line_stops_replay_before_anything_is_sent(admin: NetSuiteAdmin, config: dict,
                                                              tmp_path: Path) -> None:
    admin.knobs(reject_external_ids=["G1"])
    assert run_target(config, [CUSTOMER_SCHEMA, customer("G1"), state(1)], tmp_path).returncode == 0
    [file] = Path(config["dead_letter_path"]).glob("*.jsonl")
    file.write_text(file.read_text() + '{"stream": "customer", "payload": \n')
    result = _replay(file)
    assert result.returncode == 1 and result.stdout == ""
    assert f"{file} line 2: not a dead letter" in result.stderr and "Traceback" not in result.stderr


def test_a_letter_whose_record_was_written_since_is_not_replayed(admin: NetSuiteAdmin, config: dict,
                                                                  tmp_path: Path) -> None:
    admin.knobs(reject_external_ids=["D1"])
    old = customer("D1", "Old name")
    assert run_target(config, [CUSTOMER_SCHEMA, old, customer("D2"), state(1)], tmp_path).returncode == 0
    assert [letter["externalId"] for letter in dead_letters(config)] == ["D1"]
    listed = subprocess.run([PIPELINE_OPS, "dead-letters", "--path", config["dead_letter_path"]],
                            capture_output=True, text=True, timeout=60, check=False)
    assert "1 dead letters waiting" in listed.stdout, listed.stdout + listed.stderr

    admin.knobs(reject_external_ids=[])  # the cause is fixed, and a newer version of D1 is written
    assert run_target(config, [CUSTOMER_SCHEMA, customer("D1", "New name"), state(2)], tmp_path).returncode == 0
    files = sorted(Path(config["dead_letter_path"]).glob("*.jsonl"))
    replayed = _replay(*files)
    assert replayed.returncode == 0, replayed.stderr
    assert [json.loads(line)["type"] for line in replayed.stdout.splitlines()] == []
    assert "0 records" in replayed.stderr
    # Replaying anyway would write the old payload over the new one; nothing does.
    assert admin.by_external_id("customer")["D1"]["companyName"] == "New name"
    listed = subprocess.run([PIPELINE_OPS, "dead-letters", "--path", config["dead_letter_path"]],
                            capture_output=True, text=True, timeout=60, check=False)
    assert "No dead letters waiting" in listed.stdout, listed.stdout + listed.stderr
