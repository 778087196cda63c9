"""Where the tap's secrets may go (issue 13): https only (plain http only to loopback), the bearer token only to
the instance host, and a token store that is private, never followed through a symlink, and read clearly.

Hosts are capture servers that record every connection, so "refused" means nothing was sent, not only a message.
A non-loopback address of this machine stands for a remote host."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from capture_server import Answer, Captured, CaptureServer
from tap_helpers import TAP, admin, reset, run_tap, tap_config

WIRE = Path(__file__).resolve().parents[1] / "sandbox_salesforce" / "wire_samples"


def _non_loopback_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback address")
    return address


def _one_line(stderr: str, needle: str) -> None:
    assert [line for line in stderr.splitlines() if needle in line], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]


def _salesforce(instance_url: str, next_url: str | None = None):
    """A Salesforce stand-in whose token response and first query page name the given URLs."""
    describe = json.loads((WIRE / "describe_account.body.json").read_text())

    def respond(request: Captured) -> Answer:
        if request.path.endswith("/oauth2/token"):
            body = {"access_token": "SECRET-ACCESS-TOKEN", "instance_url": instance_url, "token_type": "Bearer",
                    "id": "x", "issued_at": "1", "signature": "s"}
        elif request.path.endswith("/sobjects/"):
            body = {"sobjects": [{"name": "Account", "queryable": True}]}
        elif "/sobjects/Account/describe" in request.path:
            body = describe
        else:
            body = {"totalSize": 4000, "done": next_url is None, "nextRecordsUrl": next_url, "records": []}
        return 200, {"Sforce-Limit-Info": "api-usage=1/15000"}, json.dumps(body).encode()

    return respond


def test_http_login_url_is_refused_unless_loopback(tmp_path: Path) -> None:
    with CaptureServer(host=_non_loopback_address()) as remote:
        run = run_tap(tmp_path, tap_config(login_url=remote.url), check=False)
    assert run.returncode == 1
    _one_line(run.stderr, "login_url must use https")
    assert remote.connections == 0, "client_secret and refresh_token went over plain http"


def test_http_instance_url_gets_no_token(tmp_path: Path) -> None:
    with CaptureServer(host=_non_loopback_address()) as remote, CaptureServer() as login:
        login.respond = _salesforce(remote.url)
        run = run_tap(tmp_path, tap_config(login_url=login.url), check=False)
    assert run.returncode == 1
    _one_line(run.stderr, "instance_url must use https")
    assert remote.connections == 0
    assert "SECRET-ACCESS-TOKEN" not in run.stderr


def test_next_records_url_on_another_host_gets_no_token(tmp_path: Path) -> None:
    with CaptureServer(host="127.0.0.2") as other, CaptureServer() as instance:
        instance.respond = _salesforce(instance.url, next_url=f"{other.url}/services/data/v61.0/query/01g-2000")
        run = run_tap(tmp_path, tap_config(login_url=instance.url), check=False)
    assert run.returncode == 1
    _one_line(run.stderr, "refusing to send the Salesforce token to http://127.0.0.2")
    assert other.connections == 0


def test_token_store_is_private_and_never_a_symlink(tmp_path: Path) -> None:
    reset(accounts=2)
    admin("POST", "knobs", {"rotate_refresh_tokens": True})
    store = tmp_path / "token.json"
    # A world-readable file where a temporary file used to be written: it must not become the store.
    stale = store.with_suffix(".tmp")
    stale.write_text("planted")
    stale.chmod(0o644)
    run_tap(tmp_path / "1", tap_config(token_store_path=str(store)))
    assert stat.S_IMODE(store.stat().st_mode) == 0o600 and not store.is_symlink()
    # A stored token outranks the configured one, and says so.
    second = run_tap(tmp_path / "2", tap_config(token_store_path=str(store), refresh_token="freshly-configured"))
    assert f"Using the refresh token saved in {store}" in second.stderr
    # A symlink is refused (it could point anywhere), and so is a corrupt store: one line naming the path.
    target = tmp_path / "elsewhere.json"
    target.write_text(store.read_text())
    store.unlink()
    os.symlink(target, store)
    refused = run_tap(tmp_path / "3", tap_config(token_store_path=str(store)), check=False)
    assert refused.returncode == 1
    _one_line(refused.stderr, f"token_store_path {store}: cannot read it")
    store.unlink()
    store.write_text("{not json")
    corrupt = run_tap(tmp_path / "4", tap_config(token_store_path=str(store)), check=False)
    assert corrupt.returncode == 1
    _one_line(corrupt.stderr, f"token_store_path {store}: not a token store")


def test_refused_stored_token_gives_way_to_the_configured_one(tmp_path: Path) -> None:
    """A token store holding a refresh token Salesforce no longer accepts, next to a freshly configured
    `refresh_token` (the admin re-authorised): the configured token is tried, kept in the store, and one line says
    so (issue 23: the run failed with invalid_grant). A refused configured token still fails in one line."""
    reset(accounts=2)
    store = tmp_path / "token.json"
    store.write_text(json.dumps({"refresh_token": "5Aep861revoked-long-ago"}))
    store.chmod(0o600)
    first = run_tap(tmp_path / "1", tap_config(token_store_path=str(store)))
    assert len(first.ids()) == 2 and "Traceback" not in first.stderr
    lines = [line for line in first.stderr.splitlines() if "refused the refresh token saved in" in line]
    assert len(lines) == 1 and f"{store} (invalid_grant); the configured refresh_token works" in lines[0]
    assert json.loads(store.read_text()) == {"refresh_token": tap_config()["refresh_token"]}
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert "5Aep861revoked" not in first.stderr and tap_config()["refresh_token"] not in first.stderr
    # The next run reads the store (now the configured token): nothing to fall back from, nothing said.
    second = run_tap(tmp_path / "2", tap_config(token_store_path=str(store)))
    assert len(second.ids()) == 2 and "refused the refresh token" not in second.stderr
    # Both refused: one line, exit 1, the store left as it was.
    store.write_text(json.dumps({"refresh_token": "5Aep861revoked-long-ago"}))
    both = run_tap(tmp_path / "3", tap_config(token_store_path=str(store), refresh_token="also-revoked"),
                   check=False)
    assert both.returncode == 1 and not both.records and "Traceback" not in both.stderr
    _one_line(both.stderr, "Salesforce authentication failed (refresh_token flow, HTTP 400): invalid_grant")
    assert json.loads(store.read_text()) == {"refresh_token": "5Aep861revoked-long-ago"}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"start_date": "yesterday"}, "start_date 'yesterday' is not an ISO 8601 date"),
    ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle /nonexistent/ca.pem: not a readable file"),
    ({"auth_flow": "jwt", "username": "u", "private_key_path": "/nonexistent/key.pem"},
     "private_key_path /nonexistent/key.pem: cannot read it"),
    ({"max_api_usage_percent": "eighty"}, "max_api_usage_percent"),
])
def test_bad_setting_is_one_line(tmp_path: Path, overrides: dict, message: str) -> None:
    run = run_tap(tmp_path, tap_config(**overrides), check=False)
    assert run.returncode == 1
    _one_line(run.stderr, message)


def test_corrupt_state_file_is_one_line(tmp_path: Path) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(tap_config()))
    (tmp_path / "state.json").write_text('{"bookmarks": {"Account": ')
    done = subprocess.run([TAP, "--config", str(tmp_path / "config.json"), "--state", str(tmp_path / "state.json")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    _one_line(done.stderr, f"state file {tmp_path / 'state.json'}: not a JSON object")
