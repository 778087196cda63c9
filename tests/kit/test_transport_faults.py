"""The shared transport against the real sandboxes, with faults a sandbox cannot produce (issue 12).

- The slot leak: bodies cut off mid-way, undecodable bodies and failing M2M token calls, many more of them than
  `max_concurrency` 2, are retried; every slot comes back and the run finishes. (On the target before commit
  c027679 each such failure kept its slot: the third request waited forever.)
- TLS without `ca_bundle`: both connectors stop at the first attempt (one TLS handshake, counted on the wire)
  with the same one-line hint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fault_proxy import ConnectionCounter, FaultProxy
from sandbox.client import NetSuiteClient
from target_netsuite.target import TargetNetSuite

BIN = Path(sys.executable).parent
ACCOUNT = "1234567_SB1"
QUIET = {"concurrency_limit": 5, "latency_ms": 0, "error_rate_500": 0, "error_rate_429": 0, "drop_rate": 0,
         "slow_rate": 0, "locked_rate": 0, "error_script": [], "send_retry_after": True, "pool_held_s": 0}
#: Far more failures than slots (max_concurrency 2): one leaked slot per failure would stop the run at the third.
RECORD_FAULTS = ["cut", "garbled", "cut", "garbled", "401", "cut", "garbled", "401", "cut", "garbled"]
#: The first token call meets four failures; a 401 makes a later one meet two more.
TOKEN_FAULTS = ["drop", "503", "cut", "garbled", "ok", "cut", "drop"]


@pytest.fixture
def netsuite(netsuite_url: str) -> str:
    admin = NetSuiteClient(netsuite_url, timeout=10)
    admin.reset(knobs=True)
    admin.knobs(**QUIET)
    return netsuite_url


def _m2m_client(netsuite_url: str, name: str) -> str:
    """Register an M2M client (EC P-256) at the sandbox; its private key as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    NetSuiteClient(netsuite_url, timeout=10).add_m2m_client(name, f"cert-{name}", public, account_id=ACCOUNT)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _m2m_config(base_url: str, name: str, pem: str, tmp_path: Path) -> dict:
    return {"account_id": ACCOUNT, "auth_method": "oauth2_m2m", "client_id": name, "certificate_id": f"cert-{name}",
            "private_key": pem, "base_url": base_url, "max_concurrency": 2, "max_retries": 12,
            "backoff_factor": 0.01, "request_timeout": 20, "match_mode": "create",
            "dead_letter_path": str(tmp_path / "dead"), "run_report_path": str(tmp_path / "report.json")}


def _customers(netsuite_url: str) -> dict[str, str]:
    records = NetSuiteClient(netsuite_url, timeout=10).records("customer")
    return {r["externalId"]: r["companyName"] for r in records if r.get("externalId")}


def test_cut_off_bodies_and_token_errors_are_retried_and_every_slot_comes_back(netsuite: str, tmp_path: Path) -> None:
    pem = _m2m_client(netsuite, "slots")
    with FaultProxy(netsuite, {"record": list(RECORD_FAULTS), "token": list(TOKEN_FAULTS)}) as proxy:
        client = TargetNetSuite(config=_m2m_config(proxy.url, "slots", pem, tmp_path)).client
        payload = {"subsidiary": {"id": "1"}}
        # More writers than slots, as the target's executor; daemon threads, so a leaked slot fails the test
        # (a writer still waiting for a slot) instead of hanging it.
        writers = [threading.Thread(target=client.upsert, daemon=True,
                                    args=("customer", f"S{i}", {**payload, "companyName": f"S {i}"}, []))
                   for i in range(8)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=120)
        assert not any(writer.is_alive() for writer in writers), "a writer never got a slot"
        assert client.limiter.in_flight == 0
        assert client.limiter.window >= 1
    assert _customers(netsuite) == {f"S{i}": f"S {i}" for i in range(8)}
    assert proxy.faults == {"record": [], "token": []}  # every scripted fault was met
    for fault in ("record:cut", "record:garbled", "record:401", "token:drop", "token:503", "token:cut",
                  "token:garbled"):
        assert proxy.injected[fault] >= 1, fault
    assert client.stats.retries >= len(RECORD_FAULTS)


def test_a_run_through_cut_off_bodies_and_token_errors_finishes_with_its_state(netsuite: str, tmp_path: Path) -> None:
    pem = _m2m_client(netsuite, "run")
    schema = {"type": "SCHEMA", "stream": "customer", "key_properties": ["externalId"],
              "schema": {"type": "object", "properties": {"externalId": {"type": "string"},
                                                          "companyName": {"type": "string"},
                                                          "subsidiary": {"type": "object"}}}}
    records = [{"type": "RECORD", "stream": "customer",
                "record": {"externalId": f"R{i}", "companyName": f"R {i}", "subsidiary": {"id": "1"}}}
               for i in range(10)]
    state = {"type": "STATE", "value": {"bookmarks": {"customer": {"position": 10}}}}
    stdin = "".join(json.dumps(m) + "\n" for m in [schema, *records, state])
    # "ok" first: the start-up connection check gives up after 3 attempts by design
    faults = {"record": ["ok", *RECORD_FAULTS], "token": list(TOKEN_FAULTS)}
    with FaultProxy(netsuite, faults) as proxy:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(_m2m_config(proxy.url, "run", pem, tmp_path)))
        run = subprocess.run([str(BIN / "target-netsuite"), "--config", str(config_file)], input=stdin,
                             capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [json.loads(line) for line in run.stdout.splitlines()] == [state["value"]]
    assert _customers(netsuite) == {f"R{i}": f"R {i}" for i in range(10)}
    assert proxy.faults == {"record": [], "token": []}
    assert "ChunkedEncodingError" in run.stderr and "ContentDecodingError" in run.stderr


def _without_ca_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"}}


def _fatal_line(stderr: str, plugin: str) -> str:
    """The plugin's one fatal line, without its `<plugin>: ` prefix (and whatever a log format puts before)."""
    lines = [line for line in stderr.splitlines() if f"{plugin}: TLS verification" in line]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr and "Retrying" not in stderr
    return lines[0].split(f"{plugin}: ", 1)[1].strip()


def test_tls_without_ca_bundle_stops_both_connectors_at_once_with_one_hint(tmp_path: Path) -> None:
    tap_tls = urlsplit(os.environ["SANDBOX_SALESFORCE_TLS_URL"])
    target_tls = urlsplit(os.environ["SANDBOX_NETSUITE_TLS_URL"])
    with ConnectionCounter("127.0.0.1", tap_tls.port or 443) as tap_wire:
        config = {"login_url": f"https://localhost:{tap_wire.listen_port}", "client_id": "sandbox-client-id",
                  "client_secret": "sandbox-client-secret", "refresh_token": "sandbox-refresh-token",
                  "objects": ["Account"], "max_retries": 5, "backoff_factor": 1}
        (tmp_path / "tap.json").write_text(json.dumps(config))
        tap = subprocess.run([str(BIN / "tap-salesforce-custom"), "--config", str(tmp_path / "tap.json")],
                             capture_output=True, text=True, timeout=120, check=False, env=_without_ca_env())
    with ConnectionCounter("127.0.0.1", target_tls.port or 443) as target_wire:
        config = {"account_id": ACCOUNT, "consumer_key": "sandbox-consumer-key",
                  "consumer_secret": "sandbox-consumer-secret", "token_id": "sandbox-token-id",
                  "token_secret": "sandbox-token-secret", "base_url": f"https://localhost:{target_wire.listen_port}",
                  "max_retries": 5, "backoff_factor": 1, "dead_letter_path": str(tmp_path / "dead")}
        (tmp_path / "target.json").write_text(json.dumps(config))
        target = subprocess.run([str(BIN / "target-netsuite"), "--config", str(tmp_path / "target.json")],
                                input="", capture_output=True, text=True, timeout=120, check=False,
                                env=_without_ca_env())
    assert tap.returncode == 1 and target.returncode == 1
    assert tap_wire.connections == 1 and target_wire.connections == 1  # one attempt each: never retried
    tap_line, target_line = _fatal_line(tap.stderr, "tap-salesforce-custom"), _fatal_line(target.stderr,
                                                                                         "target-netsuite")
    assert tap_line == target_line
    assert tap_line.startswith("TLS verification of localhost failed (set ca_bundle for a private CA): ")
    assert "certificate verify failed" in tap_line
