"""The tap's settings, read once into one typed object.

Invariant: `config_jsonschema` (tap.py) is the only place a setting's default, type and range are written; the SDK
fills the defaults in and refuses out-of-range values before this object is built, so nothing here restates a
default. What the schema cannot say is checked here, with one line naming the setting: `start_date` must parse as
an ISO 8601 date or date-time (the schema's `date-time` format is not enforced, and a bare date is accepted);
every `objects` / `optional_objects` entry must look like an object API name (whether the org has it is checked
by discovery, which stops on a missing `objects` entry and skips a missing optional one).
The peers' setting names (compat.py) are translated on a copy of the config, never in the SDK's own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t

from connector_kit.settings import start_date

from tap_salesforce_custom.compat import apply_aliases
from tap_salesforce_custom.errors import SalesforceFatalError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: A Salesforce object API name: standard (`Account`), custom (`Invoice__c`), namespaced (`ns__Invoice__c`), ...
OBJECT_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class TapSettings:
    """What the client, the streams and the tap read from the config; the authenticator reads `config` (aliases
    applied) for its flow's own settings."""

    config: Mapping[str, t.Any]
    alias_notes: list[str]
    api_version: str
    request_timeout: float
    max_retries: int
    backoff_factor: float
    max_api_usage_percent: float
    ca_bundle: str | None
    objects: list[str]
    optional_objects: frozenset[str]
    start_date: dt.datetime | None
    lookback: dt.timedelta
    include_deleted: bool
    api_type: str
    bulk_threshold: int
    page_size: int
    schema_drift_check: bool
    record_ids: dict[str, list[str]] | None
    catalog_cache_path: str | None
    catalog_cache_max_age: dt.timedelta
    progress_interval_seconds: float
    follow: dt.timedelta
    follow_poll: dt.timedelta

    @classmethod
    def from_config(cls, sdk_config: Mapping[str, t.Any], schema: Mapping[str, t.Any]) -> TapSettings:
        """Translate the aliases (SalesforceFatalError on a clash), check `start_date`, type every setting.

        `sdk_config` is the SDK's validated config (defaults filled in), `schema` the tap's `config_jsonschema`.
        """
        defaults = {name: spec["default"] for name, spec in schema["properties"].items() if "default" in spec}
        config = dict(sdk_config)
        notes = apply_aliases(config, defaults["login_url"], defaults)
        return cls(
            config=config,
            alias_notes=notes,
            api_version=str(config["api_version"]),
            request_timeout=float(config["request_timeout"]),
            max_retries=int(config["max_retries"]),
            backoff_factor=float(config["backoff_factor"]),
            max_api_usage_percent=float(config["max_api_usage_percent"]),
            ca_bundle=config.get("ca_bundle") or None,
            objects=_object_names(config["objects"] or defaults["objects"], config["optional_objects"]),
            optional_objects=frozenset(config["optional_objects"]),
            start_date=start_date(config.get("start_date"), SalesforceFatalError),
            lookback=dt.timedelta(seconds=int(config["lookback_seconds"])),
            include_deleted=bool(config["include_deleted"]),
            api_type=str(config["api_type"]),
            bulk_threshold=int(config["bulk_threshold"]),
            page_size=int(config["page_size"]),
            schema_drift_check=bool(config["schema_drift_check"]),
            record_ids=config.get("record_ids"),
            catalog_cache_path=config.get("catalog_cache_path"),
            catalog_cache_max_age=dt.timedelta(hours=float(config["catalog_cache_max_age_hours"])),
            progress_interval_seconds=float(config["progress_interval_seconds"]),
            follow=dt.timedelta(seconds=int(config["follow_seconds"])),
            follow_poll=dt.timedelta(seconds=int(config["follow_poll_seconds"])),
        )


def _object_names(objects: list[str], optional: list[str]) -> list[str]:
    """`objects` then `optional_objects`, each once; an entry that cannot be an API name is one line naming it."""
    for setting, names in (("objects", objects), ("optional_objects", optional)):
        bad = [name for name in names if not OBJECT_API_NAME.fullmatch(name)]
        if bad:
            msg = (f"{setting}: {bad[0][:80]!r} is not an object API name (letters, digits and underscores, "
                   "e.g. Account or Invoice__c)")
            raise SalesforceFatalError(msg)
    return list(dict.fromkeys([*objects, *optional]))

