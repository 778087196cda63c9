"""The tap's fatal error: one line naming the cause (never a secret), a non-zero exit (connector_kit.cli)."""

from __future__ import annotations


class NetSuiteTapError(Exception):
    """The run cannot go on: a bad setting, refused credentials, a query NetSuite refuses, retries exhausted."""
