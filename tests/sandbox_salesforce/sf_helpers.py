"""Shared helpers for the Salesforce stand-in's tests: a small client for admin and REST calls."""

from __future__ import annotations

from typing import Any

import requests
from sandbox.client import SalesforceClient
from sandbox.credentials import SALESFORCE

DEMO = {"client_id": SALESFORCE.client_id, "client_secret": SALESFORCE.client_secret,
        "refresh_token": SALESFORCE.refresh_token}
SMALL = {"seed": 42, "accounts": 50, "contacts": 100, "products": 20, "opportunities": 30, "invoices": 20}
API = "/services/data/v61.0"


class SF:
    """A client for one sandbox: admin calls, token, and authenticated REST calls."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.admin_client = SalesforceClient(self.base, timeout=300)
        self._token: str | None = None

    def admin(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        """An admin call through the shipped client (`expect`: that status, and its body is returned)."""
        return self.admin_client.call(method, path, body, expect=expect)

    def reset(self, **volumes: Any) -> dict[str, Any]:
        self._token = None
        return self.admin("POST", "reset", {**SMALL, **volumes})

    def token_response(self, **form: str) -> requests.Response:
        return self.session.post(f"{self.base}/services/oauth2/token",
                                 data={"grant_type": "refresh_token", **DEMO, **form}, timeout=30)

    def token(self) -> str:
        if self._token is None:
            response = self.token_response()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def relogin(self) -> str:
        """Forget the cached token (after a test expired sessions) and log in again."""
        self._token = None
        return self.token()

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token()}", **kwargs.pop("headers", {})}
        url = path if path.startswith("http") else f"{self.base}{path}"
        return self.session.get(url, headers=headers, timeout=kwargs.pop("timeout", 60), **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs)

    def query(self, soql: str, all_rows: bool = False, **kwargs: Any) -> requests.Response:
        endpoint = "queryAll" if all_rows else "query"
        return self.get(f"{API}/{endpoint}", params={"q": soql}, **kwargs)

    def query_ok(self, soql: str, all_rows: bool = False) -> dict[str, Any]:
        response = self.query(soql, all_rows)
        assert response.status_code == 200, response.text[:800]
        return response.json()

    def all_records(self, soql: str, all_rows: bool = False, **kwargs: Any) -> list[dict[str, Any]]:
        response = self.query(soql, all_rows, **kwargs)
        assert response.status_code == 200, response.text[:800]
        page = response.json()
        records = list(page["records"])
        while not page["done"]:
            page = self.get(page["nextRecordsUrl"]).json()
            records += page["records"]
        return records
