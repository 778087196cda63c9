"""The one rule behind each connector's `connector-kit` requirement (connector_kit/kit_requirement.py), in each of
its cases, without building anything: tests/e2e/test_dist.py installs the built packages."""

from __future__ import annotations

import runpy
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULE = runpy.run_path(str(ROOT / "connector_kit" / "kit_requirement.py"))
KIT_PROJECT = '[project]\nname = "connector-kit"\nversion = "1.2.3"\n'


def _checkout(parent: Path) -> Path:
    (parent / "connector_kit").mkdir(parents=True)
    (parent / "connector_kit" / "pyproject.toml").write_text(KIT_PROJECT)
    (parent / "tap-salesforce-custom").mkdir()
    return parent / "tap-salesforce-custom"


def test_a_checkout_requires_its_own_kit_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RULE["PORTABLE"], raising=False)
    connector = _checkout(tmp_path / "work")
    assert RULE["requirement"](str(connector)) == f"connector-kit @ {(tmp_path / 'work' / 'connector_kit').as_uri()}"


def test_portable_builds_require_the_kit_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RULE["PORTABLE"], "1")
    assert RULE["requirement"](str(_checkout(tmp_path / "work"))) == "connector-kit==1.2.3"
    monkeypatch.setenv(RULE["PORTABLE"], "0")
    assert RULE["requirement"](str(_checkout(tmp_path / "other"))).startswith("connector-kit @ file:")


@pytest.mark.parametrize(("origin", "written"), [
    ("https://x-access-token:SECRET@git.example.com/org/repo.git", "https://git.example.com/org/repo.git"),
    ("https://TOKEN@git.example.com/org/repo.git", "https://git.example.com/org/repo.git"),
    ("ssh://git:password@git.example.com:2222/org/repo.git", "ssh://git@git.example.com:2222/org/repo.git"),
    ("file:///srv/repo", "file://localhost/srv/repo"),
])
def test_a_pip_clone_requires_the_kit_at_its_commit_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin: str, written: str
) -> None:
    monkeypatch.delenv(RULE["PORTABLE"], raising=False)
    clone = tmp_path / "pip-req-build-abc123"
    connector = _checkout(clone)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-C", str(clone)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["remote", "add", "origin", origin]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert RULE["requirement"](str(connector)) == f"connector-kit @ git+{written}@{commit}#subdirectory=connector_kit"
