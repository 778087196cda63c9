"""The NetSuite stand-in's state: the store, knobs, governor, authenticator, record API and async jobs of one
server, the accounts' seed data, and the changes a person makes "by hand" (the admin API's writes).

No HTTP here: the request pipeline (`pipeline.py`), the admin handlers (`admin.py`) and the route tables
(`routes.py`) reach the state through one `NetSuiteBackend`, which `app.py` builds. Invariant: every change
of state that is not an API request (seeding, resets, records entered by hand, order transitions) goes
through this class, validated like an API write but never governed and never in the request log.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sandbox.netsuite import jobs
from sandbox.netsuite.api import RecordApi
from sandbox.netsuite.auth import Authenticator
from sandbox.netsuite.config import (
    SEED_CURRENCIES,
    SEED_LISTS,
    SEED_SERVICE_ITEMS,
    ConfigError,
    SandboxConfig,
    parse_config,
    parse_m2m_client,
)
from sandbox.netsuite.errors import NetSuiteError
from sandbox.netsuite.governance import Governor
from sandbox.netsuite.knobs import KnobError, Knobs
from sandbox.netsuite.records import RECORD_TYPES, RecordType, apply_changes, order_status, record_type
from sandbox.netsuite.store import Store
from sandbox.netsuite.validation import Validator


class RecordNotFoundError(Exception):
    """No such record for an admin route."""


class NetSuiteBackend:
    """Holds the store, knobs, governor and authenticator that all requests of one server share."""

    def __init__(self, data_dir: Path, config: dict[str, Any]) -> None:
        try:
            self.config: SandboxConfig = parse_config(config)
        except OSError as exc:  # an unreadable public_key_path
            raise ConfigError(f"netsuite config: {exc}") from exc
        self.store = Store(data_dir / "netsuite.sqlite3")
        self.knobs = Knobs()
        self.knobs.update(self.config.knobs)
        self.governor = Governor(self.knobs, self.config.default_account)
        self.auth = Authenticator(self.config.accounts, self.store, self.knobs)
        self.api = RecordApi(self.store, self.governor, self.knobs)
        self.jobs = jobs.AsyncJobs(self.store, self.api, self.knobs)
        for account_id in self.config.accounts:
            self._seed(account_id)

    def _seed(self, account_id: str) -> None:
        """Write the account's currencies, subsidiaries, lists (employees, terms, price levels, departments,
        classes, locations) and service item once; later starts keep whatever the account holds."""
        if not self.store.mark_seeded(account_id):
            return
        currency = RECORD_TYPES["currency"]
        for seeded in SEED_CURRENCIES:
            body = apply_changes(currency, None, {k: v for k, v in seeded.items() if k != "id"}, set())
            self.store.insert(account_id, currency.name, currency.family, body, record_id=int(str(seeded["id"])))
        rtype = RECORD_TYPES["subsidiary"]
        for sub in self.config.accounts[account_id].subsidiaries:
            body = apply_changes(rtype, None, {k: v for k, v in sub.items() if k != "id"}, set())
            self.store.insert(account_id, rtype.name, rtype.family, body, record_id=int(sub["id"]))
        for type_name, rows in SEED_LISTS.items():
            listed = RECORD_TYPES[type_name.lower()]
            for row in rows:
                body = apply_changes(listed, None, {k: v for k, v in row.items() if k != "id"}, set())
                self.store.insert(account_id, listed.name, listed.family, body, record_id=int(row["id"]))
        service = RECORD_TYPES["servicesaleitem"]
        for item in SEED_SERVICE_ITEMS:
            body = apply_changes(service, None, {k: v for k, v in item.items() if k != "id"}, set())
            self.store.insert(account_id, service.name, service.family, body, record_id=int(str(item["id"])))

    # --- accounts, resets, knobs --------------------------------------------------------------------------

    def account(self, requested: str | None) -> str:
        """The named account (the default one when None); KnobError for an unknown account."""
        account = requested or self.config.default_account
        if account not in self.config.accounts:
            raise KnobError(f"unknown account {account!r}; accounts: {', '.join(self.config.accounts)}")
        return account

    def reset(self, accounts: list[str], *, knobs: bool) -> None:
        """Empty and re-seed the accounts, forget their counters and jobs; with `knobs`, restore the configured
        knob values."""
        for account_id in accounts:
            self.store.clear(account_id)
            self.jobs.clear(account_id)
            self._seed(account_id)
            self.governor.reset(account_id)
        if knobs:
            fresh = Knobs()
            fresh.update(self.config.knobs)
            self.knobs.update(fresh.as_dict())
            self.governor.reseed()

    def change_knobs(self, values: dict[str, Any]) -> dict[str, Any]:
        """Apply knob changes (all or nothing) and answer every knob's value."""
        changes = self.knobs.update(values)
        self.governor.reseed(seed_changed="fault_seed" in changes)
        return self.knobs.as_dict()

    def stats(self, account: str) -> dict[str, Any]:
        stats = self.governor.for_account(account).as_dict()
        stats["records"] = {t.name: self.store.count(account, t.name) for t in RECORD_TYPES.values()}
        return stats

    def accounts(self) -> list[dict[str, Any]]:
        """Account ids and public identifiers only (no secrets)."""
        return [
            {"account_id": a.account_id,
             "tba": [{"consumer_key": c.consumer_key, "token_id": c.token_id} for c in a.tba],
             "m2m_clients": [{"client_id": c.client_id, "certificate_id": c.certificate_id}
                             for c in self.auth.m2m_clients(a)]}
            for a in self.config.accounts.values()
        ]

    def add_m2m_client(self, data: dict[str, Any]) -> tuple[str, str]:
        """Register an M2M client (`account_id` optional); answers its client id and certificate id."""
        account = str(data.pop("account_id", self.config.default_account))
        if account not in self.config.accounts:
            raise KnobError(f"unknown account {account!r}")
        try:
            client = parse_m2m_client("m2m client", data)
        except ConfigError as exc:
            raise KnobError(str(exc)) from exc
        self.auth.add_m2m_client(account, client)
        return client.client_id, client.certificate_id

    # --- records "by hand": what a NetSuite user does in the UI (or a CSV import), not the API the target uses ---

    def stored(self, account: str, type_name: str, key: str) -> tuple[RecordType, dict[str, Any]]:
        """(record type, stored record) named by `<type>` and `<id or eid:X>`; `RecordNotFoundError` if none."""
        rtype = record_type(type_name)
        record = None
        if rtype is not None:
            record = (self.store.get_by_external_id(account, rtype.name, key[4:]) if key.startswith("eid:")
                      else self.store.get(account, rtype.name, key))
        if rtype is None or record is None:
            raise RecordNotFoundError
        return rtype, record

    def current(self, account: str, rtype: RecordType, record_id: str) -> dict[str, Any]:
        """The record as stored now (empty if it is gone)."""
        return self.store.get(account, rtype.name, record_id) or {}

    def by_hand(self, account: str, rtype_name: str, existing: dict[str, Any] | None,
                changes: dict[str, Any]) -> str:
        """Validate and save one record like the UI does; not logged as an API request, not governed."""
        rtype = record_type(rtype_name)
        if rtype is None:
            raise KnobError(f"unknown record type {rtype_name}")
        try:
            validator = Validator(rtype, self.api.lookup(account), strict_names=True)
            record = apply_changes(rtype, existing, validator.check_changes(changes), set())
            validator.check_record(record)
        except NetSuiteError as exc:
            raise KnobError(f"{rtype.name}: {exc.code}: {exc.detail}") from exc
        eid = record.get("externalId")
        if eid is not None:
            other = self.store.get_by_external_id(account, rtype.name, str(eid))
            if other is not None and (existing is None or other["id"] != existing["id"]):
                raise KnobError(f"{rtype.name}: a record with external ID {eid} already exists")
        if existing is None:
            return self.store.insert(account, rtype.name, rtype.family, record)
        self.store.replace(account, rtype.name, existing["id"], record)
        return str(existing["id"])

    def delete_by_hand(self, account: str, rtype: RecordType, record_id: str) -> None:
        self.store.delete(account, rtype.name, record_id)

    def order_transition(self, account: str, order_record: dict[str, Any], action: str,
                         data: dict[str, Any]) -> None:
        """What a person does to a sales order: `approve`, `fulfil`, `bill` or `close` (see admin.py)."""
        chosen = data.get("lines")
        if chosen is not None and not isinstance(chosen, dict):
            raise KnobError('"lines" must map line numbers to quantities')
        if action in ("fulfil", "bill"):
            # A person entering a fulfilment or an invoice: the same records and quantities as the REST transform.
            body = {"item": {"items": [{"orderLine": k, "quantity": v} for k, v in chosen.items()]}} if chosen else {}
            body.update({k: data[k] for k in ("tranDate", "dueDate", "memo") if data.get(k)})
            try:
                if action == "fulfil":
                    self.api.order_life.fulfil(account, order_record["id"], body, clamp=True)
                else:
                    self.api.order_life.bill(account, order_record["id"], body, fulfilled_only=False, clamp=True)
            except NetSuiteError as exc:
                raise KnobError(f"salesOrder {order_record['id']}: {exc.code}: {exc.detail}") from exc
            return
        order = {k: v for k, v in order_record.items() if k != "id"}
        if action == "approve":
            if order.get("orderStatus") != "A":
                raise KnobError(f"order {order_record['id']} is not pending approval (status {order.get('status')})")
            order["orderStatus"] = "B"
        elif action == "close":
            lines = [line for line in order.get("item", []) if not line.get("isClosed")]
            if chosen is not None:
                lines = [line for line in lines if str(line.get("line")) in {str(k) for k in chosen}]
            for line in lines:
                line["isClosed"] = True
        else:
            raise KnobError(f"unknown order action {action!r}: approve, fulfil, bill or close")
        order["orderStatus"] = order["status"] = order_status(order)
        # Closing changes the order: NetSuite stamps it modified (incremental reads see it).
        order["lastModifiedDate"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.store.replace(account, RECORD_TYPES["salesorder"].name, order_record["id"], order)

    def pay_invoice(self, account: str, invoice: dict[str, Any], data: dict[str, Any]) -> str:
        """A payment received for an invoice; answers the new customerPayment's internal id."""
        body = {k: data[k] for k in ("tranDate", "memo") if data.get(k)}
        if data.get("amount") is not None:
            body["payment"] = data["amount"]
        try:
            return str(self.api.order_life.pay_invoice(account, invoice["id"], body))
        except NetSuiteError as exc:
            raise KnobError(f"invoice {invoice['id']}: {exc.code}: {exc.detail}") from exc
