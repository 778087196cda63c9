"""tap-netsuite-custom without HTTP: key-set paging, dedupe, the bookmark rules, the lookback, settings.

The table is answered by the NetSuite stand-in's own SuiteQL engine (`ns_tap_helpers.Table`), so the queries the
tap builds are parsed and run as the stand-in runs them (TO_CHAR, TO_TIMESTAMP, ORDER BY lastmodifieddate, id).
"""

from __future__ import annotations

import datetime as dt

import pytest
from ns_tap_helpers import Table
from tap_netsuite_custom import reads
from tap_netsuite_custom.errors import NetSuiteTapError
from tap_netsuite_custom.reads import STREAMS, Bookmark, KeysetRead, build_query, convert, to_session, to_utc
from tap_netsuite_custom.settings import TapSettings

SPEC = STREAMS["customer"]
COLUMNS = [c for c in SPEC.columns if c.name in ("id", "companyname", "lastmodifieddate")]


def _customers(stamps: list[str]) -> list[dict]:
    return [{"id": str(100 + i), "companyName": f"C{i}", "lastModifiedDate": stamp} for i, stamp in enumerate(stamps)]


def _read(table: Table, start: str | None = None, page_size: int = 3) -> list[list[dict]]:
    read = KeysetRead(table.fetch, lambda cursor: build_query(SPEC, COLUMNS, cursor), start=start,
                      page_size=page_size)
    return list(read.pages())


def _ids(pages: list[list[dict]]) -> list[str]:
    return [row["id"] for page in pages for row in page]


def test_query_orders_by_stamp_then_id_and_reads_the_stamp_to_the_second() -> None:
    query = build_query(STREAMS["salesOrder"], list(STREAMS["salesOrder"].columns), "2026-01-01 00:00:00")
    assert "FROM transaction WHERE type = 'SalesOrd' AND lastmodifieddate >= TO_TIMESTAMP('2026-01-01 00:00:00', " \
           "'YYYY-MM-DD HH24:MI:SS') ORDER BY lastmodifieddate, id" in query
    assert "TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lastmodifieddate" in query
    assert "TO_CHAR(trandate, 'YYYY-MM-DD') AS trandate" in query


def test_pages_follow_the_cursor_and_emit_each_record_once() -> None:
    stamps = [f"2026-01-01T00:00:{s:02d}Z" for s in (1, 1, 2, 3, 4, 4, 5, 6, 7, 8)]
    table = Table(_customers(stamps))
    pages = _read(table)
    ids = _ids(pages)
    assert sorted(ids) == [str(100 + i) for i in range(10)]
    assert len(ids) == len(set(ids))  # the cursor's second is read again, its records are not emitted again
    assert all(offset == 0 for _, _, offset in table.queries)  # key-set: every page from a cursor, offset 0
    # Every page after the first starts at the second of the previous page's last row.
    assert "TO_TIMESTAMP('2026-01-01 00:00:02'" in table.queries[1][0]


def test_a_page_of_one_second_pages_on_with_the_offset_for_that_second() -> None:
    stamps = ["2026-01-01T00:00:01Z"] * 7 + ["2026-01-01T00:00:02Z"] * 2
    table = Table(_customers(stamps))
    ids = _ids(_read(table))
    assert sorted(ids) == sorted(str(100 + i) for i in range(9))
    assert len(ids) == len(set(ids))
    # The first page moves the cursor to its last second (offset 0); the pages of that second follow by offset.
    assert [offset for _, _, offset in table.queries][:3] == [0, 0, 3]


def test_more_records_in_one_second_than_suiteql_can_page_stops_with_one_line(monkeypatch) -> None:
    monkeypatch.setattr(reads, "MAX_OFFSET", 6)
    table = Table(_customers(["2026-01-01T00:00:01Z"] * 10))
    with pytest.raises(NetSuiteTapError, match="share lastModifiedDate"):
        _read(table)


def test_a_record_saved_during_the_read_is_not_skipped_and_comes_again_with_its_new_stamp() -> None:
    stamps = [f"2026-01-01T00:00:{s:02d}Z" for s in range(1, 10)]
    table = Table(_customers(stamps))

    def save_first_record(fetches: int) -> None:
        if fetches == 1:  # after the first page: someone saves record 100; it moves to the end of the order
            table.records[0]["lastModifiedDate"] = "2026-01-01T00:00:30Z"
    table.on_fetch = save_first_record
    ids = _ids(_read(table))
    assert sorted(set(ids)) == [str(100 + i) for i in range(9)]  # with offset paging, record 103 would be skipped
    assert ids.count("100") == 2  # its first version, then its new one


def test_bookmark_moves_after_a_page_only_to_its_greatest_value_and_never_back() -> None:
    state: dict = {}
    bookmark = Bookmark(state, lookback=dt.timedelta(0), floor=None, replication_key="lastModifiedDate")
    bookmark.observe("2026-01-01T00:00:05+00:00")
    bookmark.observe("2026-01-01T00:00:03+00:00")
    assert state == {}  # nothing until the page is emitted
    assert bookmark.commit()
    assert state["replication_key_value"] == "2026-01-01T00:00:05+00:00"
    bookmark.observe("2026-01-01T00:00:04+00:00")
    assert not bookmark.commit()
    assert state["replication_key_value"] == "2026-01-01T00:00:05+00:00"


def test_read_starts_lookback_before_the_bookmark_not_before_start_date() -> None:
    floor = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    state = {"replication_key_value": "2026-01-01T00:10:00+00:00"}
    assert Bookmark(state, lookback=dt.timedelta(seconds=300), floor=floor,
                    replication_key="x").start() == dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)
    assert Bookmark(state, lookback=dt.timedelta(hours=1), floor=floor, replication_key="x").start() == floor
    assert Bookmark({}, lookback=dt.timedelta(hours=1), floor=floor, replication_key="x").start() == floor
    assert Bookmark({}, lookback=dt.timedelta(hours=1), floor=None, replication_key="x").start() is None


def test_the_lookback_reads_a_late_commit_that_a_read_from_the_bookmark_misses() -> None:
    table = Table(_customers([f"2026-01-01T00:00:{s:02d}Z" for s in (1, 2, 3)]))
    first = _read(table)
    bookmark_second = first[-1][-1]["lastmodifieddate"]
    assert bookmark_second == "2026-01-01 00:00:03"
    # A save that began at 00:00:02 commits only now: its stamp is older than the bookmark.
    table.records.append({"id": "200", "companyName": "late", "lastModifiedDate": "2026-01-01T00:00:02Z"})
    assert "200" not in _ids(_read(table, start=bookmark_second))
    lookback = to_session(dt.datetime(2026, 1, 1, 0, 0, 3, tzinfo=dt.UTC) - dt.timedelta(seconds=300), dt.UTC)
    assert "200" in _ids(_read(table, start=lookback))


def test_values_are_typed_and_stamps_converted_from_the_account_time_zone() -> None:
    zone = dt.timezone(dt.timedelta(hours=-8))
    assert convert("boolean", "T", zone) is True
    assert convert("number", "1250.5", zone) == 1250.5
    assert convert("number", "1250", zone) == 1250
    assert convert("string", None, zone) is None
    assert to_utc("2026-01-01 16:00:00", zone) == "2026-01-02T00:00:00+00:00"
    assert to_session(dt.datetime(2026, 1, 2, tzinfo=dt.UTC), zone) == "2026-01-01 16:00:00"


BASE = {"account_id": "1234567_SB1", "auth_method": "tba", "consumer_key": "k", "consumer_secret": "s",
        "token_id": "t", "token_secret": "ts", "lookback_seconds": 300, "page_size": 1000, "account_timezone": "UTC",
        "discover_custom_fields": True, "request_timeout": 300, "max_retries": 5, "backoff_factor": 0.5}


@pytest.mark.parametrize(("change", "message"), [
    ({"account_id": "not an id"}, "is not a NetSuite account id"),
    ({"base_url": "http://netsuite.example.com"}, "base_url must use https"),
    ({"token_secret": None}, "auth_method tba needs token_secret"),
    ({"auth_method": "oauth2_m2m"}, "needs client_id, certificate_id, private_key"),
    ({"streams": ["opportunity"]}, "is not one of"),
    ({"custom_fields": {"customer": ["custentity x"]}}, "custom_fields: unknown column"),
    ({"account_timezone": "Mars/Base"}, "not an IANA time zone"),
    ({"start_date": "yesterday"}, "not an ISO 8601"),
])
def test_settings_refuse_bad_values_in_one_line(change: dict, message: str) -> None:
    with pytest.raises(NetSuiteTapError, match=message):
        TapSettings.from_config({**BASE, **change}, list(STREAMS))


def test_settings_derive_the_host_and_allow_http_only_to_loopback() -> None:
    settings = TapSettings.from_config(BASE, list(STREAMS))
    assert settings.base_url == "https://1234567-sb1.suitetalk.api.netsuite.com"
    local = TapSettings.from_config({**BASE, "base_url": "http://127.0.0.1:8702/"}, list(STREAMS))
    assert local.base_url == "http://127.0.0.1:8702"
