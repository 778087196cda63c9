"""The `netsuite:` section of the sandbox config: accounts with their credentials, plus knob defaults.

Without a config the sandbox serves the public demo account of docs/interfaces.md. Unknown keys anywhere are
an error naming the key, so a misspelt setting never silently falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sandbox.credentials import NETSUITE
from sandbox.netsuite.knobs import Knobs
from sandbox.realism import canonical_names

ACCOUNT_ID = re.compile(r"^[0-9]+(_SB[0-9]+|_RP|_TD[0-9]+)?$")

DEMO_ACCOUNT = {"account_id": NETSUITE.account_id, "tba": [NETSUITE.tba()]}

#: Items every account holds before the integration: the service item a product-less won deal is sold as
#: (the mapping's `service_item_id`). Below the first generated item id, so seeded ids stay where they were.
SEED_SERVICE_ITEMS = [
    {"id": "499", "itemId": "Professional Services", "displayName": "Professional Services",
     "salesDescription": "Services sold without a product line", "subsidiary": {"id": "1"}, "includeChildren": True},
]
#: The currencies every account holds (NetSuite's `currency` record: `symbol` is the ISO 4217 code).
SEED_CURRENCIES = [
    {"id": "1", "name": "US Dollar", "symbol": "USD", "displaySymbol": "$", "currencyPrecision": 2,
     "isBaseCurrency": True, "exchangeRate": 1.0},
    {"id": "2", "name": "British pound", "symbol": "GBP", "displaySymbol": "£", "currencyPrecision": 2,
     "isBaseCurrency": True, "exchangeRate": 1.27},
    {"id": "3", "name": "Canadian Dollar", "symbol": "CAD", "displaySymbol": "$", "currencyPrecision": 2,
     "isBaseCurrency": True, "exchangeRate": 0.73},
    {"id": "4", "name": "Euro", "symbol": "EUR", "displaySymbol": "€", "currencyPrecision": 2,
     "isBaseCurrency": False, "exchangeRate": 1.08},
    {"id": "5", "name": "Yen", "symbol": "JPY", "displaySymbol": "¥", "currencyPrecision": 0,
     "isBaseCurrency": True, "exchangeRate": 0.0067},
]
#: Lists finance keeps in every account (what `lookup()` finds by name or email), with NetSuite's usual names; one
#: name held twice (two employees "Bob Brown") for ambiguous lookups, and an inactive entry.
SEED_LISTS: dict[str, list[dict]] = {
    "employee": [
        {"id": "1", "firstName": "Ann", "lastName": "Archer", "email": "ann.archer@example.com", "title": "AE",
         "subsidiary": {"id": "1"}},
        {"id": "2", "firstName": "Bob", "lastName": "Brown", "email": "bob.brown@example.com",
         "subsidiary": {"id": "1"}},
        {"id": "3", "firstName": "Bob", "lastName": "Brown", "email": "robert.brown@example.com",
         "subsidiary": {"id": "4"}},
        {"id": "4", "firstName": "Carl", "lastName": "Gone", "email": "carl.gone@example.com", "isInactive": True,
         "subsidiary": {"id": "1"}},
    ],
    "term": [{"id": str(n), "name": name, "daysUntilNetDue": days} for n, (name, days) in enumerate(
        (("Net 15", 15), ("Net 30", 30), ("Net 60", 60), ("Due on receipt", 0), ("1% 10 Net 30", 30)), start=1)],
    "priceLevel": [{"id": str(n), "name": name} for n, name in enumerate(
        ("Base Price", "Alternate Price 1", "Corporate Discount Price", "Employee Price", "Online Price"), start=1)],
    "department": [*({"id": str(n), "name": name, "subsidiary": {"id": "1"}, "includeChildren": True}
                     for n, name in enumerate(("Sales", "Services", "Engineering"), start=1)),
                   # Two departments named alike, one per subsidiary: only scoping tells them apart.
                   {"id": "4", "name": "Field Sales", "subsidiary": {"id": "5"}, "includeChildren": False},
                   {"id": "5", "name": "Field Sales", "subsidiary": {"id": "6"}, "includeChildren": False}],
    "classification": [{"id": str(n), "name": name, "subsidiary": {"id": "1"}, "includeChildren": True}
                       for n, name in enumerate(("Hardware", "Software", "Support"), start=1)],
    "location": [{"id": "1", "name": "Main Warehouse", "subsidiary": {"id": "1"}},
                 {"id": "2", "name": "East Coast", "subsidiary": {"id": "3"}},
                 {"id": "3", "name": "Toronto", "subsidiary": {"id": "4"}},
                 {"id": "4", "name": "London", "subsidiary": {"id": "5"}},
                 {"id": "5", "name": "Tokyo", "subsidiary": {"id": "6"}}],
}
DEFAULT_SUBSIDIARIES = [
    {"id": "1", "name": "Parent Company", "country": "US", "legalName": "Parent Company Inc.", "currency": {"id": "1"}},
    {"id": "2", "name": "California", "country": "US", "state": "CA", "parent": {"id": "1"}, "currency": {"id": "1"}},
    {"id": "3", "name": "Virginia", "country": "US", "state": "VA", "parent": {"id": "1"}, "currency": {"id": "1"}},
    {"id": "4", "name": "Canada", "country": "CA", "state": "ON", "parent": {"id": "1"}, "currency": {"id": "3"}},
    # OneWorld children abroad, each keeping its books in its own base currency.
    {"id": "5", "name": "UK Ltd", "country": "GB", "legalName": "Parent Company UK Ltd", "parent": {"id": "1"},
     "currency": {"id": "2"}},
    {"id": "6", "name": "Japan KK", "country": "JP", "legalName": "Parent Company Japan K.K.", "parent": {"id": "1"},
     "currency": {"id": "5"}},
]

_TBA_KEYS = {"consumer_key", "consumer_secret", "token_id", "token_secret"}
_M2M_KEYS = {"client_id", "certificate_id", "public_key_pem", "public_key_path"}
_ACCOUNT_KEYS = {"account_id", "tba", "m2m_clients", "subsidiaries"}


class ConfigError(ValueError):
    """A NetSuite sandbox config that cannot be served."""


@dataclass(frozen=True)
class TbaCredential:
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


#: The keys NetSuite's M2M certificates may hold.
M2MPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class M2MClient:
    client_id: str
    certificate_id: str
    public_key: M2MPublicKey


@dataclass
class Account:
    account_id: str
    tba: list[TbaCredential]
    m2m_clients: list[M2MClient]
    subsidiaries: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_SUBSIDIARIES))


@dataclass
class SandboxConfig:
    accounts: dict[str, Account]
    knobs: dict[str, Any]

    @property
    def default_account(self) -> str:
        return next(iter(self.accounts))


def _check_keys(where: str, data: Any, allowed: set[str], required: set[str]) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"netsuite config: {where} must be a mapping, got {data!r}")
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"netsuite config: unknown key(s) in {where}: {', '.join(sorted(unknown))}")
    missing = required - set(data)
    if missing:
        raise ConfigError(f"netsuite config: {where} is missing {', '.join(sorted(missing))}")


def load_public_key(pem: str) -> M2MPublicKey:
    """A public key, or the key of an X.509 certificate (NetSuite's M2M setup uploads a certificate); NetSuite
    takes RSA (PS256/384/512) and EC (ES256/384/512) certificates only."""
    data = pem.encode()
    certificate = b"BEGIN CERTIFICATE" in data
    key = x509.load_pem_x509_certificate(data).public_key() if certificate else load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError(f"a {type(key).__name__.removeprefix('_')}, where NetSuite takes an RSA or EC key")
    return key


def parse_m2m_client(where: str, data: Any) -> M2MClient:
    _check_keys(where, data, _M2M_KEYS, {"client_id", "certificate_id"})
    if ("public_key_pem" in data) == ("public_key_path" in data):
        raise ConfigError(f"netsuite config: {where} needs exactly one of public_key_pem, public_key_path")
    try:
        pem = data.get("public_key_pem") or Path(data["public_key_path"]).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"netsuite config: {where} public_key_path cannot be read: {exc}") from exc
    try:
        key = load_public_key(pem)
    except ValueError as exc:
        raise ConfigError(f"netsuite config: {where} has an unreadable public key: {exc}") from exc
    return M2MClient(str(data["client_id"]), str(data["certificate_id"]), key)


def _parse_account(where: str, data: Any) -> Account:
    _check_keys(where, data, _ACCOUNT_KEYS, {"account_id"})
    account_id = str(data["account_id"])
    if not ACCOUNT_ID.match(account_id):
        raise ConfigError(
            f"netsuite config: {where}.account_id {account_id!r} is not a NetSuite account id "
            "(digits, optionally _SB<n>, uppercase, e.g. 1234567_SB1)"
        )
    tba = []
    for i, cred in enumerate(data.get("tba") or []):
        _check_keys(f"{where}.tba[{i}]", cred, _TBA_KEYS, _TBA_KEYS)
        tba.append(TbaCredential(**{k: str(v) for k, v in cred.items()}))
    clients = [parse_m2m_client(f"{where}.m2m_clients[{i}]", c) for i, c in enumerate(data.get("m2m_clients") or [])]
    subsidiaries = data.get("subsidiaries", DEFAULT_SUBSIDIARIES)
    for i, sub in enumerate(subsidiaries):
        if not isinstance(sub, dict) or "id" not in sub or "name" not in sub:
            raise ConfigError(f"netsuite config: {where}.subsidiaries[{i}] needs at least id and name")
    return Account(account_id, tba, clients, [dict(s, id=str(s["id"])) for s in subsidiaries])


def parse_config(config: dict[str, Any]) -> SandboxConfig:
    """Validate the whole section; knob values are checked by `Knobs.update`."""
    config = dict(config or {})
    raw_accounts = config.pop("accounts", [DEMO_ACCOUNT])
    try:
        config = canonical_names(config, "netsuite config")
    except ValueError as exc:
        raise ConfigError(f"netsuite config: {exc}") from exc
    unknown = set(config) - Knobs.names()
    if unknown:
        raise ConfigError(
            f"netsuite config: unknown key(s): {', '.join(sorted(unknown))}; "
            f"known: accounts, {', '.join(sorted(Knobs.names()))}"
        )
    if not isinstance(raw_accounts, list) or not raw_accounts:
        raise ConfigError("netsuite config: accounts must be a non-empty list")
    accounts: dict[str, Account] = {}
    for i, raw in enumerate(raw_accounts):
        account = _parse_account(f"accounts[{i}]", raw)
        if account.account_id in accounts:
            raise ConfigError(f"netsuite config: account {account.account_id} is listed twice")
        accounts[account.account_id] = account
    try:
        Knobs().update(config)
    except ValueError as exc:
        raise ConfigError(f"netsuite config: {exc}") from exc
    return SandboxConfig(accounts, config)
