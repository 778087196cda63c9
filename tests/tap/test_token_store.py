"""Issue 27: the tap's rotated refresh token in the shared store (`store_uri`), so hosts with fresh disks share
the rotation. The Salesforce stand-in rotates refresh tokens (a used token stops working, the configured one
too once rotated), so a host that does not see the token the previous host got cannot log in at all.
Three runs on two hosts (two working directories, no token file) against one real PostgreSQL: each logs in
with the token the previous one saved; the row is encrypted with `token_store_encryption_key`, and no token ever
reaches a log line. A host's older token file is taken into the store once (by the tap, or by `pipeline-ops store
migrate --token-store`), and twice is harmless.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from connector_kit.store import Store
from connector_kit.token_store import REFRESH_TOKENS, TOKEN_SCHEMA
from cryptography.fernet import Fernet
from tap_helpers import admin, reset, run_tap, tap_config

PIPELINE_OPS = str(Path(sys.executable).with_name("pipeline-ops"))


def _rows(uri: str) -> list[dict]:
    store = Store.from_uri(uri, schema=TOKEN_SCHEMA)
    try:
        with store.engine().connect() as conn:
            return [dict(row) for row in conn.execute(sa.select(REFRESH_TOKENS)).mappings()]
    finally:
        store.close()


def test_two_hosts_share_the_rotated_refresh_token(tmp_path: Path, postgres_uri: str) -> None:
    reset(accounts=3)
    admin("POST", "knobs", {"rotate_refresh_tokens": True})
    key = Fernet.generate_key().decode()
    config = tap_config(store_uri=postgres_uri, token_store_encryption_key=key)
    seen: list[str] = []
    for host, run_dir in (("a", "1"), ("b", "2"), ("a", "3")):
        run = run_tap(tmp_path / host / run_dir, config)
        assert len(run.ids()) == 3, run.stderr[-3000:]
        assert "Salesforce rotated the refresh token; the new one was saved to the store" in run.stderr
        [row] = _rows(postgres_uri)
        assert row["encrypted"] and "5Aep861" not in row["token"]
        token = Fernet(key.encode()).decrypt(row["token"].encode()).decode()
        assert token.startswith("5Aep861") and token not in seen
        assert all(t not in run.stderr for t in [*seen, token, config["refresh_token"]])
        seen.append(token)
    assert not list((tmp_path / "a").rglob("*token*")) and not list((tmp_path / "b").rglob("*token*"))

    # Without the store, a host with a fresh disk presents the configured token, retired since the first rotation.
    alone = run_tap(tmp_path / "c", tap_config(), check=False)
    assert alone.returncode == 1 and "invalid_grant" in alone.stderr and "Traceback" not in alone.stderr
    # Another key cannot read the row: one line, no guess.
    wrong = run_tap(tmp_path / "d", {**config, "token_store_encryption_key": Fernet.generate_key().decode()},
                    check=False)
    assert wrong.returncode == 1
    assert "the refresh token was encrypted with another token_store_encryption_key" in wrong.stderr


def test_a_token_file_is_taken_into_the_store_once(tmp_path: Path, postgres_uri: str) -> None:
    reset(accounts=2)
    admin("POST", "knobs", {"rotate_refresh_tokens": True})
    token_file = tmp_path / "token.json"
    run_tap(tmp_path / "file-host", tap_config(token_store_path=str(token_file)))
    saved = json.loads(token_file.read_text())["refresh_token"]

    env = {"PATH": str(Path(sys.executable).parent), "TAP_SALESFORCE_CUSTOM_LOGIN_URL": tap_config()["login_url"],
           "TAP_SALESFORCE_CUSTOM_CLIENT_ID": tap_config()["client_id"],
           "TAP_SALESFORCE_CUSTOM_REFRESH_TOKEN": tap_config()["refresh_token"]}
    migrate = [PIPELINE_OPS, "store", "migrate", "--to", postgres_uri, "--token-store", str(token_file)]
    first = subprocess.run(migrate, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert first.returncode == 0, first.stderr
    assert "was taken into" in first.stdout and saved not in first.stdout + first.stderr
    assert [r["token"] for r in _rows(postgres_uri)] == [saved]
    second = subprocess.run(migrate, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert second.returncode == 0 and "was not copied" in second.stdout
    assert [r["token"] for r in _rows(postgres_uri)] == [saved]

    # The tap, given both, finds the row (nothing taken in again) and logs in on another host with it.
    config = tap_config(store_uri=postgres_uri, token_store_path=str(token_file))
    run = run_tap(tmp_path / "shared-host", config)
    assert len(run.ids()) == 2 and "was taken into" not in run.stderr
    assert [r["token"] for r in _rows(postgres_uri)] != [saved]  # rotated again, saved in the store
    assert json.loads(token_file.read_text())["refresh_token"] == saved  # the file is not written any more
