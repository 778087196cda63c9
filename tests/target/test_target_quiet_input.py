"""A tap that follows changes (tap-salesforce-custom `follow_seconds`) ends each read with a STATE and then goes
quiet until its next read, keeping the pipe open. The target must write what it holds on that STATE once
`checkpoint_interval_seconds` have passed, and print the STATE, without waiting for end of input or for the
next record (the SDK checks the age only when a record arrives). Real target process, real HTTP."""

from __future__ import annotations

import json
import queue
import subprocess
import threading

from target_helpers import CUSTOMER_SCHEMA, TARGET_EXE, customer


def _state(read: int) -> dict:
    return {"type": "STATE", "value": {"bookmarks": {"customer": {"read": read}}}}


class RunningTarget:
    """The target reading a pipe the test keeps open, its printed STATE lines collected by a thread."""

    def __init__(self, config: dict, tmp_path, **settings: object) -> None:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps({**config, **settings}))
        self.process = subprocess.Popen([TARGET_EXE, "--config", str(config_file)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin
        self.printed: queue.Queue[str] = queue.Queue()
        out = self.process.stdout
        threading.Thread(target=lambda: [self.printed.put(line) for line in out], daemon=True).start()

    def send(self, *messages: dict) -> None:
        self.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        self.stdin.flush()

    def end(self) -> int:
        self.stdin.close()
        return self.process.wait(timeout=120)


def test_records_before_a_state_are_written_while_the_input_stays_open(admin, config, tmp_path) -> None:
    target = RunningTarget(config, tmp_path, checkpoint_interval_seconds=1)
    try:
        target.send(CUSTOMER_SCHEMA, customer("Q1", "Quiet Co 1"), customer("Q2", "Quiet Co 2"), _state(1))
        emitted = None
        for read in range(2, 200):  # then empty reads, each ending with its STATE, the input staying open
            try:
                emitted = json.loads(target.printed.get(timeout=0.5))
                break
            except queue.Empty:
                target.send(_state(read))
        assert emitted is not None, "no STATE printed while the input stayed open"
        assert emitted["bookmarks"]["customer"]["read"] >= 1
        assert set(admin.by_external_id("customer")) == {"Q1", "Q2"}  # written before the STATE was printed
        assert target.process.poll() is None
    finally:
        returncode = target.end()
    assert returncode == 0


def test_drain_on_state_writes_at_the_first_state_whatever_the_interval(admin, config, tmp_path) -> None:
    target = RunningTarget(config, tmp_path, checkpoint_interval_seconds=3600, drain_on_state=True)
    try:
        target.send(CUSTOMER_SCHEMA, customer("D1", "Drained Co 1"), _state(1))
        assert json.loads(target.printed.get(timeout=60))["bookmarks"]["customer"]["read"] == 1  # input still open
        assert set(admin.by_external_id("customer")) == {"D1"}
    finally:
        returncode = target.end()
    assert returncode == 0


def test_drain_on_state_takes_the_reads_already_waiting_into_one_batch(admin, config, tmp_path) -> None:
    """A tap following changes that read on while the target wrote leaves its later reads waiting in the pipe. The
    target takes them into the batch of the first STATE: one write per record (the latest version of a record read
    twice) and only the latest STATE printed. A STATE after which nothing waits is still written at once."""
    target = RunningTarget(config, tmp_path, checkpoint_interval_seconds=3600, drain_on_state=True)
    try:
        # Three reads in one write of under 4 KiB (atomic on a pipe): all waiting when the first STATE is read.
        target.send(CUSTOMER_SCHEMA, customer("W1", "Waiting Co 1"), _state(1),
                    customer("W2", "Waiting Co 2"), customer("W1", "Waiting Co 1, renamed"), _state(2),
                    customer("W3", "Waiting Co 3"), _state(3))
        assert json.loads(target.printed.get(timeout=60))["bookmarks"]["customer"]["read"] == 3
        customers = admin.by_external_id("customer")
        assert sorted(customers) == ["W1", "W2", "W3"]
        assert customers["W1"]["companyName"] == "Waiting Co 1, renamed"
        assert admin.stats()["writes"]["created"] == 3  # W1 once, in its latest version

        target.send(customer("W4", "Waiting Co 4"), _state(4))  # nothing waits after this STATE: written at once
        assert json.loads(target.printed.get(timeout=60))["bookmarks"]["customer"]["read"] == 4
        assert "W4" in admin.by_external_id("customer")
        assert target.printed.empty()
    finally:
        returncode = target.end()
    assert returncode == 0


def test_with_input_always_waiting_checkpoint_interval_still_bounds_the_wait(admin, config, tmp_path) -> None:
    """A file is input that is always already there: with `drain_on_state` every STATE but the last would join the
    next batch, so `checkpoint_interval_seconds` is what checkpoints (0: at every STATE; an hour: only at the end)."""
    lines = [CUSTOMER_SCHEMA, customer("F1"), _state(1), customer("F2"), _state(2), customer("F3"), _state(3)]
    source = tmp_path / "input.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    printed = {}
    for interval in (0, 3600):
        config_file = tmp_path / f"config-{interval}.json"
        config_file.write_text(json.dumps({**config, "drain_on_state": True, "checkpoint_interval_seconds": interval}))
        with source.open() as stdin:
            done = subprocess.run([TARGET_EXE, "--config", str(config_file)], stdin=stdin, capture_output=True,
                                  text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        printed[interval] = [json.loads(line)["bookmarks"]["customer"]["read"] for line in done.stdout.splitlines()]
    # 0: each STATE is checkpointed when it comes (the SDK's age check on the next record prints it once more).
    assert list(dict.fromkeys(printed[0])) == [1, 2, 3]
    assert printed[3600] == [3]
    assert sorted(admin.by_external_id("customer")) == ["F1", "F2", "F3"]
