"""Open defect found by the multi-host soak (bench/host_soak.py, README "Running on several hosts and in
containers"): the merge compares phone fields by their last 10 digits, to accept NetSuite's reformatting (which
may drop or add the country code), so two numbers that differ only in their country code compare equal. The
mapping formats a phone by the billing country (`phone(Fax, BillingCountry)`): an Account that moves from the US to
Germany turns `+1 415-555-0009` into `+49 4155 550009`, the merge finds nothing changed and NetSuite keeps the old
number. Strict xfail: flip it when the comparison keeps the country code apart from NetSuite's formatting."""

from __future__ import annotations

import pytest
from target_netsuite.merge import comparable


def test_netsuite_reformatting_a_phone_is_not_a_change() -> None:
    assert comparable("phone", "+1 512 555 0101") == comparable("phone", "+1 512-555-0101")


@pytest.mark.xfail(strict=True, reason="phones compared by their last 10 digits: the country code is lost")
def test_a_phone_in_another_country_is_a_change() -> None:
    assert comparable("fax", "+49 4155 550009") != comparable("fax", "+1 415-555-0009")
