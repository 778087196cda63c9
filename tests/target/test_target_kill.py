"""SIGKILL (or SIGTERM) the target at random moments while it writes, rerun from the last STATE it printed (as
Meltano does): the state never runs ahead of NetSuite, and NetSuite ends with exactly the source's records."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time

import pytest
from target_helpers import CUSTOMER_SCHEMA, TARGET_EXE, customer

SOURCE = [customer(f"K{i:03}", f"Killed Co {i}", phone=f"555-{i:04}") for i in range(300)]


def _messages_from(position: int) -> list[dict]:
    """What a tap would send from a bookmark: the records from `position` on, a STATE after every 10."""
    messages: list[dict] = [CUSTOMER_SCHEMA]
    for index in range(position, len(SOURCE)):
        messages.append(SOURCE[index])
        if (index + 1) % 10 == 0 or index + 1 == len(SOURCE):
            messages.append({"type": "STATE", "value": {"bookmarks": {"customer": {"position": index + 1}}}})
    return messages


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_kill_then_rerun_never_loses_or_duplicates(admin, config, tmp_path, signum) -> None:
    """SIGTERM (Meltano cancelling a run) must not emit a STATE ahead of the writes either: the SDK's own handler
    drains and emits STATE from inside the signal handler, possibly in the middle of a drain."""
    admin.knobs(latency_ms={"mean": 25, "jitter": 15}, random_seed=11)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**config, "checkpoint_interval_seconds": 0.2, "batch_size_rows": 20}))
    rng = random.Random(20261128)
    position = 0
    kills = 0
    progress: list[int] = []
    for attempt in range(4):
        stdin_file = tmp_path / f"input-{attempt}.jsonl"
        stdin_file.write_text("".join(json.dumps(m) + "\n" for m in _messages_from(position)))
        written_before = len(admin.records("customer"))
        with stdin_file.open() as stdin:
            process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=stdin,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if attempt < 3:  # kill once writing is under way, at a random moment
                deadline = time.monotonic() + 60
                while len(admin.records("customer")) < written_before + 20 and process.poll() is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                time.sleep(rng.uniform(0, 0.8))
                process.send_signal(signum)
            stdout, _ = process.communicate(timeout=120)
        kills += process.returncode in (-signum, 128 + signum)
        states = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        present = admin.by_external_id("customer")
        for value in states:  # every STATE printed covers only records already in NetSuite
            covered = value["bookmarks"]["customer"]["position"]
            assert {f"K{i:03}" for i in range(covered)} <= set(present)
        if states:
            position = states[-1]["bookmarks"]["customer"]["position"]
        progress.append(position)
    assert kills >= 2, "the target finished before it could be killed"
    assert any(0 < p < len(SOURCE) for p in progress[:3]), f"no checkpoint before a kill: {progress}"
    assert process.returncode == 0 and position == len(SOURCE)
    records = admin.records("customer")
    assert len(records) == len(SOURCE)
    assert {r["externalId"]: (r["companyName"], r["phone"]) for r in records} == {
        m["record"]["externalId"]: (m["record"]["companyName"], m["record"]["phone"]) for m in SOURCE
    }
