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

ACCOUNT = "1234567_SB1"
CONSUMER_KEY, CONSUMER_SECRET = "sandbox-consumer-key", "sandbox-consumer-secret"
TOKEN_ID, TOKEN_SECRET = "sandbox-token-id", "sandbox-token-secret"
# Vendored copies of the recorded responses the shape tests compare with (see wire_samples/README.md).
WIRE_SAMPLES = Path(__file__).with_name("wire_samples")
SHARED_WIRE_SAMPLES = Path(os.environ.get("WIRE_SAMPLES_DIR", "/work/shared/wire-samples")) / "netsuite"
RECORD = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
QUIET_KNOBS = {
    "concurrency_limit": 5, "latency_ms": 0, "error_rate_500": 0, "error_rate_429": 0, "drop_rate": 0,
    "slow_rate": 0, "locked_rate": 0, "error_script": [], "reject_external_ids": [], "drop_after_rate": 0,
    "write_latency_ms": None,
    "reject_external_id_pattern": None,
}


def tba(*, consumer_key: str = CONSUMER_KEY, consumer_secret: str = CONSUMER_SECRET,
        token_secret: str = TOKEN_SECRET, realm: str = ACCOUNT, **kwargs: Any) -> OAuth1:
    """requests-oauthlib TBA signer (HMAC-SHA256 + realm) as the target uses it."""
    return OAuth1(consumer_key, consumer_secret, kwargs.pop("token_id", TOKEN_ID), token_secret,
                  signature_method=kwargs.pop("signature_method", "HMAC-SHA256"), realm=realm, **kwargs)


def session(**kwargs: Any) -> requests.Session:
    s = requests.Session()
    s.auth = tba(**kwargs)
    return s


class Admin:
    """The sandbox admin API (docs/interfaces.md)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def reset(self, **knobs: Any) -> None:
        requests.post(f"{self.base_url}/__admin/reset", json={"knobs": True}, timeout=10).raise_for_status()
        self.knobs(**{**QUIET_KNOBS, **knobs})

    def knobs(self, **values: Any) -> dict[str, Any]:
        response = requests.post(f"{self.base_url}/__admin/knobs", json=values, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def records(self, record_type: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.base_url}/__admin/records/{record_type}", timeout=10)
        response.raise_for_status()
        return response.json()["records"]

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/__admin/stats", timeout=10).json()

    def request_log(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.base_url}/__admin/requests", timeout=10).json()


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
