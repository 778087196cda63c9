"""JWT bearer and client-credentials flows over real HTTP.

The JWT flow needs the connected app's certificate in the sandbox's config file, so this module starts its own
sandbox process (Salesforce side only) with a freshly generated key pair, and stops it at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sandbox.client import SalesforceClient
from tap_helpers import run_tap


@pytest.fixture(scope="module")
def jwt_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`(base URL, private key file)` of a sandbox that trusts a new key pair for JWT bearer logins."""
    work = tmp_path_factory.mktemp("jwt-org")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = work / "server.key"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (work / "sandbox.json").write_text(json.dumps({"salesforce": {"jwt_public_key": public, "accounts": 4}}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--data-dir", str(work / "data"), "--config",
         str(work / "sandbox.json"), "--salesforce-port", str(port), "--netsuite-port", "0", "--log-level",
         "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if SalesforceClient(url).health():
                break
            time.sleep(0.2)
        SalesforceClient(url, timeout=60).reset(seed=3, accounts=4)
        yield url, private
    finally:
        process.terminate()
        process.wait(timeout=30)


def _config(url: str, **settings: str) -> dict:
    return {"login_url": url, "client_id": "sandbox-client-id", "objects": ["Account"], "api_type": "rest",
            "start_date": "2000-01-01T00:00:00Z", **settings}


def test_jwt_bearer_flow(jwt_org: tuple[str, Path], tmp_path: Path) -> None:
    url, key = jwt_org
    run = run_tap(tmp_path / "ok", _config(url, auth_flow="jwt", username="integration@example.com",
                                           private_key_path=str(key)))
    assert len(run.ids()) == 4
    inline = run_tap(tmp_path / "inline", _config(url, auth_flow="jwt", username="integration@example.com",
                                                  private_key=key.read_text()))
    assert len(inline.ids()) == 4
    wrong_user = run_tap(tmp_path / "bad", _config(url, auth_flow="jwt", username="someone@example.com",
                                                   private_key_path=str(key)), check=False)
    assert wrong_user.returncode == 1
    last = wrong_user.stderr.strip().splitlines()[-1]
    assert "tap-salesforce-custom: Salesforce authentication failed (jwt flow" in last
    assert "BEGIN PRIVATE KEY" not in wrong_user.stderr


def _ec_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("private_key", "not a key", "private_key is not a readable unencrypted PEM private key: not PEM key text"),
    ("private_key_path", "not a key\n", " is not a readable unencrypted PEM private key: not PEM key text"),
    ("private_key_path", b"\x00\xff\xfe garbage", ": cannot read it (UnicodeDecodeError)"),
    ("private_key", "EC", "private_key is not an RSA private key; Salesforce's JWT bearer flow signs with RS256"),
])
def test_jwt_key_that_is_not_a_key_is_one_line(jwt_org: tuple[str, Path], tmp_path: Path, setting: str,
                                               value: str | bytes, message: str) -> None:
    """A private key that cannot sign stops the tap before any call: one line naming the setting, no traceback,
    no key text (issue 23: it was an InvalidKeyError traceback from `jwt.encode`)."""
    url, _ = jwt_org
    if setting == "private_key_path":
        path = tmp_path / "key.pem"
        path.write_bytes(value if isinstance(value, bytes) else value.encode())
        value = str(path)
        message = f"private_key_path {path}{message}"
    elif value == "EC":
        value = _ec_key()
    run = run_tap(tmp_path, _config(url, auth_flow="jwt", username="integration@example.com", **{setting: value}),
                  check=False)
    assert run.returncode == 1 and run.records == {} and run.states == []
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert message in last, run.stderr[-3000:]
    assert "BEGIN PRIVATE KEY" not in run.stderr and "not a key" not in last


def test_client_credentials_flow(jwt_org: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = jwt_org
    run = run_tap(tmp_path, _config(url, auth_flow="client_credentials", client_secret="sandbox-client-secret"))
    assert len(run.ids()) == 4
