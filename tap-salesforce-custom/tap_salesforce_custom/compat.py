"""Setting names of the peers' Salesforce taps (singer-io, MeltanoLabs), accepted as documented aliases.

A data engineer moving a config over must never have a setting silently ignored: each alias below is either
translated into the project's setting or refused with one line naming the project's setting.

| alias | project setting | rule |
|---|---|---|
| `is_sandbox: true` | `login_url: https://test.salesforce.com` | refused if `login_url` is also set (not the default) |
| `lookback_window` (seconds) | `lookback_seconds` | refused if both are set to different values |
| `quota_percent_total` | `max_api_usage_percent` | refused if both are set to different values |
| `api_type: BULK` / `REST` | `api_type: bulk` / `rest` | case only |
| `quota_percent_per_run` | none | refused: the project guards the daily quota, not a per-run share |

"Set" means present and different from the project setting's default: the SDK fills defaults in before the
tap sees its config, so a project setting written out with its default value counts as not set.
"""

from __future__ import annotations

import typing as t
from types import MappingProxyType

from tap_salesforce_custom.errors import SalesforceFatalError

SANDBOX_LOGIN_URL = "https://test.salesforce.com"
#: alias → project setting
_RENAMED = {
    "lookback_window": "lookback_seconds",
    "quota_percent_total": "max_api_usage_percent",
}
_REFUSED = {
    "quota_percent_per_run": "max_api_usage_percent (a share of the daily quota; there is no per-run share)",
}


def apply_aliases(config: t.MutableMapping[str, t.Any], default_login_url: str,
                  defaults: t.Mapping[str, t.Any] = MappingProxyType({})) -> list[str]:
    """Translate the peers' settings in place; one info line per translation, SalesforceFatalError on a clash.

    `defaults` are the project settings' defaults (the tap passes its schema's): a setting at its default is not set.
    """
    notes = []
    for alias, target in _REFUSED.items():
        if config.get(alias) is not None:
            msg = f"setting {alias} (singer-io tap-salesforce) is not supported; use {target}"
            raise SalesforceFatalError(msg)
    if config.get("is_sandbox") is not None:
        login_url = config.get("login_url") or default_login_url
        if login_url.rstrip("/") != default_login_url.rstrip("/"):
            msg = (f"settings is_sandbox and login_url are both set; keep only login_url ({login_url}), the "
                   f"project's setting (is_sandbox: true means login_url: {SANDBOX_LOGIN_URL})")
            raise SalesforceFatalError(msg)
        if config["is_sandbox"]:
            config["login_url"] = SANDBOX_LOGIN_URL
            notes.append(f"is_sandbox: true read as login_url: {SANDBOX_LOGIN_URL}")
    for alias, target in _RENAMED.items():
        value = config.get(alias)
        if value is None:
            continue
        default = defaults.get(target)
        current = config.get(target, default)
        if current not in (default, value):
            msg = f"settings {alias} and {target} are both set ({value} and {current}); keep only {target}"
            raise SalesforceFatalError(msg)
        config[target] = value
        notes.append(f"{alias}: {value} read as {target}: {value}")
    api_type = config.get("api_type")
    if isinstance(api_type, str) and api_type in ("BULK", "REST"):
        config["api_type"] = api_type.lower()
        notes.append(f"api_type: {api_type} read as api_type: {api_type.lower()}")
    return notes
