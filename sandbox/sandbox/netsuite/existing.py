"""An account already in use: NetSuite records that people entered before the integration, without external ids.

`plan_existing` turns Salesforce records (as the Salesforce stand-in's admin API lists them) into NetSuite
records a person would have typed, deterministically: exact copies, near matches (case, spacing, punctuation,
a legal suffix; for customers also a different name with the same phone and website), ambiguous pairs (two
records that both match), and unrelated records. A customer copy also holds the Account's billing city and
postal code (a name alone never adopts: issue 24); an Account without them gets no copy. A contact copy belongs to
the copy of its Account (contacts are adopted by email only within their company); a contact whose Account has
no adoptable copy gets none. See `sandbox.fixtures.account_in_use` for the realistic account. `seed_existing`
reads the Salesforce stand-in and writes the plan through the NetSuite stand-in's "by hand" admin route, so
nothing shows in the API request log. Each planned record says
which Salesforce record it stands for and how, so tests know exactly what must be adopted or dead-lettered.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from sandbox.client import NetSuiteClient, SalesforceClient

KINDS = ("exact", "near", "phone", "ambiguous", "none")


def _near_name(name: str) -> str:
    """What a person would type: other case, no '#', doubled spaces, a legal suffix."""
    return "  " + name.replace("#", "").upper().replace(" ", "  ") + ", Inc. "


def _real_phone(phone: str | None) -> bool:
    """A phone with 10 digits or more that is not one of the 555-01xx numbers reserved for fiction."""
    digits = re.sub(r"\D", "", phone or "")
    return len(digits) >= 10 and not digits[-7:].startswith("55501")


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
        if kind == "phone" and not (_real_phone(account.get("Phone")) and account.get("Website")):
            kind = "exact"
        if not (account.get("BillingCity") and account.get("BillingPostalCode")) and kind != "phone":
            continue  # nothing but the name to recognise it by
        name = account["Name"]
        book = {"items": [{"defaultBilling": True, "addressbookaddress": {
            "city": account.get("BillingCity"), "zip": account.get("BillingPostalCode")}}]}
        if kind == "exact":
            plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                         "body": {"companyName": name, "subsidiary": sub, "terms": {"id": "2"}, "addressbook": book}})
        elif kind == "near":
            plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                         "body": {"companyName": _near_name(name), "subsidiary": sub, "addressbook": book}})
        elif kind == "phone":
            plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                         "body": {"companyName": f"Old name of {index}", "phone": account["Phone"],
                                  "url": account["Website"], "subsidiary": sub}})
        elif kind == "ambiguous":
            for variant in (name, name.lower()):
                plan.append({"type": "customer", "for": account["Id"], "kind": kind,
                             "body": {"companyName": variant, "subsidiary": sub, "addressbook": book}})
    adoptable = {entry["for"] for entry in plan if entry["kind"] in ("exact", "near", "phone")}
    contact_kinds = ("exact", "near", "ambiguous", "none", "exact")
    for index, contact in enumerate(c for c in contacts if c.get("Email") and c.get("AccountId") in adoptable):
        kind = _kind(index, contact_kinds)
        body = {"firstName": contact.get("FirstName") or "X", "lastName": contact["LastName"],
                "email": contact["Email"], "subsidiary": sub, "company": {"account": contact["AccountId"]}}
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
        records = [r for r in SalesforceClient(salesforce_url, timeout=120).records(sobject) if not r.get("IsDeleted")]
        return records[:limit] if limit is not None else records

    plan = plan_existing(live("Account"), live("Contact"), live("Product2"))
    for rtype in dict.fromkeys(entry["type"] for entry in plan):  # customers first: contacts name their copy
        entries = [entry for entry in plan if entry["type"] == rtype]
        copies = {e["for"]: e["id"] for e in plan if e["type"] == "customer" and "id" in e
                  and e["kind"] in ("exact", "near", "phone")}
        for entry in entries:
            if isinstance(entry["body"].get("company"), dict) and "account" in entry["body"]["company"]:
                entry["body"]["company"] = {"id": copies[entry["body"]["company"]["account"]]}
        ids = NetSuiteClient(netsuite_url, timeout=120).create_records(rtype, [entry["body"] for entry in entries],
                                                                       account=account)
        for entry, record_id in zip(entries, ids, strict=True):
            entry["id"] = record_id
    return plan
