"""Test session set-up: the stand-ins' pytest plugin (`sandbox.pytest_plugin`) starts one real sandbox process
(both APIs, plain HTTP and TLS) on free loopback ports before collection and exports its URLs
(`SANDBOX_SALESFORCE_URL`, `SANDBOX_NETSUITE_URL`, `SANDBOX_*_TLS_URL`, `SANDBOX_CA_BUNDLE`) to every test and
subprocess. Fixtures: `salesforce_url`, `netsuite_url`, `salesforce_admin`, `netsuite_admin`.

A real PostgreSQL server (`postgres_server`, once per session) and a fresh database per test (`postgres_uri`):
tests/postgres_server.py.

If `SANDBOX_SALESFORCE_URL` is already set, that running sandbox is used instead (handy when debugging).
"""

from __future__ import annotations

from postgres_server import postgres_server, postgres_uri  # noqa: F401 (fixtures registered by being imported)
from sandbox.pytest_plugin import (  # noqa: F401 (hooks and fixtures registered by being imported here)
    netsuite_admin,
    netsuite_url,
    pytest_configure,
    pytest_unconfigure,
    salesforce_admin,
    salesforce_url,
)
