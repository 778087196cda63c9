"""One ruff configuration for the repository (issue 26): a package's own `[tool.ruff]` would shadow the root
`ruff.toml` for every file under it, so the project's rules would silently stop reaching that package."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {".venv", ".meltano", ".sandbox", ".venvs", "node_modules", ".git"}


def test_no_package_carries_its_own_ruff_configuration() -> None:
    found = []
    for path in ROOT.rglob("*.toml"):
        if SKIPPED.intersection(path.relative_to(ROOT).parts) or path == ROOT / "ruff.toml":
            continue
        own_file = path.name in {"ruff.toml", ".ruff.toml"}
        if own_file or (path.name == "pyproject.toml" and "ruff" in tomllib.loads(path.read_text()).get("tool", {})):
            found.append(str(path.relative_to(ROOT)))
    assert found == [], f"ruff configured outside the root ruff.toml: {found}"
