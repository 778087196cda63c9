"""Independent-client check: the `netsuite` PyPI package (its own TBA signing via authlib) against the sandbox.

Only the host name changes (the package hard-codes `https://<account>.suitetalk.api.netsuite.com`), so it runs
against the TLS side and trusts the sandbox CA through SSL_CERT_FILE, as a user of the package would.
"""

from __future__ import annotations

import asyncio
import os
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import pytest
from netsuite import Config, NetSuiteRestApi, TokenAuth
from netsuite.exceptions import NetsuiteAPIRequestError
from ns_helpers import ACCOUNT, Admin


class SandboxRestApi(NetSuiteRestApi):
    """The package's client with only its host name pointed at the sandbox."""

    @cached_property
    def hostname(self) -> str:
        return urlsplit(os.environ["SANDBOX_NETSUITE_TLS_URL"]).netloc


def _api(token_secret: str = "sandbox-token-secret") -> SandboxRestApi:
    auth = TokenAuth(consumer_key="sandbox-consumer-key", consumer_secret="sandbox-consumer-secret",
                     token_id="sandbox-token-id", token_secret=token_secret)
    return SandboxRestApi(Config(account=ACCOUNT, auth=auth))


@pytest.fixture(autouse=True)
def _trust_sandbox_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", os.environ["SANDBOX_CA_BUNDLE"])


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_netsuite_package_is_accepted(admin: Admin) -> None:
    api = _api()
    body = {"companyName": "Via netsuite pkg", "subsidiary": {"id": "1"}, "externalId": "PKG1"}
    assert _run(api.post("/record/v1/customer", json=body)) is None  # 204
    record = _run(api.get("/record/v1/customer/eid:PKG1"))
    assert record["companyName"] == "Via netsuite pkg" and record["subsidiary"]["refName"] == "Parent Company"
    _run(api.patch(f"/record/v1/customer/{record['id']}", json={"phone": "555"}))
    found = _run(api.suiteql("SELECT id, externalid FROM customer WHERE externalid = 'PKG1'", limit=10))
    assert found["items"] == [{"links": [], "id": record["id"], "externalid": "PKG1"}]
    assert admin.records("customer")[0]["phone"] == "555"
    # The package sends X-NetSuite-PropertyNameValidation: error, so an unknown field is refused.
    with pytest.raises(NetsuiteAPIRequestError) as refused:
        _run(api.patch(f"/record/v1/customer/{record['id']}", json={"notAField": 1}))
    assert refused.value.status_code == 400


def test_netsuite_package_with_wrong_secret_is_rejected(admin: Admin) -> None:
    with pytest.raises(NetsuiteAPIRequestError) as failure:
        _run(_api(token_secret="not-the-secret").get("/record/v1/subsidiary/1"))
    assert failure.value.status_code == 401
    assert "INVALID_LOGIN" in failure.value.response_text
