"""Batch boundaries of `write_mode: async` (no NetSuite needed): content-defined, so a rerun whose wave starts
elsewhere forms the same batches, hence the same idempotency keys."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor, wait

from connector_kit.transport import AdaptiveLimiter
from target_netsuite.batches import (
    MAX_BATCH,
    MIN_CUT,
    Batch,
    SubmittedBatches,
    content_defined_chunks,
)
from target_netsuite.sinks import Write
from target_netsuite.writers import writer_for


def _pairs(external_ids: list[str]) -> list[tuple[Write, Future[None]]]:
    return [(Write(eid, "upsert", {}, {"companyName": eid}, [], []), Future()) for eid in external_ids]


def _keys(external_ids: list[str]) -> list[str]:
    chunks = content_defined_chunks(_pairs(external_ids))
    return [Batch("customer", [], chunk, lambda w: None).content_digest() for chunk in chunks]


def test_batches_hold_10_to_100_records_in_input_order() -> None:
    eids = [f"001{i:012}" for i in range(2000)]
    chunks = content_defined_chunks(_pairs(eids))
    assert [w.external_id for chunk in chunks for w, _ in chunk] == eids
    assert all(MIN_CUT <= len(chunk) <= MAX_BATCH for chunk in chunks[:-1])
    assert len({len(chunk) for chunk in chunks}) > 1  # cut by content, not every 100


def test_a_wave_starting_elsewhere_forms_the_same_batches_after_the_first() -> None:
    eids = [f"001{i:012}" for i in range(3000)]
    original = _keys(eids[1000:2000])
    rerun = _keys(eids[937:1937])  # the rerun's wave starts 63 records earlier, ends 63 earlier
    shared = set(original) & set(rerun)
    assert len(shared) >= len(original) - 5  # all but the batches at the edges (and one or two after them)


def test_the_key_depends_on_content_and_attempt() -> None:
    pairs = _pairs(["A", "B"])
    first = Batch("customer", [], pairs, lambda w: None)
    assert first.content_digest() == Batch("customer", [], _pairs(["A", "B"]), lambda w: None).content_digest()
    assert first.content_digest() != Batch("customer", [], pairs, lambda w: None, attempt=1).content_digest()
    assert first.content_digest() != Batch("contact", [], pairs, lambda w: None).content_digest()
    changed = _pairs(["A", "B"])
    changed[1][0].body["companyName"] = "other"
    assert first.content_digest() != Batch("customer", [], changed, lambda w: None).content_digest()


def test_a_nonce_lives_from_submission_to_settlement_and_survives_a_restart(tmp_path) -> None:
    """Unsettled: the same content gets the same nonce (also after a restart: the killed run's rerun); settled: a
    new one (a replay is written again, not answered from the old job)."""
    journal = SubmittedBatches(tmp_path / "async_batches.sqlite3", "account-a")
    first = journal.nonce("digest-1")
    assert journal.nonce("digest-1") == first
    journal.close()
    reopened = SubmittedBatches(tmp_path / "async_batches.sqlite3", "account-a")
    assert reopened.nonce("digest-1") == first
    assert SubmittedBatches(tmp_path / "async_batches.sqlite3", "account-b").nonce("digest-1") != first
    reopened.settled("digest-1")
    assert reopened.nonce("digest-1") != first


class _Answer:
    def __init__(self, status: int, body: dict | None = None, location: str = "") -> None:
        self.status_code = status
        self.headers = {"Location": location} if location else {}
        self._body = body or {}
        self.text = json.dumps(self._body)
        self.content = self.text.encode()

    def json(self) -> dict:
        return self._body


class _ForgetfulNetSuite:
    """Job 1 is unknown when polled (purged, or the account reset); job 2 runs; task ids listed in reverse."""

    max_retries = 3
    stopping = False

    def __init__(self) -> None:
        self.limiter = AdaptiveLimiter(5)
        self.calls: list[tuple[str, str]] = []
        self.items: dict[str, list[dict]] = {}

    def request(self, method: str, path: str, **kwargs: object) -> _Answer:
        self.calls.append((method, path))
        assert len(self.calls) < 100, "the batch writer keeps polling a job NetSuite does not know"
        if method == "PUT":
            job = str(sum(1 for m, _ in self.calls if m == "PUT"))
            self.items[job] = kwargs["body"]["items"]  # type: ignore[index]
            return _Answer(202, location=f"/services/rest/async/v1/job/{job}")
        job = path.split("/job/")[1].split("/")[0]
        if job == "1":
            return _Answer(404, {"o:errorDetails": [{"o:errorCode": "NONEXISTENT_ID", "detail": "no such job"}]})
        if path.endswith("/task"):
            count = len(self.items[job])
            return _Answer(200, {"items": [{"id": str(n)} for n in range(count, 0, -1)]})
        if path.endswith("/result"):
            number = int(path.split("/task/")[1].split("/")[0])
            return _Answer(200, {"id": str(1000 + number)})
        return _Answer(200, {"completed": True})


class _Ids:
    def __init__(self) -> None:
        self.remembered: dict[tuple[str, str], str] = {}

    def remember(self, key: tuple[str, str], internal_id: str) -> None:
        self.remembered[key] = internal_id


def test_a_job_netsuite_no_longer_knows_is_submitted_once_more_and_finished(tmp_path) -> None:
    """A 404 on a job's poll: that job is dropped and its records submitted once more (they were polled for ever
    before); task results are matched by task number, not by list position."""
    client, ids = _ForgetfulNetSuite(), _Ids()
    with ThreadPoolExecutor(2) as executor:
        writer = writer_for("async", client=client, resolver=ids, executor=executor,
                            workers=2, submitted=SubmittedBatches(tmp_path / "async.sqlite3", "account"))
        writes = [Write(f"E{i}", "upsert", {}, {"companyName": f"E{i}"}, [], []) for i in range(5)]
        futures = writer.send("customer", writes, lambda write: None)
        done, pending = wait(futures, timeout=30)
        writer.close()
    assert not pending and all(future.exception() is None for future in done)
    assert [m for m, _ in client.calls].count("PUT") == 2
    assert ids.remembered == {("customer", f"E{i}"): str(1001 + i) for i in range(5)}
