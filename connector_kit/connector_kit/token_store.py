"""Where a Salesforce connector keeps the refresh token Salesforce rotated: the file `token_store_path` (one host,
as before `store_uri` existed), or the shared store `store_uri` (several hosts, containers without a volume).

Invariants:
- the token is a secret: never logged, never in an error line (messages name the file or the masked URI only);
- the file store is written 0600 through a fresh private temporary file renamed over the old one, and never read
  through a symlink (as it always was);
- the shared store keeps one row per grant (`refresh_tokens`, schema `tap_salesforce_custom` on PostgreSQL), keyed
  by a hash of the login host, the client id and the configured refresh token: a re-authorisation (a new
  configured token) is a new grant and starts from the configured token; two orgs or users never share a row;
- on PostgreSQL a refresh is one host at a time (`exclusive`: a session advisory lock on the grant's key, held
  from reading the newest token to saving the one Salesforce rotated it to), so two hosts never both present
  the same token and lose the rotation; released by the server if the process dies;
- with `token_store_encryption_key` (a Fernet key from the environment), the shared store holds the token
  encrypted (AES-128-CBC + HMAC-SHA256), and a row encrypted under another key is one line, never a guess;
- a file store a shared store replaces is taken in once (`take_in_file`, by the connector on its first run with
  `store_uri`, or `pipeline-ops store migrate --token-store FILE`): a row already there wins, so twice is harmless.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import stat
import tempfile
import typing as t
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from connector_kit.store import Store, StoreError, lock_key

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: The tap's schema in a PostgreSQL store.
TOKEN_SCHEMA = "tap_salesforce_custom"
METADATA = sa.MetaData()
REFRESH_TOKENS = sa.Table(
    "refresh_tokens", METADATA,
    sa.Column("grant_key", sa.Text, primary_key=True),
    sa.Column("token", sa.Text, nullable=False),
    sa.Column("encrypted", sa.Boolean, nullable=False),
    sa.Column("saved_at", sa.Text, nullable=False),
)


class TokenStoreError(Exception):
    """The token store cannot be read or written; the message names the file or the masked URI, never a token."""


def grant_key(login_url: str, client_id: str | None, configured_token: str | None) -> str:
    """The row of one grant: a hash (the configured token is a secret) of login host, client id and the token."""
    return hashlib.sha256(f"{login_url.rstrip('/')}|{client_id or ''}|{configured_token or ''}".encode()).hexdigest()


class FileTokenStore:
    """The rotated token in one JSON file, `{"refresh_token": "..."}`, 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        yield  # one host: the run is the only reader

    def read(self) -> str | None:
        return read_token_file(self.path)

    def save(self, token: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkstemp: a new file with a random name, 0600, O_EXCL (never a stale or planted one); the rename replaces
        # whatever is at the store path (a symlink included) instead of writing through it.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"refresh_token": token}, handle)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def read_token_file(path: Path) -> str | None:
    """The token of a file store; None if there is no file; `TokenStoreError` naming the path otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"token_store_path {path}: cannot read it ({exc.strerror}; a symlink is refused)"
        raise TokenStoreError(msg) from None
    with os.fdopen(fd, encoding="utf-8") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            msg = f"token_store_path {path}: not a regular file"
            raise TokenStoreError(msg)
        try:
            value = json.load(handle).get("refresh_token")
        except (ValueError, AttributeError):
            value = None
    if not isinstance(value, str) or not value:
        msg = f'token_store_path {path}: not a token store (expected {{"refresh_token": "..."}}); delete it'
        raise TokenStoreError(msg)
    return value


class SharedTokenStore:
    """The rotated token as a row of the shared store (`store_uri`)."""

    def __init__(self, uri: str, key: str, *, encryption_key: str | None = None) -> None:
        try:
            self.store = Store.from_uri(uri, schema=TOKEN_SCHEMA)
            self._fernet = Fernet(encryption_key.encode()) if encryption_key else None
        except StoreError as exc:
            raise TokenStoreError(str(exc)) from None
        except (ValueError, TypeError):
            msg = "token_store_encryption_key: not a Fernet key (32 url-safe base64-encoded bytes)"
            raise TokenStoreError(msg) from None
        self.key = key

    @property
    def location(self) -> str:
        return f"the store {self.store.location}"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One refresh at a time across hosts (PostgreSQL: a blocking session advisory lock on the grant)."""
        if not self.store.shared:
            yield  # a SQLite file serves one host
            return
        try:
            conn = self.store.engine().connect()
            conn.execute(sa.select(sa.func.pg_advisory_lock(lock_key(f"refresh-token|{self.key}"))))
            conn.commit()
        except (StoreError, sa.exc.SQLAlchemyError) as exc:
            msg = f"token store {self.store.masked_uri}: cannot lock the refresh token ({type(exc).__name__})"
            raise TokenStoreError(msg) from None
        try:
            yield
        finally:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_key(f"refresh-token|{self.key}"))))
                conn.commit()
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.close()

    def read(self) -> str | None:
        try:
            with self.store.begin(METADATA) as conn:
                row = conn.execute(sa.select(REFRESH_TOKENS.c.token, REFRESH_TOKENS.c.encrypted)
                                   .where(REFRESH_TOKENS.c.grant_key == self.key)).first()
        except StoreError as exc:
            raise TokenStoreError(str(exc)) from None
        if row is None:
            return None
        if not row.encrypted:
            return str(row.token)
        if self._fernet is None:
            msg = f"token store {self.store.location}: the refresh token is encrypted; set token_store_encryption_key"
            raise TokenStoreError(msg)
        try:
            return self._fernet.decrypt(row.token.encode()).decode()
        except InvalidToken:
            msg = (f"token store {self.store.location}: the refresh token was encrypted with another "
                   "token_store_encryption_key")
            raise TokenStoreError(msg) from None

    def _row(self, token: str) -> dict[str, t.Any]:
        value = self._fernet.encrypt(token.encode()).decode() if self._fernet else token
        return {"grant_key": self.key, "token": value, "encrypted": self._fernet is not None,
                "saved_at": dt.datetime.now(dt.UTC).isoformat()}

    def save(self, token: str) -> None:
        insert = self.store.insert(REFRESH_TOKENS)
        row = self._row(token)
        try:
            with self.store.begin(METADATA) as conn:
                conn.execute(insert.values(row).on_conflict_do_update(
                    index_elements=["grant_key"], set_={"token": row["token"], "encrypted": row["encrypted"],
                                                        "saved_at": row["saved_at"]}))
        except StoreError as exc:
            raise TokenStoreError(str(exc)) from None

    def take_in_file(self, path: Path) -> bool:
        """The file store's token as this grant's row, unless the store has one already; whether it was added."""
        token = read_token_file(path)
        if token is None:
            return False
        try:
            with self.store.begin(METADATA) as conn:
                added = conn.execute(self.store.insert(REFRESH_TOKENS).values(self._row(token))
                                     .on_conflict_do_nothing(index_elements=["grant_key"])
                                     .returning(REFRESH_TOKENS.c.grant_key)).first() is not None
        except StoreError as exc:
            raise TokenStoreError(str(exc)) from None
        return added

    def close(self) -> None:
        self.store.close()


TokenStore = FileTokenStore | SharedTokenStore
