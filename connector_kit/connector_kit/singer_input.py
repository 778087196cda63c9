"""The Singer-input rules both readers (target-netsuite's and netsuite-mapper's) apply before the SDK sees a line.

Invariant: a malformed line (not a JSON object with a string `type`, or a SCHEMA, RECORD or STATE message whose
required part is missing or of the wrong kind) raises `InvalidInputLine` with words naming what is wrong, never
the line's content (a record may hold personal data); `NumberedLines` counts the lines read, so the reader can name
the line number in its one-line error.
"""

from __future__ import annotations

import typing as t

from singer_sdk.singerlib.exceptions import InvalidInputLine

#: What each message type must carry, beyond `type` (the Singer spec).
MESSAGE_SHAPES: dict[str, dict[str, type]] = {
    "SCHEMA": {"stream": str, "schema": dict}, "RECORD": {"stream": str, "record": dict}, "STATE": {"value": dict},
}


class NumberedLines:
    """The input lines, counting them, so an error can name its line."""

    def __init__(self, lines: t.Iterable[str]) -> None:
        self.number = 0
        self._lines = lines

    def __iter__(self) -> t.Iterator[str]:
        for line in self._lines:
            self.number += 1
            yield line


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
