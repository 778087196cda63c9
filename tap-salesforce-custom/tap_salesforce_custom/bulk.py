"""Bulk API 2.0 query jobs: create, poll with backoff, read CSV result pages, abort on interrupt.

Results come back unordered, so the caller must bookmark only the maximum, and only after the last page.
"""

from __future__ import annotations

import csv
import io
import time
import typing as t

from tap_salesforce_custom.errors import SalesforceAPIError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_salesforce_custom.client import SalesforceClient

#: Rows per results page: bounds memory (one page is held at a time) while keeping the call count low.
RESULTS_PAGE_RECORDS = 50_000
POLL_FIRST_DELAY = 0.5
POLL_MAX_DELAY = 15.0


class BulkQueryJob:
    """One Bulk 2.0 query job; iterate `records()` to run it to the end (or abort it on the way out)."""

    def __init__(self, client: SalesforceClient, soql: str, *, include_deleted: bool) -> None:
        """Remember the query; nothing is sent until `records()` is iterated."""
        self.client = client
        self.soql = soql
        self.operation = "queryAll" if include_deleted else "query"
        self.job_id: str | None = None

    def records(self) -> Iterator[dict[str, str]]:
        """Every result row as `{column: text}`; the job is aborted if iteration stops early for any reason."""
        finished = False
        try:
            self._create()
            self._wait()
            yield from self._results()
            finished = True
        finally:
            if not finished and self.job_id:
                self._abort()

    def _create(self) -> None:
        body = {"operation": self.operation, "query": self.soql, "contentType": "CSV", "columnDelimiter": "COMMA",
                "lineEnding": "LF"}
        job = self.client.request("POST", "jobs/query", json=body).json()
        self.job_id = job["id"]
        self.client.logger.info("Bulk 2.0 %s job %s created", self.operation, self.job_id)

    def _wait(self) -> None:
        delay = POLL_FIRST_DELAY
        while True:
            info = self.client.request("GET", f"jobs/query/{self.job_id}").json()
            state = info.get("state")
            if state == "JobComplete":
                return
            if state in {"Failed", "Aborted"}:
                msg = f"Bulk 2.0 job {self.job_id} ended {state}: {info.get('errorMessage', 'no message')}"
                raise SalesforceAPIError(msg)
            time.sleep(delay)
            delay = min(POLL_MAX_DELAY, delay * 2)

    def _results(self) -> Iterator[dict[str, str]]:
        locator: str | None = None
        while True:
            params = {"maxRecords": RESULTS_PAGE_RECORDS, **({"locator": locator} if locator else {})}
            response = self.client.request("GET", f"jobs/query/{self.job_id}/results", params=params)
            # newline="" keeps newlines inside quoted values; csv copes with NUL bytes on Python >= 3.11.
            yield from csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline=""))
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    def _abort(self) -> None:
        """Best effort: an abandoned job would keep running and count against the org's Bulk limits."""
        try:
            self.client.request("PATCH", f"jobs/query/{self.job_id}", json={"state": "Aborted"}, guard_quota=False)
            self.client.logger.warning("Bulk 2.0 job %s aborted", self.job_id)
        except Exception as exc:
            self.client.logger.warning("Bulk 2.0 job %s could not be aborted: %s", self.job_id, exc)
