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


CONTACT_SCHEMA = {
    "type": "SCHEMA", "stream": "contact", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {"externalId": {"type": "string"}, "lastName": {"type": "string"},
                                                "company": {"type": "object"}, "subsidiary": {"type": "object"}}},
}
#: Children first: 120 contacts whose customers come only at the end of the input (as a tap reading children first
#: would send them), a STATE after every 10 records.
CHILD_FIRST = [
    *[{"type": "RECORD", "stream": "contact", "record": {
        "externalId": f"KC{i:03}", "lastName": f"Contact {i}", "subsidiary": {"id": "1"},
        "company": {"externalId": f"PC{i % 12:02}", "type": "customer"}}} for i in range(120)],
    *[customer(f"PC{i:02}") for i in range(12)],
]


def _child_first_from(position: int) -> list[dict]:
    messages: list[dict] = [CONTACT_SCHEMA, CUSTOMER_SCHEMA]
    for index in range(position, len(CHILD_FIRST)):
        messages.append(CHILD_FIRST[index])
        if (index + 1) % 10 == 0 or index + 1 == len(CHILD_FIRST):
            messages.append({"type": "STATE", "value": {"bookmarks": {"all": {"position": index + 1}}}})
    return messages


def test_parked_children_survive_kills_and_reach_netsuite(admin, config, tmp_path) -> None:
    """Children parked for a parent that comes later, SIGKILLs at random moments, reruns from the last STATE:
    every contact ends in NetSuite with its company, none dead-lettered, none twice; a STATE never covers a child
    that is neither in NetSuite nor parked."""
    from target_netsuite.parking import ParkedRecords

    admin.knobs(latency_ms={"mean": 40, "jitter": 20}, random_seed=3)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**config, "checkpoint_interval_seconds": 0.1, "batch_size_rows": 15}))
    parked_file = tmp_path / "dead_letters" / "parked.sqlite3"
    rng = random.Random(20)
    position = 0
    kills = 0

    def progress() -> int:
        waiting = len(list(ParkedRecords(parked_file).all())) if parked_file.exists() else 0
        return waiting + len(admin.records("contact")) + len(admin.records("customer"))

    for attempt in range(4):
        stdin_file = tmp_path / f"input-{attempt}.jsonl"
        stdin_file.write_text("".join(json.dumps(m) + "\n" for m in _child_first_from(position)))
        with stdin_file.open() as stdin:
            process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=stdin,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if attempt < 3:  # kill once this run has made progress, at a random moment
                before, deadline = progress(), time.monotonic() + 60
                while progress() == before and process.poll() is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                time.sleep(rng.uniform(0, 0.4))
                process.send_signal(signal.SIGKILL)
            stdout, _ = process.communicate(timeout=120)
        kills += process.returncode == -signal.SIGKILL
        states = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        written = set(admin.by_external_id("contact"))
        waiting = {p.external_id for p in ParkedRecords(parked_file).all()} if parked_file.exists() else set()
        for value in states:
            covered = value["bookmarks"]["all"]["position"]
            children = {r["record"]["externalId"] for r in CHILD_FIRST[:covered] if r["stream"] == "contact"}
            assert children <= written | waiting
        if states:
            position = states[-1]["bookmarks"]["all"]["position"]
    assert kills >= 2  # the runs really were cut off
    contacts = admin.by_external_id("contact")
    customers = admin.by_external_id("customer")
    assert sorted(contacts) == [f"KC{i:03}" for i in range(120)]
    assert len(admin.records("contact")) == 120
    for i in range(120):
        assert contacts[f"KC{i:03}"]["company"]["id"] == customers[f"PC{i % 12:02}"]["id"]
    assert list(ParkedRecords(parked_file).all()) == []
    assert not list((tmp_path / "dead_letters").glob("*.jsonl"))
