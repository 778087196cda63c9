"""Unit tests of the tap's pieces with HTTP stubbed (`responses`): auth, retries, quota guard, types, CSV.

These pin the wire facts of the real APIs (shared/wire-samples) independent of the sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
import requests
import responses
from connector_kit.salesforce import parse_limit_info
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from responses import matchers
from tap_salesforce_custom.bulk import BulkQueryJob
from tap_salesforce_custom.client import SalesforceClient as _SalesforceClient
from tap_salesforce_custom.discovery import compound_components, field_schema, replication_key
from tap_salesforce_custom.errors import QuotaGuardStop, SalesforceAPIError, SalesforceAuthError
from tap_salesforce_custom.settings import TapSettings
from tap_salesforce_custom.streams import soql_datetime, to_rfc3339
from tap_salesforce_custom.tap import TapSalesforceCustom

LOGIN = "https://login.example.test"
INSTANCE = "https://org.my.example.test"
TOKEN_URL = f"{LOGIN}/services/oauth2/token"
DATA = f"{INSTANCE}/services/data/v61.0"
CONFIG = {"login_url": LOGIN, "client_id": "cid", "client_secret": "very-secret", "refresh_token": "rt-1",
          "max_retries": 3, "backoff_factor": 0.001}


def settings(config: dict) -> TapSettings:
    """The typed settings of a raw config, as the tap builds them: the schema's defaults filled in."""
    schema = TapSalesforceCustom.config_jsonschema
    defaults = {name: spec["default"] for name, spec in schema["properties"].items() if "default" in spec}
    return TapSettings.from_config({**defaults, **config}, schema)


def SalesforceClient(config: dict) -> _SalesforceClient:  # noqa: N802 - reads as the class it builds
    return _SalesforceClient(settings(config))


def _token(rsps: responses.RequestsMock, **extra: str) -> None:
    body = {"access_token": "at-1", "instance_url": INSTANCE, "id": f"{LOGIN}/id/00D/005", "token_type": "Bearer",
            "issued_at": "1278448832702", "signature": "sig", **extra}
    rsps.add(responses.POST, TOKEN_URL, json=body)


def _ok(rsps: responses.RequestsMock, url: str, body: object, usage: str = "api-usage=10/15000") -> None:
    rsps.add(responses.GET, url, json=body, headers={"Sforce-Limit-Info": usage})


@responses.activate
def test_refresh_token_keeps_instance_url_and_sends_bearer() -> None:
    _token(responses.mock)
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": []})
    client = SalesforceClient(CONFIG)
    assert client.describe_global() == []
    assert client.auth.instance_url == INSTANCE
    form = responses.calls[0].request.body
    assert "grant_type=refresh_token" in form and "refresh_token=rt-1" in form
    assert responses.calls[1].request.headers["Authorization"] == "Bearer at-1"


@responses.activate
def test_token_error_is_one_line_without_secrets() -> None:
    responses.add(responses.POST, TOKEN_URL, status=400,
                  json={"error": "invalid_grant", "error_description": "authentication failure"})
    with pytest.raises(SalesforceAuthError) as err:
        SalesforceClient(CONFIG).describe_global()
    text = str(err.value)
    assert "invalid_grant: authentication failure" in text
    assert "\n" not in text and "very-secret" not in text and "rt-1" not in text


@responses.activate
def test_expired_session_relogins_and_retries() -> None:
    _token(responses.mock)
    responses.add(responses.GET, f"{DATA}/sobjects/", status=401, headers={"WWW-Authenticate": "Token"},
                  json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    _token(responses.mock, access_token="at-2")
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": [{"name": "Account"}]})
    client = SalesforceClient(CONFIG)
    assert client.describe_global() == [{"name": "Account"}]
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer at-2"


@responses.activate
def test_transient_errors_are_retried_then_give_up() -> None:
    _token(responses.mock)
    responses.add(responses.GET, f"{DATA}/sobjects/", status=503,
                  json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}])
    responses.add(responses.GET, f"{DATA}/sobjects/", body=requests.exceptions.ChunkedEncodingError("reset mid-body"))
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": []})
    assert SalesforceClient(CONFIG).describe_global() == []
    responses.add(responses.GET, f"{DATA}/sobjects/Account/describe", status=500, json=[{"errorCode": "X"}])
    with pytest.raises(SalesforceAPIError, match="failed after 4 attempts"):
        SalesforceClient(CONFIG).describe("Account")


@pytest.mark.parametrize(("factor", "bounds"), [(0, [0.0] * 5), (0.25, [0.25, 0.5, 1.0, 2.0, 4.0])])
@responses.activate
def test_client_honours_the_typed_settings_backoff_factor_zero_included(factor: float, bounds: list[float]) -> None:
    """The client reads the typed `TapSettings`: a valid `backoff_factor: 0` retries at once (it was read as 0.5,
    the restated default, issue 26), and every other retry setting is the configured one."""
    _token(responses.mock)
    for _ in range(5):
        responses.add(responses.GET, f"{INSTANCE}/services/data/v62.0/sobjects/", status=503,
                      json=[{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}])
    _ok(responses.mock, f"{INSTANCE}/services/data/v62.0/sobjects/", {"sobjects": []})
    client = SalesforceClient({**CONFIG, "backoff_factor": factor, "max_retries": 5, "request_timeout": 7,
                               "max_api_usage_percent": 50, "api_version": "62.0"})
    assert (client.transport.policy.backoff_factor, client.transport.policy.max_retries) == (factor, 5)
    assert (client.transport.timeout, client.quota.max_usage_percent, client.api_version) == (7, 50, "62.0")
    highest: list[float] = []
    client.transport._uniform = lambda low, high: highest.append(high) or low
    assert client.describe_global() == []
    assert highest == bounds


@responses.activate
def test_bad_query_fails_fast_with_one_line() -> None:
    _token(responses.mock)
    responses.add(responses.GET, f"{DATA}/query", status=400, json=[{
        "message": "\nSELECT Foo FROM Account\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo'",
        "errorCode": "INVALID_FIELD"}])
    with pytest.raises(SalesforceAPIError) as err:
        list(SalesforceClient(CONFIG).query_pages("SELECT Foo FROM Account", include_deleted=False, batch_size=2000))
    assert "HTTP 400 INVALID_FIELD: SELECT Foo FROM Account" in str(err.value)
    assert len(responses.calls) == 2  # no retry


def test_limit_info_forms() -> None:
    assert parse_limit_info("api-usage=18/15000") == [("api-usage", 18, 15000)]
    assert parse_limit_info("api-usage=18/15000; per-app-api-usage=17/250(appName=sample)") == [
        ("api-usage", 18, 15000), ("per-app-api-usage", 17, 250)]
    assert parse_limit_info("api-usage=5/100; api-bursts=1/10") == [("api-usage", 5, 100)]
    assert parse_limit_info(None) == []


@responses.activate
def test_quota_guard_stops_before_passing_the_share() -> None:
    _token(responses.mock)
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": []}, usage="api-usage=79/100")
    client = SalesforceClient({**CONFIG, "max_api_usage_percent": 80})
    client.describe_global()  # 79 used: one more call reaches 80%, allowed
    client.quota.usage["api-usage"] = (80, 100)
    with pytest.raises(QuotaGuardStop, match=r"api-usage is 80/100"):
        client.describe_global()
    client.quota.usage = {"per-app-api-usage": (200, 250)}
    with pytest.raises(QuotaGuardStop, match="per-app-api-usage"):
        client.describe_global()


@responses.activate
def test_request_limit_exceeded_stops_cleanly() -> None:
    _token(responses.mock)
    responses.add(responses.GET, f"{DATA}/sobjects/", status=403,
                  json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    with pytest.raises(QuotaGuardStop, match="REQUEST_LIMIT_EXCEEDED"):
        SalesforceClient(CONFIG).describe_global()


@responses.activate
def test_refresh_token_rotation_is_persisted(tmp_path: Path) -> None:
    store = tmp_path / "token.json"
    _token(responses.mock, refresh_token="rt-2")
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": []})
    SalesforceClient({**CONFIG, "token_store_path": str(store)}).describe_global()
    assert json.loads(store.read_text()) == {"refresh_token": "rt-2"}
    assert store.stat().st_mode & 0o077 == 0
    _token(responses.mock)
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": []})
    SalesforceClient({**CONFIG, "token_store_path": str(store)}).describe_global()
    assert "refresh_token=rt-2" in responses.calls[-2].request.body


@responses.activate
def test_jwt_bearer_assertion_has_sub_and_short_exp() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    _token(responses.mock)
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": []})
    config = {"auth_flow": "jwt", "login_url": LOGIN, "client_id": "cid", "username": "u@example.com",
              "private_key": pem}
    SalesforceClient(config).describe_global()
    form = dict(x.split("=", 1) for x in responses.calls[0].request.body.split("&"))
    assert form["grant_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    claims = jwt.decode(form["assertion"], key.public_key(), algorithms=["RS256"], audience=LOGIN)
    assert (claims["iss"], claims["sub"]) == ("cid", "u@example.com")
    assert 0 < claims["exp"] - claims["iat"] <= 180


@responses.activate
def test_client_credentials_form() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"access_token": "a", "instance_url": INSTANCE},
                  match=[matchers.urlencoded_params_matcher(
                      {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "very-secret"})])
    _ok(responses.mock, f"{DATA}/sobjects/", {"sobjects": []})
    SalesforceClient({**CONFIG, "auth_flow": "client_credentials"}).describe_global()


def test_missing_auth_settings_fail_fast() -> None:
    with pytest.raises(SalesforceAuthError, match="needs setting"):
        SalesforceClient({"login_url": LOGIN, "client_id": "x"})
    with pytest.raises(SalesforceAuthError, match="jwt needs"):
        SalesforceClient({"auth_flow": "jwt", "client_id": "x"})


@pytest.mark.parametrize(
    ("sf_type", "expected"),
    [
        ("id", {"type": ["string"]}),
        ("picklist", {"type": ["string"]}),
        ("reference", {"type": ["string"]}),
        ("int", {"type": ["integer"]}),
        ("long", {"type": ["integer"]}),
        ("currency", {"type": ["number"]}),
        ("percent", {"type": ["number"]}),
        ("boolean", {"type": ["boolean"]}),
        ("datetime", {"type": ["string"], "format": "date-time"}),
        ("date", {"type": ["string"], "format": "date"}),
        ("time", {"type": ["string"], "format": "time"}),
    ],
)
def test_field_types(sf_type: str, expected: dict) -> None:
    assert field_schema({"type": sf_type, "nillable": False}) == expected
    nullable = field_schema({"type": sf_type, "nillable": True})
    assert nullable["type"] == [*expected["type"], "null"]


def test_special_field_types() -> None:
    assert field_schema({"type": "address"})["properties"]["postalCode"] == {"type": ["string", "null"]}
    assert set(field_schema({"type": "location"})["properties"]) == {"latitude", "longitude"}
    assert field_schema({"type": "base64"})["contentEncoding"] == "base64"
    assert "object" in field_schema({"type": "anyType"})["type"]
    assert "null" in field_schema({"type": "double", "nillable": False, "calculated": True})["type"]


def test_replication_key_choice() -> None:
    def f(name: str, *, filterable: bool = True) -> dict:
        return {"name": name, "type": "datetime", "filterable": filterable}

    assert replication_key([f("CreatedDate"), f("SystemModstamp"), f("LastModifiedDate")]) == "SystemModstamp"
    assert replication_key([f("SystemModstamp", filterable=False), f("LastModifiedDate")]) == "LastModifiedDate"
    assert replication_key([f("CreatedDate")]) == "CreatedDate"
    assert replication_key([{"name": "Id", "type": "id", "filterable": True}]) is None


def test_compound_components_by_naming_rules() -> None:
    address = field_schema({"type": "address"})
    fields = ["BillingStreet", "BillingCity", "BillingStateCode", "ShippingCity", "Site__Latitude__s"]
    assert compound_components("BillingAddress", address, fields) == {
        "BillingStreet": "street", "BillingCity": "city", "BillingStateCode": "stateCode"}
    assert compound_components("Site__c", field_schema({"type": "location"}), fields) == {
        "Site__Latitude__s": "latitude"}


def test_datetimes() -> None:
    assert to_rfc3339("2024-05-20T20:49:32.000+0000") == "2024-05-20T20:49:32.000000+00:00"
    assert to_rfc3339("2024-05-20T20:49:32.123Z") == "2024-05-20T20:49:32.123000+00:00"
    assert to_rfc3339("2024-05-20T22:49:32+02:00") == "2024-05-20T20:49:32.000000+00:00"
    assert to_rfc3339("") is None
    import datetime as dt

    assert soql_datetime(dt.datetime(2024, 5, 20, 20, 49, 32, 999000, tzinfo=dt.UTC)) == "2024-05-20T20:49:32Z"


@responses.activate
def test_bulk_job_csv_pages_quoted_newlines_and_nul() -> None:
    _token(responses.mock)
    responses.add(responses.POST, f"{DATA}/jobs/query", json={"id": "750X", "state": "UploadComplete"})
    responses.add(responses.GET, f"{DATA}/jobs/query/750X", json={"id": "750X", "state": "InProgress"})
    responses.add(responses.GET, f"{DATA}/jobs/query/750X", json={"id": "750X", "state": "JobComplete"})
    responses.add(responses.GET, f"{DATA}/jobs/query/750X/results", body='"Id","Name"\n"1","a\nb"\n',
                  headers={"Sforce-Locator": "MDowR2", "Sforce-NumberOfRecords": "1"},
                  match=[matchers.query_param_matcher({"maxRecords": "50000"})])
    responses.add(responses.GET, f"{DATA}/jobs/query/750X/results", body='"Id","Name"\n"2","x\x00y, \\"q\\""\n',
                  headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
                  match=[matchers.query_param_matcher({"maxRecords": "50000", "locator": "MDowR2"})])
    rows = list(BulkQueryJob(SalesforceClient(CONFIG), "SELECT Id, Name FROM Account", include_deleted=True).records())
    assert rows == [{"Id": "1", "Name": "a\nb"}, {"Id": "2", "Name": 'x\x00y, \\q\\""'}]
    assert json.loads(responses.calls[1].request.body)["operation"] == "queryAll"


@responses.activate
def test_bulk_job_aborted_when_reader_stops_early() -> None:
    _token(responses.mock)
    responses.add(responses.POST, f"{DATA}/jobs/query", json={"id": "750Y", "state": "UploadComplete"})
    responses.add(responses.GET, f"{DATA}/jobs/query/750Y", json={"id": "750Y", "state": "JobComplete"})
    responses.add(responses.GET, f"{DATA}/jobs/query/750Y/results", body='"Id"\n"1"\n"2"\n',
                  headers={"Sforce-Locator": "null"})
    responses.add(responses.PATCH, f"{DATA}/jobs/query/750Y", json={"id": "750Y", "state": "Aborted"},
                  match=[matchers.json_params_matcher({"state": "Aborted"})])
    rows = BulkQueryJob(SalesforceClient(CONFIG), "SELECT Id FROM Account", include_deleted=False).records()
    assert next(rows) == {"Id": "1"}
    rows.close()  # what a KeyboardInterrupt/SIGTERM unwinding through the generator does
    assert responses.calls[-1].request.method == "PATCH"


def test_about_marks_secrets() -> None:
    out = subprocess.run([sys.executable, "-m", "tap_salesforce_custom.tap", "--about", "--format=json"],
                         capture_output=True, text=True, check=True).stdout
    props = json.loads(out)["settings"]["properties"]
    for name in ("client_id", "client_secret", "refresh_token", "private_key"):
        assert props[name].get("secret") is True, name
    assert props["login_url"]["default"] == "https://login.salesforce.com"
    assert props["api_version"]["default"] == "61.0"


def test_bulk_csv_values_are_typed_from_the_schema() -> None:
    from tap_salesforce_custom.discovery import field_schema as fs
    from tap_salesforce_custom.streams import _csv_converter

    assert _csv_converter(fs({"type": "boolean"}))("true") is True
    assert _csv_converter(fs({"type": "int", "nillable": True}))("42") == 42
    assert _csv_converter(fs({"type": "currency", "nillable": True}))("") is None
    assert _csv_converter(fs({"type": "anyType"}))("true") == "true"  # anyType stays text, not a guessed bool
    assert _csv_converter(fs({"type": "datetime"}))("2024-05-20T20:49:32.000Z") == "2024-05-20T20:49:32.000000+00:00"


@responses.activate
def test_bulk_job_is_aborted_even_when_the_quota_guard_stops_the_run() -> None:
    _token(responses.mock)
    responses.add(responses.POST, f"{DATA}/jobs/query", json={"id": "750Q", "state": "UploadComplete"},
                  headers={"Sforce-Limit-Info": "api-usage=80/100"})
    responses.add(responses.PATCH, f"{DATA}/jobs/query/750Q", json={"id": "750Q", "state": "Aborted"})
    client = SalesforceClient({**CONFIG, "max_api_usage_percent": 80})
    with pytest.raises(QuotaGuardStop):
        list(BulkQueryJob(client, "SELECT Id FROM Account", include_deleted=False).records())
    assert [c.request.method for c in responses.calls] == ["POST", "POST", "PATCH"]


@responses.activate
def test_bulk_page_cut_off_mid_body_is_read_again_without_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    from tap_salesforce_custom import bulk

    _token(responses.mock)
    responses.add(responses.POST, f"{DATA}/jobs/query", json={"id": "750C", "state": "UploadComplete"})
    responses.add(responses.GET, f"{DATA}/jobs/query/750C", json={"id": "750C", "state": "JobComplete"})
    responses.add(responses.GET, f"{DATA}/jobs/query/750C/results", body='"Id"\n"1"\n"2"\n"3"\n',
                  headers={"Sforce-Locator": "null"})
    real_rows = bulk._csv_rows
    calls = []

    def flaky_rows(response: requests.Response):
        calls.append(1)
        for index, row in enumerate(real_rows(response)):
            if len(calls) == 1 and index == 2:
                raise requests.exceptions.ChunkedEncodingError("connection reset mid-body")
            yield row

    monkeypatch.setattr(bulk, "_csv_rows", flaky_rows)
    rows = list(BulkQueryJob(SalesforceClient(CONFIG), "SELECT Id FROM Account", include_deleted=False).records())
    assert [r["Id"] for r in rows] == ["1", "2", "3"] and len(calls) == 2


def test_page_size_and_quota_share_are_checked() -> None:
    from tap_salesforce_custom.errors import SalesforceFatalError
    from tap_salesforce_custom.tap import TapSalesforceCustom

    for bad in ({"page_size": 100}, {"max_api_usage_percent": 120}):
        with pytest.raises(SalesforceFatalError, match=next(iter(bad))):
            _ = TapSalesforceCustom(config={**CONFIG, **bad}, catalog={"streams": []}, parse_env_config=False).client


def test_parent_first_order_follows_references_and_breaks_cycles_in_given_order() -> None:
    from tap_salesforce_custom.discovery import parent_first

    def describe(*refs: str) -> dict:
        return {"fields": [{"name": "Id", "type": "id"},
                           *[{"name": f"{r}Id", "type": "reference", "referenceTo": [r]} for r in refs]]}

    describes = {"Child__c": describe("Opportunity", "Contact"), "Opportunity": describe("Account", "User"),
                 "Contact": describe("Account", "Contact"), "Account": describe("Account", "Primary__c"),
                 "Primary__c": describe("Account"), "Product2": describe()}
    lines = describe("Product2", "Opportunity")
    order = parent_first(describes, {"Opportunity": lines})
    assert order.index("Product2") < order.index("Opportunity")  # the embedded lines reference products
    assert order.index("Account") < order.index("Contact") < order.index("Child__c")
    assert order.index("Opportunity") < order.index("Child__c")
    assert order.index("Account") < order.index("Primary__c")  # a cycle: broken in the given order
    assert sorted(order) == sorted(describes)
