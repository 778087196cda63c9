"""Issue 28 item 3: the mapping `netsuite-to-salesforce` as Meltano runs it (`meltano invoke`, meltano.yml).

Only a NetSuite record whose externalId is a Salesforce Id of the right object (its key prefix, 15 or 18 letters and
digits) is written back; NetSuite's own records (no externalId, an import key, a look-alike, another object's Id)
are dropped. The sales order's status code becomes NetSuite's label; the link needs NETSUITE_APP_URL. The status
fields (sync status, last error, last sync time) are never written here: tap-netsuite-sync-status owns them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAMP = "2026-12-07T10:00:00+00:00"


def _lines(stream: str, records: list[dict]) -> list[dict]:
    properties = {name: {"type": ["string", "number", "null"]} for r in records for name in r}
    return [{"type": "SCHEMA", "stream": stream, "key_properties": ["id"], "schema": {"properties": properties}},
            *({"type": "RECORD", "stream": stream, "record": r} for r in records)]


def test_only_salesforce_ids_are_written_back(tmp_path: Path) -> None:
    customers = [
        {"id": "11", "externalId": "001000000000001AAA", "lastModifiedDate": STAMP},   # an Account, 18 characters
        {"id": "12", "externalId": "001000000000002", "lastModifiedDate": STAMP},      # an Account, 15 characters
        {"id": "13", "externalId": None, "lastModifiedDate": STAMP},                   # made in NetSuite
        {"id": "14", "externalId": "CUST-0001", "lastModifiedDate": STAMP},            # an import's key
        {"id": "15", "externalId": "0010000000000", "lastModifiedDate": STAMP},        # 13 characters
        {"id": "16", "externalId": "001-00000000000AA", "lastModifiedDate": STAMP},    # not alphanumeric
        {"id": "17", "externalId": "003000000000001AAA", "lastModifiedDate": STAMP},   # a Contact's Id
    ]
    orders = [{"id": "21", "externalId": "006000000000001AAA", "tranId": "SO21", "status": "G", "total": 1250.5,
               "lastModifiedDate": STAMP},
              {"id": "22", "externalId": None, "tranId": "SO22", "status": "B", "total": 10, "lastModifiedDate": STAMP}]
    messages = [*_lines("customer", customers), *_lines("salesOrder", orders),
                *_lines("invoice", [{"id": "31", "externalId": "006000000000001AAA", "lastModifiedDate": STAMP}]),
                {"type": "STATE", "value": {"bookmarks": {"customer": {"replication_key_value": STAMP}}}}]
    env = {**os.environ, "MELTANO_ENVIRONMENT": "dev", "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
           "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
           "NETSUITE_APP_URL": "https://1234567.app.netsuite.com"}
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "meltano"), "invoke", "netsuite-to-salesforce"],
                          input="".join(json.dumps(m) + "\n" for m in messages), text=True, cwd=ROOT, env=env,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    records = [(m["stream"], m["record"]) for m in out if m["type"] == "RECORD"]
    assert records == [
        ("Account", {"Id": "001000000000001AAA", "NetSuite_Id__c": "11",
                     "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id=11"}),
        ("Account", {"Id": "001000000000002", "NetSuite_Id__c": "12",
                     "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id=12"}),
        ("Opportunity", {"Id": "006000000000001AAA", "NetSuite_Id__c": "21",
                         "NetSuite_Link__c": "https://1234567.app.netsuite.com/app/accounting/transactions/"
                                             "salesord.nl?id=21",
                         "NetSuite_Order_Number__c": "SO21",
                         "NetSuite_Order_Status__c": "Billed", "NetSuite_Order_Total__c": 1250.5}),
    ]
    assert {m["stream"] for m in out if m["type"] == "SCHEMA"} == {"Account", "Opportunity"}
    status_fields = {"NetSuite_Sync_Status__c", "NetSuite_Last_Error__c", "NetSuite_Last_Sync__c"}
    assert not any(status_fields & set(m["schema"]["properties"]) for m in out if m["type"] == "SCHEMA")
    assert [m["value"] for m in out if m["type"] == "STATE"][-1]["bookmarks"]["customer"]
