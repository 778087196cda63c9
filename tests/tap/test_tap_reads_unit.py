"""Pure helpers of the scale-aware reads (issue 16): field chunks under a URI budget, QUERY_TIMEOUT windows."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote_plus

import pytest
from tap_salesforce_custom.errors import SalesforceAPIError
from tap_salesforce_custom.reads import MIN_WINDOW, chunk_fields, halve, next_window, window_soql

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_chunks_cover_every_field_once_each_within_its_budget() -> None:
    fields = ["Id", "SystemModstamp", *[f"Wide_Field_{n:04d}__c" for n in range(1, 801)]]
    chunks = chunk_fields(fields, ["Id", "SystemModstamp"], budget=9000, secondary_budget=6000)
    assert all(chunk[:2] == ["Id", "SystemModstamp"] for chunk in chunks)
    assert sorted(f for chunk in chunks for f in chunk[2:]) == sorted(fields[2:])
    assert len(quote_plus(", ".join(chunks[0]))) <= 9000
    assert all(len(quote_plus(", ".join(chunk))) <= 6000 for chunk in chunks[1:])
    assert len(chunks) == 3  # 800 x 22 encoded bytes: 9,000 + 6,000 + the rest


def test_a_short_field_list_is_one_chunk() -> None:
    assert chunk_fields(["Id", "Name", "SystemModstamp"], ["Id", "SystemModstamp"], 9000, 6000) == [
        ["Id", "SystemModstamp", "Name"]]


def test_windows_halve_to_whole_seconds_and_stop_at_the_floor() -> None:
    end = T0 + dt.timedelta(days=10)
    assert halve(T0, None, end, "Account") == dt.timedelta(days=5)
    assert halve(T0, T0 + dt.timedelta(seconds=3), end, "Account") == dt.timedelta(seconds=1)
    with pytest.raises(SalesforceAPIError, match="QUERY_TIMEOUT even for a 1-second window"):
        halve(T0, T0 + MIN_WINDOW, end, "Account")
    assert next_window(T0, dt.timedelta(days=5), end) == T0 + dt.timedelta(days=5)
    assert next_window(T0 + dt.timedelta(days=5), dt.timedelta(days=5), end) is None  # the last window is open


def test_window_soql_is_half_open_and_ordered() -> None:
    soql = window_soql("Account", ["Id"], "SystemModstamp", T0, T0 + MIN_WINDOW, ordered=True)
    assert soql == ("SELECT Id FROM Account WHERE SystemModstamp >= 2024-01-01T00:00:00Z AND SystemModstamp < "
                    "2024-01-01T00:00:01Z ORDER BY SystemModstamp ASC, Id ASC")
