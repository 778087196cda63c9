"""Found by the multi-host soak (bench/host_soak.py): the merge compared phone fields by their last 10 digits, to
accept NetSuite's reformatting, so two numbers that differ only in their country code compared equal. The mapping
formats a phone by the billing country (`phone(Fax, BillingCountry)`): an Account that moved from the US to Germany
turned `+1 415-555-0009` into `+49 4155 550009`, the merge found nothing changed and NetSuite kept the old number.
Now only North America's country code 1 is optional (NetSuite's phone format shows it or not)."""

from __future__ import annotations

from target_netsuite.merge import comparable


def test_netsuite_reformatting_a_phone_is_not_a_change() -> None:
    assert comparable("phone", "+1 512 555 0101") == comparable("phone", "+1 512-555-0101")


def test_a_north_american_number_with_or_without_its_country_code_is_the_same() -> None:
    assert comparable("phone", "(512) 555-0101") == comparable("phone", "+1 512-555-0101") == "5125550101"


def test_a_phone_in_another_country_is_a_change() -> None:
    assert comparable("fax", "+49 4155 550009") != comparable("fax", "+1 415-555-0009")
    assert comparable("fax", "+44 20 7946 0958") != comparable("fax", "+33 20 7946 0958")
