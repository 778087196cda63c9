"""Unit tests of target-salesforce-custom: settings, the batch writer's rules (with a stub client), wire values, and
Salesforce's classify function as the target uses it. The real path is tested in test_sf_target_sandbox.py."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import typing as t
from dataclasses import dataclass, field

import pytest
import requests
from connector_kit.salesforce import QuotaGuardStop, SalesforceAPIError, SalesforceFatalError, classify_salesforce
from connector_kit.transport import Action, RetryPolicy
from target_salesforce_custom.settings import StreamTarget, TargetSettings
from target_salesforce_custom.sinks import wire_value
from target_salesforce_custom.target import TargetSalesforceCustom
from target_salesforce_custom.writes import BatchWriter, _csv_cell

BASE = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "login_url": "http://127.0.0.1:9"}


def _settings(**overrides: t.Any) -> TargetSettings:
    target = TargetSalesforceCustom(config={**BASE, "backoff_factor": 0, **overrides}, validate_config=True)
    return target.settings


def test_settings_defaults_and_streams() -> None:
    upsert = {"sobject": "NetSuite_Invoice__c", "external_id_field": "NetSuite_Id__c"}
    settings = _settings(streams={"invoices": upsert})
    assert (settings.bulk_threshold, settings.lock_retries, settings.all_or_none) == (2000, 5, False)
    assert settings.target_of("invoices") == StreamTarget("NetSuite_Invoice__c", "NetSuite_Id__c")
    assert settings.target_of("invoices").operation == "upsert"
    with pytest.raises(SalesforceFatalError, match="stream 'meltano_test_stream' is not in the streams setting"):
        settings.target_of("meltano_test_stream")
    assert _settings().target_of("Account") == StreamTarget("Account", None)


@pytest.mark.parametrize(("streams", "message"), [
    ({"a": {"sobject": "Account; DROP"}}, "streams.a.sobject"),
    ({"a": {"sobject": "Account", "external_id_field": "Net Suite"}}, "streams.a.external_id_field"),
])
def test_settings_refuse_bad_api_names(streams: dict, message: str) -> None:
    with pytest.raises(SalesforceFatalError, match=message):
        _settings(streams=streams)


def test_secrets_are_marked_secret() -> None:
    properties = TargetSalesforceCustom.config_jsonschema["properties"]
    assert all(properties[name].get("secret") for name in ("client_id", "client_secret", "refresh_token",
                                                            "private_key"))
    assert properties["bulk_threshold"]["minimum"] == 1


def test_wire_values_and_bulk_cells() -> None:
    stamp = dt.datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert wire_value(stamp) == "2026-12-01T08:00:00.123Z"
    assert wire_value(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"  # naive: UTC
    assert wire_value(dt.date(2026, 1, 2)) == "2026-01-02"
    assert wire_value(decimal.Decimal("12.50")) == 12.5 and wire_value(decimal.Decimal("3")) == 3
    assert wire_value({"a": [decimal.Decimal("1.5")]}) == {"a": [1.5]}
    record = {"x": None, "b": True, "n": 1.5, "o": {"k": 1}}
    assert [_csv_cell(record, n) for n in ("x", "b", "n", "o", "absent")] == ["#N/A", "true", "1.5", '{"k": 1}', ""]


@dataclass
class StubTransport:
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_retries=1, backoff_factor=0))
    stopping: threading.Event = field(default_factory=threading.Event)

    def pause(self, seconds: float) -> bool:
        return self.stopping.is_set()


@dataclass
class StubClient:
    """Answers Collections requests from a script: a record's key → the statusCodes of its successive tries."""

    refusals: dict[str, list[str]] = field(default_factory=dict)
    requests: list[list[str]] = field(default_factory=list)
    transport: StubTransport = field(default_factory=StubTransport)
    logger: t.Any = field(default_factory=lambda: __import__("logging").getLogger("stub"))
    bulk_results: tuple[str, str] = ("", "")
    bulk_uploads: list[str] = field(default_factory=list)

    def collection(self, sobject: str, external_id_field: str | None, records: list[dict[str, t.Any]],
                   *, all_or_none: bool) -> tuple[list[dict[str, t.Any]] | None, list[dict[str, t.Any]]]:
        key = external_id_field or "Id"
        self.requests.append([r[key] for r in records])
        results = []
        for record in records:
            codes = self.refusals.get(record[key], [])
            if codes:
                results.append({"success": False, "errors": [{"statusCode": codes.pop(0), "message": "no",
                                                              "fields": []}]})
            else:
                results.append({"id": f"id-{record[key]}", "success": True, "errors": [], "created": False})
        if all_or_none and not all(r["success"] for r in results):
            rolled_back = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "rolled back", "fields": []}
            results = [r if not r["success"] else {"success": False, "errors": [rolled_back]} for r in results]
        return results, []

    def create_ingest_job(self, sobject: str, operation: str, external_id_field: str | None) -> dict[str, t.Any]:
        return {"id": "750J"}

    def upload_job_data(self, job_id: str, content: bytes) -> None:
        self.bulk_uploads.append(content.decode())

    def set_job_state(self, job_id: str, state: str) -> dict[str, t.Any]:
        return {"state": state}

    def job_info(self, job_id: str) -> dict[str, t.Any]:
        return {"state": "JobComplete"}

    def job_results(self, job_id: str, kind: str) -> str:
        return self.bulk_results[0] if kind == "successfulResults" else self.bulk_results[1]


def _writer(client: StubClient, **settings: t.Any) -> BatchWriter:
    return BatchWriter(t.cast("t.Any", client), _settings(**settings))


def test_one_key_once_per_batch_latest_wins_and_missing_keys_refused() -> None:
    client = StubClient()
    outcomes = _writer(client).write(StreamTarget("Account", None), [
        {"Id": "001A", "Name": "old"}, {"Name": "no id"}, {"Id": "001A", "Name": "new"}, {"Id": "001B"}])
    assert client.requests == [["001A", "001B"]]
    assert [(o.superseded, o.ok, o.code) for o in outcomes] == [
        (True, True, ""), (False, False, "MISSING_KEY"), (False, True, ""), (False, True, "")]


def test_locked_records_retried_alone_then_refused() -> None:
    client = StubClient(refusals={"b": ["UNABLE_TO_LOCK_ROW"], "c": ["UNABLE_TO_LOCK_ROW"] * 9,
                                  "d": ["FIELD_CUSTOM_VALIDATION_EXCEPTION"]})
    records = [{"Ext__c": key} for key in "abcd"]
    outcomes = _writer(client, lock_retries=2).write(StreamTarget("Account", "Ext__c"), records)
    assert client.requests == [["a", "b", "c", "d"], ["b", "c"], ["c"]]
    assert [o.code for o in outcomes] == ["", "", "UNABLE_TO_LOCK_ROW", "FIELD_CUSTOM_VALIDATION_EXCEPTION"]


def test_all_or_none_request_rolled_back_by_a_lock_is_retried_whole() -> None:
    client = StubClient(refusals={"b": ["UNABLE_TO_LOCK_ROW"]})
    outcomes = _writer(client, all_or_none=True).write(StreamTarget("Account", "Ext__c"),
                                                      [{"Ext__c": "a"}, {"Ext__c": "b"}])
    assert client.requests == [["a", "b"], ["b", "a"]]
    assert [o.ok for o in outcomes] == [True, True]


def test_collections_go_200_a_request() -> None:
    client = StubClient()
    _writer(client).write(StreamTarget("Account", None), [{"Id": f"001{n:04d}"} for n in range(450)])
    assert [len(r) for r in client.requests] == [200, 200, 50]


def test_bulk_results_matched_by_key_and_unnamed_records_stop_the_run() -> None:
    client = StubClient(bulk_results=(
        '"sf__Id","sf__Created",Ext__c,Name\n"a1","true","k2","Two"\n"a0","false","k1","One"\n',
        '"sf__Id","sf__Error",Ext__c,Name\n"","DUPLICATE_VALUE:duplicate value found --","k3","Three"\n'))
    records = [{"Ext__c": "k1", "Name": "One"}, {"Ext__c": "k2", "Name": "Two"}, {"Ext__c": "k3", "Name": "Three"}]
    outcomes = _writer(client, bulk_threshold=2).write(StreamTarget("X__c", "Ext__c"), records)
    assert client.bulk_uploads == ["Ext__c,Name\nk1,One\nk2,Two\nk3,Three\n"]
    assert [(o.id, o.created, o.code, o.message) for o in outcomes] == [
        ("a0", False, "", ""), ("a1", True, "", ""), (None, False, "DUPLICATE_VALUE", "duplicate value found")]
    client.bulk_results = (client.bulk_results[0], '"sf__Id","sf__Error",Ext__c,Name\n')
    with pytest.raises(SalesforceAPIError, match="results do not name 1 of the 3 records"):
        _writer(client, bulk_threshold=2).write(StreamTarget("X__c", "Ext__c"), records)


def _response(status: int, body: t.Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


def test_classify_for_writes() -> None:
    def action(status: int, code: str, message: str = "m", **kwargs: t.Any) -> Action:
        return classify_salesforce(_response(status, [{"errorCode": code, "message": message}]), "PATCH", "u",
                                   **kwargs).action
    assert action(503, "SERVER_UNAVAILABLE") is Action.RETRY
    assert action(400, "UNABLE_TO_LOCK_ROW") is Action.RETRY
    assert action(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
                  ) is Action.THROTTLED
    assert action(400, "INVALID_FIELD", record_error_statuses=(400,)) is Action.RECORD_ERROR
    assert action(400, "INVALID_FIELD") is Action.FATAL
    verdict = classify_salesforce(_response(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED",
                                                   "message": "TotalRequests Limit exceeded."}]), "PATCH", "u")
    assert isinstance(verdict.error, QuotaGuardStop)
