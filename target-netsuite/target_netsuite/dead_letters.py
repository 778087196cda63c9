"""Dead letters (records NetSuite refused for good), the run summary, and the replay command.

A dead letter is one JSON line in `<dead_letter_path>/<run id>.jsonl`, written the moment the record fails, with
everything needed to understand and resend it: the payload as the target received it (references still by
external id), stream, external id, NetSuite error code, detail, error path and time. Nothing about the
connection (URLs with credentials, headers, tokens) is ever part of an entry.

Replay turns dead-letter files back into Singer messages, so they go through the very same target:

    target-netsuite-replay dead_letters/<run id>.jsonl | target-netsuite --config config.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import threading
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from target_netsuite.client import json_default

MAPPING_ERROR = "MAPPING_ERROR"


@dataclass
class DeadLetterStore:
    """Append-only JSON Lines file for one run, created on the first dead letter."""

    directory: Path
    run_id: str
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _file: t.TextIO | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return self.directory / f"{self.run_id}.jsonl"

    def add(
        self,
        *,
        stream: str,
        record_type: str,
        external_id: str | None,
        code: str,
        detail: str,
        payload: dict,
        action: str = "upsert",
        status: int | None = None,
        path: str | None = None,
    ) -> None:
        entry = {
            "time": datetime.datetime.now(tz=datetime.UTC).isoformat(),
            "run_id": self.run_id,
            "stream": stream,
            "record_type": record_type,
            "externalId": external_id,
            "action": action,
            "status": status,
            "code": code,
            "detail": detail,
            "path": path,
            "payload": payload,
        }
        line = json.dumps(entry, default=json_default, ensure_ascii=False)
        with self._lock:
            if self._file is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclass
class RunSummary:
    """Per-stream outcome counts. NetSuite's upsert answers 204 whether it created, changed or left a record
    untouched; "created"/"updated" come from the matcher's existence lookup (unchanged counts as updated)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stream: str, outcome: str, n: int = 1) -> None:
        with self._lock:
            self.counts.setdefault(stream, Counter())[outcome] += n

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {stream: dict(sorted(counter.items())) for stream, counter in sorted(self.counts.items())}

    def total(self, outcome: str) -> int:
        with self._lock:
            return sum(counter[outcome] for counter in self.counts.values())


def replay_messages(files: list[Path], *, include_mapping_errors: bool) -> t.Iterator[dict]:
    """Singer SCHEMA/RECORD messages re-sending each dead letter's payload to its stream."""
    schemas_sent: set[str] = set()
    for file in files:
        with file.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                entry = json.loads(line)
                if entry["code"] == MAPPING_ERROR and not include_mapping_errors:
                    continue
                stream = entry["stream"]
                if stream not in schemas_sent:
                    schemas_sent.add(stream)
                    # Permissive schema and no key properties: payloads are NetSuite REST bodies of any shape, and
                    # a record still lacking an external id must be dead-lettered again rather than stop the run.
                    yield {"type": "SCHEMA", "stream": stream, "key_properties": [],
                           "schema": {"type": "object", "properties": {}, "additionalProperties": True}}
                yield {"type": "RECORD", "stream": stream, "record": entry["payload"]}


def replay_main(argv: list[str] | None = None) -> int:
    """Console script `target-netsuite-replay`: print dead letters as Singer messages for the target's stdin."""
    parser = argparse.ArgumentParser(
        prog="target-netsuite-replay",
        description="Turn dead-letter files into Singer messages; pipe them into target-netsuite to resend them.",
    )
    parser.add_argument("files", nargs="+", type=Path, help="dead-letter JSON Lines files")
    parser.add_argument(
        "--include-mapping-errors",
        action="store_true",
        help="also resend MAPPING_ERROR letters (they fail again unless the payload was fixed by hand; the usual "
        "fix is to correct the mapping and re-extract the records from the source)",
    )
    args = parser.parse_args(argv)
    count = 0
    for message in replay_messages(args.files, include_mapping_errors=args.include_mapping_errors):
        sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
        count += message["type"] == "RECORD"
    sys.stderr.write(f"target-netsuite-replay: {count} records\n")
    return 0
