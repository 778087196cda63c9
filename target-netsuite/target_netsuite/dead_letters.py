"""Dead letters (records NetSuite refused for good), the run summary, and the replay command.

A dead letter is one row of the table `dead_letters` in the target's store (`store_uri`: by default the SQLite
file `<dead_letter_path>/dead_letters.sqlite3`; with PostgreSQL, one table every host shares), committed the moment
the record fails, before the batch that refused it returns (so before any STATE covers it), with everything
needed to understand and resend it: the payload as the target received it (references still by external id),
stream, record type, external id, NetSuite error code, detail, error path and time. Nothing about the connection
(URLs with credentials, headers, tokens) is ever part of a letter. Its natural key is (run id, seq): the letter's
position in its run, which is also its line in the run's JSON Lines file.

With a store on this host's disk (no `store_uri`, or a `sqlite:///` one) each letter is also appended, after its
row is committed, to `<dead_letter_path>/<run id>.jsonl`, and each resolution to `resolved.ndjson`, as before the
store: people read those files, and `target-netsuite-replay FILE` still replays them. The rows are the truth; the
first run after an upgrade imports the folder's older files into the rows (idempotent, by the natural key). With a
PostgreSQL store no file is written: a container's disk is gone with it, and `pipeline-ops dead-letters export`
writes the JSON Lines for people from any host.

A letter waits until it is resolved: when the target writes its key (record type, external id) (resolution
`written`), when a newer letter of the same key arrives (`superseded`: never an old payload over newer data), or by
hand (`pipeline-ops dead-letters resolve`). Replay sends only waiting letters, and `pipeline-ops dead-letters` lists
only them. Replay marks each record with `_sdc_replay`: the target then sends it even when NetSuite refused that
very payload before (a payload refused before and unchanged since is otherwise not sent again while its letter
waits; it counts `still_refused`). Replay of files reads and checks every line before it prints anything: a line
that is not a dead letter stops it, naming the file and line, with nothing sent.

    target-netsuite-replay [--store-uri URI] | target-netsuite --config config.json   (the store's waiting letters)
    target-netsuite-replay dead_letters/<run id>.jsonl | target-netsuite --config config.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import sys
import threading
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from connector_kit.dead_letter_rows import (
    DEAD_LETTERS,
    DEAD_LETTERS_FILE,
    MAPPING_ERROR,
    METADATA,
    REPLAY_KEY,
    RESOLVED_FILE,
    Key,
    as_entry,
    import_files,
    letter_key,
    resolved_keys,
)
from connector_kit.store import Store, StoreError, as_store
from connector_kit.store_accounts import ACCOUNT_ENV, LEGACY_SCHEMA, choose_schema

from target_netsuite.client import json_default


class ReplayError(Exception):
    """A dead-letter file that cannot be replayed; the message names the file and line."""


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


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat()


def stored_letters(store: Store, *, waiting_only: bool = True) -> list[dict[str, t.Any]]:
    """The store's letters (only the waiting ones by default), oldest first, as `as_entry` shows them."""
    if not store.exists():
        return []
    query = sa.select(DEAD_LETTERS).order_by(DEAD_LETTERS.c.time, DEAD_LETTERS.c.run_id, DEAD_LETTERS.c.seq)
    if waiting_only:
        query = query.where(DEAD_LETTERS.c.resolved_at.is_(None))
    with store.begin(METADATA) as conn:
        return [as_entry(row) for row in conn.execute(query).mappings()]


class DeadLetterStore:
    """The dead letters in the store, and (with a `journal` folder) the run's JSON Lines file beside them.
    Thread-safe; every letter and resolution is committed before the call returns."""

    def __init__(self, store: Store | Path, run_id: str, *, journal: Path | None = None) -> None:
        self.store = as_store(store if isinstance(store, Store) else Path(store) / DEAD_LETTERS_FILE)
        self._owns_store = not isinstance(store, Store)
        self.run_id = run_id
        self.journal = journal if not isinstance(store, Path) else Path(store)
        self.count = 0
        self._lock = threading.Lock()
        self._file: t.TextIO | None = None
        #: Keys with a waiting letter, read once: another host adds letters only while this one does not run
        #: (the account lock), so the set stays right for the run.
        self._waiting: set[Key] | None = None

    def _waiting_keys(self) -> set[Key]:
        """Keys with a waiting letter, read on first use (call with the lock held). A store on this host's disk
        first takes in the folder's files that no row knows yet (written before the store existed)."""
        if self._waiting is None:
            local_files = self.journal is not None and self.journal.is_dir() and any(self.journal.glob("*.jsonl"))
            if not (local_files or self.store.exists()):
                self._waiting = set()  # nothing stored, nothing to import: no file is created
                return self._waiting
            c = DEAD_LETTERS.c
            with self.store.begin(METADATA) as conn:
                if local_files:
                    known = {run for (run,) in conn.execute(sa.select(c.run_id).distinct())}
                    import_files(conn, t.cast("Path", self.journal), skip_runs=known)
                self._waiting = {(a, b) for a, b in conn.execute(sa.select(c.record_type, c.external_id).where(
                    c.resolved_at.is_(None), c.external_id.is_not(None)))}
        return self._waiting

    def is_waiting(self, record_type: str, external_id: str) -> bool:
        """Whether a letter of this key is waiting (not resolved since, from any run)."""
        with self._lock:
            return (record_type, external_id) in self._waiting_keys()

    def resolve(self, record_type: str, external_id: str) -> None:
        """The key was written: a letter waiting for it is resolved (and noted in `resolved.ndjson`)."""
        with self._lock:
            keys = self._waiting_keys()
            if (record_type, external_id) not in keys:
                return
            now = _now()
            c = DEAD_LETTERS.c
            with self.store.begin(METADATA) as conn:
                conn.execute(DEAD_LETTERS.update().where(
                    c.record_type == record_type, c.external_id == external_id, c.resolved_at.is_(None),
                ).values(resolved_at=now, resolution=f"written (run {self.run_id})"))
            keys.discard((record_type, external_id))
            if self.journal is not None:
                entry = {"time": now, "run_id": self.run_id, "record_type": record_type, "externalId": external_id}
                self.journal.mkdir(parents=True, exist_ok=True)
                with (self.journal / RESOLVED_FILE).open("a", encoding="utf-8") as resolved:
                    resolved.write(json.dumps(entry) + "\n")

    def letters(self, *, waiting_only: bool = True) -> list[dict[str, t.Any]]:
        """The store's letters, every run's (older files taken in first), oldest first."""
        with self._lock:
            self._waiting_keys()
        return stored_letters(self.store, waiting_only=waiting_only)

    @property
    def path(self) -> Path | None:
        """The run's JSON Lines file, when letters are also written to files (a store on this host's disk)."""
        return self.journal / f"{self.run_id}.jsonl" if self.journal is not None else None

    @property
    def location(self) -> str:
        """Where this run's letters are, for messages: the file, or the store."""
        return str(self.path) if self.path is not None else f"store {self.store.location}"

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
        now = _now()
        body = json.dumps(payload, default=json_default, ensure_ascii=False)
        c = DEAD_LETTERS.c
        with self._lock:
            keys = self._waiting_keys()
            seq = self.count + 1
            with self.store.begin(METADATA) as conn:
                if external_id is not None:  # a newer letter of the key: the older ones wait no more
                    conn.execute(DEAD_LETTERS.update().where(
                        c.record_type == record_type, c.external_id == external_id, c.resolved_at.is_(None),
                    ).values(resolved_at=now, resolution=f"superseded (run {self.run_id} #{seq})"))
                conn.execute(DEAD_LETTERS.insert().values(
                    run_id=self.run_id, seq=seq, time=now, stream=stream, record_type=record_type,
                    external_id=external_id, action=action, status=status, code=code, detail=detail, path=path,
                    record=body))
            self.count = seq
            if external_id is not None:
                keys.add((record_type, external_id))
            if self.journal is not None:
                entry = {"time": now, "run_id": self.run_id, "stream": stream, "record_type": record_type,
                         "externalId": external_id, "action": action, "status": status, "code": code,
                         "detail": detail, "path": path, "payload": json.loads(body)}
                if self._file is None:
                    self.journal.mkdir(parents=True, exist_ok=True)
                    self._file = (self.journal / f"{self.run_id}.jsonl").open("a", encoding="utf-8")
                self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self._owns_store:
                self.store.close()


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
    return singer_messages(waiting(entries, resolved), include_mapping_errors=include_mapping_errors)


def singer_messages(letters: t.Iterable[dict], *, include_mapping_errors: bool) -> t.Iterator[dict]:
    """SCHEMA/RECORD messages re-sending waiting letters (files' or the store's), marked `_sdc_replay`."""
    schemas_sent: set[str] = set()
    for entry in letters:
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
        description="Turn the store's waiting dead letters (or dead-letter files) into Singer messages; pipe them "
        "into target-netsuite to resend them.",
    )
    parser.add_argument("files", nargs="*", type=Path, help="dead-letter JSON Lines files (default: the store)")
    parser.add_argument("--store-uri", default=os.environ.get("TARGET_NETSUITE_STORE_URI"),
                        help="the target's store_uri (default TARGET_NETSUITE_STORE_URI; without it, the SQLite "
                        f"file {DEAD_LETTERS_FILE} in --dead-letter-path)")
    parser.add_argument("--account", default=os.environ.get(ACCOUNT_ENV),
                        help=f"the NetSuite account whose letters a shared store gives (default {ACCOUNT_ENV}; "
                        "unset: the store's only account)")
    parser.add_argument("--dead-letter-path", type=Path,
                        default=Path(os.environ.get("TARGET_NETSUITE_DEAD_LETTER_PATH", "dead_letters")))
    parser.add_argument(
        "--include-mapping-errors",
        action="store_true",
        help="also resend MAPPING_ERROR letters (they fail again unless the payload was fixed by hand; the usual "
        "fix is to correct the mapping and re-extract the records from the source)",
    )
    args = parser.parse_args(argv)
    try:
        if args.files:
            messages = list(replay_messages(args.files, include_mapping_errors=args.include_mapping_errors))
        else:
            messages = list(singer_messages(_store_letters(args.store_uri, args.dead_letter_path, args.account),
                                            include_mapping_errors=args.include_mapping_errors))
    except (ReplayError, StoreError) as exc:
        sys.stderr.write(f"target-netsuite-replay: {exc}; nothing replayed\n")
        return 1
    for message in messages:
        sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    count = sum(message["type"] == "RECORD" for message in messages)
    sys.stderr.write(f"target-netsuite-replay: {count} records\n")
    return 0


def _store_letters(uri: str | None, dead_letter_path: Path, account: str | None) -> list[dict]:
    if not uri:  # the local store, with the folder's older files taken in
        letters = DeadLetterStore(dead_letter_path, "target-netsuite-replay")
        try:
            return letters.letters()
        finally:
            letters.close()
    probe = Store.from_uri(uri, schema=LEGACY_SCHEMA)
    try:
        schema, note = choose_schema(probe.engine(), account, probe.masked_uri)
    finally:
        probe.close()
    if note:
        sys.stderr.write(f"target-netsuite-replay: {note}\n")
    store = Store.from_uri(uri, schema=schema or LEGACY_SCHEMA)
    try:
        return stored_letters(store)
    finally:
        store.close()
