"""One store for a connector's durable data, chosen by one URI (`store_uri`): SQLite files on one host (the
default, today's files), or one PostgreSQL database that several hosts (containers, an orchestrator's workers)
share.

Why SQLAlchemy (its Core, not the ORM): it is installed already (Meltano and its system database use it), so a
connector gains no new dependency for its default; its Core tables and per-dialect inserts
(`on_conflict_do_update`) give one code path for SQLite and PostgreSQL instead of two hand-written SQL dialects;
its pool reconnects a PostgreSQL connection the server dropped (`pool_pre_ping`). psycopg alone would serve
PostgreSQL only, and the SQLite default would keep a second copy of every statement.

Invariants, whatever the URI:
- every change is one transaction, committed before the call that made it returns (`Store.begin`): a caller that
  emits STATE after the call never covers data that is only in memory, and a process killed mid-transaction
  leaves nothing of it;
- SQLite (no `store_uri`): each part keeps its own file, exactly where it was before `store_uri` existed (existing
  files keep working, table for table), opened as `open_sqlite` opens every file (WAL, `synchronous=FULL`, 60 s
  busy timeout); each transaction is `BEGIN IMMEDIATE`, so two writers queue instead of failing half-way;
- PostgreSQL: every part and every host share one database; the tables live in their own schema (`schema`, e.g.
  `target_netsuite`), beside Meltano's system tables if it is the same database; they are created once, under a
  transaction advisory lock, so two hosts starting at once do not race;
- a password in the URI never reaches a log line or an error (`masked`; errors name the masked URI only);
- the account lock (`account_lock`) spans every host sharing the store: a PostgreSQL session advisory lock, held
  by one connection for the run and released by the server when the process dies; SQLite files serve one host,
  so their lock is the caller's OS lock (`shared` is false). The server can drop the lock's idle connection, and
  the lock with it, unnoticed by the holder: `AccountLock.verify` checks it is still held (pg_locks, on the lock's
  own connection), so a writer checks before each write and stops if another host may hold it by now.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import typing as t
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connector_kit.sqlite_files import open_sqlite

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

#: A fixed key for the lock that creates the tables on PostgreSQL (one creator at a time, every host).
_SCHEMA_LOCK = int.from_bytes(hashlib.sha256(b"connector-kit store schema").digest()[:8], "big", signed=True)


class StoreError(Exception):
    """The store cannot be reached or used; the message names the masked URI, never a password."""


def masked(uri: str) -> str:
    """The URI with any password replaced by `***` (for logs and errors)."""
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store_uri>"


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name (the account key)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Store:
    """One database: a SQLite file or a PostgreSQL database. Thread-safe (a pool of connections)."""

    def __init__(self, uri: str, *, schema: str | None = None, path: Path | None = None) -> None:
        self.uri = uri
        self.path = path
        self.schema = schema
        self._created: set[int] = set()
        self._lock = threading.Lock()
        self._engine: sa.Engine | None = None

    @classmethod
    def sqlite_file(cls, path: Path) -> Store:
        return cls(f"sqlite:///{path}", path=path)

    @classmethod
    def from_uri(cls, uri: str, *, schema: str) -> Store:
        """A shared store from `store_uri`: `postgresql://` (psycopg 3) or `postgresql+psycopg://`; `sqlite:///path`
        is one file for every part (one host)."""
        try:
            url = make_url(uri)
        except ArgumentError:
            msg = f"store_uri {masked(uri)}: not a database URI (postgresql://user@host/db or sqlite:///path)"
            raise StoreError(msg) from None
        if url.get_backend_name() == "sqlite":
            if not url.database:
                msg = "store_uri: a SQLite store needs a file (sqlite:///path/store.sqlite3)"
                raise StoreError(msg)
            return cls.sqlite_file(Path(url.database))
        if url.get_backend_name() != "postgresql":
            msg = f"store_uri {masked(uri)}: only postgresql:// and sqlite:/// stores are supported"
            raise StoreError(msg)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return cls(url.render_as_string(hide_password=False), schema=schema)

    @property
    def shared(self) -> bool:
        """Whether several hosts may share this store (PostgreSQL): its account lock spans them."""
        return self.path is None

    @property
    def location(self) -> str:
        """Where the data is, for messages: the file, or the masked URI."""
        return str(self.path) if self.path is not None else self.masked_uri

    @property
    def masked_uri(self) -> str:
        return masked(self.uri)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.path is not None else "postgresql"

    def exists(self) -> bool:
        """Whether anything may be stored yet (a SQLite file that was never created holds nothing)."""
        return self._engine is not None or self.path is None or self.path.exists()

    def engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._sqlite_engine() if self.path is not None else self._postgres_engine()
            return self._engine

    def _sqlite_engine(self) -> sa.Engine:
        path = t.cast("Path", self.path)
        engine = sa.create_engine(f"sqlite:///{path}", creator=lambda: open_sqlite(path),
                                  poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=8)

        @sa.event.listens_for(engine, "begin")
        def _immediate(conn: sa.Connection) -> None:
            # open_sqlite's connections are in autocommit (the driver begins nothing): the transaction is ours.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _postgres_engine(self) -> sa.Engine:
        try:
            return sa.create_engine(
                self.uri, pool_pre_ping=True, pool_size=2, max_overflow=8,
                execution_options={"schema_translate_map": {None: self.schema}},
            )
        except (SQLAlchemyError, ImportError) as exc:
            msg = (f"store_uri {self.masked_uri}: {type(exc).__name__} (is psycopg installed? "
                   "`pip install target-netsuite[postgres]`)")
            raise StoreError(msg) from None

    def _ensure(self, metadata: sa.MetaData) -> None:
        if id(metadata) in self._created:
            return
        with self._guard(), self.engine().begin() as conn:
            if self.path is None:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            metadata.create_all(conn)
        self._created.add(id(metadata))

    @contextlib.contextmanager
    def begin(self, metadata: sa.MetaData) -> Iterator[sa.Connection]:
        """One transaction on `metadata`'s tables (created on first use), committed when the block ends, rolled
        back if it raises."""
        self._ensure(metadata)
        with self._guard(), self.engine().begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Database errors as `StoreError` naming the masked URI (a driver's message may quote the URI)."""
        try:
            yield
        except SQLAlchemyError as exc:
            msg = f"store {self.masked_uri}: {type(exc).__name__}: {_first_line(exc, self.uri)}"
            raise StoreError(msg) from None

    def insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that can `on_conflict_do_update` / `on_conflict_do_nothing` on this store's dialect."""
        return (sqlite.insert if self.path is not None else postgresql.insert)(table)

    @contextlib.contextmanager
    def account_lock(self, name: str) -> Iterator[AccountLock]:
        """Hold the session advisory lock of `name` for the block; the `AccountLock` yielded is false (holding
        nothing) if another session holds it. PostgreSQL only: released on exit, or by the server when this
        process dies. The server may also drop the lock's idle connection (`idle_session_timeout`, a failover, a
        restarted pgbouncer), and the lock with it: `AccountLock.verify` before each write notices."""
        if self.path is not None:
            msg = "a SQLite store has no cross-host lock: use the OS lock"
            raise StoreError(msg)
        key = lock_key(name)
        with self._guard():
            conn = self.engine().connect()
        try:
            with self._guard():
                held = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar())
                conn.commit()
            try:
                yield AccountLock(conn, key, held=held, where=self.masked_uri)
            finally:
                if held:
                    with contextlib.suppress(SQLAlchemyError):
                        conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                        conn.commit()
        finally:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._created.clear()


class LockLostError(StoreError):
    """The account lock was held and is not any more (its connection was dropped); the message says so."""


class AccountLock:
    """A session advisory lock taken on its own connection (`Store.account_lock`); true while held."""

    #: Whether this session holds the lock: pg_locks shows a bigint key as two oids and `objsubid` 1.
    _HELD = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
        "AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"
    )

    def __init__(self, conn: sa.Connection, key: int, *, held: bool, where: str) -> None:
        self._conn = conn
        self._key = key
        self.held = held
        self._where = where
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return self.held

    def verify(self) -> None:
        """Raise `LockLostError` unless this session still holds the lock (one query on the lock's connection)."""
        unsigned = self._key & 0xFFFFFFFFFFFFFFFF
        with self._lock:
            try:
                held = self.held and self._conn.execute(
                    self._HELD, {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}).scalar_one() == 1
                self._conn.commit()
            except SQLAlchemyError:
                held = False
            if not held:
                self.held = False
                msg = (f"the account lock in store {self._where} was lost (the server dropped its connection: "
                       "idle_session_timeout, a failover or a restarted pooler)")
                raise LockLostError(msg)


def _first_line(exc: BaseException, uri: str) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    password = make_url(uri).password if uri else None
    return text.replace(str(password), "***") if password else text


class Stores:
    """Where each durable part of a connector lives, from `store_uri`: without it, each part's own SQLite file
    (`files`, as before the setting existed); with it, one shared store for every part."""

    def __init__(self, uri: str | None, *, schema: str, files: Mapping[str, Path]) -> None:
        self.uri = uri
        self._shared = Store.from_uri(uri, schema=schema) if uri else None
        self._files = dict(files)
        self._opened: dict[str, Store] = {}

    @property
    def shared(self) -> Store | None:
        """The store several hosts share (PostgreSQL), if any."""
        return self._shared if self._shared is not None and self._shared.shared else None

    def part(self, name: str) -> Store:
        if self._shared is not None:
            return self._shared
        if name not in self._opened:
            self._opened[name] = Store.sqlite_file(self._files[name])
        return self._opened[name]

    def close(self) -> None:
        for store in [*self._opened.values(), *([self._shared] if self._shared else [])]:
            store.close()


def as_store(where: Store | Path) -> Store:
    """A component given a path (tests, tools) uses that SQLite file."""
    return where if isinstance(where, Store) else Store.sqlite_file(Path(where))
