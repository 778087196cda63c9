"""`follow_seconds`: one run reads again every `follow_poll_seconds`, each read from the last one's bookmark, and
ends each read with a STATE (the target drains on it). Through the real tap process and real HTTP, and the read
schedule alone with a fake clock."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path

from singer_taps import write_json
from tap_helpers import TAP, admin, reset, tap_config
from tap_salesforce_custom.follow import HeldStates, ReadSchedule


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _reads(follow: float, poll: float, read_takes: list[float]) -> tuple[list[float], float]:
    """When each read began, and when the schedule ended, for reads taking `read_takes` seconds (the last repeated)."""
    clock = FakeClock()
    began = []
    for number in ReadSchedule(follow, poll, clock=clock, sleep=clock.sleep):
        began.append(clock.now - 100)
        clock.now += read_takes[min(number, len(read_takes) - 1)]
    return began, clock.now - 100


def test_without_follow_the_run_reads_once() -> None:
    assert _reads(0, 30, [5]) == ([0], 5)


def test_reads_start_every_poll_until_follow_has_passed() -> None:
    began, ended = _reads(60, 15, [4])
    assert began == [0, 15, 30, 45]  # no read starts at or after 60 s
    assert ended == 49


def test_a_read_longer_than_the_poll_is_followed_at_once() -> None:
    began, _ = _reads(60, 15, [4, 20, 4])
    assert began == [0, 15, 35, 50]


def test_a_read_that_overran_the_poll_is_old() -> None:
    clock = FakeClock()
    schedule = ReadSchedule(60, 15, clock=clock, sleep=clock.sleep)
    overran = []
    for _number in schedule:
        clock.now += 20 if not overran else 4
        overran.append(schedule.overran())
    assert overran[:2] == [True, False]


def test_held_states_go_out_once_released_and_only_the_latest() -> None:
    written: list[dict] = []

    class Writer:
        def write_message(self, message: object) -> None:
            written.append(message.value)  # type: ignore[attr-defined]

    states = HeldStates(Writer())  # type: ignore[arg-type]
    states.write_state({"n": 1})
    states.holding = True
    states.write_state({"n": 2})
    states.write_state({"n": 3})
    assert written == [{"n": 1}]
    states.release({"n": 3})
    states.release({"n": 3})  # nothing held any more: nothing written
    assert written == [{"n": 1}, {"n": 3}]


def test_a_change_made_during_a_followed_run_arrives_in_a_later_read_of_it(tmp_path: Path) -> None:
    reset(accounts=6)
    config = tap_config(follow_seconds=600, follow_poll_seconds=1)
    tmp_path.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([TAP, "--config", write_json(tmp_path / "config.json", config)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines: queue.Queue[dict] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(line)) for line in process.stdout], daemon=True).start()

    def next_message(timeout: float = 60) -> dict:
        return lines.get(timeout=timeout)

    try:
        first: list[dict] = []
        while len(first) < 6:  # the first read: every Account, then its STATE
            message = next_message()
            if message["type"] == "RECORD":
                first.append(message["record"])
        while next_message()["type"] != "STATE":
            pass
        account = sorted(first, key=lambda r: r["Id"])[0]
        admin("PATCH", f"records/Account/{account['Id']}", {"Name": "Renamed While Followed"})
        deadline = time.monotonic() + 60
        later: dict | None = None
        while later is None and time.monotonic() < deadline:
            message = next_message()
            if message["type"] == "RECORD" and message["record"]["Name"] == "Renamed While Followed":
                later = message["record"]
        assert later is not None and later["Id"] == account["Id"]
        while (state := next_message())["type"] != "STATE":  # that read ends with a STATE past the change
            pass
        assert state["value"]["bookmarks"]["Account"]["replication_key_value"] >= later["SystemModstamp"]
        assert process.poll() is None  # still the same run
    finally:
        process.terminate()
        process.wait(timeout=60)
