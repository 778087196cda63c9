"""What every tap of this project does the same way at start-up: settings given as text, and fatal errors.

Invariant: a tap built on `OneLineTap` checks its settings against `config_jsonschema` in every mode (the SDK
skips the check for `--discover`, yet discovery talks to the API with them), reads numeric settings given as text
as numbers (connector_kit.settings), and ends a run or a discovery that meets one of its `fatal_errors` (or refused
settings) with one error-level line and a non-zero exit (connector_kit.cli), never a traceback below debug level.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from connector_kit.cli import one_line_errors
from connector_kit.settings import numbers_from_strings


class OneLineTap(Tap):
    """A Singer SDK tap with the project's start-up rules (see the module docstring)."""

    #: The exceptions that end a run with one line: the tap's own fatal errors (bad setting, refused credentials).
    fatal_errors: t.ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, *, config: dict | None = None, **kwargs: t.Any) -> None:
        """As the SDK's, the schema checked in every mode; a setting it refuses raises the tap's first fatal error
        naming it (one line, like every fatal error, also where the tap is built in-process)."""
        kwargs["validate_config"] = True
        try:
            super().__init__(config=numbers_from_strings(config, self.config_jsonschema), **kwargs)
        except ConfigValidationError as exc:
            if not self.fatal_errors:
                raise
            raise self.fatal_errors[0](f"invalid settings: {'; '.join(exc.errors) or exc}") from None

    @classmethod
    def check_invocation(cls, kwargs: dict[str, t.Any]) -> None:
        """A tap's own checks of the command line's inputs before the SDK reads them (none by default)."""

    @override
    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run a sync; fatal errors end with one line on stderr and exit code 1."""
        with one_line_errors(cls.logger, cls.name, cls.fatal_errors):
            cls.check_invocation(kwargs)
            super().invoke(*args, **kwargs)

    @override
    @classmethod
    def cb_discover(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run discovery (`--discover`) with the same one-line fatal errors."""
        with one_line_errors(cls.logger, cls.name, cls.fatal_errors):
            super().cb_discover(*args, **kwargs)
