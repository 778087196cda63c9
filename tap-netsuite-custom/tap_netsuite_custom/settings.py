"""The tap's settings, read once into one typed object.

Invariant: `config_jsonschema` (tap.py) is the only place a setting's default, type and range are written; the SDK
fills the defaults in before this object is built, so nothing here restates a default. What the schema cannot say
is checked here, with one line naming the setting: the account id's form, `base_url` (https unless loopback),
the credentials each `auth_method` needs, `start_date`, `account_timezone`, the stream and custom field names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector_kit.settings import start_date
from connector_kit.urls import insecure_url_reason

from tap_netsuite_custom.errors import NetSuiteTapError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: NetSuite account ids: `1234567`, `1234567_SB1` (sandbox), `1234567_RP` (release preview), `TSTDRV1234567`.
ACCOUNT_ID = re.compile(r"(?:TSTDRV)?[0-9]+(?:_(?:SB[0-9]+|RP|TD[0-9]+))?\Z", re.IGNORECASE)
#: A SuiteQL column name a setting may add (`custentity_tier`, `custbody_sf_id`): pasted into queries, so strict.
COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}\Z")
_TBA_SETTINGS = ("consumer_key", "consumer_secret", "token_id", "token_secret")
_M2M_SETTINGS = ("client_id", "certificate_id")


def account_url(account_id: str) -> str:
    """`1234567_SB1` → `https://1234567-sb1.suitetalk.api.netsuite.com` (the OAuth realm keeps the id as given)."""
    return f"https://{account_id.lower().replace('_', '-')}.suitetalk.api.netsuite.com"


@dataclasses.dataclass(frozen=True)
class TapSettings:
    """What the client, the streams and the tap read from the config."""

    config: Mapping[str, t.Any]
    account_id: str
    base_url: str
    auth_method: str
    start_date: dt.datetime | None
    lookback: dt.timedelta
    page_size: int
    account_timezone: dt.tzinfo
    streams: list[str]
    custom_fields: dict[str, list[str]]
    discover_custom_fields: bool
    request_timeout: float
    max_retries: int
    backoff_factor: float
    ca_bundle: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], known_streams: list[str]) -> TapSettings:
        """Check and type every setting (NetSuiteTapError, one line, on a bad one); `config` has the defaults."""
        account_id = config.get("account_id")
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            msg = (f"account_id {str(account_id)[:40]!r} is not a NetSuite account id "
                   "(e.g. 1234567, 1234567_SB1, TSTDRV1234567)")
            raise NetSuiteTapError(msg)
        base_url = str(config.get("base_url") or account_url(account_id)).rstrip("/")
        if reason := insecure_url_reason(base_url):
            raise NetSuiteTapError(f"base_url {reason}")
        auth_method = str(config["auth_method"])
        needed = _TBA_SETTINGS if auth_method == "tba" else _M2M_SETTINGS
        missing = [name for name in needed if not config.get(name)]
        if auth_method == "oauth2_m2m" and not (config.get("private_key") or config.get("private_key_path")):
            missing.append("private_key (or private_key_path)")
        if missing:
            raise NetSuiteTapError(f"auth_method {auth_method} needs {', '.join(missing)}")
        streams = list(config.get("streams") or known_streams)
        unknown = [name for name in streams if name not in known_streams]
        if unknown:
            raise NetSuiteTapError(f"streams: {unknown[0][:60]!r} is not one of {', '.join(known_streams)}")
        custom = {str(k): [str(c).lower() for c in v] for k, v in (config.get("custom_fields") or {}).items()}
        for stream, columns in custom.items():
            bad = [c for c in columns if not COLUMN_NAME.match(c)]
            if stream not in known_streams or bad:
                what = f"stream {stream!r}" if stream not in known_streams else f"column {bad[0][:60]!r}"
                raise NetSuiteTapError(f"custom_fields: unknown {what} (streams: {', '.join(known_streams)})")
        return cls(
            config=config,
            account_id=account_id,
            base_url=base_url,
            auth_method=auth_method,
            start_date=start_date(config.get("start_date"), NetSuiteTapError),
            lookback=dt.timedelta(seconds=int(config["lookback_seconds"])),
            page_size=int(config["page_size"]),
            account_timezone=_timezone(str(config["account_timezone"])),
            streams=streams,
            custom_fields=custom,
            discover_custom_fields=bool(config["discover_custom_fields"]),
            request_timeout=float(config["request_timeout"]),
            max_retries=int(config["max_retries"]),
            backoff_factor=float(config["backoff_factor"]),
            ca_bundle=config.get("ca_bundle") or None,
        )



def _timezone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"account_timezone {name[:60]!r} is not an IANA time zone (e.g. America/Los_Angeles, UTC)"
        raise NetSuiteTapError(msg) from None
