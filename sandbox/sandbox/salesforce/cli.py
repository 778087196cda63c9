"""`sandbox salesforce ...`: admin commands sent over HTTP to a running Salesforce stand-in.

Examples:
    sandbox salesforce reset --accounts 1000
    sandbox salesforce update Account 0015g00000000001AAA Name="Acme GmbH" --late-seconds 120
    sandbox salesforce delete Account 0015g00000000001AAA
    sandbox salesforce knobs --latency-ms 50 --error-rate-503 0.05
    sandbox salesforce stats
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import requests

from sandbox.client import AdminError, SalesforceClient
from sandbox.salesforce.knobs import SEED_KEYS, Knobs

_DEFAULT_URL = "http://127.0.0.1:8701"


def _assignments(pairs: list[str]) -> dict[str, Any]:
    """`Field=value` pairs; values are JSON when they parse as JSON (numbers, true, null), else text."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"sandbox salesforce: expected Field=value, got {pair!r}")
        fields[name] = _json_or_text(raw)
    return fields


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _control(args: argparse.Namespace) -> dict[str, Any]:
    control: dict[str, Any] = {}
    if getattr(args, "system_modstamp", None):
        control["system_modstamp"] = args.system_modstamp
    if getattr(args, "late_seconds", None) is not None:
        control["late_seconds"] = args.late_seconds
    return control


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox salesforce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("SANDBOX_SALESFORCE_URL", _DEFAULT_URL),
                        help="base URL of the running stand-in (default: $SANDBOX_SALESFORCE_URL or %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)

    reset = sub.add_parser("reset", help="regenerate all data (deterministic per seed), zero the API counter")
    for key in SEED_KEYS:
        reset.add_argument(f"--{key.replace('_', '-')}", type=int, dest=key)
    reset.add_argument("--keep-knobs", action="store_true", help="keep the current knobs instead of the config's")

    timing = argparse.ArgumentParser(add_help=False)
    timing.add_argument("--system-modstamp", help="commit with this SystemModstamp (a late commit)")
    timing.add_argument("--late-seconds", type=int, help="commit with SystemModstamp = now - N seconds")

    create = sub.add_parser("create", parents=[timing], help="create a record: create Account Name=Acme ...")
    create.add_argument("object")
    create.add_argument("fields", nargs="*")
    update = sub.add_parser("update", parents=[timing], help="update a record: update Account <Id> Name=...")
    update.add_argument("object")
    update.add_argument("id")
    update.add_argument("fields", nargs="+")
    for name, text in (("delete", "move a record to the recycle bin (then visible only through queryAll)"),
                       ("undelete", "restore a record from the recycle bin")):
        command = sub.add_parser(name, help=text)
        command.add_argument("object")
        command.add_argument("id")
    listing = sub.add_parser("list", help="print records (deleted included) as JSON")
    listing.add_argument("object")
    listing.add_argument("--limit", type=int)
    share = sub.add_parser("share-modstamp", parents=[timing], help="give N records one identical SystemModstamp")
    share.add_argument("object")
    share.add_argument("--count", type=int, required=True)

    knobs = sub.add_parser("knobs", help="show knobs, or set the given ones")
    for key in Knobs().public():
        knobs.add_argument(f"--{key.replace('_', '-')}", dest=key, type=_json_or_text,
                           help="a number, true/false, JSON (e.g. '{\"min\": 10, \"max\": 200}') or text")
    knobs.add_argument("--api-usage", type=int, dest="api_usage", help="set the API usage counter")
    knobs.add_argument("--expire-sessions", action="store_true", help="invalidate every access token now")
    sub.add_parser("expire-sessions", help="invalidate every access token now")
    sub.add_parser("stats", help="API usage, request count and record counts")
    return parser


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> int:
    """One admin call through the shipped client; prints the answer (or the refusal) as JSON."""
    base, _, path = url.partition("/__admin/")
    try:
        answer, status = SalesforceClient(base, timeout=600).call(method, path, body), 0
    except AdminError as exc:
        answer, status = exc.body, 1
    except requests.ConnectionError as exc:
        raise SystemExit(f"sandbox salesforce: no sandbox answering at {url} ({type(exc).__name__}); start one "
                         "with `sandbox serve` or point --url / SANDBOX_SALESFORCE_URL at it") from None
    print(json.dumps(answer, indent=2, ensure_ascii=False) if not isinstance(answer, str) else answer)
    return status


def main(argv: list[str]) -> int:
    """Run one admin command; exit status 0 when the sandbox accepted it."""
    args = _parser().parse_args(argv)
    base = args.url.rstrip("/") + "/__admin"
    command = args.command
    if command == "reset":
        body = {key: getattr(args, key) for key in SEED_KEYS if getattr(args, key) is not None}
        if args.keep_knobs:
            body["keep_knobs"] = True
        return _request("POST", f"{base}/reset", body)
    if command == "create":
        return _request("POST", f"{base}/records/{args.object}", {**_assignments(args.fields), **_control(args)})
    if command == "update":
        return _request("PATCH", f"{base}/records/{args.object}/{args.id}",
                        {**_assignments(args.fields), **_control(args)})
    if command == "delete":
        return _request("DELETE", f"{base}/records/{args.object}/{args.id}")
    if command == "undelete":
        return _request("POST", f"{base}/records/{args.object}/{args.id}/undelete")
    if command == "list":
        suffix = f"?limit={args.limit}" if args.limit is not None else ""
        return _request("GET", f"{base}/records/{args.object}{suffix}")
    if command == "share-modstamp":
        return _request("POST", f"{base}/share_modstamp/{args.object}", {"count": args.count, **_control(args)})
    if command == "knobs":
        changes = {key: value for key, value in vars(args).items()
                   if key in (*Knobs().public(), "api_usage") and value is not None}
        if args.expire_sessions:
            changes["expire_sessions"] = True
        return _request("POST" if changes else "GET", f"{base}/knobs", changes or None)
    if command == "expire-sessions":
        return _request("POST", f"{base}/expire_sessions", {})
    return _request("GET", f"{base}/stats")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
