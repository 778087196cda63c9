"""Fixtures of the end-to-end tests: a private Meltano project context and the sandboxes' admin APIs."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin


@pytest.fixture
def meltano_project(tmp_path: Path) -> MeltanoProject:
    return MeltanoProject(tmp=tmp_path)


@pytest.fixture
def salesforce(salesforce_url: str) -> SandboxAdmin:
    return SandboxAdmin(salesforce_url)


@pytest.fixture
def netsuite(netsuite_url: str) -> SandboxAdmin:
    return SandboxAdmin(netsuite_url)
