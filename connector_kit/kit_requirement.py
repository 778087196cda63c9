"""The `connector-kit` requirement of the three connectors: one rule, run by each connector's `hatch_build.py`.

connector-kit is a distribution of its own (this folder), released with the connectors under one version. A
connector's build says where pip finds it:

- built from a checkout of this repository (`pip install ./tap-salesforce-custom`, the
  `-e ./connector_kit -e ./<connector>` of the Makefile and meltano.yml): `connector-kit @ file:///…/connector_kit`,
  the kit of the same checkout, so one pip command installs both, at the same revision;
- built from the clone pip makes for `pip install "git+<repository>@<ref>#subdirectory=<connector>"`:
  `connector-kit @ git+<repository>@<commit>#subdirectory=connector_kit`, the same commit. Not that clone's path:
  pip deletes the clone after the command but may keep the built wheel in its cache (for a `name @ git+…@<commit>`
  requirement), and a cached wheel naming a deleted folder fails the next install;
- portable (`CONNECTOR_KIT_PORTABLE=1`, which `make dist` sets): `connector-kit==<the kit's version>`, found beside
  the connector in a wheelhouse (`--find-links dist`) or on an index. Such artifacts name no path of the machine
  that built them. A wheel built later from such an sdist keeps the sdist's requirement: hatchling reads it from the
  sdist's PKG-INFO and does not run this rule.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PORTABLE = "CONNECTOR_KIT_PORTABLE"
#: The folders pip clones a VCS requirement into (a named one under `pip-install-*`, an unnamed one `pip-req-build-*`).
PIP_CLONE_PREFIXES = ("pip-req-build-", "pip-install-")


def requirement(connector_root: str) -> str:
    """The `connector-kit` requirement of the connector whose project folder is `connector_root`."""
    kit = Path(connector_root).resolve().parent / "connector_kit"
    project = tomllib.loads((kit / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if os.environ.get(PORTABLE, "") not in ("", "0"):
        return f"{project['name']}=={project['version']}"
    if any(part.startswith(PIP_CLONE_PREFIXES) for part in kit.parts):
        return f"{project['name']} @ git+{_origin(kit)}@{_git(kit, 'rev-parse', 'HEAD')}#subdirectory={kit.name}"
    return f"{project['name']} @ {kit.as_uri()}"


def _git(kit: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(kit), *args], check=True, capture_output=True, text=True).stdout.strip()


def _origin(kit: Path) -> str:
    """The address pip cloned from, as a requirement may name it. No credential is written into the metadata (nor
    into pip's cache): an https address loses its user and password (git's credential helper or .netrc supplies
    them), an ssh one its password. A local `file:///…` gets its host (`file://localhost/…`), without which it is
    no valid URL in a requirement."""
    parts = urlsplit(_git(kit, "remote", "get-url", "origin"))
    if parts.scheme == "file" and not parts.netloc:
        return urlunsplit(parts._replace(netloc="localhost"))
    if parts.username is None and parts.password is None:
        return urlunsplit(parts)
    user = f"{parts.username}@" if parts.scheme == "ssh" and parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}{parts.hostname}{port}"))
