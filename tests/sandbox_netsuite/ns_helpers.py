"""Helpers for the NetSuite sandbox tests: TBA-signed sessions, admin calls, wire-sample loading.

A module of its own (not conftest.py) so test modules can import it by a name no other test folder uses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import requests
import yaml
from requests_oauthlib import OAuth1
from sandbox.client import NETSUITE_QUIET_KNOBS, NetSuiteClient
from sandbox.credentials import NETSUITE

ACCOUNT = NETSUITE.account_id
CONSUMER_KEY, CONSUMER_SECRET = NETSUITE.consumer_key, NETSUITE.consumer_secret
TOKEN_ID, TOKEN_SECRET = NETSUITE.token_id, NETSUITE.token_secret
# Vendored copies of the recorded responses the shape tests compare with (see wire_samples/README.md).
WIRE_SAMPLES = Path(__file__).with_name("wire_samples")
SHARED_WIRE_SAMPLES = Path(os.environ.get("WIRE_SAMPLES_DIR", "/work/shared/wire-samples")) / "netsuite"
RECORD = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
QUIET_KNOBS = NETSUITE_QUIET_KNOBS


def tba(*, consumer_key: str = CONSUMER_KEY, consumer_secret: str = CONSUMER_SECRET,
        token_secret: str = TOKEN_SECRET, realm: str = ACCOUNT, **kwargs: Any) -> OAuth1:
    """requests-oauthlib TBA signer (HMAC-SHA256 + realm) as the target uses it."""
    return OAuth1(consumer_key, consumer_secret, kwargs.pop("token_id", TOKEN_ID), token_secret,
                  signature_method=kwargs.pop("signature_method", "HMAC-SHA256"), realm=realm, **kwargs)


def session(**kwargs: Any) -> requests.Session:
    s = requests.Session()
    s.auth = tba(**kwargs)
    return s


class Admin(NetSuiteClient):
    """The shipped admin client (`sandbox.client.NetSuiteClient`); `reset(**knobs)` restores quiet knobs."""

    def reset(self, **knobs: Any) -> None:  # type: ignore[override]
        super().reset(**knobs)


def sample(name: str) -> dict[str, Any]:
    return yaml.safe_load((WIRE_SAMPLES / name).read_text(encoding="utf-8"))


def sample_json(name: str) -> Any:
    return json.loads((WIRE_SAMPLES / name).read_text(encoding="utf-8"))


def header_values(response: requests.Response, name: str) -> list[str]:
    """Every instance of a header, unmerged (NetSuite repeats X-NetSuite-PropertyValidation)."""
    return response.raw.headers.getlist(name)


def customer(external_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"companyName": f"Company {external_id or 'x'}", "subsidiary": {"id": "1"}, **fields}
    if external_id is not None:
        body["externalId"] = external_id
    return body


def internal_id(response: requests.Response) -> str:
    return response.headers["Location"].rsplit("/", 1)[1]
