"""Dead letters: records Salesforce refused for good, one JSON line each in `<dead_letter_path>/<run id>.jsonl`.

Invariant: a letter is written (and flushed) before the batch that holds its record is reported done, so a STATE
the target emits afterwards never covers a record that is neither written nor dead-lettered. A letter holds what is
needed to understand and resend the record: stream, sObject, operation, key field and value, Salesforce's error
(statusCode, message, fields), the time, and the record as received. Nothing about the connection (URLs, headers,
tokens) is ever part of a letter.

Replay turns letters back into Singer messages for the very same target, once the cause is fixed:

    target-salesforce-custom-replay dead_letters/salesforce/<run id>.jsonl | target-salesforce-custom --config c.json

It reads and checks every line before it prints anything (a line that is not a dead letter stops it with one line
naming the file and line, nothing printed), and prints no STATE: a replay never moves a bookmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from target_salesforce_custom.settings import StreamTarget
    from target_salesforce_custom.writes import Outcome


class DeadLetters:
    """The run's dead-letter file, opened on the first letter."""

    def __init__(self, directory: str, run_id: str) -> None:
        self.path = Path(directory) / f"{run_id}.jsonl"
        self.count = 0
        self.codes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._handle: t.TextIO | None = None

    def write(self, stream: str, target: StreamTarget, outcome: Outcome) -> None:
        entry = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "stream": stream,
            "sobject": target.sobject,
            "operation": target.operation,
            "key_field": target.key_field,
            "key": outcome.key,
            "error_code": outcome.code,
            "message": outcome.message,
            "fields": outcome.fields,
            "via": outcome.via,
            "record": outcome.record,
        }
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a", encoding="utf-8")
            self._handle.write(line)
            self._handle.flush()
            self.count += 1
            self.codes[outcome.code] = self.codes.get(outcome.code, 0) + 1

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


class ReplayError(Exception):
    """A dead-letter file that cannot be replayed; the message names the file and line."""


def replay_messages(paths: list[Path]) -> list[dict[str, t.Any]]:
    """SCHEMA and RECORD messages for every letter of `paths`, streams in order of first appearance."""
    records: dict[str, list[dict[str, t.Any]]] = {}
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            msg = f"{path}: cannot read it ({exc.strerror})"
            raise ReplayError(msg) from None
        for number, line in enumerate(lines, start=1):
            try:
                letter = json.loads(line)
                stream, record = letter["stream"], letter["record"]
                if not isinstance(stream, str) or not isinstance(record, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                msg = f"{path} line {number}: not a dead letter of target-salesforce-custom"
                raise ReplayError(msg) from None
            records.setdefault(stream, []).append(record)
    messages: list[dict[str, t.Any]] = []
    for stream, rows in records.items():
        properties: dict[str, dict[str, t.Any]] = {name: {} for row in rows for name in row}
        messages.append({"type": "SCHEMA", "stream": stream, "key_properties": [],
                         "schema": {"type": "object", "properties": properties}})
        messages += [{"type": "RECORD", "stream": stream, "record": row} for row in rows]
    return messages


def replay_main(argv: list[str] | None = None) -> None:
    """`target-salesforce-custom-replay FILE...`: the letters as Singer messages on stdout."""
    parser = argparse.ArgumentParser(prog="target-salesforce-custom-replay",
                                     description="Print dead letters as Singer messages, for target-salesforce-custom.")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        messages = replay_messages(args.files)
    except ReplayError as exc:
        print(f"target-salesforce-custom-replay: {exc}", file=sys.stderr)
        sys.exit(1)
    for message in messages:
        sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
