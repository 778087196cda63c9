"""Hostile input and config for target-netsuite (issue 13): what is sent where, and every failure one line.

The "sent where" cases run against a capture server that records every connection and request, so a test proves
that nothing reached a host, not only that the target said it refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

from capture_server import Answer, Captured, CaptureServer
from target_helpers import CUSTOMER_SCHEMA, DEMO_TBA, customer, dead_letters, run_target, state


def fake_netsuite(request: Captured) -> Answer:
    """Enough of NetSuite for one run: the start-up SuiteQL, empty lookups, and 204 upserts."""
    if "/query/v1/suiteql" in request.path:
        return 200, {}, json.dumps({"links": [], "count": 0, "hasMore": False, "items": [], "offset": 0,
                                    "totalResults": 0}).encode()
    return 204, {"Location": "https://x/services/rest/record/v1/customer/7"}, b""


def capture_config(server: CaptureServer, tmp_path: Path, **extra: object) -> dict:
    return {**DEMO_TBA, "base_url": server.url, "dead_letter_path": str(tmp_path / "dead"), "backoff_factor": 0.01,
            **extra}


def one_line_error(stderr: str, needle: str) -> None:
    lines = [line for line in stderr.splitlines() if needle in line]
    assert lines, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]


def test_account_id_must_have_a_netsuite_form(tmp_path: Path) -> None:
    with CaptureServer() as server:
        for account_id in (f"localhost:{server.port}/x?", "1234567\n", "evil.example#"):
            config = {**DEMO_TBA, "account_id": account_id, "dead_letter_path": str(tmp_path / "dead")}
            result = run_target(config, [CUSTOMER_SCHEMA, customer("A1")], tmp_path)
            assert result.returncode == 1
            one_line_error(result.stderr, "is not a NetSuite account id")
        assert server.connections == 0, "a signed request went to the host named in account_id"


def test_reference_type_never_reaches_suiteql(tmp_path: Path) -> None:
    injected = "customer WHERE 1=1 UNION SELECT id, email AS externalid FROM employee"
    record = customer("C1", parent={"externalId": "P1", "type": injected})
    with CaptureServer(fake_netsuite) as server:
        result = run_target(capture_config(server, tmp_path), [CUSTOMER_SCHEMA, record, state(1)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    queries = [r.json()["q"] for r in server.requests if "suiteql" in r.path]
    assert queries and not any("employee" in q.lower() for q in queries), queries
    [letter] = dead_letters(capture_config(server, tmp_path))
    assert letter["code"] == "UNRESOLVED_REFERENCE" and "not a NetSuite record type" in letter["detail"]


def test_record_type_names_are_checked(tmp_path: Path) -> None:
    """`$` would accept "customer\\n"; `record_types` values are checked like stream names."""
    schema = {**CUSTOMER_SCHEMA, "stream": "customer\n"}
    with CaptureServer(fake_netsuite) as server:
        result = run_target(capture_config(server, tmp_path), [schema, {**customer("N1"), "stream": "customer\n"}],
                            tmp_path)
        assert result.returncode == 1
        one_line_error(result.stderr, "is not a NetSuite record type")
        bad = capture_config(server, tmp_path, record_types={"customers": "customer/../../query/v1/suiteql"})
        result = run_target(bad, [CUSTOMER_SCHEMA], tmp_path)
        assert result.returncode == 1
        one_line_error(result.stderr, "record_types")
    assert not [r for r in server.requests if r.method == "PUT"]


def test_batch_messages_only_from_batch_directory(tmp_path: Path) -> None:
    outside = tmp_path / "secret.jsonl"
    outside.write_text(json.dumps({"externalId": "B1", "companyName": "read from disk", "subsidiary": {"id": "1"}})
                       + "\n")
    batch = {"type": "BATCH", "stream": "customer", "encoding": {"format": "jsonl", "compression": "none"},
             "manifest": [outside.as_uri()]}
    with CaptureServer(fake_netsuite) as server:
        refused = run_target(capture_config(server, tmp_path), [CUSTOMER_SCHEMA, batch, state(1)], tmp_path)
        assert refused.returncode == 1 and refused.states == []
        one_line_error(refused.stderr, "BATCH messages are refused")
        elsewhere = capture_config(server, tmp_path, batch_directory=str(tmp_path / "batches"))
        refused = run_target(elsewhere, [CUSTOMER_SCHEMA, batch], tmp_path)
        assert refused.returncode == 1
        one_line_error(refused.stderr, "is not inside batch_directory")
        assert not [r for r in server.requests if r.method == "PUT"]
        allowed = capture_config(server, tmp_path, batch_directory=str(tmp_path))
        assert run_target(allowed, [CUSTOMER_SCHEMA, batch, state(1)], tmp_path).returncode == 0
    assert [r.path.split("?")[0].rsplit("/", 1)[-1] for r in server.requests if r.method == "PUT"] == ["eid:B1"]


def test_signing_library_loggers_stay_quiet_at_debug(config: dict, admin, tmp_path: Path) -> None:
    log_config = tmp_path / "logging.yaml"
    log_config.write_text(
        "version: 1\ndisable_existing_loggers: false\n"
        "handlers: {console: {class: logging.StreamHandler, stream: ext://sys.stderr}}\n"
        "loggers:\n  oauthlib: {level: DEBUG, handlers: [console]}\n"
        "  oauthlib.oauth1.rfc5849: {level: DEBUG, handlers: [console]}\n"
        "  requests_oauthlib: {level: DEBUG, handlers: [console]}\n"
        "root: {level: INFO, handlers: [console]}\n"
    )
    result = run_target(config, [CUSTOMER_SCHEMA, customer("L1")], tmp_path,
                        env={"SINGER_SDK_LOG_CONFIG": str(log_config)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "L1" in admin.by_external_id("customer")
    lowered = result.stderr.lower()
    assert "oauth_signature" not in lowered and "signature base string" not in lowered
    assert "base string" not in lowered and DEMO_TBA["token_secret"] not in result.stderr


def test_unknown_stream_fails_before_state(config: dict, admin, tmp_path: Path) -> None:
    """A mapping typo (`__alias__: Customer`) must not drop records and advance state."""
    typo = {**CUSTOMER_SCHEMA, "stream": "Customer"}
    messages = [typo, {**customer("U1"), "stream": "Customer"}, state(1)]
    result = run_target(config, messages, tmp_path)
    assert result.returncode == 1 and result.states == []
    one_line_error(result.stderr, "'Customer' is not a NetSuite record type")
    # Streams the user names may be ignored; they are counted as such in the run report.
    assert run_target({**config, "ignored_streams": ["Customer"]}, messages, tmp_path).returncode == 0
    report = json.loads(Path(config["run_report_path"]).read_text())
    assert report["streams"] == {"Customer": {"ignored": 1}}


def test_cut_off_bodies_are_retried_and_give_their_slots_back(tmp_path: Path) -> None:
    """Issue 12's slot leak: a response cut mid-body raised past the retry loop and kept its slot."""
    cut = {"left": 6}

    def respond(request: Captured) -> Answer:
        if request.method == "PUT" and cut["left"] > 0:
            cut["left"] -= 1
            return 200, {"Content-Length": "500", "Connection": "close"}, b'{"o:error'  # shorter than announced
        return fake_netsuite(request)

    with CaptureServer(respond) as server:
        config = capture_config(server, tmp_path, max_concurrency=2, max_retries=5)
        messages = [CUSTOMER_SCHEMA, *(customer(f"K{i}") for i in range(4)), state(4)]
        result = run_target(config, messages, tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.states, "no STATE after the records were written"


def test_non_json_2xx_is_one_line(tmp_path: Path) -> None:
    def respond(request: Captured) -> Answer:
        return 200, {"Content-Type": "text/html"}, b"<html><head><title>Portal login</title></head></html>"

    with CaptureServer(respond) as server:
        result = run_target(capture_config(server, tmp_path), [CUSTOMER_SCHEMA], tmp_path)
    assert result.returncode == 1
    one_line_error(result.stderr, "no JSON object: HTML page: Portal login")


def test_tls_failure_is_not_retried_and_names_ca_bundle(config: dict, tmp_path: Path) -> None:
    tls = {**config, "base_url": os.environ["SANDBOX_NETSUITE_TLS_URL"], "max_retries": 5, "backoff_factor": 1}
    result = run_target(tls, [CUSTOMER_SCHEMA], tmp_path, timeout=30)
    assert result.returncode == 1
    one_line_error(result.stderr, "set ca_bundle")
    assert "Retrying" not in result.stderr
