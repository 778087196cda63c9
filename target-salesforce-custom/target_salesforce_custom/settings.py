"""The target's settings, read once into one typed object.

Invariant: `config_jsonschema` (target.py) is the only place a setting's default, type and range are written; the
SDK fills the defaults in and refuses out-of-range values before this object is built, so nothing here restates a
default. What the schema cannot say is checked here, with one line naming the setting: each `streams` entry names an
sObject API name and, for upserts, an external id field API name.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t
from pathlib import Path

from connector_kit.salesforce import SalesforceFatalError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: An object or field API name: `Account`, `NetSuite_Invoice__c`, `ns__Field__c`.
API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class StreamTarget:
    """Where one stream's records go: the sObject, and the external id field upserts match on (None: update by Id)."""

    sobject: str
    external_id_field: str | None

    @property
    def key_field(self) -> str:
        """The record field that names the Salesforce record: the external id field, else `Id`."""
        return self.external_id_field or "Id"

    @property
    def operation(self) -> str:
        return "upsert" if self.external_id_field else "update"


@dataclasses.dataclass(frozen=True)
class TargetSettings:
    """What the client, the sinks and the target read; the authenticator reads `config` for its flow's settings."""

    config: Mapping[str, t.Any]
    api_version: str
    request_timeout: float
    max_retries: int
    backoff_factor: float
    max_api_usage_percent: float
    ca_bundle: str | None
    streams: dict[str, StreamTarget]
    bulk_threshold: int
    batch_size: int
    lock_retries: int
    bulk_poll_seconds: float
    bulk_timeout_seconds: float
    dead_letter_path: str
    all_or_none: bool
    ledger: str
    ledger_path: Path

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> TargetSettings:
        """Type every setting of the SDK's validated config (defaults filled in); check the `streams` names."""
        return cls(
            config=config,
            api_version=str(config["api_version"]),
            request_timeout=float(config["request_timeout"]),
            max_retries=int(config["max_retries"]),
            backoff_factor=float(config["backoff_factor"]),
            max_api_usage_percent=float(config["max_api_usage_percent"]),
            ca_bundle=config.get("ca_bundle") or None,
            streams={name: _stream_target(name, spec) for name, spec in (config.get("streams") or {}).items()},
            bulk_threshold=int(config["bulk_threshold"]),
            batch_size=int(config["batch_size"]),
            lock_retries=int(config["lock_retries"]),
            bulk_poll_seconds=float(config["bulk_poll_seconds"]),
            bulk_timeout_seconds=float(config["bulk_timeout_seconds"]),
            dead_letter_path=str(config["dead_letter_path"]),
            all_or_none=bool(config["all_or_none"]),
            ledger=str(config["ledger"]),
            ledger_path=Path(config.get("ledger_path") or Path(str(config["dead_letter_path"])) / "ledger.sqlite3"),
        )

    def target_of(self, stream: str) -> StreamTarget:
        """The stream's destination; without a `streams` setting a stream's name is its sObject (update by Id).
        A stream `streams` does not list is refused with one line naming it and the setting."""
        if not self.streams:
            return _stream_target(stream, {})
        found = self.streams.get(stream)
        if found is None:
            listed = ", ".join(sorted(self.streams))
            msg = f"stream {stream!r} is not in the streams setting ({listed}); nothing written"
            raise SalesforceFatalError(msg)
        return found


def _stream_target(stream: str, spec: t.Any) -> StreamTarget:
    if not isinstance(spec, dict):
        msg = f'streams.{stream}: expected {{"sobject": ..., "external_id_field": ...}}'
        raise SalesforceFatalError(msg)
    sobject = str(spec.get("sobject") or stream)
    external = spec.get("external_id_field") or None
    for what, name in (("sobject", sobject), ("external_id_field", external)):
        if name is not None and not API_NAME.fullmatch(str(name)):
            msg = f"streams.{stream}.{what}: {str(name)[:80]!r} is not an API name (e.g. Account, NetSuite_Id__c)"
            raise SalesforceFatalError(msg)
    return StreamTarget(sobject=sobject, external_id_field=str(external) if external else None)
