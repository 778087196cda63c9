"""`pipeline-ops reconcile [--repair]`: how Salesforce and NetSuite differ, and the fix through the normal path.

1. Compare: `meltano run --full-refresh tap-salesforce-custom--reconcile salesforce-to-netsuite
   target-netsuite--reconcile`. The inherited tap reads only what a comparison needs (Ids, IsDeleted, the mapping's
   filter fields and the checked fields' inputs; Bulk 2.0 above its `bulk_threshold`), the real mapper maps it,
   the target in `reconcile` mode pages through NetSuite by SuiteQL and writes `reports/reconcile-<run id>.json`
   (missing, orphaned, stale per record type). That pipeline has its own state id and emits no STATE, so it never
   touches or blocks the 5-minute sync.
2. Print the summary (and `reports/reconcile-latest.json`, a copy of the report, for monitoring).
3. `--repair`: missing and stale records are read again from Salesforce, exactly those (tap `record_ids`), and sent
   through the mapper and the target (`meltano run --state-id-suffix=repair tap-salesforce-custom
   salesforce-to-netsuite target-netsuite`, with `TARGET_NETSUITE_LEDGER=ignore`: the write ledger says NetSuite
   has these records, NetSuite says otherwise, and the comparison has already dropped their entries): a repair is
   a run. Orphans have no Salesforce record left to map; they
   get the mapping's delete action for their record type (`__on_delete__`, else `deleted_record_action`):
   `inactivate` → `{"externalId", "isInactive": true}`, `delete` → `_sdc_action: delete`, `ignore` → left
   alone (listed as such), sent to `meltano invoke target-netsuite` as Singer messages. Both are idempotent
   upserts/deletes by external id: a repair run twice, or killed and rerun, writes nothing twice.

`--direction netsuite-to-salesforce` (or `both`) checks the write-back instead (or too): NetSuite ids and status
fields on the Salesforce records (pipeline_ops/write_back_check.py), repaired through the write-back job's tasks.

The mapping (which Salesforce object becomes which record type, the delete actions) is read from `meltano.yml`,
so the command follows any change of the mapping. Exit code: 0 when both systems agree (or everything found was
repaired), 3 when differences remain, 1 when a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import yaml

from pipeline_ops import write_back_check

RECONCILE_PIPELINE = ("tap-salesforce-custom--reconcile", "salesforce-to-netsuite", "target-netsuite--reconcile")
SYNC_PIPELINE = ("tap-salesforce-custom", "salesforce-to-netsuite", "target-netsuite")
MAPPING = "salesforce-to-netsuite"
KINDS = ("missing", "orphaned", "stale")


def _meltano(root: Path) -> str:
    found = os.environ.get("PIPELINE_OPS_MELTANO") or shutil.which("meltano")
    if found:
        return found
    return str(root / ".venv" / "bin" / "meltano")


def mapping_facts(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(record type → Salesforce object, record type → delete action) from the mapping in meltano.yml."""
    project = yaml.safe_load((root / "meltano.yml").read_text(encoding="utf-8"))
    config: dict[str, t.Any] = {}
    for mapper in project.get("plugins", {}).get("mappers", []):
        for mapping in mapper.get("mappings", []):
            if mapping.get("name") == MAPPING:
                defaults = {s["name"]: s.get("value") for s in mapper.get("settings", []) if "name" in s}
                config = {**defaults, **(mapping.get("config") or {})}
    objects = {}
    for source, stream_map in (config.get("stream_maps") or {}).items():
        if isinstance(stream_map, dict) and stream_map.get("__alias__"):
            objects[stream_map["__alias__"]] = source
    default = os.environ.get("NETSUITE_MAPPER_DELETED_RECORD_ACTION") or config.get("deleted_record_action")
    actions = {}
    for record_type, template in (config.get("payloads") or {}).items():
        actions[record_type] = (template or {}).get("__on_delete__") or default or "inactivate"
    return objects, actions


def _run(cmd: list[str], root: Path, env: dict[str, str] | None = None, stdin: str | None = None) -> int:
    print("+ " + " ".join(cmd[1:]), file=sys.stderr)
    result = subprocess.run(cmd, cwd=root, env={**os.environ, **(env or {})}, input=stdin, text=True, check=False,
                            stdout=subprocess.PIPE if stdin is not None else None)
    return result.returncode


def _latest_report(reports: Path, after: float) -> dict[str, t.Any] | None:
    candidates = [p for p in reports.glob("reconcile-*.json") if p.name != "reconcile-latest.json"
                  and p.stat().st_mtime >= after]
    if not candidates:
        return None
    return json.loads(max(candidates, key=lambda p: p.stat().st_mtime).read_text(encoding="utf-8"))


def render(report: dict[str, t.Any]) -> str:
    lines = [f"Reconciliation {report['run_id']}:"]
    lines.append(f"  {'record type':<24}{'salesforce':>11}{'netsuite':>10}{'missing':>9}{'orphaned':>10}{'stale':>7}")
    for record_type, found in report["record_types"].items():
        lines.append(f"  {record_type:<24}{found['salesforce']:>11}{found['netsuite']:>10}{len(found['missing']):>9}"
                     f"{len(found['orphaned']):>10}{len(found['stale']):>7}")
    for record_type, found in report["record_types"].items():
        for item in found["missing"][:20]:
            lines.append(f"  missing  {record_type} {item['externalId']}: {item['reason']}")
        for item in found["orphaned"][:20]:
            lines.append(f"  orphaned {record_type} {item['externalId']} (internal id {item['internal_id']}): "
                         f"{item['reason']}")
        for item in found["stale"][:20]:
            lines.append(f"  stale    {record_type} {item['externalId']}.{item['field']}: NetSuite "
                         f"{item['netsuite']!r}, Salesforce {item['salesforce']!r}")
    return "\n".join(lines)


def differences(report: dict[str, t.Any]) -> int:
    return sum(len(found[kind]) for found in report["record_types"].values() for kind in KINDS)


def repair_plan(report: dict[str, t.Any], objects: dict[str, str], actions: dict[str, str]
                ) -> tuple[dict[str, list[str]], list[dict[str, t.Any]], list[str]]:
    """(Salesforce Ids to re-read per object, Singer messages for orphans, lines about what is left alone)."""
    reread: dict[str, set[str]] = {}
    messages: list[dict[str, t.Any]] = []
    left: list[str] = []
    for record_type, found in report["record_types"].items():
        source = objects.get(record_type)
        ids = {item["externalId"] for kind in ("missing", "stale") for item in found[kind]}
        if ids and source is None:
            left.append(f"{record_type}: no Salesforce object maps to it; {len(ids)} records not re-read")
        elif ids and source is not None:
            reread.setdefault(source, set()).update(ids)
        action = actions.get(record_type, "inactivate")
        orphans = [item["externalId"] for item in found["orphaned"]]
        if orphans and action == "ignore":
            left.append(f"{record_type}: the mapping ignores deletions; {len(orphans)} orphans left alone")
            continue
        if orphans:
            messages.append({"type": "SCHEMA", "stream": record_type, "key_properties": ["externalId"],
                             "schema": {"type": "object", "properties": {
                                 "externalId": {"type": "string"}, "isInactive": {"type": ["boolean", "null"]},
                                 "_sdc_action": {"type": ["string", "null"]}}}})
        for eid in orphans:
            record = {"externalId": eid, "_sdc_action": "delete"} if action == "delete" else {
                "externalId": eid, "isInactive": True}
            messages.append({"type": "RECORD", "stream": record_type, "record": record})
    return {obj: sorted(ids) for obj, ids in reread.items()}, messages, left


def reconcile(root: Path, reports: Path, *, repair: bool) -> int:
    meltano = _meltano(root)
    started = time.time() - 1
    if _run([meltano, "run", "--full-refresh", *RECONCILE_PIPELINE], root) != 0:
        print("pipeline-ops: the reconciliation run failed (see above)", file=sys.stderr)
        return 1
    report = _latest_report(reports, started)
    if report is None:
        print(f"pipeline-ops: the reconciliation run left no report in {reports}", file=sys.stderr)
        return 1
    (reports / "reconcile-latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
    print(render(report))
    found = differences(report)
    if not found:
        print("Salesforce and NetSuite agree.")
        return 0
    if not repair:
        print(f"{found} differences; `pipeline-ops reconcile --repair` fixes them through mapper and target.")
        return 3
    objects, actions = mapping_facts(root)
    reread, orphan_messages, left = repair_plan(report, objects, actions)
    for line in left:
        print(f"  left alone: {line}")
    if reread:
        # Written with the ledger ignored: the ledger says NetSuite has these, and NetSuite says otherwise.
        env = {"TAP_SALESFORCE_CUSTOM_RECORD_IDS": json.dumps(reread), "TARGET_NETSUITE_LEDGER": "ignore",
               "TAP_SALESFORCE_CUSTOM__SELECT": json.dumps([f"{obj}.*" for obj in sorted(reread)])}
        print(f"Repair: re-reading {sum(map(len, reread.values()))} Salesforce records "
              f"({', '.join(f'{o} {len(i)}' for o, i in sorted(reread.items()))})")
        if _run([meltano, "run", "--state-id-suffix=repair", "--full-refresh", *SYNC_PIPELINE], root, env) != 0:
            print("pipeline-ops: the repair run failed (see above); rerunning it is safe", file=sys.stderr)
            return 1
    if orphan_messages:
        count = sum(1 for m in orphan_messages if m["type"] == "RECORD")
        print(f"Repair: applying the mapping's delete action to {count} orphans")
        stdin = "".join(json.dumps(m) + "\n" for m in orphan_messages)
        if _run([meltano, "invoke", "target-netsuite"], root, stdin=stdin) != 0:
            print("pipeline-ops: the orphan repair failed (see above); rerunning it is safe", file=sys.stderr)
            return 1
    return 3 if left else 0


def add_parser(sub: t.Any, root: Path) -> None:
    """The `reconcile` sub-command of `pipeline-ops`."""
    parser = sub.add_parser("reconcile", help="compare Salesforce with NetSuite; --repair fixes what differs")
    parser.add_argument("--repair", action="store_true",
                        help="re-read missing/stale records through mapper and target; orphans get the delete action")
    parser.add_argument("--reports-dir", type=Path, default=root / "reports")
    parser.add_argument("--direction", choices=DIRECTIONS, default=DIRECTIONS[0],
                        help="which direction to check: the sync (default), the write-back, or both")


#: `--direction`: the sync's (Salesforce → NetSuite), the write-back's (NetSuite → Salesforce), or both.
DIRECTIONS = ("salesforce-to-netsuite", "netsuite-to-salesforce", "both")


def main(args: argparse.Namespace, root: Path) -> int:
    codes = []
    if args.direction != "netsuite-to-salesforce":
        codes.append(reconcile(root, args.reports_dir, repair=args.repair))
    if args.direction != "salesforce-to-netsuite":
        codes.append(write_back_check.check(_meltano(root), root, args.reports_dir, repair=args.repair))
    return 1 if 1 in codes else max(codes)
