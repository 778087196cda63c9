"""When a run reads: once, or again and again for a while (`follow_seconds`), so changes arrive in near real time.

A followed run reads every stream, then again `follow_poll_seconds` after the previous read *began* (at once when a
read took longer), until `follow_seconds` have passed since the first read began; no read starts after that. Each
read is an ordinary incremental read from the bookmarks the previous one left (the bookmark rules of streams.py
hold read by read), and each ends with the stream's STATE, on which the target writes what it holds and emits
STATE (target-netsuite drains on a STATE once `checkpoint_interval_seconds` have passed), so Meltano saves progress
read by read. A run killed between reads, or during one, resumes from the last STATE the target emitted, like any
killed run; nothing is kept in memory between reads but the state itself.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator


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

    def __iter__(self) -> Iterator[int]:
        first = self.clock()
        number = 0
        while True:
            began = self.clock()
            yield number
            number += 1
            next_read = began + self.poll_seconds
            if not self.follow_seconds or next_read - first >= self.follow_seconds:
                return
            wait = next_read - self.clock()
            if wait > 0:
                self.sleep(wait)
