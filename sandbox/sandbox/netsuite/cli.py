"""`sandbox netsuite ...`: admin commands sent over HTTP to a running NetSuite stand-in.

Examples:
    sandbox netsuite --url http://127.0.0.1:8702 list customer
    sandbox netsuite get customer eid:001xx000003DGb2AAG
    sandbox netsuite reset [--knobs]
    sandbox netsuite knobs --concurrency-limit 5 --latency-ms 200
    sandbox netsuite knobs --set '{"latency_ms": {"mean": 200, "jitter": 50}, "reject_external_ids": ["X"]}'
    sandbox netsuite stats
    sandbox netsuite requests --tail 20
    sandbox netsuite seed-existing --salesforce-url http://127.0.0.1:8701   # an account already in use
    sandbox netsuite seed-account-in-use --ground-truth truth.json         # both stand-ins, years of use
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from typing import Any
from urllib.parse import quote

import requests

from sandbox.client import AdminError, NetSuiteClient
from sandbox.fixtures.account_in_use import seed_account_in_use
from sandbox.netsuite.existing import seed_existing

DEFAULT_URL = os.environ.get("SANDBOX_NETSUITE_URL", "http://127.0.0.1:8702")

# Knobs exposed as flags; anything else goes through --set JSON.
_FLAG_KNOBS = {
    "concurrency_limit": int, "latency_ms": float, "write_latency_ms": float, "error_rate_500": float,
    "error_rate_429": float, "drop_rate": float, "drop_after_rate": float, "slow_rate": float, "slow_ms": float,
    "locked_rate": float, "token_ttl_seconds": int,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox netsuite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_URL, help="base URL of the running stand-in (env "
                        "SANDBOX_NETSUITE_URL; default %(default)s)")
    parser.add_argument("--account", help="account id (default: the first configured account)")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="print every record of a type (JSON lines)")
    listing.add_argument("type", help="customer, contact, nonInventorySaleItem, inventoryItem, salesOrder, subsidiary")
    get = sub.add_parser("get", help="print one record by internal id or eid:<externalId>")
    get.add_argument("type")
    get.add_argument("key")
    reset = sub.add_parser("reset", help="empty the account(s); keeps knobs unless --knobs")
    reset.add_argument("--knobs", action="store_true", help="also restore knobs to their configured values")
    knobs = sub.add_parser("knobs", help="show knobs, or change them with flags / --set JSON")
    for name, kind in _FLAG_KNOBS.items():
        knobs.add_argument("--" + name.replace("_", "-"), dest=name, type=kind)
    knobs.add_argument("--set", help="JSON object of knob values")
    sub.add_parser("stats", help="print counters (requests, count_429, peak_concurrency, writes)")
    log = sub.add_parser("requests", help="print the request log")
    log.add_argument("--tail", type=int, help="only the last N entries")
    sub.add_parser("accounts", help="print accounts and their public credential ids")
    existing = sub.add_parser("seed-existing", help="enter records by hand for the Salesforce stand-in's data, "
                              "without external ids (exact, near and ambiguous matches); prints a summary")
    existing.add_argument("--salesforce-url", default=os.environ.get("SANDBOX_SALESFORCE_URL",
                                                                      "http://127.0.0.1:8701"))
    existing.add_argument("--limit", type=int, help="only the first N records of each Salesforce object")
    in_use = sub.add_parser("seed-account-in-use", help="RESET both stand-ins and fill them as an account used for "
                            "years (sandbox.fixtures.account_in_use); prints counts per expected outcome")
    in_use.add_argument("--salesforce-url", default=os.environ.get("SANDBOX_SALESFORCE_URL",
                                                                    "http://127.0.0.1:8701"))
    in_use.add_argument("--seed", type=int, default=24)
    in_use.add_argument("--ground-truth", help="write the plan with ids and expected outcomes to this JSON file")
    return parser


def _call(method: str, url: str, params: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    """One admin call through the shipped client; a refusal or no server is a one-line exit."""
    base, _, path = url.partition("/__admin/")
    try:
        return NetSuiteClient(base, timeout=30).call(method, path, body, params=params or None)
    except AdminError as exc:
        raise SystemExit(f"sandbox netsuite: {method} {url} -> {exc.status}: {json.dumps(exc.body)}") from None
    except requests.ConnectionError as exc:
        raise SystemExit(f"sandbox netsuite: no sandbox answering at {url} ({type(exc).__name__})") from None


def main(argv: list[str]) -> int:
    """Run one admin command; prints JSON to stdout, exits non-zero with the server's message on error."""
    args = _parser().parse_args(argv)
    base = args.url.rstrip("/") + "/__admin"
    params = {"account": args.account} if args.account else {}
    if args.command == "list":
        for record in _call("GET", f"{base}/records/{args.type}", params)["records"]:
            print(json.dumps(record, sort_keys=True))
        return 0
    if args.command == "get":
        result: Any = _call("GET", f"{base}/records/{args.type}/{quote(args.key, safe=':')}", params)
    elif args.command == "reset":
        result = _call("POST", f"{base}/reset", params, {"knobs": args.knobs})
    elif args.command == "knobs":
        changes = {name: getattr(args, name) for name in _FLAG_KNOBS if getattr(args, name) is not None}
        if args.set:
            changes.update(json.loads(args.set))
        result = _call("POST", f"{base}/knobs", params, changes) if changes else _call("GET", f"{base}/knobs", params)
    elif args.command == "stats":
        result = _call("GET", f"{base}/stats", params)
    elif args.command == "seed-existing":
        plan = seed_existing(args.url.rstrip("/"), args.salesforce_url.rstrip("/"), account=args.account,
                             limit=args.limit)
        result = dict(Counter(f"{entry['type']} {entry['kind']}" for entry in plan))
    elif args.command == "seed-account-in-use":
        truth = seed_account_in_use(args.salesforce_url.rstrip("/"), args.url.rstrip("/"), seed=args.seed)
        if args.ground_truth:
            with open(args.ground_truth, "w", encoding="utf-8") as out:
                json.dump(truth, out, indent=1, ensure_ascii=False)
        result = {group: dict(Counter(f"{e['kind']} -> {e['expect']}" for e in entries))
                  for group, entries in truth.items() if group != "netsuite_only"}
    elif args.command == "requests":
        result = _call("GET", f"{base}/requests", params)
        if args.tail:
            result = result[-args.tail:]
    else:
        result = _call("GET", f"{base}/accounts", params)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
