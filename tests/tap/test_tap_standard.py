"""The Singer SDK's standard tap tests, run against the Salesforce sandbox over real HTTP.

The SDK builds the tap and runs discovery at collection time, so the config is read from the environment the
session conftest exports before collection.
"""

from __future__ import annotations

import os

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_helpers import reset
from tap_salesforce_custom.tap import TapSalesforceCustom

CONFIG = {
    "login_url": os.environ["SANDBOX_SALESFORCE_URL"],
    "client_id": "sandbox-client-id",
    "client_secret": "sandbox-client-secret",
    "refresh_token": "sandbox-refresh-token",
    "start_date": "2000-01-01T00:00:00Z",
    "api_type": "rest",
}

_StandardTests = get_tap_test_class(
    TapSalesforceCustom, config=CONFIG, suite_config=SuiteConfig(ignore_no_records_for_streams=[])
)


class TestTapSalesforceCustom(_StandardTests):  # type: ignore[misc,valid-type]
    """SDK standard tests on a small, freshly seeded org."""

    @pytest.fixture(scope="class", autouse=True)
    def _small_org(self) -> None:
        reset(accounts=30, contacts=40, products=10, opportunities=20)
