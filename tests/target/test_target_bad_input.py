"""Bad Singer input and bad settings for target-netsuite (issue 13): one line naming the input line or setting,
a non-zero exit, no STATE after the bad line, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from target_helpers import CUSTOMER_SCHEMA, TARGET_EXE, NetSuiteAdmin, TargetRun, customer, run_target, state

BAD_LINES = {
    "invalid JSON": ('{"type": "RECORD", "stream": ', "not valid JSON"),
    "not an object": ('"RECORD"', "not a Singer message"),
    "unknown type": ('{"type": "BOGUS"}', "unknown Singer message type 'BOGUS'"),
    "record before schema": (json.dumps({**customer("X1"), "stream": "contact"}),
                             "RECORD for stream 'contact' before its SCHEMA"),
    "record not an object": ('{"type": "RECORD", "stream": "customer", "record": "x"}',
                             "RECORD message without an object `record`"),
    "state not an object": ('{"type": "STATE", "value": [1]}', "STATE message without an object `value`"),
    "record without its key property": ('{"type": "RECORD", "stream": "customer", "record": {"companyName": "x"}}',
                                        "RECORD of stream 'customer' lacks a key property"),
    "nested thousands deep": ('{"type": "STATE", "value": ' + "[" * 100000 + "]" * 100000 + "}", "nested too deep"),
}


def _run_lines(config: dict, lines: list[str], tmp_path: Path) -> TargetRun:
    """The target on raw input lines (run_target only sends well-formed JSON)."""
    config_file = tmp_path / "target-config.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run([TARGET_EXE, "--config", str(config_file)], input="".join(f"{x}\n" for x in lines),
                            capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False)
    states = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return TargetRun(result.returncode, states, result.stderr)


@pytest.mark.parametrize("case", BAD_LINES)
def test_bad_input_line_is_one_line_naming_it(admin: NetSuiteAdmin, config: dict, tmp_path: Path, case: str) -> None:
    bad, reason = BAD_LINES[case]
    lines = [json.dumps(m) for m in (CUSTOMER_SCHEMA, customer("A1"), state(1))] + [bad, json.dumps(customer("A2")),
                                                                                     json.dumps(state(2))]
    result = _run_lines(config, lines, tmp_path)
    assert result.returncode == 1
    errors = [text for text in result.stderr.splitlines() if "Singer input line 4" in text]
    assert errors and reason in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert state(2)["value"] not in result.states
    assert "A2" not in admin.by_external_id("customer")


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("ca_bundle", "/nonexistent/ca.pem", "ca_bundle /nonexistent/ca.pem: not a readable file"),
    ("request_timeout", -1, "request_timeout"),
    ("private_key_path", "/nonexistent/key.pem", "private_key_path /nonexistent/key.pem: cannot read it"),
    ("private_key", "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----",
     "not a readable unencrypted PEM private key"),
    ("private_key", "not a key", "not a readable unencrypted PEM private key"),
    ("private_key_path", "GARBAGE_FILE", "not a readable unencrypted PEM private key"),
])
def test_bad_setting_is_one_line(config: dict, tmp_path: Path, setting: str, value: object, message: str) -> None:
    if setting.startswith("private_key"):
        config = {**config, "auth_method": "oauth2_m2m", "client_id": "c", "certificate_id": "k"}
    if value == "GARBAGE_FILE":
        value = tmp_path / "garbage.pem"
        value.write_text("this is not a key\n")
        value = str(value)
    result = run_target({**config, setting: value}, [CUSTOMER_SCHEMA], tmp_path)
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if message in line], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
