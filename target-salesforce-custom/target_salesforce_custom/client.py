"""HTTP access to one Salesforce org for writes: auth, the quota guard, sObject Collections and Bulk 2.0 ingest.

One `SalesforceWriter` is built per run by the target (services.py) and shared by every sink, so the token (one
token call per run), the connection pool and the last-seen API usage are shared too. Waiting, retrying, TLS and
re-signing are connector_kit's `Transport`; Salesforce's rules are connector_kit's `classify_salesforce`, with one
addition for writes: a 400 on a Collections request (Salesforce's JSON parser refused the body: a field the org
lacks, a value of the wrong type) is handed back, so the sink dead-letters that request's records and goes on.
"""

from __future__ import annotations

import logging
import typing as t

import requests
from connector_kit.salesforce import classify_salesforce
from connector_kit.salesforce_auth import SalesforceAuthenticator, SalesforceConnection
from connector_kit.transport import Verdict

if t.TYPE_CHECKING:
    from target_salesforce_custom.settings import TargetSettings

LOGGER = logging.getLogger("target-salesforce-custom")


class SalesforceWriter:
    """Authenticated, retried, quota-guarded write calls to the org's REST and Bulk 2.0 APIs."""

    def __init__(self, settings: TargetSettings, logger: logging.Logger = LOGGER) -> None:
        """Build the session (TLS verification always on; `ca_bundle` adds a private CA) and authenticator."""
        self.logger = logger
        connection = SalesforceConnection(settings, logger)
        self.session, self.transport, self.quota = connection.session, connection.transport, connection.quota
        self.auth: SalesforceAuthenticator = connection.auth
        self.api_version = settings.api_version
        #: API calls sent (token calls are not API calls: they do not count against the org's quota).
        self.calls = 0

    @property
    def instance_url(self) -> str:
        """The org's instance URL (logs in first if needed): what the write ledger keys its entries by."""
        self.auth.ensure_token()
        return str(self.auth.instance_url)

    @property
    def data_url(self) -> str:
        """`<instance_url>/services/data/vXX.X` (logs in first if needed, for `instance_url`)."""
        self.auth.ensure_token()
        return f"{self.auth.instance_url}/services/data/v{self.api_version}"

    def request(self, method: str, path: str, *, record_errors: t.Collection[int] = (),
                **kwargs: t.Any) -> requests.Response:
        """One API call (`path` relative to `data_url`) through the transport, quota-guarded before each attempt."""
        url = f"{self.data_url}/{path.lstrip('/')}"

        def before_attempt() -> None:
            self.quota.check()
            self.calls += 1

        def classify(response: requests.Response) -> Verdict:
            self.quota.note(response)
            return classify_salesforce(response, method, url, record_error_statuses=record_errors)

        return self.transport.request(method, url, classify=classify, auth=self.auth, before_attempt=before_attempt,
                                      **kwargs)

    # -- sObject Collections -----------------------------------------------------------------------------------
    def collection(self, sobject: str, external_id_field: str | None, records: list[dict[str, t.Any]],
                   *, all_or_none: bool) -> tuple[list[dict[str, t.Any]] | None, list[dict[str, t.Any]]]:
        """Update by Id (`PATCH composite/sobjects`) or upsert by external id (`PATCH composite/sobjects/{sobject}/
        {field}`) up to 200 records: `(SaveResults in request order, [])`, or `(None, request errors)` when
        Salesforce refused the whole request (400)."""
        body = {"allOrNone": all_or_none,
                "records": [{"attributes": {"type": sobject}, **record} for record in records]}
        path = f"composite/sobjects/{sobject}/{external_id_field}" if external_id_field else "composite/sobjects"
        response = self.request("PATCH", path, json=body, record_errors=(400, 404))
        decoded = response.json()
        if response.status_code >= 400:
            errors = decoded if isinstance(decoded, list) else [decoded]
            return None, [e for e in errors if isinstance(e, dict)]
        return list(decoded), []

    # -- Bulk API 2.0 ingest -----------------------------------------------------------------------------------
    def create_ingest_job(self, sobject: str, operation: str, external_id_field: str | None) -> dict[str, t.Any]:
        body = {"object": sobject, "operation": operation, "contentType": "CSV", "lineEnding": "LF"}
        if external_id_field:
            body["externalIdFieldName"] = external_id_field
        return dict(self.request("POST", "jobs/ingest", json=body).json())

    def upload_job_data(self, job_id: str, content: bytes) -> None:
        self.request("PUT", f"jobs/ingest/{job_id}/batches", data=content, headers={"Content-Type": "text/csv"})

    def set_job_state(self, job_id: str, state: str) -> dict[str, t.Any]:
        return dict(self.request("PATCH", f"jobs/ingest/{job_id}", json={"state": state}).json())

    def job_info(self, job_id: str) -> dict[str, t.Any]:
        return dict(self.request("GET", f"jobs/ingest/{job_id}").json())

    def job_results(self, job_id: str, kind: str) -> str:
        """`successfulResults` or `failedResults` CSV of a completed job."""
        response = self.request("GET", f"jobs/ingest/{job_id}/{kind}/")
        response.encoding = "utf-8"
        return response.text
