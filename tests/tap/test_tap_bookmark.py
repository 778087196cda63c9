"""The bookmark rules of `streams.py`, one test per rule, and the read paths' declared ordering that it follows.

Each test would fail if its rule were dropped from `Bookmark` (the comment says how).
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

import pytest
from tap_salesforce_custom import reads
from tap_salesforce_custom.errors import BulkJobError
from tap_salesforce_custom.progress import Progress
from tap_salesforce_custom.reads import BulkRead, IdRead, Ordering, RestRead
from tap_salesforce_custom.streams import READ_STARTED, Bookmark

LOOKBACK = dt.timedelta(seconds=60)


def stamp(minute: int, second: int = 0) -> str:
    return dt.datetime(2026, 1, 1, 0, minute, second, tzinfo=dt.UTC).isoformat(timespec="microseconds")


def at(minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, 1, 0, minute, second, tzinfo=dt.UTC)


def bookmark(state: dict[str, t.Any], floor: dt.datetime | None = None) -> Bookmark:
    return Bookmark(state, value_key="replication_key_value", started_key=READ_STARTED, lookback=LOOKBACK,
                    floor=floor, replication_key="SystemModstamp")


def test_start_is_the_later_of_bookmark_and_read_start_minus_lookback() -> None:
    state = {"replication_key_value": stamp(10), READ_STARTED: stamp(20), f"{READ_STARTED}_bookmark": stamp(10)}
    assert bookmark(state).start() == at(19)  # from the bookmark alone it would be 00:09
    later_bookmark = {"replication_key_value": stamp(30), READ_STARTED: stamp(20),
                      f"{READ_STARTED}_bookmark": stamp(30)}
    assert bookmark(later_bookmark).start() == at(29)


def test_start_is_never_before_start_date_and_is_start_date_without_state() -> None:
    state = {"replication_key_value": stamp(10)}
    assert bookmark(state, floor=at(30)).start() == at(30)
    assert bookmark(state, floor=at(5)).start() == at(9)
    assert bookmark({}, floor=at(5)).start() == at(5)
    assert bookmark({}).start() is None and not bookmark({}).resumed


def test_a_read_start_counts_only_with_the_bookmark_it_was_saved_with() -> None:
    # The bookmark moved on after the read start was saved (an interrupted read): bookmark - lookback.
    state = {"replication_key_value": stamp(10), READ_STARTED: stamp(20), f"{READ_STARTED}_bookmark": stamp(5)}
    assert bookmark(state).start() == at(9)


def test_bookmark_in_rest_form_is_normalised_before_comparing() -> None:
    state = {"replication_key_value": "2026-01-01T00:10:00.000+0000"}
    mark = bookmark(state)
    assert mark.value == stamp(10)
    mark.observe(stamp(10))  # the same instant: not "smaller" because of its spelling
    assert mark.value == stamp(10)


def test_ordered_read_advances_per_record_and_never_backwards() -> None:
    state: dict[str, t.Any] = {}
    mark = bookmark(state)
    mark.follow(RestRead.ordering)
    mark.observe(stamp(1))
    assert state["replication_key_value"] == stamp(1) and state["replication_key"] == "SystemModstamp"
    mark.observe(stamp(3))
    mark.observe(stamp(2))  # a re-sent record (restart at the last key, folded parents): never moves it back
    assert mark.value == stamp(3)


def test_unordered_read_moves_only_at_commit_to_its_maximum() -> None:
    state = {"replication_key_value": stamp(1)}
    mark = bookmark(state)
    mark.follow(BulkRead.ordering)
    for minute in (5, 9, 2):
        mark.observe(stamp(minute))
        assert mark.value == stamp(1)  # per-record advance here would skip the unread records below 00:09
    mark.commit()
    assert mark.value == stamp(9)


def test_unordered_commit_never_moves_the_bookmark_back() -> None:
    mark = bookmark({"replication_key_value": stamp(20)})
    mark.follow(Ordering.UNORDERED)
    mark.observe(stamp(15))
    mark.commit()
    assert mark.value == stamp(20)


def test_an_interrupted_unordered_read_leaves_the_old_bookmark() -> None:
    mark = bookmark({"replication_key_value": stamp(1)})
    mark.follow(Ordering.UNORDERED)
    mark.observe(stamp(9))
    mark.discard()  # quota stop, failed job, INVALID_FIELD restart
    mark.commit()
    assert mark.value == stamp(1)


def test_reads_by_id_never_move_the_bookmark() -> None:
    mark = bookmark({"replication_key_value": stamp(1)})
    mark.follow(IdRead.ordering)
    mark.observe(stamp(30))  # a re-sent parent changed after the main read, or a listed record
    mark.commit()
    assert mark.value == stamp(1)


def test_the_bookmark_is_never_now_only_an_emitted_value() -> None:
    state: dict[str, t.Any] = {}
    mark = bookmark(state)
    mark.commit()
    mark.complete(at(50))  # a complete read that emitted nothing: the read start is saved, the bookmark is not
    assert "replication_key_value" not in state
    assert state[READ_STARTED] == at(50).isoformat() and state[f"{READ_STARTED}_bookmark"] is None
    assert bookmark(state).start() == at(49)  # the next read starts from the saved read start


def test_each_read_path_declares_its_ordering() -> None:
    assert RestRead.ordering is Ordering.ORDERED
    assert BulkRead.ordering is Ordering.UNORDERED
    assert IdRead.ordering is Ordering.UNBOOKMARKED


class FakeJob:
    """A Bulk job whose rows are given; `fail_after` rows, it fails (not for size or time)."""

    rows: t.ClassVar[list[list[dict[str, str]]]] = []
    fail_after: t.ClassVar[list[int | None]] = []

    def __init__(self, _client: object, soql: str, *, include_deleted: bool) -> None:
        self.soql = soql
        self.records_expected = None
        self._rows = FakeJob.rows.pop(0)
        self._fail_after = FakeJob.fail_after.pop(0)

    def records(self) -> t.Iterator[dict[str, str]]:
        for index, row in enumerate(self._rows):
            if index == self._fail_after:
                raise BulkJobError("job Failed: INVALID_OPERATION")
            yield row


class FakeRest:
    ordering = RestRead.ordering

    def __init__(self, records: list[dict[str, str]]) -> None:
        self.records = records

    def pages(self) -> t.Iterator[tuple[list[dict[str, str]], int]]:
        yield self.records, len(self.records)


def consume(read: BulkRead, mark: Bookmark) -> list[tuple[str, Ordering, str | None]]:
    """Emit each record as the SDK does (then the per-record hook), noting the bookmark after each."""
    seen = []
    for page in read.pages():
        for record in page:
            mark.observe(record["SystemModstamp"])
            seen.append((record["Id"], mark.ordering, mark.value))
    return seen


def bulk_read(mark: Bookmark, rest: FakeRest, windows: list[str]) -> BulkRead:
    return BulkRead(t.cast("t.Any", None), logging.getLogger("test"), object_name="Account",
                    fields=["Id", "SystemModstamp"], key="SystemModstamp", start=at(0), include_deleted=True,
                    convert={"Id": str, "SystemModstamp": str}, bookmark=mark,
                    progress=Progress(logging.getLogger("test"), "Account", 30),
                    rest=lambda lo, hi: t.cast("RestRead", rest), on_window_done=lambda: windows.append("STATE"))


def test_bulk_read_is_followed_as_unordered_and_committed_at_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "BulkQueryJob", FakeJob)
    FakeJob.rows = [[{"Id": "a", "SystemModstamp": stamp(3)}, {"Id": "b", "SystemModstamp": stamp(1)}]]
    FakeJob.fail_after = [None]
    mark = bookmark({})
    seen = consume(bulk_read(mark, FakeRest([]), []), mark)
    assert seen == [("a", Ordering.UNORDERED, None), ("b", Ordering.UNORDERED, None)]
    assert mark.value == stamp(3)


def test_a_failed_bulk_job_is_discarded_and_its_rest_window_followed_as_ordered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "BulkQueryJob", FakeJob)
    monkeypatch.setattr(reads, "BULK_PAGE_RECORDS", 1)  # the record before the failure is emitted
    # The job sends one record stamped 00:09, then fails; REST reads the window again, in order.
    FakeJob.rows = [[{"Id": "late", "SystemModstamp": stamp(9)}, {"Id": "x", "SystemModstamp": stamp(4)}]]
    FakeJob.fail_after = [1]
    rest = FakeRest([{"Id": "a", "SystemModstamp": stamp(1)}, {"Id": "b", "SystemModstamp": stamp(2)}])
    mark = bookmark({})
    seen = consume(bulk_read(mark, rest, []), mark)
    # Committing the failed job's partial maximum (00:09) would put the bookmark ahead of records not yet read.
    assert seen == [("late", Ordering.UNORDERED, None), ("a", Ordering.ORDERED, stamp(1)),
                    ("b", Ordering.ORDERED, stamp(2))]
    assert mark.value == stamp(2)


def test_resent_opportunity_parents_do_not_move_the_bookmark_but_the_line_bookmark_moves_after_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream's own path: parents re-sent after the main read follow `IdRead`'s ordering (no bookmark move)."""
    from tap_salesforce_custom.streams import OpportunityStream
    from tap_salesforce_custom.tap import TapSalesforceCustom

    line = {"type": ["object"], "properties": {"Id": {"type": ["string"]}, "OpportunityId": {"type": ["string"]},
                                               "SystemModstamp": {"type": ["string"], "format": "date-time"}}}
    schema = {"type": "object", "properties": {
        "Id": {"type": ["string"]}, "SystemModstamp": {"type": ["string", "null"], "format": "date-time"},
        "OpportunityLineItems": {"type": ["array", "null"], "items": line}}}
    catalog = {"streams": [{"tap_stream_id": "Opportunity", "stream": "Opportunity", "schema": schema,
                            "replication_key": "SystemModstamp", "key_properties": ["Id"],
                            "metadata": [{"breadcrumb": [], "metadata": {"selected": True,
                                                                         "replication-key": "SystemModstamp"}}]}]}
    tap = TapSalesforceCustom(config={"client_id": "c", "client_secret": "s", "refresh_token": "r"},
                              catalog=catalog, parse_env_config=False)
    stream = tap.streams["Opportunity"]
    assert isinstance(stream, OpportunityStream)
    state = stream.get_context_state(None)
    state["replication_key_value"] = stamp(10)
    stream.bookmark = stream.new_bookmark(None)
    stream.bookmark.follow(RestRead.ordering)  # as after the main read
    changed = {"006A": None}
    monkeypatch.setattr(stream, "_changed_lines", lambda since: (changed, stamp(40), at(45)))
    monkeypatch.setattr(stream, "_with_lines", lambda records: records)

    class Parents:
        ordering = IdRead.ordering

        def rows(self) -> t.Iterator[dict[str, t.Any]]:
            yield {"Id": "006A", "SystemModstamp": stamp(30)}  # changed after the main read's snapshot

    monkeypatch.setattr(stream, "id_read", lambda *args, **kwargs: Parents())
    emitted = []
    for record in stream.after_main_read(None, resumed_from=at(9)):
        emitted.append(record["Id"])
        stream._increment_stream_state(record, context=None)  # what the SDK does after writing each record
        assert "line_items_bookmark" not in state  # the line bookmark waits for every parent
    assert emitted == ["006A"]
    assert state["replication_key_value"] == stamp(10)  # following it as ordered would have moved it to 00:30
    assert state["line_items_bookmark"] == stamp(40) and state["line_items_read_started"] == at(45).isoformat()
