"""`pipeline-ops reconcile --direction netsuite-to-salesforce`: how the Salesforce records differ from what the
write-back (job `sync-netsuite-to-salesforce`) should have left on them, and the fix through that job's own tasks.

1. Read both sides through the project's own taps, by real HTTP, with nothing written and no state read or saved
   (`meltano invoke`): NetSuite's `customer`, `contact` and `salesOrder` ids and external ids (tap-netsuite-custom),
   and each Account, Contact, Opportunity and Product2's `NetSuite_*` status fields (tap-salesforce-custom, deleted
   rows left out).
2. Compare:
   - **netsuite_id**: a NetSuite record whose external id is a Salesforce Id of the object the mapping writes
     (`001` customer → Account, `003` contact → Contact, `006` salesOrder → Opportunity) and whose Salesforce record
     has no `NetSuite_Id__c` (`missing`) or another one (`differs`); one whose Salesforce record no longer exists is
     listed as `no_record` (never written: the target updates by Id and creates nothing);
   - **status**: `NetSuite_Sync_Status__c`, `NetSuite_Last_Error__c` and, when the store knows it,
     `NetSuite_Last_Sync__c` against what the store says now (pipeline_ops/sync_status.py, the fields' one owner).
   Counted and listed (`reports/write-back-reconcile-<time>.json`, and `-latest.json`), printed as a summary.
3. `--repair` re-sends exactly the records found, through the job's normal path: their entries in
   target-salesforce-custom's per-field write ledger are dropped (only the fields found to differ), then the
   write-back pipeline runs with `--full-refresh` under its own state id (`--state-id-suffix=repair`; the ledger
   leaves out every record Salesforce holds, so only the dropped ones are sent) and the sync-status task runs. A
   `no_record` is left alone (listed). Rerunning a repair is harmless: both tasks update by Id.

Exit code: 0 when Salesforce agrees (or everything found was re-sent; `no_record` is listed, not counted), 3 when
differences remain, 1 when a read or a run failed. Secrets never leave the plugins: the command reads only Singer
records and the target's resolved `ledger_path`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import typing as t
from pathlib import Path

from pipeline_ops import sync_status

#: NetSuite stream → the Salesforce object the write-back mapping writes its NetSuite id onto.
WRITTEN_BACK = {"customer": "Account", "contact": "Contact", "salesOrder": "Opportunity"}
STATUS_FIELDS = ("NetSuite_Sync_Status__c", "NetSuite_Last_Error__c", "NetSuite_Last_Sync__c")
NETSUITE_TAP, SALESFORCE_TAP, TARGET = "tap-netsuite-custom", "tap-salesforce-custom", "target-salesforce-custom"
WRITE_BACK_PIPELINE = (NETSUITE_TAP, "netsuite-to-salesforce", TARGET)
STATUS_PIPELINE = ("tap-netsuite-sync-status", TARGET)


class CheckError(Exception):
    """A read failed; the message says which."""


def _invoke_records(meltano: str, root: Path, plugin: str, select: list[str]) -> dict[str, list[dict[str, t.Any]]]:
    """The RECORDs a tap prints under `meltano invoke` (no state: a full read), by stream."""
    variable = plugin.upper().replace("-", "_") + "__SELECT"
    print(f"+ invoke {plugin} ({len(select)} fields)", file=sys.stderr)
    result = subprocess.run([meltano, "invoke", plugin], cwd=root, env={**os.environ, variable: json.dumps(select)},
                            stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        msg = f"the read of {plugin} failed (exit {result.returncode}; see above)"
        raise CheckError(msg)
    found: dict[str, list[dict[str, t.Any]]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("{") and '"RECORD"' in line:
            message = json.loads(line)
            if message.get("type") == "RECORD":
                found.setdefault(message["stream"], []).append(message["record"])
    return found


def _instant(value: t.Any) -> dt.datetime | None:
    """A date-time as Salesforce (`...000+0000`) or the store (`...Z`) writes it, for comparing."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _same(field: str, expected: t.Any, held: t.Any) -> bool:
    if field == "NetSuite_Last_Sync__c":
        return _instant(expected) == _instant(held)
    return (expected or None) == (held or None)


def compare(netsuite: dict[str, list[dict[str, t.Any]]], salesforce: dict[str, list[dict[str, t.Any]]],
            expected: list[sync_status.Status]) -> dict[str, t.Any]:
    """The differences (module docstring), as the report's `netsuite_id`, `no_record` and `status` lists."""
    records: dict[tuple[str, str], dict[str, t.Any]] = {}
    for sobject, rows in salesforce.items():
        for row in rows:
            if row.get("Id") and not row.get("IsDeleted"):
                records[(sobject, row["Id"])] = records[(sobject, row["Id"][:15])] = row
    report: dict[str, t.Any] = {"netsuite_id": [], "no_record": [], "status": []}
    for stream, sobject in WRITTEN_BACK.items():
        for row in netsuite.get(stream, []):
            eid = row.get("externalId")
            if sync_status.salesforce_object(eid) != sobject:
                continue  # NetSuite's own record (or another object's Id): the mapping never writes it back
            held = records.get((sobject, str(eid))) or records.get((sobject, str(eid)[:15]))
            if held is None:
                report["no_record"].append({"sobject": sobject, "Id": eid, "netsuite_id": str(row["id"])})
            elif str(held.get("NetSuite_Id__c") or "") != str(row["id"]):
                report["netsuite_id"].append({"sobject": sobject, "Id": held["Id"], "netsuite_id": str(row["id"]),
                                              "salesforce": held.get("NetSuite_Id__c"),
                                              "kind": "differs" if held.get("NetSuite_Id__c") else "missing"})
    for status in expected:
        held = records.get((status.sobject, status.record_id)) or records.get((status.sobject, status.record_id[:15]))
        if held is None:
            continue  # deleted in Salesforce, or never there: nothing to show a status on
        want = status.record()
        for name in STATUS_FIELDS:
            if name in want and not _same(name, want[name], held.get(name)):
                report["status"].append({"sobject": status.sobject, "Id": held["Id"], "field": name,
                                         "expected": want[name], "salesforce": held.get(name)})
    return report


def render(report: dict[str, t.Any]) -> str:
    lines = ["NetSuite → Salesforce (the write-back):",
             f"  NetSuite_Id__c missing or different: {len(report['netsuite_id'])}; NetSuite records whose Salesforce "
             f"record is gone: {len(report['no_record'])}; status fields that disagree with the store: "
             f"{len(report['status'])}"]
    for item in report["netsuite_id"][:20]:
        lines.append(f"  netsuite_id {item['sobject']} {item['Id']}: NetSuite {item['netsuite_id']}, Salesforce "
                     f"{item['salesforce']!r} ({item['kind']})")
    for item in report["no_record"][:20]:
        lines.append(f"  no_record   {item['sobject']} {item['Id']} (NetSuite {item['netsuite_id']}): left alone")
    for item in report["status"][:20]:
        shown = {k: (str(v)[:80] if v is not None else None) for k, v in item.items()}
        lines.append(f"  status      {item['sobject']} {item['Id']}.{item['field']}: store {shown['expected']!r}, "
                     f"Salesforce {shown['salesforce']!r}")
    return "\n".join(lines)


def forget_entries(ledger_file: Path, report: dict[str, t.Any]) -> int:
    """Drop target-salesforce-custom's ledger entries of the fields found to differ (every org): the next write of
    those records sends them. Returns the entries dropped."""
    if not ledger_file.is_file():
        return 0
    keys = [(item["sobject"], item["Id"], "NetSuite_Id__c") for item in report["netsuite_id"]]
    keys += [(item["sobject"], item["Id"], item["field"]) for item in report["status"]]
    with sqlite3.connect(ledger_file, timeout=60) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'accepted_fields'").fetchone():
            return 0
        dropped = 0
        for sobject, record_id, field in keys:
            dropped += db.execute("DELETE FROM accepted_fields WHERE sobject = ? AND key_field = 'Id' AND field = ? "
                                  "AND (key = ? OR substr(key, 1, 15) = ?)",
                                  (sobject, field, record_id, record_id[:15])).rowcount
    return dropped


def _ledger_file(meltano: str, root: Path) -> Path:
    """target-salesforce-custom's ledger file, as its resolved settings name it (relative to the project)."""
    result = subprocess.run([meltano, "invoke", "--dump=config", TARGET], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, check=False)
    config = json.loads(result.stdout) if result.returncode == 0 and result.stdout.strip().startswith("{") else {}
    named = config.get("ledger_path") or Path(str(config.get("dead_letter_path") or "dead_letters/salesforce")) / (
        "ledger.sqlite3")
    return root / str(named)


def check(meltano: str, root: Path, reports: Path, *, repair: bool) -> int:
    select = [f"{stream}.{name}" for stream in WRITTEN_BACK for name in ("id", "externalId", "lastModifiedDate")]
    fields = ["Id", "IsDeleted", "NetSuite_Id__c", *STATUS_FIELDS]
    try:
        expected = sync_status.read(sync_status.location(os.environ.get("TARGET_NETSUITE_STORE_URI") or None))
        netsuite = _invoke_records(meltano, root, NETSUITE_TAP, select)
        salesforce = _invoke_records(meltano, root, SALESFORCE_TAP,
                                     [f"{sobject}.{name}" for sobject in sync_status.OBJECTS.values()
                                      for name in fields])
    except (CheckError, sync_status.SyncStatusError) as exc:
        print(f"pipeline-ops: {exc}", file=sys.stderr)
        return 1
    report = compare(netsuite, salesforce, expected)
    stamp = dt.datetime.now(tz=dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    reports.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"time": stamp, **report}, indent=2, ensure_ascii=False) + "\n"
    for name in (f"write-back-reconcile-{stamp}.json", "write-back-reconcile-latest.json"):
        (reports / name).write_text(text, encoding="utf-8")
    print(render(report))
    found = len(report["netsuite_id"]) + len(report["status"])
    if not found:
        print("Salesforce agrees with NetSuite and the store.")
        return 0
    if not repair:
        print(f"{found} differences; `pipeline-ops reconcile --direction netsuite-to-salesforce --repair` re-sends "
              "them through the write-back job's tasks.")
        return 3
    dropped = forget_entries(_ledger_file(meltano, root), report)
    print(f"Repair: {dropped} write ledger entries dropped; re-sending through the write-back job's tasks")
    runs = []
    if report["netsuite_id"]:
        runs.append(["run", "--full-refresh", "--state-id-suffix=repair", *WRITE_BACK_PIPELINE])
    if report["status"]:
        runs.append(["run", *STATUS_PIPELINE])
    for args in runs:
        print("+ " + " ".join(args), file=sys.stderr)
        if subprocess.run([meltano, *args], cwd=root, check=False).returncode != 0:
            print("pipeline-ops: the repair run failed (see above); rerunning it is safe", file=sys.stderr)
            return 1
    return 0
