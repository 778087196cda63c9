"""Fixtures of tap-netsuite-custom's stand-in tests: a freshly reset, quiet NetSuite account, reset afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox.client import NetSuiteClient


@pytest.fixture
def ns_admin(netsuite_admin: NetSuiteClient) -> Iterator[NetSuiteClient]:
    netsuite_admin.reset()
    yield netsuite_admin
    netsuite_admin.reset()
