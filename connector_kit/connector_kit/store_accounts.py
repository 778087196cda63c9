"""One store per NetSuite account: target-netsuite's rows of two accounts never meet, even in one PostgreSQL database.

Invariants:
- PostgreSQL: each account has its own schema, `target_netsuite_<account id, lower case>` (`account_schema`);
  every table of the target lives there, so no query of one account can reach another's parked records, ledger,
  merge values, nonces or dead letters, whatever the table carries;
- the schema of the stores that predate accounts, `target_netsuite`, is never used by a target run: a target whose
  account schema is missing while that one exists stops with one line (starting empty would strand the parked
  records and forget the ledger); `pipeline-ops store migrate --to URI --account ID` renames it to the account's
  schema (one statement, in one transaction; run twice, it finds nothing to rename);
- a shared store records its account (`store_account` table, `claim`): a SQLite store file (`sqlite:///` URI)
  has no schemas, so a second account opening it stops with one line instead of mixing rows;
- readers (`pipeline-ops`, `target-netsuite-replay`) choose the account (`choose_schema`): the one given, else the
  only one the store holds; several and none given is an error naming them, and a reader told one of several says
  which it shows.
"""

from __future__ import annotations

import re
import typing as t

import sqlalchemy as sa

from connector_kit.store import StoreError

if t.TYPE_CHECKING:
    from connector_kit.store import Stores

#: The schema of a store written before stores were per account.
LEGACY_SCHEMA = "target_netsuite"
_PREFIX = f"{LEGACY_SCHEMA}_"
ACCOUNT_ENV = "TARGET_NETSUITE_ACCOUNT_ID"

_CLAIMS = sa.MetaData()
STORE_ACCOUNT = sa.Table("store_account", _CLAIMS, sa.Column("account_id", sa.Text, primary_key=True))


def account_schema(account_id: str) -> str:
    """The PostgreSQL schema of an account's tables (account ids are letters, digits and `_`)."""
    return _PREFIX + re.sub(r"[^a-z0-9_]", "_", account_id.strip().lower())


def _account_of(schema: str) -> str:
    return schema.removeprefix(_PREFIX).upper()


def _schemas(conn: sa.Connection) -> list[str]:
    return sorted(conn.execute(sa.text(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'target\\_netsuite%'"
    )).scalars())


def stored_accounts(conn: sa.Connection) -> tuple[list[str], bool]:
    """The accounts a PostgreSQL store holds, and whether the pre-account schema is there too."""
    schemas = _schemas(conn)
    return [_account_of(s) for s in schemas if s.startswith(_PREFIX)], LEGACY_SCHEMA in schemas


def claim(stores: Stores, account_id: str) -> None:
    """Before a run uses a shared store: its account's, or a `StoreError` line (another account's SQLite file, or
    an unmigrated pre-account PostgreSQL schema)."""
    store = stores.shared if stores.shared is not None else stores.uri and stores.part("dead_letters")
    if not store:
        return  # the host's own files, one per part, as before `store_uri`
    account = account_id.upper()
    if store.dialect == "postgresql":
        with store.engine().connect() as conn:
            accounts, legacy = stored_accounts(conn)
        if legacy and _account_of(account_schema(account_id)) not in accounts:  # as its schema spells it
            msg = (f"store {store.masked_uri} holds target-netsuite's tables from before stores were per account "
                   f"(schema {LEGACY_SCHEMA}): run `pipeline-ops store migrate --to <store_uri> --account {account}` "
                   f"to make them account {account}'s (schema {account_schema(account)}), then run again")
            raise StoreError(msg)
    with store.begin(_CLAIMS) as conn:
        owners = list(conn.execute(sa.select(STORE_ACCOUNT.c.account_id)).scalars())
        if not owners:
            conn.execute(store.insert(STORE_ACCOUNT).values(account_id=account).on_conflict_do_nothing())
        elif owners != [account]:
            msg = (f"store {store.location} is NetSuite account {', '.join(owners)}'s, not {account}'s: give each "
                   "account its own store (a PostgreSQL store keeps each account in its own schema)")
            raise StoreError(msg)


def choose_schema(engine: sa.Engine, account: str | None, where: str) -> tuple[str | None, str]:
    """The schema a reader reads (None: a SQLite store), and a line to tell the user ("" if none): `account`'s,
    else the only account's, else the pre-account schema (nothing migrated yet)."""
    if engine.dialect.name != "postgresql":
        return None, ""
    with engine.connect() as conn:
        accounts, _legacy = stored_accounts(conn)
    if account:
        chosen = account.upper()
        others = [a for a in accounts if a != chosen]
        note = f"store {where} holds accounts {', '.join(accounts)}: showing account {chosen}" if others else ""
        return account_schema(chosen), note
    if len(accounts) > 1:
        msg = (f"store {where} holds NetSuite accounts {', '.join(accounts)}: choose one with --account "
               f"(or {ACCOUNT_ENV})")
        raise StoreError(msg)
    return (account_schema(accounts[0]) if accounts else LEGACY_SCHEMA), ""


def rename_legacy(engine: sa.Engine, account_id: str) -> str:
    """Make the pre-account schema `account_id`'s (PostgreSQL); what was done, as one line."""
    target = account_schema(account_id)
    with engine.begin() as conn:
        schemas = _schemas(conn)
        if LEGACY_SCHEMA not in schemas:
            return f"no schema {LEGACY_SCHEMA} (nothing from before stores were per account)"
        if target in schemas:
            return (f"schema {LEGACY_SCHEMA} left as it is: account {account_id.upper()} has its own schema "
                    f"{target} already")
        conn.exec_driver_sql(f'ALTER SCHEMA "{LEGACY_SCHEMA}" RENAME TO "{target}"')
    return f"schema {LEGACY_SCHEMA} renamed {target} (account {account_id.upper()})"
