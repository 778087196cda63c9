"""singer-io's tap-salesforce (PyPI `tap-salesforce==2.8.1`), unmodified, reads the stand-in in REST and in Bulk
mode (its Bulk mode is Bulk API 1.0, and it checks `/limits` first), and its records agree with ours.

The tap is installed once into its own venv under the cache dir (`$XDG_CACHE_HOME` or `~/.cache`,
`sfns-tests/tap-salesforce-2.8.1`), with uv as `make bench` does, never into the project's venv. It reaches the
stand-in over TLS through `singerio_runner.py`, which only rewrites its hard-coded login host.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sf_helpers import DEMO, SF

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGE = "tap-salesforce==2.8.1"
OUR_TAP = str(Path(sys.executable).parent / "tap-salesforce-custom")
ACCOUNTS = 60


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sfns-tests" / "tap-salesforce-2.8.1"


@pytest.fixture(scope="module")
def singerio_python() -> Path:
    """The singer-io tap's venv python, built on first use (about a second with a warm uv cache)."""
    venv = _cache_dir()
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        uv = str(Path(sys.executable).parent / "uv")
        try:
            subprocess.run([uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)],
                           check=True, capture_output=True, timeout=300)
            subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), PACKAGE],
                           check=True, capture_output=True, timeout=600)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot install {PACKAGE} (no package index?): {exc.stderr.decode()[-300:]}")
        (venv / ".installed").write_text(PACKAGE)
    return python


@pytest.fixture(scope="module")
def org(sf: SF) -> SF:
    sf.reset(accounts=ACCOUNTS, contacts=0, products=0, opportunities=0, invoices=0)
    return sf


def _env() -> dict[str, str]:
    return {**os.environ, "SF_LOGIN_URL": os.environ["SANDBOX_SALESFORCE_TLS_URL"],
            "REQUESTS_CA_BUNDLE": os.environ["SANDBOX_CA_BUNDLE"]}


def _records(stdout: str, stream: str) -> dict[str, dict[str, Any]]:
    out = {}
    for line in stdout.splitlines():
        message = json.loads(line)
        if message.get("type") == "RECORD" and message["stream"] == stream:
            out[message["record"]["Id"]] = message["record"]
    return out


def _singerio(python: Path, tmp: Path, api_type: str) -> dict[str, dict[str, Any]]:
    config = tmp / f"singerio-{api_type}.json"
    config.write_text(json.dumps({**DEMO, "api_type": api_type, "start_date": "2000-01-01T00:00:00Z",
                                  "select_fields_by_default": True}))
    runner = [str(python), str(HERE / "singerio_runner.py"), "--config", str(config)]
    discovered = subprocess.run([*runner, "--discover"], capture_output=True, text=True, env=_env(), timeout=300)
    assert discovered.returncode == 0, discovered.stderr[-2000:]
    catalog = json.loads(discovered.stdout)
    catalog["streams"] = [s for s in catalog["streams"] if s["tap_stream_id"] == "Account"]
    for entry in catalog["streams"][0]["metadata"]:
        if not entry["breadcrumb"]:
            entry["metadata"]["selected"] = True
    properties = tmp / f"singerio-{api_type}-catalog.json"
    properties.write_text(json.dumps(catalog))
    done = subprocess.run([*runner, "--properties", str(properties)], capture_output=True, text=True, env=_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return _records(done.stdout, "Account")


def _ours(tmp: Path, api_type: str) -> dict[str, dict[str, Any]]:
    config = tmp / f"ours-{api_type}.json"
    config.write_text(json.dumps({**DEMO, "login_url": os.environ["SANDBOX_SALESFORCE_URL"], "objects": ["Account"],
                                  "start_date": "2000-01-01T00:00:00Z", "api_type": api_type}))
    discovered = subprocess.run([OUR_TAP, "--config", str(config), "--discover"], capture_output=True, text=True,
                                check=True, timeout=300)
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"][0]["metadata"]:
        compound = entry["breadcrumb"][-1:] in (["BillingAddress"], ["ShippingAddress"])
        entry["metadata"]["selected"] = not (api_type == "bulk" and compound)
    path = tmp / f"ours-{api_type}-catalog.json"
    path.write_text(json.dumps(catalog))
    done = subprocess.run([OUR_TAP, "--config", str(config), "--catalog", str(path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return _records(done.stdout, "Account")


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _same(ours: Any, theirs: Any) -> bool:
    """Equal as values: datetimes compared as instants, numbers as numbers, compound values part by part."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return all(_same(ours.get(k), theirs.get(k)) for k in set(ours) | set(theirs))
    if isinstance(ours, str) and isinstance(theirs, str) and ours != theirs and ours[4:5] == "-" == theirs[4:5]:
        try:  # singer-io types dates as date-times (midnight UTC)
            return _instant(ours) == _instant(theirs)
        except ValueError:
            return False
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)) and not isinstance(ours, bool):
        return float(ours) == float(theirs)
    return ours == theirs


def _compare(ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]]) -> int:
    """Assert one record per Id on both sides and equal values in every field both emit; returns the field count."""
    assert set(ours) == set(theirs) and len(ours) == ACCOUNTS
    shared = set.intersection(*(set(r) for r in theirs.values())) & set.intersection(*(set(r) for r in ours.values()))
    assert {"Id", "Name", "SystemModstamp", "BillingCity", "AnnualRevenue", "IsDeleted"} <= shared
    differences = [(record_id, name, ours[record_id][name], theirs[record_id][name])
                   for record_id in ours for name in shared
                   if not _same(ours[record_id][name], theirs[record_id][name])]
    assert not differences, [d for d in differences if d[1] != "SLAExpirationDate__c"][:5]
    return len(shared)


@pytest.mark.usefixtures("org")
def test_singerio_rest_mode_agrees_with_our_tap(singerio_python: Path, tmp_path: Path) -> None:
    assert _compare(_ours(tmp_path, "rest"), _singerio(singerio_python, tmp_path, "REST")) > 30


@pytest.mark.usefixtures("org")
def test_singerio_bulk_mode_agrees_with_our_bulk_read(singerio_python: Path, tmp_path: Path, sf: SF) -> None:
    before = len(sf.admin("GET", "requests")["requests"])
    theirs = _singerio(singerio_python, tmp_path, "BULK")
    paths = [entry["path"] for entry in sf.admin("GET", "requests")["requests"][before:]]
    assert any(p.endswith("/limits") for p in paths) and any("/services/async/" in p for p in paths)
    assert _compare(_ours(tmp_path, "bulk"), theirs) > 30
