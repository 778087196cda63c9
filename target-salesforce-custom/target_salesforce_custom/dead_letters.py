"""Dead letters: records Salesforce refused for good, one JSON line each in `<dead_letter_path>/<run id>.jsonl`.

Invariant: a letter is written (and flushed) before the batch that holds its record is reported done, so a STATE
the target emits afterwards never covers a record that is neither written nor dead-lettered. A letter holds what is
needed to understand and resend the record: stream, sObject, operation, key field and value, Salesforce's error
(statusCode, message, fields), the time, and the record as received. Nothing about the connection (URLs, headers,
tokens) is ever part of a letter. Each line is a valid Singer RECORD once `record` is taken out, so a letter can be
replayed by feeding its `record` back to the target under its `stream`.
"""

from __future__ import annotations

import datetime as dt
import json
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
