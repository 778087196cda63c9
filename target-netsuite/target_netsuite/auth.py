"""NetSuite authentication (OAuth 1.0a TBA and OAuth 2.0 M2M): it lives in connector_kit.netsuite_auth, shared with
tap-netsuite-custom; the names the target uses are re-exported here."""

from __future__ import annotations

from connector_kit.netsuite_auth import (
    M2M_SCOPES,
    SIGNING_LOGGERS,
    TOKEN_PATH,
    AuthError,
    MachineToMachineAuth,
    TokenBasedAuth,
    classify_token_response,
    quiet_signing_loggers,
    read_private_key,
)

__all__ = [
    "M2M_SCOPES",
    "SIGNING_LOGGERS",
    "TOKEN_PATH",
    "AuthError",
    "MachineToMachineAuth",
    "TokenBasedAuth",
    "classify_token_response",
    "quiet_signing_loggers",
    "read_private_key",
]
