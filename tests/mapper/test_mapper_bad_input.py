"""Bad Singer input and hostile mappings (issue 13): one line naming the input line (or the record), exit 1, no
traceback, and nothing written after the bad line."""

from __future__ import annotations

import json

import pytest
from test_mapper_cli import account, account_schema

STATE = {"type": "STATE", "value": {"bookmarks": {"Account": {"replication_key_value": "2024-01-01"}}}}
BAD_LINES = {
    "invalid JSON": ('{"type": "RECORD", "stream": ', "not valid JSON"),
    "not an object": ("[1, 2]", "not a Singer message"),
    "unknown type": ('{"type": "BOGUS"}', "unknown Singer message type 'BOGUS'"),
    "record not an object": ('{"type": "RECORD", "stream": "Account", "record": [1]}',
                             "RECORD message without an object `record`"),
    "state not an object": ('{"type": "STATE", "value": "yesterday"}', "STATE message without an object `value`"),
    "nested thousands deep": ('{"type": "RECORD", "stream": "Account", "record": ' + "[" * 5000 + "]" * 5000 + "}",
                              "not valid JSON (or nested too deep)"),
}


@pytest.mark.parametrize("case", BAD_LINES)
def test_bad_input_line_is_one_line_naming_it(mapper, mapping_config, case: str) -> None:
    line, reason = BAD_LINES[case]
    run = mapper(mapping_config, [account_schema(), account("001A"), STATE, line, account("001B"), STATE])
    assert run.returncode == 1
    errors = [text for text in run.stderr.splitlines() if "Singer input line 4" in text]
    assert errors and reason in errors[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert [r["externalId"] for r in run.records()] == ["001A"]  # nothing after the bad line
    assert sum(m["type"] == "STATE" for m in run.messages) <= 1


def test_record_before_schema_names_the_line(mapper, mapping_config) -> None:
    run = mapper(mapping_config, [account("001A")])
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "Singer input line 1: RECORD for stream 'Account' arrived before its SCHEMA" in run.stderr


def test_expression_nested_thousands_deep_is_one_line(mapper, mapping_config) -> None:
    mapping_config["payloads"]["customer"]["companyName"] = "-" * 5000 + "Name"
    run = mapper(mapping_config, [])
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "companyName: expression" in run.stderr and "nested too deep" in run.stderr


def test_each_over_a_string_flags_the_record(mapper, mapping_config) -> None:
    """`__each__` over text would repeat the block per character; the record is flagged instead."""
    schema = account_schema()
    schema["schema"]["properties"]["Tags"] = {"type": ["array", "string", "null"], "items": {"type": "string"}}
    mapping_config["payloads"]["customer"]["custentity_tags"] = {"items": [{"__each__": "Tags", "__as__": "tag",
                                                                            "name": "tag"}]}
    run = mapper(mapping_config, [schema, account("001A", Tags="abc")])
    assert run.returncode == 0, run.stderr[-2000:]
    [record] = run.records()
    assert "custentity_tags.items[].__each__: expected a list to repeat over, got str" in record["_sdc_mapping_error"]
    assert json.dumps(record).count('"name"') == 0
