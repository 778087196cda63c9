"""When a run reads: once, or again and again for a while (`follow_seconds`), so changes arrive in near real time.

A followed run reads every stream, then again `follow_poll_seconds` after the previous read *began* (at once when a
read took longer), until `follow_seconds` have passed since the first read began; no read starts after that. Each
read is an ordinary incremental read from the bookmarks the previous one left (the bookmark rules of streams.py
hold read by read).

STATE marks a fresh read's end. A read that overran the poll was held up (most often by the target writing the
last read's records while this one's output waited in the pipe), so what it read is already old: its STATE is
held back and the next read starts at once; the STATE goes out after the first read that did not overrun (and at
the end of the run). A target that writes on each STATE (target-netsuite's `drain_on_state`) therefore writes
records read just before it, not ones read while it was busy with the last batch (and it takes reads already
waiting in its input into the same batch). Held STATE only delays
progress: a run killed while holding resumes from the last STATE the target emitted, like any killed run, and
re-reads from there.

Each read re-reads the lookback window (`lookback_seconds` of changes before the last read began), so a followed
run would send the same records again read after read. `SentVersions` remembers what the run sent (per stream and
Id, a digest of the record as sent) and a later read leaves out a record that is exactly what this run already
sent; any difference (a field, a line item, a delete) sends it. Nothing is lost: the target received the earlier
copy in the same stream before anything read after it (one pipe, in order), and a run that ends or dies forgets
everything, so the next run re-reads the window as it would have. A record is forgotten once its replication-key
value is before a read's window start (no read of this run can return it unchanged any more), so the memory holds
about one lookback window of records. Streams without a replication key remember nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
import typing as t
from dataclasses import dataclass, field

from connector_kit.settings import parse_utc
from singer_sdk.helpers._state import StateWriter  # SDK internal: the tap's STATE writer (see tap.py's docstring)

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator

    from singer_sdk.helpers.types import TapState
    from singer_sdk.io_base import GenericSingerWriter


@dataclass
class ReadSchedule:
    """The reads of one run, as an iterator: it yields the read's number before each read and sleeps between them.

    `follow_seconds` 0 yields once. `clock` and `sleep` are `time.monotonic` and `time.sleep` unless a test
    passes others.
    """

    follow_seconds: float
    poll_seconds: float
    clock: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)
    _began: float = field(default=0.0, init=False)

    @property
    def following(self) -> bool:
        """Whether the run reads more than once."""
        return self.follow_seconds > 0

    def overran(self) -> bool:
        """Whether the read going on (or just ended) has taken at least the poll: what it read is already old."""
        return self.clock() - self._began >= self.poll_seconds

    def __iter__(self) -> Iterator[int]:
        first = self.clock()
        number = 0
        while True:
            self._began = self.clock()
            yield number
            number += 1
            next_read = self._began + self.poll_seconds
            if not self.following or next_read - first >= self.follow_seconds:
                return
            wait = next_read - self.clock()
            if wait > 0:
                self.sleep(wait)


class HeldStates(StateWriter):
    """The tap's STATE writer, which holds STATE back while `holding` (a followed read that may turn out old)."""

    def __init__(self, message_writer: GenericSingerWriter) -> None:
        super().__init__(message_writer)
        self.holding = False
        self._held = False

    def write_state(self, state: TapState) -> None:
        """Write the STATE unless holding (then remember that one is due)."""
        if self.holding:
            self._held = True
        else:
            super().write_state(state)

    def release(self, state: TapState) -> None:
        """Stop holding; write `state` (the tap's latest) if one was held back."""
        self.holding = False
        if self._held:
            self._held = False
            super().write_state(state)


class SentVersions:
    """The records a followed run sent: per stream and Id, the digest of the last version sent and its
    replication-key value. Remembers and leaves out nothing unless `active` (set for a followed run)."""

    def __init__(self) -> None:
        self.active = False
        self.left_out = 0  # records re-read exactly as this run sent them, not sent again
        self._sent: dict[str, dict[str, tuple[bytes, str]]] = {}

    def already_sent(self, stream: str, record: dict[str, t.Any], replication_key: str | None) -> bool:
        """Whether this run sent `record` exactly as it is now; if not, remember it as sent."""
        stamp = record.get(replication_key) if replication_key else None
        if not self.active or not isinstance(stamp, str) or "Id" not in record:
            return False
        digest = hashlib.blake2b(json.dumps(record, sort_keys=True, default=str).encode(), digest_size=16).digest()
        sent = self._sent.setdefault(stream, {})
        last = sent.get(record["Id"])
        if last is not None and last[0] == digest:
            self.left_out += 1
            return True
        sent[record["Id"]] = (digest, stamp)
        return False

    def forget_before(self, stream: str, window_start: dt.datetime | None) -> None:
        """Forget `stream`'s records stamped before `window_start` (a read starting there cannot return them
        unchanged)."""
        sent = self._sent.get(stream)
        if not sent or window_start is None:
            return
        for record_id in [i for i, (_, stamp) in sent.items() if parse_utc(stamp) < window_start]:
            del sent[record_id]
