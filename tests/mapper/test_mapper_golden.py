"""Golden tests: Salesforce records (unicode, nulls, odd countries, long names, bad values, deletes) through the
shipped `salesforce-to-netsuite` mapping → the exact NetSuite payloads expected, message by message.

The expected files were written by the mapper and then checked by hand; `UPDATE_GOLDEN=1` rewrites them after a
deliberate mapping change (review the diff before committing it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden")
CASES = sorted(p.name.removesuffix(".in.jsonl") for p in GOLDEN.glob("*.in.jsonl"))


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, mapper, mapping_config) -> None:
    """Every output message equals the reviewed expectation, in order (SCHEMA, RECORD and STATE)."""
    lines = (GOLDEN / f"{case}.in.jsonl").read_text().splitlines()
    run = mapper(mapping_config, lines)
    assert run.returncode == 0, run.stderr
    expected_file = GOLDEN / f"{case}.out.jsonl"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in run.messages))
    expected = [json.loads(line) for line in expected_file.read_text().splitlines()]
    assert run.messages == expected
