"""target-netsuite against the real NetSuite sandbox over HTTP: writes, references, state, faults, isolation.

Each test resets the sandbox account (the `admin` fixture) and sets the knobs it needs.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from target_helpers import CUSTOMER_SCHEMA, DEMO_TBA, customer, dead_letters, run_target, state
from target_netsuite.parking import ParkedRecords
from target_netsuite.target import TargetNetSuite

VOLATILE = {"lastModifiedDate", "dateCreated", "links"}


def _listen(config: dict, messages: list[dict]) -> TargetNetSuite:
    """Run the target in-process (faster than a subprocess) on the given Singer messages."""
    target = TargetNetSuite(config=config)
    target.check_connection()
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    return target


def _contents(records: dict[str, dict]) -> dict[str, dict]:
    return {eid: {k: v for k, v in r.items() if k not in VOLATILE} for eid, r in records.items()}


CONTACT_SCHEMA = {
    "type": "SCHEMA", "stream": "contact", "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {"externalId": {"type": "string"}, "lastName": {"type": "string"},
                                                "company": {"type": "object"}, "subsidiary": {"type": "object"}}},
}


def contact(external_id: str, company_eid: str) -> dict:
    return {"type": "RECORD", "stream": "contact", "record": {
        "externalId": external_id, "firstName": "Ada", "lastName": f"Contact {external_id}",
        "subsidiary": {"id": "1"}, "company": {"externalId": company_eid, "type": "customer"}}}


def test_upserts_are_idempotent_and_sublists_replaced(admin, config) -> None:
    address = {"items": [{"defaultBilling": True, "addressbookaddress": {"addr1": "1 Main St", "city": "Austin",
                                                                         "state": "TX", "zip": "73301",
                                                                         "country": "US"}},
                         {"defaultShipping": True, "addressbookaddress": {"addr1": "2 Side St", "country": "US",
                                                                          "city": "Austin", "state": "TX",
                                                                          "zip": "73301"}}]}
    messages = [CUSTOMER_SCHEMA, *[customer(f"C{i:03}", addressbook=address) for i in range(20)], state(20)]
    _listen(config, messages)
    first = admin.by_external_id("customer")
    assert sorted(first) == [f"C{i:03}" for i in range(20)]
    _listen(config, messages)  # the same input again: same contents, nothing new
    second = admin.by_external_id("customer")
    assert _contents(second) == _contents(first)
    assert admin.stats()["writes"]["created"] == 20
    one_line = {"items": [address["items"][0]]}
    _listen(config, [CUSTOMER_SCHEMA, customer("C000", addressbook=one_line)])
    assert len(admin.by_external_id("customer")["C000"]["addressbook"]["items"]) == 1
    assert len(admin.records("customer")) == 20


def test_delete_action(admin, config) -> None:
    _listen(config, [CUSTOMER_SCHEMA, customer("D1"), customer("D2")])
    _listen(config, [CUSTOMER_SCHEMA, customer("D1", _sdc_action="delete"), customer("D9", _sdc_action="delete")])
    assert sorted(admin.by_external_id("customer")) == ["D2"]  # D9 never existed: a 404 on delete is success
    assert dead_letters(config) == []


def test_references_from_own_writes_lookups_and_parked_children(admin, config) -> None:
    """Children whose parents are still buffered in the same run are written after them (the contact sink fills
    up first); a parent from an earlier run is found by SuiteQL; a child whose parent NetSuite lacks is parked,
    not dead-lettered, and is written at the end of the run that brings its parent."""
    config = {**config, "batch_size_rows": 5}
    _listen(config, [CUSTOMER_SCHEMA, customer("OLD")])
    messages = [CUSTOMER_SCHEMA, CONTACT_SCHEMA, *[customer(f"P{i}") for i in range(3)],
                *[contact(f"K{i}", f"P{i % 3}") for i in range(5)], contact("K-OLD", "OLD"),
                contact("K-NONE", "NOPE"), state(1)]
    first = _listen(config, messages)
    customers = admin.by_external_id("customer")
    contacts = admin.by_external_id("contact")
    assert sorted(contacts) == ["K-OLD", *[f"K{i}" for i in range(5)]]
    for i in range(5):
        assert contacts[f"K{i}"]["company"]["id"] == customers[f"P{i % 3}"]["id"]
    assert contacts["K-OLD"]["company"]["id"] == customers["OLD"]["id"]
    assert dead_letters(config) == []
    assert first.services.summary.as_dict()["contact"]["waiting"] == 1
    [parked] = list(ParkedRecords(Path(config["dead_letter_path"]) / "parked.sqlite3").all())
    assert (parked.external_id, parked.waiting_for) == ("K-NONE", "customer NOPE")

    _listen(config, [CUSTOMER_SCHEMA, customer("NOPE")])  # a later run brings the parent, and no contact at all
    contacts = admin.by_external_id("contact")
    assert contacts["K-NONE"]["company"]["id"] == admin.by_external_id("customer")["NOPE"]["id"]
    assert list(ParkedRecords(Path(config["dead_letter_path"]) / "parked.sqlite3").all()) == []
    assert dead_letters(config) == []


def test_parked_child_never_overwrites_a_newer_version(admin, config) -> None:
    """A parked old version is dropped when a newer version of the same record reaches a final outcome."""
    _listen(config, [CONTACT_SCHEMA, contact("K1", "LATE")])
    newer = contact("K1", "OLD2")
    newer["record"]["lastName"] = "Newer"
    _listen(config, [CUSTOMER_SCHEMA, CONTACT_SCHEMA, customer("OLD2"), newer])
    _listen(config, [CUSTOMER_SCHEMA, customer("LATE")])  # the old version's parent arrives: nothing to retry
    [written] = admin.records("contact")
    assert written["lastName"] == "Newer"
    assert written["company"]["id"] == admin.by_external_id("customer")["OLD2"]["id"]


def test_a_parent_that_never_comes_becomes_a_dead_letter_after_the_wait(admin, config) -> None:
    """`reference_wait_hours` (and at least 3 end-of-run tries) bound the wait; the letter says why."""
    config = {**config, "reference_wait_hours": 0}
    _listen(config, [CONTACT_SCHEMA, contact("K-GONE", "NEVER")])  # parked, and tried once at the end of the run
    _listen(config, [CUSTOMER_SCHEMA])  # second try
    assert dead_letters(config) == []
    _listen(config, [CUSTOMER_SCHEMA])  # third try: waited long enough
    [letter] = dead_letters(config)
    assert (letter["externalId"], letter["code"], letter["path"]) == ("K-GONE", "UNRESOLVED_REFERENCE", "company")
    assert "3 end-of-run tries" in letter["detail"]
    assert letter["payload"]["company"] == {"externalId": "NEVER", "type": "customer"}
    assert admin.records("contact") == []


def test_state_is_emitted_only_after_every_earlier_record_is_written(admin, config, monkeypatch) -> None:
    """Snapshot the sandbox at the moment each STATE is emitted: every record before it must be there, also when
    small batches make the SDK drain full sinks in between."""
    config = {**config, "batch_size_rows": 4, "checkpoint_interval_seconds": 0}
    seen: list[tuple[dict, set[str]]] = []
    original = TargetNetSuite._write_state_message

    def spy(self: TargetNetSuite, value: dict) -> None:
        seen.append((value, set(admin.by_external_id("customer"))))
        original(self, value)

    monkeypatch.setattr(TargetNetSuite, "_write_state_message", spy)
    messages: list[dict] = [CUSTOMER_SCHEMA]
    for i in range(30):
        messages.append(customer(f"S{i:02}"))
        if i % 7 == 6:
            messages.append(state(i))
    messages.append(state(29))
    _listen(config, messages)
    assert seen, "no STATE emitted"
    assert seen[-1][0] == state(29)["value"]
    for value, present in seen:
        position = value["bookmarks"]["customer"]["position"]
        assert {f"S{i:02}" for i in range(position + 1)} <= present


def test_isolation_dead_letters_and_replay(admin, config, tmp_path) -> None:
    """1% rejected by rule: the rest written, the rejected in the dead-letter file with the reason, state
    advances, `fail_on_dead_letters` turns the exit non-zero; a replay after lifting the rule writes them."""
    admin.knobs(reject_external_id_pattern="^R(007|123)$")
    messages = [CUSTOMER_SCHEMA, *[customer(f"R{i:03}") for i in range(200)], state("end")]
    run = run_target({**config, "fail_on_dead_letters": True}, messages, tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.states == [state("end")["value"]]  # state advanced before the non-zero exit
    assert len(admin.records("customer")) == 198
    letters = dead_letters(config)
    assert sorted(x["externalId"] for x in letters) == ["R007", "R123"]
    assert {x["code"] for x in letters} == {"USER_ERROR"} and all("rejection rule" in x["detail"] for x in letters)
    report = json.loads(Path(config["run_report_path"]).read_text())
    assert report["streams"]["customer"] == {"created": 198, "dead_lettered": 2, "written": 198}

    admin.knobs(reject_external_id_pattern=None)
    files = sorted(Path(config["dead_letter_path"]).glob("*.jsonl"))
    replay = subprocess.run([str(Path(sys.executable).with_name("target-netsuite-replay")), *map(str, files)],
                            capture_output=True, text=True, check=True)
    replayed = run_target(config, [json.loads(line) for line in replay.stdout.splitlines()], tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert len(admin.records("customer")) == 200


def test_faults_every_record_written_exactly_once(admin, config) -> None:
    admin.knobs(error_rate_500=0.05, error_rate_429=0.02, drop_rate=0.02, random_seed=7)
    config = {**config, "max_retries": 8}
    messages = [CUSTOMER_SCHEMA, *[customer(f"F{i:03}", phone=f"555-{i:04}") for i in range(300)], state(1)]
    target = _listen(config, messages)
    records = admin.records("customer")
    assert len(records) == 300
    assert {r["externalId"]: r["phone"] for r in records} == {f"F{i:03}": f"555-{i:04}" for i in range(300)}
    assert admin.stats()["writes"]["created"] == 300
    assert target.client.stats.retries > 0  # the faults did happen
    assert dead_letters(config) == []


def test_concurrency_window_and_adaptive_backoff(admin, config) -> None:
    admin.knobs(concurrency_limit=3, latency_ms=30)
    _listen({**config, "max_concurrency": 3}, [CUSTOMER_SCHEMA, *[customer(f"W{i:03}") for i in range(60)]])
    stats = admin.stats()
    assert stats["count_429"] == 0 and stats["peak_concurrency"] == 3

    admin.reset(concurrency_limit=3, latency_ms=30)
    # NetSuite was emptied behind the write ledger's back: every record must be sent again.
    target = _listen({**config, "max_concurrency": 10, "max_retries": 10, "ledger": "ignore"},
                     [CUSTOMER_SCHEMA, *[customer(f"W{i:03}") for i in range(150)]])
    assert len(admin.records("customer")) == 150
    # Without the adaptive window about 70% of requests (7 of 10 in flight) would be refused.
    assert admin.stats()["count_429"] < 0.15 * target.client.stats.requests


def test_dry_run_writes_nothing(admin, config, caplog) -> None:
    caplog.set_level(logging.INFO)
    target = _listen({**config, "dry_run": True}, [CUSTOMER_SCHEMA, customer("DRY1")])
    assert admin.records("customer") == []
    assert target.services.summary.as_dict() == {"customer": {"dry_run": 1}}
    assert any("dry_run: PUT customer/eid:DRY1" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"token_secret": "wrong-token-secret"}, "refused the credentials"),
        ({"account_id": "7654321"}, "refused the credentials"),
        ({"base_url": "http://127.0.0.1:9"}, "not reachable"),
    ],
    ids=["wrong-token-secret", "wrong-account", "unreachable"],
)
def test_fail_fast_before_any_record(admin, config, tmp_path, override, expected) -> None:
    run = run_target({**config, **override}, [CUSTOMER_SCHEMA, customer("X1"), state(1)], tmp_path)
    assert run.returncode == 1
    assert run.states == []
    errors = [line for line in run.stderr.splitlines() if "target-netsuite:" in line]
    assert len(errors) == 1 and expected in errors[0], run.stderr
    assert "Traceback" not in run.stderr
    assert not any(r["method"] == "PUT" for r in admin.request_log())
    for secret in ("wrong-token-secret", DEMO_TBA["token_secret"], DEMO_TBA["consumer_secret"]):
        assert secret not in run.stderr


def test_transient_errors_that_never_clear_fail_without_state(admin, config, tmp_path) -> None:
    messages = [CUSTOMER_SCHEMA, customer("T1"), state(1)]
    admin.knobs(error_rate_500=1.0)
    run = run_target({**config, "max_retries": 2}, messages, tmp_path)
    assert run.returncode == 1 and run.states == []
    assert "failed after 3 attempts" in run.stderr
    assert dead_letters(config) == []  # not the record's fault: resent by the next run, not dead-lettered


def test_secrets_never_logged(admin, config, tmp_path) -> None:
    """Debug logging, retries, dead letters, a fatal error: no secret or signature anywhere."""
    admin.knobs(error_script=["ok", "500", "500"], reject_external_ids=["L2"])
    # match_mode create: no record-matching SuiteQL, so the 500s after the connection check hit the PUTs
    run = run_target({**config, "max_retries": 10, "match_mode": "create"},
                     [CUSTOMER_SCHEMA, customer("L1"), customer("L2"), state(1)],
                     tmp_path, env={"LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr, run.stderr[:3000]  # debug logging was on
    assert "Retrying PUT" in run.stderr  # and retries happened
    bad = run_target({**config, "consumer_secret": "another-secret"}, [CUSTOMER_SCHEMA], tmp_path,
                     env={"LOGLEVEL": "DEBUG"})
    assert bad.returncode == 1
    outputs = [run.stderr, bad.stderr, json.dumps(run.states), json.dumps(dead_letters(config))]
    for secret in [DEMO_TBA["consumer_secret"], DEMO_TBA["token_secret"], "another-secret", "oauth_signature"]:
        assert not any(secret in text for text in outputs), secret


def test_tls_with_ca_bundle(admin, config, tmp_path) -> None:
    tls = {**config, "base_url": os.environ["SANDBOX_NETSUITE_TLS_URL"]}
    assert run_target({**tls, "ca_bundle": os.environ["SANDBOX_CA_BUNDLE"]}, [CUSTOMER_SCHEMA, customer("TLS1")],
                      tmp_path).returncode == 0
    assert list(admin.by_external_id("customer")) == ["TLS1"]
    unverified = run_target(tls, [CUSTOMER_SCHEMA], tmp_path)  # verification stays on: the sandbox CA is unknown
    # A TLS failure is final at once (never retried) and says how to fix it.
    assert unverified.returncode == 1 and "set ca_bundle" in unverified.stderr
    assert "Retrying" not in unverified.stderr and "Traceback" not in unverified.stderr


def test_reference_to_a_record_of_the_same_batch(admin, config) -> None:
    """A child customer whose parent customer is in the same batch is written in a later wave."""
    child = customer("CHILD", parent={"externalId": "PARENT", "type": "customer"})
    _listen(config, [CUSTOMER_SCHEMA, child, customer("PARENT")])
    records = admin.by_external_id("customer")
    assert records["CHILD"]["parent"]["id"] == records["PARENT"]["id"]


_CURVES = {"ec": ec.SECP256R1, "ec384": ec.SECP384R1, "ec521": ec.SECP521R1}


def _pem_pair(kind: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" \
        else ec.generate_private_key(_CURVES[kind]())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.mark.parametrize("kind", ["rsa", "ec", "ec384", "ec521"])  # PS256, ES256, ES384, ES512
def test_oauth2_m2m(admin, netsuite_url, config, tmp_path, kind) -> None:
    private, public = _pem_pair(kind)
    admin.add_m2m_client(f"client-{kind}", f"cert-{kind}", public, account_id="1234567_SB1")
    m2m = {k: v for k, v in config.items() if k not in DEMO_TBA or k == "account_id"}
    m2m |= {"auth_method": "oauth2_m2m", "client_id": f"client-{kind}", "certificate_id": f"cert-{kind}"}
    # (the sandbox's reset keeps token-endpoint entries in its request log, so count the difference)
    tokens_before = sum(r["path"].endswith("/oauth2/v1/token") for r in admin.request_log())
    key_file = tmp_path / "key.pem"
    key_file.write_text(private)
    run = run_target({**m2m, "private_key_path": str(key_file)},
                     [CUSTOMER_SCHEMA, *[customer(f"M{i}") for i in range(5)], state(1)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert sorted(admin.by_external_id("customer")) == [f"M{i}" for i in range(5)]
    tokens = sum(r["path"].endswith("/oauth2/v1/token") for r in admin.request_log())
    assert tokens - tokens_before == 1  # fetched once, then cached

    other, _ = _pem_pair(kind)  # a key NetSuite does not know: stop at once, one line, no state
    bad = run_target({**m2m, "private_key": other}, [CUSTOMER_SCHEMA, customer("M9"), state(2)], tmp_path)
    assert bad.returncode == 1 and bad.states == []
    assert "token endpoint refused" in bad.stderr and "Traceback" not in bad.stderr
    assert "(HTTP 400, invalid_grant)" in bad.stderr  # the OAuth error code, never the assertion


def test_m2m_key_of_an_unsupported_curve_is_one_line(config, tmp_path) -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    m2m = {k: v for k, v in config.items() if k not in DEMO_TBA or k == "account_id"}
    m2m |= {"auth_method": "oauth2_m2m", "client_id": "c", "certificate_id": "k", "private_key": private}
    run = run_target(m2m, [CUSTOMER_SCHEMA], tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "private_key_path file) is an EC secp256k1 key" in run.stderr


def test_netsuite_validation_errors_become_dead_letters_with_code_and_path(admin, config) -> None:
    """NetSuite's own 4xx answers (missing required field, a reference to an internal id that does not exist)
    are dead-lettered with NetSuite's code, detail and path; the good record in between is written."""
    _listen(config, [
        CUSTOMER_SCHEMA,
        {"type": "RECORD", "stream": "customer", "record": {"externalId": "V1", "companyName": "No subsidiary"}},
        customer("V2"),
        customer("V3", subsidiary={"id": "99999"}),
    ])
    assert list(admin.by_external_id("customer")) == ["V2"]
    letters = {x["externalId"]: x for x in dead_letters(config)}
    assert sorted(letters) == ["V1", "V3"]
    assert letters["V1"]["code"] == "USER_ERROR" and "Subsidiary" in letters["V1"]["detail"]
    assert letters["V1"]["status"] == 400
    assert letters["V3"]["path"] == "subsidiary" and letters["V3"]["status"] in (400, 404)


@pytest.mark.parametrize("attempt", range(10))
def test_two_targets_started_at_once_never_both_write(admin, config, tmp_path, attempt) -> None:
    """Two target processes on one account, started back to back: the account lock lets exactly one write; the
    other stops with one line before reading its input, exit 1, no STATE. NetSuite holds the first write until
    one process has ended, so the winner cannot finish before the loser starts, however loaded the machine is (one
    write only: a held request keeps its concurrency slot, and the loser's connection check needs one)."""
    admin.knobs(held_writes=1)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**config, "lock_path": str(tmp_path / "account.lock")}))
    messages = [CUSTOMER_SCHEMA, *[customer(f"L{attempt}-{i}") for i in range(8)], state(attempt)]
    input_file = tmp_path / "input.jsonl"
    input_file.write_text("".join(json.dumps(m) + "\n" for m in messages))
    processes, outputs = [], []
    with ExitStack() as files:
        for n in range(2):
            out = files.enter_context((tmp_path / f"{n}.out").open("w+"))
            err = files.enter_context((tmp_path / f"{n}.err").open("w+"))
            outputs.append((out, err))
            processes.append(subprocess.Popen([sys.executable, "-m", "target_netsuite.target", "--config",
                                               str(config_file)], stdin=files.enter_context(input_file.open()),
                                              stdout=out, stderr=err))
        deadline = time.monotonic() + 120
        while all(process.poll() is None for process in processes):
            assert time.monotonic() < deadline, ("neither target ended while NetSuite held the writes",
                                                 [(tmp_path / f"{n}.err").read_text()[-1500:] for n in range(2)])
            time.sleep(0.05)
        admin.knobs(held_writes=0)
        codes = [process.wait(timeout=120) for process in processes]
        stdout = [out.seek(0) or out.read() for out, _ in outputs]
        stderr = [err.seek(0) or err.read() for _, err in outputs]
    assert sorted(codes) == [0, 1], [e[-800:] for e in stderr]
    loser = codes.index(1)
    assert "another target-netsuite run is writing to NetSuite account 1234567_SB1" in stderr[loser]
    assert stdout[loser] == ""  # no STATE
    assert "Traceback" not in stderr[loser]
    assert admin.stats()["writes"]["created"] == 8


def test_explicit_nulls_reach_netsuite_and_empty_only_those_fields(admin, config) -> None:
    """A payload's `null` goes over the wire as `null` (NetSuite empties the field); a field the payload does not
    carry keeps its value; a null reference empties the reference."""
    _listen(config, [CUSTOMER_SCHEMA, CONTACT_SCHEMA, customer("N1", phone="+1 415-555-0100", comments="by hand"),
                     contact("NK", "N1")])
    assert admin.by_external_id("contact")["NK"]["company"]
    emptied = {**contact("NK", "N1"), "record": {**contact("NK", "N1")["record"], "company": None}}
    _listen(config, [CUSTOMER_SCHEMA, CONTACT_SCHEMA, customer("N1", phone=None), emptied])
    stored = admin.by_external_id("customer")["N1"]
    assert "phone" not in stored
    assert stored["comments"] == "by hand"
    assert "company" not in admin.by_external_id("contact")["NK"]
    assert dead_letters(config) == []
