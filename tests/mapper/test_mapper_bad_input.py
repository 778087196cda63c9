"""Bad Singer input and hostile mappings (issue 13): one line naming the input line (or the record), exit 1, no
traceback, and nothing written after the bad line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import MAPPER
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


def _raw_run(config: dict, lines: list[bytes], tmp_path: Path) -> tuple[int, list[dict], str]:
    """The mapper CLI on raw input bytes (the `mapper` fixture can only send valid UTF-8)."""
    config_file = tmp_path / "mapper-config.json"
    config_file.write_text(json.dumps(config))
    done = subprocess.run([str(MAPPER), "--config", str(config_file)], input=b"".join(x + b"\n" for x in lines),
                          capture_output=True, timeout=60, check=False)
    return done.returncode, [json.loads(x) for x in done.stdout.splitlines() if x.strip()], done.stderr.decode()


def _line(message: dict) -> bytes:
    return json.dumps(message).encode()


BAD_TEXT = {  # how text that is not valid UTF-8 reaches the mapper
    "invalid UTF-8 byte": b"Caf\xe9 Bar",
    "a surrogate encoded as UTF-8 bytes": b"Bad \xed\xa0\x80 name",
    "a lone surrogate escape": b"Bad \\ud800 name",
}


@pytest.mark.parametrize("case", BAD_TEXT)
def test_text_that_is_not_utf8_is_a_dead_letter_naming_the_record(mapping_config, tmp_path: Path, case: str) -> None:
    """A record holding text that is not valid UTF-8 is mapped with U+FFFD and flagged `_sdc_mapping_error`
    naming the record and the field (the target dead-letters it: nothing lost, nothing damaged written); one
    warning line, exit 0, the records around it and the STATE after it pass (issue 23: a UnicodeEncodeError
    traceback ended the run)."""
    bad = _line(account("001B", Name="PLACEHOLDER", Phone="(555) 010-0100")).replace(b"PLACEHOLDER", BAD_TEXT[case])
    lines = [_line(account_schema()), _line(account("001A")), bad, _line(account("001C")), _line(STATE)]
    returncode, messages, stderr = _raw_run(mapping_config, lines, tmp_path)
    assert returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    records = {m["record"]["externalId"]: m["record"] for m in messages if m["type"] == "RECORD"}
    assert list(records) == ["001A", "001B", "001C"]
    reason = "RECORD of stream 'Account' (Id '001B') holds text that is not valid UTF-8 in Name"
    assert reason in records["001B"]["_sdc_mapping_error"]
    assert "\ufffd" in records["001B"]["companyName"]
    assert "_sdc_mapping_error" not in records["001A"] and "_sdc_mapping_error" not in records["001C"]
    assert [m["value"] for m in messages if m["type"] == "STATE"] == [STATE["value"]]
    assert len([line for line in stderr.splitlines() if reason in line]) == 1


def test_control_message_with_text_that_is_not_utf8_is_one_line(mapping_config, tmp_path: Path) -> None:
    state = _line({"type": "STATE", "value": {"note": "PLACEHOLDER"}}).replace(b"PLACEHOLDER", b"\xff")
    returncode, messages, stderr = _raw_run(mapping_config, [_line(account_schema()), state], tmp_path)
    assert returncode == 1 and "Traceback" not in stderr
    assert "Singer input line 2: STATE message holds text that is not valid UTF-8 (value.note)" in stderr
    assert not [m for m in messages if m["type"] == "STATE"]
