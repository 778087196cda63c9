"""The one SuiteQL pager every reader uses (`NetSuiteClient.suiteql_rows`): offsets advance by the rows received,
the last page is the one without `hasMore`, and an answer claiming more but sending nothing ends the read."""

from __future__ import annotations

import pytest
from target_netsuite.client import SUITEQL_PAGE_SIZE, NetSuiteClient, RecordError


class Pages:
    def __init__(self, *pages: dict) -> None:
        self.pages = list(pages)
        self.asked: list[tuple[int, int]] = []

    def suiteql(self, query: str, *, limit: int, offset: int) -> dict:
        self.asked.append((limit, offset))
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page

    suiteql_rows = NetSuiteClient.suiteql_rows


def test_pages_until_has_more_is_false() -> None:
    client = Pages({"items": [{"id": 1}, {"id": 2}], "hasMore": True}, {"items": [{"id": 3}], "hasMore": False})
    assert [row["id"] for row in client.suiteql_rows("SELECT id FROM customer")] == [1, 2, 3]
    assert client.asked == [(SUITEQL_PAGE_SIZE, 0), (SUITEQL_PAGE_SIZE, 2)]


def test_an_empty_page_that_claims_more_ends_the_read() -> None:
    client = Pages({"items": [{"id": 1}], "hasMore": True}, {"items": [], "hasMore": True})
    assert [row["id"] for row in client.suiteql_rows("q")] == [1]
    assert len(client.asked) == 2


def test_a_failed_page_raises_after_the_rows_before_it() -> None:
    client = Pages({"items": [{"id": 1}], "hasMore": True}, RecordError(400, "INVALID_PARAMETER", "bad query"))
    rows = client.suiteql_rows("q")
    assert next(rows) == {"id": 1}
    with pytest.raises(RecordError):
        next(rows)
