"""connector_kit's one "https unless loopback" rule and its one SQLite opener (issue 26), as every connector uses
them: the tap's login and instance URLs, the target's base_url; the target's ledger, batch nonces and parking."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from connector_kit.salesforce_auth import checked_url
from connector_kit.sqlite_files import BUSY_TIMEOUT_S, open_sqlite
from connector_kit.urls import insecure_url_reason, is_loopback_host
from tap_salesforce_custom.errors import SalesforceAuthError
from target_netsuite.batches import SubmittedBatches
from target_netsuite.client import FatalError, checked_base_url
from target_netsuite.ledger import WriteLedger
from target_netsuite.merge import MergeStore
from target_netsuite.parking import ParkedRecords


@pytest.mark.parametrize("url", ["https://login.salesforce.com", "https://10.0.0.5:8443/x", "http://localhost:8700",
                                 "http://127.0.0.1:8702/", "http://127.8.9.10", "http://[::1]:8080"])
def test_secrets_may_go_to(url: str) -> None:
    assert insecure_url_reason(url) is None
    assert checked_url(url, "login_url") == url.rstrip("/")
    assert checked_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://login.salesforce.com", "http://10.0.0.5", "http://localhost.evil.test",
                                 "http://127.0.0.1.nip.io", "ftp://127.0.0.1", "https://", "login.salesforce.com",
                                 "http://[::2]"])
def test_secrets_never_go_to(url: str) -> None:
    reason = insecure_url_reason(url)
    assert reason is not None and reason.startswith("must use https (plain http only for loopback hosts): ")
    with pytest.raises(SalesforceAuthError, match=r"^login_url must use https"):
        checked_url(url, "login_url")
    with pytest.raises(FatalError, match=r"^base_url must use https"):
        checked_base_url(url)


def test_loopback_hosts() -> None:
    assert is_loopback_host("localhost") and is_loopback_host("127.0.0.1") and is_loopback_host("::1")
    assert not is_loopback_host("") and not is_loopback_host("localhost.") and not is_loopback_host("10.0.0.1")


def test_open_sqlite_creates_the_folder_and_opens_every_file_alike(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    schema = ("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)", "CREATE INDEX IF NOT EXISTS i ON t (k)")
    conn = open_sqlite(path, *schema)
    assert path.is_file()
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (int(BUSY_TIMEOUT_S * 1000),)
    assert conn.isolation_level is None  # autocommit: a change is committed before the call returns
    conn.execute("INSERT INTO t VALUES ('x')")
    assert sqlite3.connect(path).execute("SELECT k FROM t").fetchall() == [("x",)]  # seen by another connection
    writer = threading.Thread(target=lambda: conn.execute("INSERT INTO t VALUES ('y')"))  # shared across threads
    writer.start()
    writer.join(timeout=60)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_every_target_store_opens_through_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def recording_open(path: Path, *schema: str) -> sqlite3.Connection:
        opened.append(path.name)
        return open_sqlite(path, *schema)

    monkeypatch.setattr("connector_kit.store.open_sqlite", recording_open)  # every SQLite store opens through it
    WriteLedger(tmp_path / "ledger.db", "123_SB1", "use").record("customer", [("a", "hash")])
    SubmittedBatches(tmp_path / "nonces.db", "123_SB1").nonce("d")
    ParkedRecords(tmp_path / "parked.db").park(record_type="contact", external_id="c", stream="contact", record={},
                                               waiting_for="customer a")
    MergeStore(tmp_path / "merged.db", "123_SB1").mark_adopted("customer", ["a"])
    assert sorted(set(opened)) == ["ledger.db", "merged.db", "nonces.db", "parked.db"]
