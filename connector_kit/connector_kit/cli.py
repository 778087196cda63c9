"""How a connector ends on a fatal error: one error-level log line naming the cause, and a non-zero exit.

Invariant: an expected fatal error (bad setting, refused credentials, a stop the user must act on) never shows a
traceback below debug level; the line is a log record (not raw stderr), so Meltano's structured logging keeps its
level and an alert on errors sees it.
"""

from __future__ import annotations

import logging
import sys
import typing as t
from contextlib import contextmanager

from singer_sdk.exceptions import ConfigValidationError


@contextmanager
def one_line_errors(logger: logging.Logger, plugin: str, fatal: tuple[type[BaseException], ...],
                    exit_code: int = 1) -> t.Iterator[None]:
    """Turn the `fatal` exceptions (and an invalid configuration) into `<plugin>: <cause>` and `exit_code`, or
    the exception's own `exit_code` when it has one (e.g. "finished, but with rejected records")."""
    try:
        yield
    except ConfigValidationError as exc:
        logger.error("%s: invalid settings: %s", plugin, "; ".join(exc.errors) or exc)
        logger.debug("details", exc_info=True)
        sys.exit(exit_code)
    except fatal as exc:
        logger.error("%s: %s", plugin, exc)
        logger.debug("details", exc_info=True)
        sys.exit(getattr(exc, "exit_code", exit_code))
