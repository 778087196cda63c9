"""Dead letters (records NetSuite refused for good), the run summary, and the replay command.

A dead letter is one JSON line in `<dead_letter_path>/<run id>.jsonl`, written the moment the record fails, with
everything needed to understand and resend it: the payload as the target received it (references still by
external id), stream, external id, NetSuite error code, detail, error path and time. Nothing about the
connection (URLs with credentials, headers, tokens) is ever part of an entry.

Replay turns dead-letter files back into Singer messages, so they go through the very same target:

    target-netsuite-replay dead_letters/<run id>.jsonl | target-netsuite --config config.json

A letter stops waiting once its record is written: when the target writes a key (record type, external id) that
has a waiting letter, it appends `{"record_type", "externalId", "time"}` to `<dead_letter_path>/resolved.ndjson`.
A letter is *waiting* when no resolution of its key is as recent as it and it is the latest letter of its key;
replay sends only waiting letters (never an old payload over data written since), and `pipeline-ops
dead-letters` lists only them. Replay marks each record with `_sdc_replay`: the target then sends it even when
NetSuite refused that very payload before (a payload refused before and unchanged since is otherwise not sent again
while its letter waits; it counts `still_refused`). Replay reads and checks every line before it prints anything: a
line that is not a dead letter stops it, naming the file and line, with nothing sent.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import threading
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from target_netsuite.client import json_default

MAPPING_ERROR = "MAPPING_ERROR"
RESOLVED_FILE = "resolved.ndjson"  # not `*.jsonl`: it holds no dead letters
#: Control key replay adds to each record: an explicit replay sends a payload NetSuite refused before, unchanged.
REPLAY_KEY = "_sdc_replay"

Key = tuple[str, str]  # (record type, external id)


class ReplayError(Exception):
    """A dead-letter file that cannot be replayed; the message names the file and line."""


def resolved_keys(directory: Path) -> dict[Key, str]:
    """When each key was last written after a dead letter (ISO times), from `resolved.ndjson`."""
    path = directory / RESOLVED_FILE
    if not path.exists():
        return {}
    resolved: dict[Key, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            key = (str(entry["record_type"]), str(entry["externalId"]))
            resolved[key] = max(resolved.get(key, ""), str(entry["time"]))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line after a crash: that resolution is simply not known
    return resolved


def letter_key(entry: dict) -> Key | None:
    external_id, record_type = entry.get("externalId"), entry.get("record_type")
    return (record_type, external_id) if isinstance(external_id, str) and isinstance(record_type, str) else None


def waiting(entries: list[dict], resolved: dict[Key, str]) -> list[dict]:
    """The letters still waiting: not resolved since, and the latest of their key."""
    latest: dict[Key, str] = {}
    for entry in entries:
        key = letter_key(entry)
        if key is not None:
            latest[key] = max(latest.get(key, ""), str(entry["time"]))
    kept = []
    for entry in entries:
        key = letter_key(entry)
        if key is None:
            kept.append(entry)
        elif str(entry["time"]) == latest[key] and resolved.get(key, "") < latest[key]:
            kept.append(entry)
            latest[key] = "\uffff"  # one letter per key even when two share a time
    return kept


@dataclass
class DeadLetterStore:
    """Append-only JSON Lines file for one run, created on the first dead letter."""

    directory: Path
    run_id: str
    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _file: t.TextIO | None = field(default=None, repr=False)
    _waiting: set[Key] | None = field(default=None, repr=False)

    def _waiting_keys(self) -> set[Key]:
        """Keys with a waiting letter in any file of the directory, read once (call with the lock held)."""
        if self._waiting is None:
            entries = []
            for file in sorted(self.directory.glob("*.jsonl")) if self.directory.exists() else []:
                for line in file.read_text(encoding="utf-8").splitlines():
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(entry, dict) and "time" in entry:
                        entries.append(entry)
            self._waiting = {key for e in waiting(entries, resolved_keys(self.directory)) if (key := letter_key(e))}
        return self._waiting

    def is_waiting(self, record_type: str, external_id: str) -> bool:
        """Whether a letter of this key is waiting (not resolved since, in any file of the directory)."""
        with self._lock:
            return (record_type, external_id) in self._waiting_keys()

    def resolve(self, record_type: str, external_id: str) -> None:
        """The key was written: a letter waiting for it is resolved (noted in `resolved.ndjson`)."""
        with self._lock:
            keys = self._waiting_keys()
            if (record_type, external_id) not in keys:
                return
            keys.discard((record_type, external_id))
            entry = {"time": datetime.datetime.now(tz=datetime.UTC).isoformat(), "run_id": self.run_id,
                     "record_type": record_type, "externalId": external_id}
            with (self.directory / RESOLVED_FILE).open("a", encoding="utf-8") as resolved:
                resolved.write(json.dumps(entry) + "\n")

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
            if external_id is not None:
                self._waiting_keys().add((record_type, external_id))
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
    untouched; "created"/"updated" come from the matcher's existence lookup (unchanged counts as updated).

    With a `logger`, a long load also logs `Progress: {stream, done, written, dead_lettered, deleted, rate}` for
    the stream being written at most every `progress_interval` seconds (the tap's progress lines carry the
    expected totals; the target cannot know how many records are still to come)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    logger: logging.Logger | None = None
    progress_interval: float = 30.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _started: float = field(default_factory=time.monotonic, repr=False)
    _last_progress: float = field(default_factory=time.monotonic, repr=False)

    def add(self, stream: str, outcome: str, n: int = 1) -> None:
        with self._lock:
            counter = self.counts.setdefault(stream, Counter())
            counter[outcome] += n
            now = time.monotonic()
            if self.logger is None or now - self._last_progress < self.progress_interval:
                return
            self._last_progress = now
            done = (counter["written"] + counter["dead_lettered"] + counter["deleted"] + counter["unchanged"]
                    + counter["still_refused"])
            line = {"stream": stream, "done": done, "written": counter["written"],
                    "dead_lettered": counter["dead_lettered"], "deleted": counter["deleted"],
                    "rate": round(done / max(now - self._started, 1e-6), 1)}
        self.logger.info("Progress: %s", json.dumps(line))

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {stream: dict(sorted(counter.items())) for stream, counter in sorted(self.counts.items())}

    def total(self, outcome: str) -> int:
        with self._lock:
            return sum(counter[outcome] for counter in self.counts.values())


def read_letters(files: list[Path]) -> list[dict]:
    """Every dead letter of the files, each checked; `ReplayError` names the first line that is not one."""
    entries = []
    for file in files:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{file}: cannot read it ({type(exc).__name__})"
            raise ReplayError(msg) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not (isinstance(entry, dict) and isinstance(entry.get("stream"), str)
                    and isinstance(entry.get("payload"), dict) and isinstance(entry.get("time"), str)):
                msg = f"{file} line {number}: not a dead letter (a JSON object with stream, time and payload)"
                raise ReplayError(msg)
            entries.append({**entry, "_dir": file.parent})
    return entries


def replay_messages(files: list[Path], *, include_mapping_errors: bool) -> t.Iterator[dict]:
    """Singer SCHEMA/RECORD messages re-sending each still-waiting dead letter's payload to its stream.

    Every line is read and checked first (a `ReplayError` before any message); letters whose record was written
    since, or that a newer letter of the same key supersedes, are skipped."""
    entries = read_letters(files)
    resolved: dict[Key, str] = {}
    for directory in {entry["_dir"] for entry in entries}:
        for key, resolved_at in resolved_keys(directory).items():
            resolved[key] = max(resolved.get(key, ""), resolved_at)
    schemas_sent: set[str] = set()
    for entry in waiting(entries, resolved):
        if entry.get("code") == MAPPING_ERROR and not include_mapping_errors:
            continue
        stream = entry["stream"]
        if stream not in schemas_sent:
            schemas_sent.add(stream)
            # Permissive schema and no key properties: payloads are NetSuite REST bodies of any shape, and
            # a record still lacking an external id must be dead-lettered again rather than stop the run.
            yield {"type": "SCHEMA", "stream": stream, "key_properties": [],
                   "schema": {"type": "object", "properties": {}, "additionalProperties": True}}
        yield {"type": "RECORD", "stream": stream, "record": {**entry["payload"], REPLAY_KEY: True}}


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
    try:
        messages = list(replay_messages(args.files, include_mapping_errors=args.include_mapping_errors))
    except ReplayError as exc:
        sys.stderr.write(f"target-netsuite-replay: {exc}; nothing replayed\n")
        return 1
    for message in messages:
        sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    count = sum(message["type"] == "RECORD" for message in messages)
    sys.stderr.write(f"target-netsuite-replay: {count} records\n")
    return 0
