"""The one way a connector opens its local SQLite files (the target's ledger, batch nonces, parked records).

Invariant: every file is opened alike, so a guarantee proven for one holds for all: the parent folder is created;
autocommit (`isolation_level=None`), so each change is its own transaction (or an explicit `BEGIN`) and is committed
before the call returns; WAL with `synchronous=FULL`, so a committed change survives a killed process or a power
loss and readers do not block the writer; a 60 s busy timeout, so a concurrent run (a reconciliation, a replay)
waits for the lock instead of failing; one connection shared by the caller's threads, under the caller's lock.
"""

from __future__ import annotations

import sqlite3
import typing as t

if t.TYPE_CHECKING:
    from pathlib import Path

#: Seconds a statement waits for another process's write lock before `database is locked`.
BUSY_TIMEOUT_S = 60.0


def open_sqlite(path: Path, *schema: str) -> sqlite3.Connection:
    """Open (creating it and its folder if needed) the SQLite file at `path`, then run each `schema` statement."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for statement in schema:
        conn.execute(statement)
    return conn
