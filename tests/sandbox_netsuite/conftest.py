"""Fixtures for the NetSuite sandbox tests: a freshly reset, quiet account, restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from ns_helpers import Admin, session


@pytest.fixture
def admin(netsuite_url: str) -> Iterator[Admin]:
    """Admin client on a reset account; knobs go back to quiet defaults after the test (others share it)."""
    client = Admin(netsuite_url)
    client.reset()
    yield client
    client.reset()


@pytest.fixture
def ns(admin: Admin) -> requests.Session:
    """A TBA-signed session with the demo credentials."""
    return session()
