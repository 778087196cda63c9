"""connector_kit.singer_input.NumberedLines over a real pipe: lines as the text object would give them, counted, and
`waiting` telling whether reading on would return at once, without taking anything out of the input."""

from __future__ import annotations

import io
import os
import threading

from connector_kit.singer_input import NumberedLines


def test_lines_split_across_chunks_are_whole_counted_and_decoded_as_the_object_would() -> None:
    read, write = os.pipe()
    with os.fdopen(read, "r", encoding="utf-8", errors="surrogateescape") as source:
        lines = NumberedLines(source)
        lines.CHUNK = 5  # every line arrives in pieces
        os.write(write, '{"a": "é"}\n\n{"b": 2}\n'.encode() + b'{"c": "\xff"}\nlast')
        os.close(write)
        got = list(lines)
    assert got == ['{"a": "é"}\n', "\n", '{"b": 2}\n', '{"c": "\udcff"}\n', "last"]
    assert lines.number == 5


def test_waiting_tells_whether_more_input_is_there_without_reading_it() -> None:
    read, write = os.pipe()
    with os.fdopen(read, "r") as source:
        lines = NumberedLines(source)
        it = iter(lines)
        os.write(write, b'{"n": 1}\n{"n": 2}\n')
        assert next(it) == '{"n": 1}\n'
        assert lines.waiting()  # the second line is buffered
        assert next(it) == '{"n": 2}\n'
        assert not lines.waiting()  # the writer is quiet, the pipe open
        os.write(write, b'{"n": 3}')
        assert lines.waiting()  # bytes on the pipe, not yet a whole line
        os.close(write)
        assert lines.waiting()  # the end of input is there too
        assert list(it) == ['{"n": 3}']
    assert not NumberedLines(io.StringIO("x\n")).waiting()  # no descriptor: nothing can be known
    assert list(NumberedLines(io.StringIO("x\ny"))) == ["x\n", "y"]


def test_a_non_blocking_descriptor_is_waited_on_not_an_error() -> None:
    read, write = os.pipe()
    os.set_blocking(read, False)
    with os.fdopen(read, "r") as source:
        lines = NumberedLines(source)
        later = threading.Timer(0.2, lambda: (os.write(write, b'{"n": 1}\n'), os.close(write)))
        later.start()  # the read below finds the pipe empty (EAGAIN) and must wait for this write
        assert list(lines) == ['{"n": 1}\n']
        later.join()
