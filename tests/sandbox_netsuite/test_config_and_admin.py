"""Config parsing, accounts, persistence across restarts (in-process app), and the admin API and CLI over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ns_helpers import RECORD, Admin, customer, session
from oauthlib.oauth1 import Client
from sandbox.client import AdminError, NetSuiteClient
from sandbox.netsuite.app import create_app
from sandbox.netsuite.cli import main as cli_main
from sandbox.netsuite.config import DEFAULT_SUBSIDIARIES, ConfigError
from starlette.testclient import TestClient

SECOND = {"account_id": "7654321", "tba": [{"consumer_key": "ck2", "consumer_secret": "cs2", "token_id": "t2",
                                             "token_secret": "ts2"}],
          "subsidiaries": [{"id": "7", "name": "Only Sub"}]}
DEMO = {"account_id": "1234567_SB1", "tba": [{"consumer_key": "sandbox-consumer-key",
                                              "consumer_secret": "sandbox-consumer-secret",
                                              "token_id": "sandbox-token-id", "token_secret": "sandbox-token-secret"}]}


@pytest.mark.parametrize(("config", "message"), [
    ({"concurency_limit": 5}, "unknown key(s): concurency_limit"),
    ({"concurrency_limit": "five"}, "concurrency_limit must be a number"),
    ({"accounts": [{"account_id": "1234567-sb1"}]}, "is not a NetSuite account id"),
    ({"accounts": [{"account_id": "1", "tba": [{"consumer_key": "k"}]}]}, "missing consumer_secret"),
    ({"accounts": [{"account_id": "1", "colour": "red"}]}, "unknown key(s) in accounts[0]: colour"),
    ({"accounts": [{"account_id": "1", "m2m_clients": [{"client_id": "c", "certificate_id": "k"}]}]},
     "exactly one of public_key_pem, public_key_path"),
    ({"accounts": []}, "non-empty list"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        create_app(tmp_path, config)
    assert message in str(error.value)


def _signed(method: str, path: str, realm: str = "1234567_SB1", key: str = "sandbox-consumer-key",
            secret: str = "sandbox-consumer-secret", token: str = "sandbox-token-id",
            token_secret: str = "sandbox-token-secret") -> dict[str, str]:
    """TBA headers for the in-process TestClient (which is httpx, so requests-oauthlib cannot sign for it)."""
    client = Client(key, secret, token, token_secret, signature_method="HMAC-SHA256", realm=realm)
    return client.sign(f"http://testserver{path}", method)[1]


def test_accounts_are_separate_and_realm_must_match(tmp_path: Path) -> None:
    app = create_app(tmp_path, {"accounts": [DEMO, SECOND], "concurrency_limit": 2})
    second = {"realm": "7654321", "key": "ck2", "secret": "cs2", "token": "t2", "token_secret": "ts2"}
    with TestClient(app, base_url="http://testserver") as client:
        for path, creds, status in ((f"{RECORD}/subsidiary/7", second, 200), (f"{RECORD}/subsidiary/1", second, 404),
                                    (f"{RECORD}/subsidiary/1", {}, 200),
                                    # demo credentials with the second account's realm: no such login there
                                    (f"{RECORD}/subsidiary/7", {"realm": "7654321"}, 401)):
            assert client.get(path, headers=_signed("GET", path, **creds)).status_code == status, (path, creds)
        admin = NetSuiteClient("http://testserver", http=client)
        assert admin.knobs()["concurrency_limit"] == 2
        assert admin.records("subsidiary", account="7654321")[0]["name"] == "Only Sub"
        accounts = json.dumps(admin.accounts())
        assert "7654321" in accounts and "cs2" not in accounts and "sandbox-token-secret" not in accounts


def test_records_survive_a_restart(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path, {})) as client:
        path = f"{RECORD}/customer"
        assert client.post(path, json=customer("KEEP"), headers=_signed("POST", path)).status_code == 204
    assert (tmp_path / "netsuite.sqlite3").exists()
    with TestClient(create_app(tmp_path, {})) as client:
        admin = NetSuiteClient("http://testserver", http=client)
        records = admin.records("customer")
        assert [r["externalId"] for r in records] == ["KEEP"]
        subsidiaries = admin.records("subsidiary")
        assert len(subsidiaries) == len(DEFAULT_SUBSIDIARIES)  # seeded once


def test_admin_reset_stats_and_request_log(netsuite_url: str, admin: Admin) -> None:
    s = session()
    s.put(f"{netsuite_url}{RECORD}/customer/eid:A1", json=customer(None))
    s.get(f"{netsuite_url}{RECORD}/customer/eid:A1", params={"fields": "companyName"})
    stats = admin.stats()
    assert stats["requests"] == 2 and stats["writes"]["created"] == 1 and stats["records"]["customer"] == 1
    log = admin.request_log()
    assert [(e["method"], e["status"]) for e in log] == [("PUT", 204), ("GET", 200)]
    assert log[1]["path"] == f"{RECORD}/customer/eid:A1" and log[1]["query"] == "fields=companyName"
    assert set(log[0]) >= {"method", "path", "status", "latency_ms"}
    one = admin.record("customer", "eid:A1")
    assert one["externalId"] == "A1" and one["subsidiary"] == {"id": "1"}

    admin.knobs(latency_ms=5)
    admin.reset(knobs=False)
    assert admin.records("customer") == [] and admin.request_log() == []
    assert admin.stats()["requests"] == 0
    assert len(admin.records("subsidiary")) == len(DEFAULT_SUBSIDIARIES)
    assert admin.knobs()["latency_ms"] == 5  # knobs kept
    admin.reset(knobs=True)
    assert admin.knobs()["latency_ms"] == 0
    with pytest.raises(AdminError) as unknown:
        admin.records("nothing")
    assert unknown.value.status == 404


def test_cli_talks_to_the_running_sandbox(netsuite_url: str, admin: Admin, capsys: pytest.CaptureFixture) -> None:
    session().put(f"{netsuite_url}{RECORD}/customer/eid:CLI1", json=customer(None))
    assert cli_main(["--url", netsuite_url, "list", "customer"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["externalId"] for r in listed] == ["CLI1"]

    assert cli_main(["--url", netsuite_url, "knobs", "--concurrency-limit", "7", "--latency-ms", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["concurrency_limit"] == 7
    assert cli_main(["--url", netsuite_url, "stats"]) == 0
    assert json.loads(capsys.readouterr().out)["writes"]["created"] == 1
    assert cli_main(["--url", netsuite_url, "requests", "--tail", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["method"] == "PUT"
    assert cli_main(["--url", netsuite_url, "get", "customer", "eid:CLI1"]) == 0
    assert json.loads(capsys.readouterr().out)["externalId"] == "CLI1"
    assert cli_main(["--url", netsuite_url, "reset", "--knobs"]) == 0
    capsys.readouterr()
    assert admin.records("customer") == []
    with pytest.raises(SystemExit) as failure:
        cli_main(["--url", netsuite_url, "knobs", "--set", '{"bogus": 1}'])
    assert "bogus" in str(failure.value)


def test_cli_names_an_unreachable_sandbox() -> None:
    with pytest.raises(SystemExit) as failure:
        cli_main(["--url", "http://127.0.0.1:9", "stats"])
    assert "no sandbox answering at http://127.0.0.1:9" in str(failure.value)
