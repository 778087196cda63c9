"""Batch boundaries of `write_mode: async` (no NetSuite needed): content-defined, so a rerun whose wave starts
elsewhere forms the same batches, hence the same idempotency keys."""

from __future__ import annotations

from concurrent.futures import Future

from target_netsuite.batches import MAX_BATCH, MIN_CUT, SubmittedBatches, _Batch, content_defined_chunks
from target_netsuite.sinks import Write


def _pairs(external_ids: list[str]) -> list[tuple[Write, Future[None]]]:
    return [(Write(eid, "upsert", {}, {"companyName": eid}, [], []), Future()) for eid in external_ids]


def _keys(external_ids: list[str]) -> list[str]:
    chunks = content_defined_chunks(_pairs(external_ids))
    return [_Batch("customer", [], chunk, lambda w: None).content_digest() for chunk in chunks]


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
    first = _Batch("customer", [], pairs, lambda w: None)
    assert first.content_digest() == _Batch("customer", [], _pairs(["A", "B"]), lambda w: None).content_digest()
    assert first.content_digest() != _Batch("customer", [], pairs, lambda w: None, attempt=1).content_digest()
    assert first.content_digest() != _Batch("contact", [], pairs, lambda w: None).content_digest()
    changed = _pairs(["A", "B"])
    changed[1][0].body["companyName"] = "other"
    assert first.content_digest() != _Batch("customer", [], changed, lambda w: None).content_digest()


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
