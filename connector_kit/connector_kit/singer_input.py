"""The Singer-input rules both readers (target-netsuite's and netsuite-mapper's) apply before the SDK sees a line.

Invariant: a malformed line (not a JSON object with a string `type`, or a SCHEMA, RECORD or STATE message whose
required part is missing or of the wrong kind) raises `InvalidInputLine` with words naming what is wrong, never
the line's content (a record may hold personal data); `NumberedLines` counts the lines read, so the reader can name
the line number in its one-line error.

`NumberedLines` reads a pipe or file itself, in chunks, so it can tell whether more input is already there
(`waiting`: a complete line in its buffer, or bytes or end of input on the descriptor) without blocking and without
taking anything out of the input; any other iterable of lines is read as it is, and nothing is ever waiting.
"""

from __future__ import annotations

import os
import select
import typing as t
from collections import deque

from singer_sdk.singerlib.exceptions import InvalidInputLine

#: What each message type must carry, beyond `type` (the Singer spec).
MESSAGE_SHAPES: dict[str, dict[str, type]] = {
    "SCHEMA": {"stream": str, "schema": dict}, "RECORD": {"stream": str, "record": dict}, "STATE": {"value": dict},
}


class NumberedLines:
    """The input lines, counting them, so an error can name its line; see the module docstring for `waiting`."""

    CHUNK = 1 << 16

    def __init__(self, lines: t.Iterable[str]) -> None:
        self.number = 0
        self._lines = lines
        self._fd = _descriptor(lines)
        self._complete: deque[bytes] = deque()
        self._partial: list[bytes] = []  # the start of a line whose end has not come yet
        # Decoded as the object itself would decode them (stdin: the locale's encoding, `surrogateescape`).
        self._encoding = str(getattr(lines, "encoding", None) or "utf-8")
        self._errors = str(getattr(lines, "errors", None) or "strict")

    def __iter__(self) -> t.Iterator[str]:
        if self._fd is None:
            for line in self._lines:
                self.number += 1
                yield line
            return
        while True:
            while self._complete:
                self.number += 1
                yield self._decoded(self._complete.popleft())
            try:
                chunk = os.read(self._fd, self.CHUNK)
            except BlockingIOError:  # a descriptor left non-blocking by whoever opened it: wait for input
                select.select([self._fd], [], [])
                continue
            if not chunk:
                break
            self._take(chunk)
        if self._partial:  # a last line without its newline
            self.number += 1
            yield self._decoded(b"".join(self._partial))

    def _take(self, chunk: bytes) -> None:
        *complete, rest = chunk.split(b"\n")
        if complete:
            complete[0] = b"".join((*self._partial, complete[0]))
            self._complete.extend(line + b"\n" for line in complete)
            self._partial = []
        if rest:
            self._partial.append(rest)

    def _decoded(self, line: bytes) -> str:
        try:
            return line.decode(self._encoding, self._errors)
        except UnicodeDecodeError:
            msg = f"not valid {self._encoding}"
            raise InvalidInputLine(msg) from None

    def waiting(self) -> bool:
        """Whether reading on would return at once: a line is buffered, or the descriptor has bytes or is at its
        end. False for input that is no descriptor (nothing can be known without reading it)."""
        if self._fd is None:
            return False
        if self._complete:
            return True
        readable, _, _ = select.select([self._fd], [], [], 0)
        return bool(readable)


def _descriptor(lines: object) -> int | None:
    """The descriptor under a pipe or file object, or None (io.StringIO, a list of lines). The object must not have
    been read from: a line it had already buffered would be skipped (the readers are the first to read their input)."""
    fileno = getattr(lines, "fileno", None)
    if fileno is None or getattr(lines, "closed", True):
        return None
    try:
        return int(fileno())
    except (OSError, ValueError):  # io.StringIO and the like
        return None


def check_message(message: object) -> dict:
    """The decoded line as a Singer message: a JSON object with a string `type`."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        msg = "not a Singer message (a JSON object with a `type`)"
        raise InvalidInputLine(msg)
    return message


def check_shape(kind: object, message: dict) -> None:
    """The parts the message's type requires are there, each of its kind."""
    name = str(getattr(kind, "value", kind))
    for key, kind_of in MESSAGE_SHAPES.get(name, {}).items():
        if not isinstance(message.get(key), kind_of):
            msg = f"{name} message without {'an object' if kind_of is dict else 'a string'} `{key}`"
            raise InvalidInputLine(msg)
