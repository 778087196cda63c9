"""Bulk API 2.0 query jobs: create, poll with backoff, read CSV result pages, abort on interrupt.

Results come back unordered, so the caller must bookmark only the maximum, and only after the last page.
"""

from __future__ import annotations

import codecs
import csv
import typing as t

from connector_kit.transport import TRANSIENT_ERRORS
from urllib3.exceptions import ProtocolError

from tap_salesforce_custom.errors import BulkJobError, SalesforceAPIError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from tap_salesforce_custom.client import SalesforceClient

#: Rows per results page: pages are streamed, so this only sets how many calls a large result takes.
RESULTS_PAGE_RECORDS = 50_000
POLL_FIRST_DELAY = 0.5
POLL_MAX_DELAY = 15.0
#: A streamed results page cut off mid-way: the transport's transient errors, and urllib3's own while streaming.
BODY_CUT_OFF: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, ProtocolError)


def _csv_rows(response: requests.Response) -> Iterator[dict[str, str]]:
    """Rows of a streamed CSV body, read without holding the page in memory.

    Lines keep their "\n" so values with quoted newlines survive; csv copes with NUL bytes on Python >= 3.11.
    """
    yield from csv.DictReader(_lines(response.iter_content(chunk_size=1 << 16)))


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """UTF-8 text lines (split on "\n" only, ends kept) from a stream of byte chunks."""
    tail = ""
    for text in codecs.iterdecode(chunks, "utf-8"):
        parts = (tail + text).split("\n")
        tail = parts.pop()
        for part in parts:
            yield part + "\n"
    if tail:
        yield tail


class BulkQueryJob:
    """One Bulk 2.0 query job; iterate `records()` to run it to the end (or abort it on the way out)."""

    def __init__(self, client: SalesforceClient, soql: str, *, include_deleted: bool) -> None:
        """Remember the query; nothing is sent until `records()` is iterated."""
        self.client = client
        self.soql = soql
        self.operation = "queryAll" if include_deleted else "query"
        self.job_id: str | None = None
        self.records_expected: int | None = None  # the job's numberRecordsProcessed once it is complete

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
                self.records_expected = info.get("numberRecordsProcessed")
                return
            if state in {"Failed", "Aborted"}:
                msg = f"Bulk 2.0 job {self.job_id} ended {state}: {info.get('errorMessage') or 'no message'}"
                raise BulkJobError(msg)
            if self.client.transport.pause(delay):
                msg = f"Bulk 2.0 job {self.job_id} not polled further: the run is stopping"
                raise SalesforceAPIError(msg)
            delay = min(POLL_MAX_DELAY, delay * 2)

    def _results(self) -> Iterator[dict[str, str]]:
        locator: str | None = None
        while True:
            params = {"maxRecords": RESULTS_PAGE_RECORDS, **({"locator": locator} if locator else {})}
            done = 0
            attempt = 0
            while True:
                response = self.client.request("GET", f"jobs/query/{self.job_id}/results", params=params, stream=True)
                try:
                    for index, row in enumerate(_csv_rows(response)):
                        if index >= done:  # after a retry, skip the rows of this page already yielded
                            done += 1
                            yield row
                    break
                except BODY_CUT_OFF as exc:
                    self.client.transport.backoff(attempt, f"Bulk 2.0 results of job {self.job_id}",
                                                  f"{type(exc).__name__} after {done} rows of the page")
                    attempt += 1
                finally:
                    response.close()
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
