"""One batch of a stream's records into Salesforce, every record to a final outcome: written, or refused with
Salesforce's error (statusCode, message, fields).

Invariants:
- a batch returns only when every record has its final outcome; a problem that leaves a record without one (the
  quota guard, retries exhausted, a Bulk job that never finishes, results that do not name a record) raises, so the
  target emits no STATE past records whose fate is unknown, and the next run sends them again;
- every write is keyed: an update by `Id` or an upsert by an external id field, never an insert, so a batch sent
  twice (a crash after Salesforce saved it, a rerun, a replay) updates the same records and never creates a second;
- within a batch each key is written once, with its latest record (Singer order): Salesforce refuses one key twice
  in a request (`DUPLICATE_EXTERNAL_ID`), and Bulk results could not be told apart;
- `UNABLE_TO_LOCK_ROW` on a record (another transaction holds the row) is retried for that record alone (with
  `all_or_none`, with the records rolled back because of it), up to `lock_retries` times with backoff; a whole
  request refused for load (503, a concurrent-request REQUEST_LIMIT_EXCEEDED) is retried by the transport; the
  daily REQUEST_LIMIT_EXCEEDED stops the run cleanly;
- below `bulk_threshold` records the batch goes through sObject Collections (200 a request, `allOrNone` as set);
  at or above it, through one Bulk API 2.0 ingest job (CSV; results matched back by the key column, since Bulk
  results come in no particular order; locked rows retried through Collections).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
import typing as t

from connector_kit.salesforce import SalesforceAPIError

if t.TYPE_CHECKING:
    from target_salesforce_custom.client import SalesforceWriter
    from target_salesforce_custom.settings import StreamTarget, TargetSettings

COLLECTION_SIZE = 200
LOCKED = "UNABLE_TO_LOCK_ROW"
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
MISSING_KEY = "MISSING_KEY"
BULK_NULL = "#N/A"
#: The states an ingest job ends in.
FINAL_STATES = ("JobComplete", "Failed", "Aborted")


@dataclasses.dataclass
class Outcome:
    """One record's final outcome: `id` when written, else Salesforce's error."""

    record: dict[str, t.Any]
    key: str
    id: str | None = None
    created: bool = False
    code: str = ""
    message: str = ""
    fields: list[str] = dataclasses.field(default_factory=list)
    #: a later record of the same key in this batch was written instead
    superseded: bool = False
    via: str = ""

    @property
    def ok(self) -> bool:
        return self.id is not None or self.superseded

    def refuse(self, error: dict[str, t.Any]) -> None:
        self.id = None
        self.code = str(error.get("statusCode") or error.get("errorCode") or "UNKNOWN")
        self.message = str(error.get("message") or "")
        self.fields = [str(f) for f in error.get("fields") or []]


@dataclasses.dataclass
class BatchWriter:
    """Writes batches of one stream's records (what a sink drains) through the run's shared `SalesforceWriter`."""

    client: SalesforceWriter
    settings: TargetSettings
    #: counters for the run summary: collection requests, bulk jobs, lock retries
    counts: dict[str, int] = dataclasses.field(default_factory=lambda: {"collection_requests": 0, "bulk_jobs": 0,
                                                                          "lock_retries": 0})

    def write(self, target: StreamTarget, records: list[dict[str, t.Any]]) -> list[Outcome]:
        """Every record's final outcome, in input order."""
        outcomes = [Outcome(record=r, key=str(r.get(target.key_field) or "")) for r in records]
        latest: dict[str, Outcome] = {}
        for outcome in outcomes:
            if not outcome.key:
                outcome.refuse({"statusCode": MISSING_KEY, "message": f"the record has no {target.key_field} "
                                f"({target.operation} of {target.sobject} by {target.key_field})",
                                "fields": [target.key_field]})
                continue
            earlier = latest.get(outcome.key)
            if earlier is not None:
                earlier.superseded = True
            latest[outcome.key] = outcome
        pending = list(latest.values())
        if len(pending) >= self.settings.bulk_threshold:
            self._bulk(target, pending)
        else:
            self._collections(target, pending)
        return outcomes

    # -- sObject Collections -----------------------------------------------------------------------------------
    def _collections(self, target: StreamTarget, pending: list[Outcome]) -> None:
        attempt = 0
        while pending:
            locked: list[Outcome] = []
            for start in range(0, len(pending), COLLECTION_SIZE):
                chunk = pending[start:start + COLLECTION_SIZE]
                self.counts["collection_requests"] += 1
                results, errors = self.client.collection(target.sobject, target.external_id_field,
                                                         [o.record for o in chunk],
                                                         all_or_none=self.settings.all_or_none)
                if results is None:
                    for outcome in chunk:
                        outcome.refuse(errors[0] if errors else {"statusCode": "UNKNOWN"})
                        outcome.via = "collections"
                    continue
                if len(results) != len(chunk):
                    msg = (f"Salesforce answered {len(results)} results for {len(chunk)} {target.sobject} records; "
                           "nothing is assumed written")
                    raise SalesforceAPIError(msg)
                chunk_locked: list[Outcome] = []
                for outcome, result in zip(chunk, results, strict=True):
                    outcome.via = "collections"
                    if result.get("success"):
                        outcome.id, outcome.created = str(result.get("id")), bool(result.get("created"))
                        outcome.code = ""
                        continue
                    errors = result.get("errors") or [{"statusCode": "UNKNOWN"}]
                    outcome.refuse(errors[0])
                    if any(e.get("statusCode") == LOCKED for e in errors):
                        chunk_locked.append(outcome)
                if chunk_locked and self.settings.all_or_none:  # rolled back only because a row was locked
                    chunk_locked += [o for o in chunk if o.code == ROLLED_BACK]
                locked += chunk_locked
            pending = self._lock_retry(locked, attempt, target)
            attempt += 1

    def _lock_retry(self, locked: list[Outcome], attempt: int, target: StreamTarget) -> list[Outcome]:
        """The locked records to send again after a backoff, or [] once `lock_retries` are used (they keep their
        UNABLE_TO_LOCK_ROW outcome)."""
        if not locked or attempt >= self.settings.lock_retries:
            return []
        self.counts["lock_retries"] += len(locked)
        delay = self.client.transport.policy.delay(attempt)
        self.client.logger.info("%d %s records locked (UNABLE_TO_LOCK_ROW); retry %d of %d in %.1fs", len(locked),
                                target.sobject, attempt + 1, self.settings.lock_retries, delay)
        if self.client.transport.pause(delay):
            msg = "the run is stopping: locked records not retried"
            raise SalesforceAPIError(msg)
        return locked

    # -- Bulk API 2.0 ingest -----------------------------------------------------------------------------------
    def _bulk(self, target: StreamTarget, pending: list[Outcome]) -> None:
        columns = list(dict.fromkeys([target.key_field, *(name for o in pending for name in o.record)]))
        content = io.StringIO()
        writer = csv.writer(content, lineterminator="\n")
        writer.writerow(columns)
        for outcome in pending:
            writer.writerow([_csv_cell(outcome.record, name) for name in columns])
        self.counts["bulk_jobs"] += 1
        job = self.client.create_ingest_job(target.sobject, target.operation, target.external_id_field)
        job_id = str(job["id"])
        self.client.logger.info("Bulk 2.0 %s job %s: %d %s records", target.operation, job_id, len(pending),
                                target.sobject)
        self.client.upload_job_data(job_id, content.getvalue().encode("utf-8"))
        self.client.set_job_state(job_id, "UploadComplete")
        info = self._wait(job_id)
        by_key = {o.key: o for o in pending}
        if info["state"] != "JobComplete":
            error = {"statusCode": f"BULK_JOB_{str(info['state']).upper()}",
                     "message": str(info.get("errorMessage") or f"job {job_id} ended {info['state']}")}
            for outcome in pending:
                outcome.refuse(error)
                outcome.via = f"bulk {job_id}"
            return
        seen: set[str] = set()
        for row in csv.DictReader(io.StringIO(self.client.job_results(job_id, "successfulResults"))):
            done = by_key.get(row.get(target.key_field) or "")
            if done is not None:
                done.id, done.created = row.get("sf__Id") or "", row.get("sf__Created") == "true"
                done.via = f"bulk {job_id}"
                seen.add(done.key)
        locked: list[Outcome] = []
        for row in csv.DictReader(io.StringIO(self.client.job_results(job_id, "failedResults"))):
            failed = by_key.get(row.get(target.key_field) or "")
            if failed is None:
                continue
            code, _, message = (row.get("sf__Error") or "UNKNOWN:").partition(":")
            failed.refuse({"statusCode": code, "message": message.removesuffix(" --").strip()})
            failed.via = f"bulk {job_id}"
            seen.add(failed.key)
            if code == LOCKED:
                locked.append(failed)
        unknown = [o.key for o in pending if o.key not in seen]
        if unknown:
            msg = (f"Bulk job {job_id}: Salesforce's results do not name {len(unknown)} of the {len(pending)} records "
                   f"(first: {target.key_field} {unknown[0]}); they will be sent again next run")
            raise SalesforceAPIError(msg)
        retry = self._lock_retry(locked, 0, target)
        if retry:  # sent again through Collections, with its own lock retries after this first one
            self._collections(target, retry)

    def _wait(self, job_id: str) -> dict[str, t.Any]:
        """Poll the job until it ends; a job still running after `bulk_timeout_seconds` stops the run (no STATE)."""
        deadline = time.monotonic() + self.settings.bulk_timeout_seconds
        while True:
            info = self.client.job_info(job_id)
            if info.get("state") in FINAL_STATES:
                return info
            if time.monotonic() > deadline:
                msg = (f"Bulk job {job_id} still {info.get('state')} after bulk_timeout_seconds "
                       f"{self.settings.bulk_timeout_seconds:g}; its records will be sent again next run")
                raise SalesforceAPIError(msg)
            if self.client.transport.pause(self.settings.bulk_poll_seconds):
                msg = f"the run is stopping: Bulk job {job_id} not awaited"
                raise SalesforceAPIError(msg)


def _csv_cell(record: dict[str, t.Any], name: str) -> str:
    """A record's value as Bulk 2.0 CSV: absent → "" (field left as it is), null → `#N/A` (field emptied)."""
    if name not in record:
        return ""
    value = record[name]
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
