"""The Singer SDK's standard target tests, against the NetSuite sandbox.

The SDK's sample streams (`test_users`, `TestCamelcase`, ...) are not NetSuite record types, so `record_types`
sends them all to `customer`. Their records carry no `externalId`, so each is dead-lettered (MISSING_EXTERNAL_ID)
instead of written: the suite checks the Singer plumbing (schemas, state relay, malformed input), which is what
it is for; NetSuite writes are covered by test_sandbox.py.
"""

from __future__ import annotations

import os
import tempfile

from singer_sdk.testing import get_target_test_class
from target_helpers import DEMO_TBA
from target_netsuite.target import TargetNetSuite

SDK_SAMPLE_STREAMS = [
    "ForecastingTypeToCategory", "TestCamelcase", "example_stream", "record_missing_fields",
    "test:SpecialChars!in?attributes", "test_array_data", "test_duplicate_records", "test_invalid_schema",
    "test_locations", "test_multiple_state_messages_a", "test_multiple_state_messages_b", "test_no_pk",
    "test_object_schema_no_properties", "test_object_schema_with_properties", "test_optional_attributes",
    "test_record_before_schema", "test_record_missing_key_property", "test_record_missing_required_property",
    "test_schema_updates", "test_strings", "test_strings_in_arrays", "test_strings_in_objects",
    "test_user_in_location", "test_users",
]

TestTargetNetSuite = get_target_test_class(
    TargetNetSuite,
    config={
        **DEMO_TBA,
        "base_url": os.environ["SANDBOX_NETSUITE_URL"],
        "dead_letter_path": tempfile.mkdtemp(prefix="target-netsuite-standard-"),
        "record_types": dict.fromkeys(SDK_SAMPLE_STREAMS, "customer"),
        "backoff_factor": 0.05,
    },
)
