"""Bulk API 2.0 query jobs: create, poll with backoff, read CSV result pages, abort on interrupt.

Results come back unordered, so the caller must bookmark only the maximum, and only after the last page.
"""

from __future__ import annotations

import codecs
import csv
import time
import typing as t

import requests
from urllib3.exceptions import ProtocolError

from tap_salesforce_custom.errors import BulkJobError, SalesforceAPIError
from tap_salesforce_custom.retry import backoff_delay

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_salesforce_custom.client import SalesforceClient

#: Rows per results page: pages are streamed, so this only sets how many calls a large result takes.
RESULTS_PAGE_RECORDS = 50_000
POLL_FIRST_DELAY = 0.5
POLL_MAX_DELAY = 15.0


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
                msg = f"Bulk 2.0 job {self.job_id} ended {state}: {info.get('errorMessage') or 'no message'}"
                raise BulkJobError(msg)
            time.sleep(delay)
            delay = min(POLL_MAX_DELAY, delay * 2)

    def _results(self) -> Iterator[dict[str, str]]:
        locator: str | None = None
        while True:
            params = {"maxRecords": RESULTS_PAGE_RECORDS, **({"locator": locator} if locator else {})}
            done = 0
            for attempt in range(self.client.max_retries + 1):
                response = self.client.request("GET", f"jobs/query/{self.job_id}/results", params=params, stream=True)
                try:
                    for index, row in enumerate(_csv_rows(response)):
                        if index >= done:  # after a retry, skip the rows of this page already yielded
                            done += 1
                            yield row
                    break
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ProtocolError) as exc:
                    if attempt >= self.client.max_retries:
                        msg = f"Bulk 2.0 results of job {self.job_id} kept failing: {type(exc).__name__}"
                        raise SalesforceAPIError(msg) from None
                    self.client.logger.warning("Bulk 2.0 results cut off after %d rows (%s); reading the page again",
                                               done, type(exc).__name__)
                    time.sleep(backoff_delay(attempt))
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
