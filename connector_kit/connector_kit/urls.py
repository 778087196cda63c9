"""Where a connector may send its secrets: the one "https unless loopback" rule.

Invariant: a URL that credentials or tokens travel to is https, or plain http to this machine only (`localhost` or
a loopback address: the local sandboxes, tests). Every connector checks its login, instance and base URLs with
`insecure_url_reason` and turns a reason into its own one-line fatal error naming the setting.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """Whether `host` is this machine: `localhost` or a loopback IPv4/IPv6 address (never a name resolved later)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url_reason(url: str) -> str | None:
    """None if secrets may go to `url`; else why not, as the end of a one-line message (`<setting> {reason}`)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))):
        return None
    return f"must use https (plain http only for loopback hosts): {parts.scheme}://{host}"
