"""`follow_seconds`: one run reads again every `follow_poll_seconds`, each read from the last one's bookmark, and
ends each read with a STATE (the target drains on it). Through the real tap process and real HTTP, and the read
schedule alone with a fake clock."""

from __future__ import annotations

import datetime as dt
import json
import queue
import subprocess
import threading
import time
from pathlib import Path

from singer_taps import write_json
from tap_helpers import TAP, admin, reset, tap_config
from tap_salesforce_custom.follow import HeldStates, ReadSchedule, SentVersions


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


class FollowedTap:
    """The real tap process following changes; its messages read in a thread, one at a time."""

    def __init__(self, tmp_path: Path, **settings: object) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        config = write_json(tmp_path / "config.json", tap_config(**settings))
        self.process = subprocess.Popen([TAP, "--config", config], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        stdout = self.process.stdout
        assert stdout is not None
        self.lines: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(json.loads(line)) for line in stdout], daemon=True).start()

    def next_message(self, timeout: float = 60) -> dict:
        return self.lines.get(timeout=timeout)

    def records_to_state(self) -> list[dict]:
        """The records up to the next STATE (a read's end)."""
        records = []
        while (message := self.next_message())["type"] != "STATE":
            if message["type"] == "RECORD":
                records.append(message["record"])
        return records

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def test_a_change_made_during_a_followed_run_arrives_in_a_later_read_of_it(tmp_path: Path) -> None:
    reset(accounts=6)
    tap = FollowedTap(tmp_path, follow_seconds=600, follow_poll_seconds=1)
    try:
        first: list[dict] = []
        while len(first) < 6:  # the first read: every Account, then its STATE
            first += tap.records_to_state()
        account = sorted(first, key=lambda r: r["Id"])[0]
        admin("PATCH", f"records/Account/{account['Id']}", {"Name": "Renamed While Followed"})
        deadline = time.monotonic() + 60
        later: dict | None = None
        while later is None and time.monotonic() < deadline:
            message = tap.next_message()
            if message["type"] == "RECORD" and message["record"]["Name"] == "Renamed While Followed":
                later = message["record"]
        assert later is not None and later["Id"] == account["Id"]
        while (state := tap.next_message())["type"] != "STATE":  # that read ends with a STATE past the change
            pass
        assert state["value"]["bookmarks"]["Account"]["replication_key_value"] >= later["SystemModstamp"]
        assert tap.process.poll() is None  # still the same run
    finally:
        tap.stop()


def test_a_followed_run_sends_each_version_of_a_record_once(tmp_path: Path) -> None:
    """Every read re-reads the lookback window; what this run already sent unchanged is left out of later reads,
    and a record changed again (even back to an earlier value) is sent again."""
    reset(accounts=6)
    ids = sorted(r["Id"] for r in admin("GET", "records/Account")["records"] if not r.get("IsDeleted"))
    for record_id in ids[:3]:  # changed just now: inside every read's lookback window
        admin("PATCH", f"records/Account/{record_id}", {"Name": f"Recent {record_id}"})
    tap = FollowedTap(tmp_path, follow_seconds=600, follow_poll_seconds=1, lookback_seconds=600)
    try:
        first: list[dict] = []
        while len(first) < 6:
            first += tap.records_to_state()
        assert sorted(r["Id"] for r in first) == ids
        later = tap.records_to_state() + tap.records_to_state()  # two more reads of the same window
        assert later == []
        admin("PATCH", f"records/Account/{ids[0]}", {"Name": "Changed Again"})
        admin("PATCH", f"records/Account/{ids[1]}", {"Name": "Changed Again"})
        changed: list[dict] = []
        deadline = time.monotonic() + 60
        while len(changed) < 2 and time.monotonic() < deadline:
            changed += tap.records_to_state()
        assert sorted((r["Id"], r["Name"]) for r in changed) == [(ids[0], "Changed Again"), (ids[1], "Changed Again")]
        admin("PATCH", f"records/Account/{ids[0]}", {"Name": f"Recent {ids[0]}"})  # back to a value sent before
        back: list[dict] = []
        deadline = time.monotonic() + 60
        while not back and time.monotonic() < deadline:
            back += tap.records_to_state()
        assert [(r["Id"], r["Name"]) for r in back] == [(ids[0], f"Recent {ids[0]}")]
        assert tap.records_to_state() == []
    finally:
        tap.stop()


def test_sent_versions_remember_only_while_following_and_only_inside_the_window() -> None:
    sent = SentVersions()
    record = {"Id": "001A", "Name": "Acme", "SystemModstamp": "2026-12-07T10:00:00.000000+00:00"}
    assert not sent.already_sent("Account", record, "SystemModstamp")
    assert not sent.already_sent("Account", record, "SystemModstamp")  # inactive: remembers nothing
    sent.active = True
    assert not sent.already_sent("Account", record, "SystemModstamp")
    assert sent.already_sent("Account", dict(record), "SystemModstamp")
    assert not sent.already_sent("Contact", dict(record), "SystemModstamp")  # per stream
    assert not sent.already_sent("Account", {**record, "Name": "Acme Ltd"}, "SystemModstamp")
    assert not sent.already_sent("Account", record, "SystemModstamp")  # back to the first version: sent again
    assert not sent.already_sent("Thing", {"Id": "x1"}, None)  # no replication key: never remembered
    assert not sent.already_sent("Thing", {"Id": "x1"}, None)
    sent.forget_before("Account", dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC))  # at the stamp: kept
    assert sent.already_sent("Account", record, "SystemModstamp")
    sent.forget_before("Account", dt.datetime(2026, 12, 7, 10, 0, 1, tzinfo=dt.UTC))
    assert not sent.already_sent("Account", record, "SystemModstamp")
    assert sent.left_out == 2
