"""Issue 17: the discovery catalog cache saves the describe calls and never serves a catalog for other settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tap_helpers import TAP, admin, reset, tap_config


def _discover(tmp: Path, config: dict) -> tuple[dict, int, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.json").write_text(json.dumps(config))
    before = admin("GET", "stats")["api_usage"]
    done = subprocess.run([TAP, "--config", str(tmp / "config.json"), "--discover"], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout), admin("GET", "stats")["api_usage"] - before, done.stderr


def _streams(catalog: dict) -> dict[str, dict]:
    return {s["tap_stream_id"]: s["schema"] for s in catalog["streams"]}


def test_cached_discovery_makes_no_call_and_matches_a_described_one(tmp_path: Path) -> None:
    reset(accounts=2)
    cache = tmp_path / "cache" / "catalog.json"
    config = tap_config(objects=["Account", "Contact"], catalog_cache_path=str(cache))
    described, calls, _ = _discover(tmp_path / "a", config)
    assert calls == 3 and cache.is_file()  # describe-global + 2 describes
    cached, calls, stderr = _discover(tmp_path / "b", config)
    assert calls == 0 and "Catalog from" in stderr
    assert _streams(cached) == _streams(described)
    assert "sandbox-client-secret" not in cache.read_text()


def test_other_objects_or_an_old_file_describe_again(tmp_path: Path) -> None:
    reset(accounts=2)
    cache = tmp_path / "catalog.json"
    config = tap_config(objects=["Account"], catalog_cache_path=str(cache))
    _discover(tmp_path / "a", config)
    other, calls, _ = _discover(tmp_path / "b", {**config, "objects": ["Account", "Product2"]})
    # the sobject list, Account, Product2 and the PricebookEntry it is read with
    assert calls == 4 and set(_streams(other)) == {"Account", "Product2"}
    body = json.loads(cache.read_text())
    body["written_at"] = "2000-01-01T00:00:00+00:00"
    cache.write_text(json.dumps(body))
    _, calls, _ = _discover(tmp_path / "c", {**config, "objects": ["Account", "Product2"]})
    assert calls == 4
