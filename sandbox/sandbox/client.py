"""The typed client of the stand-ins' admin API (`/__admin/...`): the one every test, CLI, demo and bench uses.

`SandboxClient` covers the surface both stand-ins share (`health`, `reset`, `knobs`, `stats`, `requests`, record
listing and plain calls); `SalesforceClient` and `NetSuiteClient` add each API's own admin routes. An answer
of 300 or more raises `AdminError` (a `requests.HTTPError`) carrying the status and the sandbox's message, so a
refused knob names itself in the test failure. The admin API needs no credentials and is served on loopback.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests

# Knob values of a quiet NetSuite account (the defaults); `NetSuiteClient.reset` restores them.
NETSUITE_QUIET_KNOBS: dict[str, Any] = {
    "concurrency_limit": 5, "latency_ms": 0, "write_latency_ms": None, "error_rate_500": 0, "error_rate_429": 0,
    "drop_rate": 0, "drop_after_rate": 0, "slow_rate": 0, "locked_rate": 0, "fault_script": [],
    "reject_external_ids": [], "reject_external_id_pattern": None, "send_retry_after": True,
    "pool_held_seconds": 0, "pool_exhausted_response": "429", "pool_exhausted_delay_ms": 0,
    "forbidden_record_types": [], "suiteql_forbidden": False,
}
SALESFORCE_QUIET_KNOBS: dict[str, Any] = {
    "fault_script": [], "latency_ms": 0, "error_rate_503": 0, "error_rate_500": 0, "drop_rate": 0, "slow_rate": 0,
}


class AdminError(requests.HTTPError):
    """The sandbox refused an admin call (status >= 300); `status` and `body` say why."""

    def __init__(self, method: str, url: str, response: requests.Response) -> None:
        self.status = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text
        super().__init__(f"{method} {url}: {self.status} {str(self.body)[:500]}", response=response)


class SandboxClient:
    """The admin surface both stand-ins share."""

    def __init__(self, base_url: str, *, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    # --- plain calls --------------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
             expect: int | None = None, timeout: float | None = None) -> Any:
        """`METHOD /__admin/<path>` with a JSON body; the decoded answer (None when empty).

        With `expect`, that status is required (and returned bodies of errors are not raised)."""
        url = f"{self.base_url}/__admin/{path.lstrip('/')}"
        response = self._http.request(method, url, json=body, params=params, timeout=timeout or self.timeout)
        if expect is not None:
            if response.status_code != expect:
                raise AdminError(method, url, response)
        elif response.status_code >= 300:
            raise AdminError(method, url, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, {} if body is None else body)

    def patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    # --- the shared surface -------------------------------------------------------------------------------
    def health(self) -> bool:
        try:
            return bool(self._http.get(f"{self.base_url}/__admin/health", timeout=2).ok)
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.health():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no sandbox answering at {self.base_url} after {timeout}s")
            time.sleep(0.2)

    def reset(self, **body: Any) -> Any:
        return self.post("reset", body)

    def knobs(self, **changes: Any) -> dict[str, Any]:
        """Change the given knobs (all or nothing) and return them all; with no argument, just show them."""
        return dict(self.post("knobs", changes) if changes else self.get("knobs"))

    def stats(self) -> dict[str, Any]:
        return dict(self.get("stats"))

    def request_log(self) -> Any:
        return self.get("requests")

    def records(self, kind: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.get(f"records/{kind}", **params)["records"])


class SalesforceClient(SandboxClient):
    """The Salesforce stand-in's admin API (sandbox/docs/salesforce.md)."""

    def reset(self, **body: Any) -> Any:
        """Regenerate the org (`seed`, `accounts`, ... volumes; `keep_knobs`)."""
        return self.post("reset", body)

    def calm(self) -> dict[str, Any]:
        """No latency, no faults (the quiet defaults)."""
        return self.knobs(**SALESFORCE_QUIET_KNOBS)

    def create(self, obj: str, fields: dict[str, Any]) -> dict[str, Any]:
        return dict(self.post(f"records/{obj}", fields))

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return dict(self.patch(f"records/{obj}/{record_id}", fields))

    def delete_record(self, obj: str, record_id: str) -> Any:
        return self.delete(f"records/{obj}/{record_id}")

    def undelete(self, obj: str, record_id: str) -> Any:
        return self.post(f"records/{obj}/{record_id}/undelete")

    def purge(self, obj: str, record_id: str) -> Any:
        return self.post(f"records/{obj}/{record_id}/purge")

    def expire_sessions(self) -> Any:
        return self.post("expire_sessions")

    def metadata(self) -> dict[str, Any]:
        return dict(self.get("metadata"))

    def change_metadata(self, obj: str, change: dict[str, Any]) -> Any:
        return self.post(f"metadata/{obj}", change)

    def share_modstamp(self, obj: str, count: int = 0, **control: Any) -> dict[str, Any]:
        return dict(self.post(f"share_modstamp/{obj}", {"count": count, **control}))

    def api_usage(self) -> int:
        return int(self.stats()["api_usage"])

    def validation_rule(self, obj: str, field: str, message: str, equals: Any = None) -> dict[str, Any]:
        """Add a validation rule: a write setting `field` of `obj` (to `equals`, when given) fails
        FIELD_CUSTOM_VALIDATION_EXCEPTION with `message`."""
        rule = {"object": obj, "field": field, "message": message, **({} if equals is None else {"equals": equals})}
        return self.knobs(validation_rules=[*self.knobs()["validation_rules"], rule])

    def lock_records(self, times: int = 1, *keys: str) -> dict[str, Any]:
        """Hold rows locked: the next `times` writes of each (by Id or external id value) fail UNABLE_TO_LOCK_ROW."""
        return self.knobs(locked_records={**self.knobs()["locked_records"], **dict.fromkeys(keys, times)})


class NetSuiteClient(SandboxClient):
    """The NetSuite stand-in's admin API (sandbox/docs/netsuite.md); `account` picks a non-default account."""

    def reset(self, *, knobs: bool = True, account: str | None = None, **quiet: Any) -> Any:
        """Empty the account(s); with `knobs` (default) also restore the configured knobs, then the quiet ones
        (plus `quiet` overrides)."""
        answer = self.call("POST", "reset", {"knobs": knobs}, params={"account": account} if account else None)
        if knobs:
            self.knobs(**{**NETSUITE_QUIET_KNOBS, **quiet})
        return answer

    def record(self, record_type: str, key: str) -> dict[str, Any]:
        return dict(self.get(f"records/{record_type}/{quote(key, safe=':')}"))

    def by_external_id(self, record_type: str) -> dict[str, dict[str, Any]]:
        return {r["externalId"]: r for r in self.records(record_type) if r.get("externalId")}

    def create_records(self, record_type: str, bodies: list[dict[str, Any]]) -> list[str]:
        """Enter records by hand (as a person in the UI would): not governed, not in the request log."""
        return list(self.post(f"records/{record_type}", {"records": bodies})["ids"])

    def edit_record(self, record_type: str, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(self.patch(f"records/{record_type}/{quote(key, safe=':')}", changes))

    def delete_record(self, record_type: str, key: str) -> Any:
        return self.delete(f"records/{record_type}/{quote(key, safe=':')}")

    def order_transition(self, key: str, action: str, lines: dict[str, float] | None = None,
                         **fields: Any) -> dict[str, Any]:
        """Apply `approve`, `fulfil`, `bill` or `close` to a sales order (`key`: internal id or `eid:<externalId>`)
        as a person in NetSuite would; `lines` limits it to those line numbers (and quantities); `fields`
        (`tranDate`, `dueDate`) date the invoice a bill makes."""
        body = {**fields, **({} if lines is None else {"lines": lines})}
        return dict(self.post(f"salesorder/{quote(key, safe=':')}/{action}", body))

    def pay_invoice(self, key: str, amount: float | None = None, **fields: Any) -> dict[str, Any]:
        """A payment received for an invoice (`key`: internal id or `eid:`), `amount` (default: what remains);
        answers the invoice after it, with `payment` = the new customerPayment's internal id."""
        body = {**fields, **({} if amount is None else {"amount": amount})}
        return dict(self.post(f"invoice/{quote(key, safe=':')}/pay", body))

    def accounts(self) -> list[dict[str, Any]]:
        return list(self.get("accounts")["accounts"])

    def add_m2m_client(self, client_id: str, certificate_id: str, public_key_pem: str,
                       account_id: str | None = None) -> dict[str, Any]:
        body = {"client_id": client_id, "certificate_id": certificate_id, "public_key_pem": public_key_pem}
        if account_id is not None:
            body["account_id"] = account_id
        return dict(self.post("m2m-clients", body))
