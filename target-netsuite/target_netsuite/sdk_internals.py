"""Every use of singer_sdk internals by target-netsuite, in this one module, each with its reason and upstream issue.

Invariant: no other module of the target touches a private name of singer_sdk (`_x`) or overrides a method the
SDK marks `@final`; each use below names the public hook it feeds, so the rest of the target reads as plain
SDK use. When the SDK grows the public hook, the use goes away here and nowhere else.

Each use, why, and the upstream issue:

- `Target._handle_termination` → `stop_at_once`: SIGTERM/SIGINT must stop at once, leaving state at the last
  checkpoint. The SDK's handler drains every sink and emits STATE from inside the signal handler, which can run
  in the middle of a drain and re-enter it (STATE over records never sent). meltano/sdk#3775 (fix in review:
  meltano/sdk#3778).
- `Target._MAX_RECORD_AGE_IN_MINUTES` → `set_checkpoint_interval`: `checkpoint_interval_seconds`; the SDK's max
  record age is a hard-coded class constant. meltano/sdk#2692.
- `Target._process_state_message` and `Target._handle_max_record_age` → `on_state`: a hook after each STATE is
  taken in, which by default checks the max record age there too (the SDK checks it only when a record arrives),
  so the records read just before a quiet spell are written once `checkpoint_interval_seconds` have passed, not
  when the next record comes; target-netsuite's `drain_on_state` drains there at once (a tap following changes
  ends each read with a STATE), unless more input is already waiting (the reader, `NumberedLines`, reads the
  pipe itself so it can tell). meltano/sdk#2692 (the age as a setting) is the closest; no issue for a hook on
  STATE found.
- `Target._write_state_message` → `emits_state`: `match_mode: report` and `reconcile` write nothing, so they must
  emit no STATE; the SDK writes one after every full drain. No upstream issue found (closest: meltano/sdk#3000,
  a final STATE a target cannot withhold).
- `listen`, marked `@t.final` → `run_session`: the account's run lock and the connection check must span the
  reading *and* the end-of-pipe drain; `listen` and `process_lines` are final and the SDK has no public hook
  around both. No upstream issue found.
- `GenericSingerReader._process_unknown_message` → `refuse_unknown_message`: an unknown message type must stop
  the run with one line naming the line; the SDK raises a bare `ValueError` (a traceback). No upstream issue found.
- `singer_sdk.helpers._batch.BaseBatchFileEncoding`: the type of `Sink.process_batch_files`'s `encoding`
  argument, defined only in a private module (imported for typing). No upstream issue found.
"""

from __future__ import annotations

import typing as t
from contextlib import nullcontext

from singer_sdk.helpers._batch import BaseBatchFileEncoding
from singer_sdk.io_base import SingerReader
from singer_sdk.target_base import Target
from typing_extensions import override

if t.TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import FrameType

__all__ = ["BaseBatchFileEncoding", "ReaderInternals", "TargetInternals"]


class ReaderInternals(SingerReader):
    """The Singer reader's private hook, turned into `refuse_unknown_message`."""

    @override
    def _process_unknown_message(self, message_dict: dict) -> None:
        self.refuse_unknown_message(message_dict)

    def refuse_unknown_message(self, message_dict: dict) -> None:
        """A message of a type no callback handles (override to say so in one line)."""
        super()._process_unknown_message(message_dict)


class TargetInternals(Target):
    """The target's private SDK hooks, each turned into a public method the target overrides."""

    def set_checkpoint_interval(self, seconds: float) -> None:
        """Drain every sink and emit STATE at least this often (the SDK's max record age)."""
        self._MAX_RECORD_AGE_IN_MINUTES = seconds / 60

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        self.on_state()

    def on_state(self) -> None:
        """After each STATE is taken in: a full drain (and STATE) if `checkpoint_interval_seconds` have passed."""
        self._handle_max_record_age()

    def emits_state(self) -> bool:
        """Whether this run may emit STATE at all."""
        return True

    @override
    def _write_state_message(self, state: dict) -> None:
        if self.emits_state():
            super()._write_state_message(state)

    def stop_at_once(self, signum: int) -> t.NoReturn:
        """What SIGTERM/SIGINT do: stop now (never drain from inside the signal handler)."""
        raise SystemExit(128 + signum)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.stop_at_once(signum)

    def run_session(self) -> AbstractContextManager[None]:
        """Held while the input is read and drained, end-of-pipe drain included."""
        return nullcontext()

    @override  # type: ignore[misc]  # `listen` is @final in the SDK: see the table above
    def listen(self, file_input: t.IO[str] | None = None) -> None:
        with self.run_session():
            super().listen(file_input)
