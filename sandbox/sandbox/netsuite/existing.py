"""An account already in use: NetSuite records that people entered before the integration, without external ids.

`plan_existing` turns Salesforce records (as the Salesforce stand-in's admin API lists them) into NetSuite
records a person would have typed, deterministically: exact copies, near matches (case, spacing, punctuation,
a legal suffix; for customers also a different name with the same phone), ambiguous pairs (two records that
both match), and unrelated records. `seed_existing` reads the Salesforce stand-in and writes the plan through the
NetSuite stand-in's "by hand" admin route, so nothing shows in the API request log. Each planned record says
which Salesforce record it stands for and how, so tests know exactly what must be adopted or dead-lettered.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import requests

KINDS = ("exact", "near", "phone", "ambiguous", "none")


def _near_name(name: str) -> str:
    """What a person would type: other case, no '#', doubled spaces, a legal suffix."""
    return "  " + name.replace("#", "").upper().replace(" ", "  ") + ", Inc. "


def _kind(index: int, cycle: tuple[str, ...]) -> str:
    return cycle[index % len(cycle)]


def plan_existing(accounts: list[dict[str, Any]], contacts: list[dict[str, Any]],
                  products: list[dict[str, Any]], subsidiary: str = "1") -> list[dict[str, Any]]:
    """Planned records: `{"type", "body", "for": Salesforce Id or None, "kind"}` (see module docstring)."""
    plan: list[dict[str, Any]] = []
    sub = {"id": subsidiary}
    account_kinds = ("exact", "exact", "exact", "near", "near", "phone", "ambiguous", "none", "exact", "near")
    # Two Salesforce accounts with one name cannot both own one NetSuite customer: no planted record for them.
    names = Counter(re.sub(r"\W+", "", a["Name"].casefold()) for a in accounts)
    for index, account in enumerate(accounts):
        kind = _kind(index, account_kinds)
        if names[re.sub(r"\W+", "", account["Name"].casefold())] > 1:
            continue
        if kind == "phone" and not account.get("Phone"):
            kind = "exact"
        name = account["Name"]
        if kind == "exact":
            plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                         "body": {"companyName": name, "subsidiary": sub, "terms": {"id": "2"}}})
        elif kind == "near":
            plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                         "body": {"companyName": _near_name(name), "subsidiary": sub}})
        elif kind == "phone":
            plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                         "body": {"companyName": f"Old name of {index}", "phone": account["Phone"],
                                  "subsidiary": sub}})
        elif kind == "ambiguous":
            for variant in (name, name.lower()):
                plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                             "body": {"companyName": variant, "subsidiary": sub}})
    contact_kinds = ("exact", "near", "ambiguous", "none", "exact")
    for index, contact in enumerate(c for c in contacts if c.get("Email")):
        kind = _kind(index, contact_kinds)
        body = {"firstName": contact.get("FirstName") or "X", "lastName": contact["LastName"],
                "email": contact["Email"], "subsidiary": sub}
        if kind == "exact":
            plan.append({"type": "contact", "for": contact["Id"], "kind": kind, "body": body})
        elif kind == "near":
            plan.append({"type": "contact", "for": contact["Id"], "kind": kind,
                         "body": {**body, "email": contact["Email"].upper()}})
        elif kind == "ambiguous":
            plan.append({"type": "contact", "for": contact["Id"], "kind": kind, "body": body})
            plan.append({"type": "contact", "for": contact["Id"], "kind": kind,
                         "body": {**body, "firstName": "Other", "lastName": "Person"}})
    item_kinds = ("exact", "near", "ambiguous", "none")
    for index, product in enumerate(products):
        kind = _kind(index, item_kinds)
        item_id = product.get("ProductCode") or product["Name"]
        if kind in ("exact", "near"):
            plan.append({"type": "nonInventorySaleItem", "for": product["Id"], "kind": kind,
                         "body": {"itemId": item_id if kind == "exact" else f" {item_id.lower()} ",
                                  "subsidiary": sub}})
        elif kind == "ambiguous":
            for variant in (item_id, item_id.upper()):
                plan.append({"type": "nonInventorySaleItem", "for": product["Id"], "kind": kind,
                             "body": {"itemId": variant, "displayName": "duplicate", "subsidiary": sub}})
    plan.append({"type": "customer", "for": None, "kind": "unrelated",
                 "body": {"companyName": "Walk-in customer (NetSuite only)", "subsidiary": sub}})
    return plan


def seed_existing(netsuite_url: str, salesforce_url: str, *, account: str | None = None,
                  limit: int | None = None) -> list[dict[str, Any]]:
    """Write the plan for the Salesforce stand-in's live records; returns the plan with NetSuite ids (`id`)."""
    def live(sobject: str) -> list[dict[str, Any]]:
        response = requests.get(f"{salesforce_url}/__admin/records/{sobject}", timeout=120)
        response.raise_for_status()
        records = [r for r in response.json()["records"] if not r.get("IsDeleted")]
        return records[:limit] if limit is not None else records

    plan = plan_existing(live("Account"), live("Contact"), live("Product2"))
    params = {"account": account} if account else {}
    for rtype in dict.fromkeys(entry["type"] for entry in plan):
        entries = [entry for entry in plan if entry["type"] == rtype]
        response = requests.post(f"{netsuite_url}/__admin/records/{rtype}", params=params,
                                 json={"records": [entry["body"] for entry in entries]}, timeout=120)
        response.raise_for_status()
        for entry, record_id in zip(entries, response.json()["ids"], strict=True):
            entry["id"] = record_id
    return plan
