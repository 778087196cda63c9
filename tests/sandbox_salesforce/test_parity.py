"""Where third-party clients noticed the stand-in was not Salesforce (issue 18), each checked over real HTTP:
header spellings, blank fields, /limits, composite resources, parent-child subqueries, null ordering, the
recycle bin on GET, and the request log the pipeline tests count calls with."""

from __future__ import annotations

import csv
import io
import time

import pytest
from sf_helpers import API, SF


@pytest.fixture(scope="module", autouse=True)
def _org(sf: SF) -> None:
    sf.reset()


def test_header_names_are_spelled_like_salesforce(sf: SF) -> None:
    response = sf.query("SELECT Id FROM Account LIMIT 1")
    names = set(response.headers)  # requests keeps each name as the server spelled it
    assert {"Date", "Content-Type", "Sforce-Limit-Info", "Server", "Cache-Control"} <= names
    assert not {n for n in names if n == n.lower()}, names
    job = sf.request("POST", f"{API}/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Account"})
    job_id = job.json()["id"]
    while sf.get(f"{API}/jobs/query/{job_id}").json()["state"] != "JobComplete":
        time.sleep(0.05)
    results = sf.get(f"{API}/jobs/query/{job_id}/results", params={"maxRecords": 10})
    assert {"Sforce-Locator", "Sforce-NumberOfRecords", "Content-Type"} <= set(results.headers)


def test_blank_text_is_null_and_an_empty_address_is_null(sf: SF) -> None:
    created = sf.admin("POST", "records/Account", {"Name": "Blank Fields Ltd", "Fax": "", "BillingState": "",
                                                   "BillingCountry": "", "BillingCity": "Springfield"},
                       expect=201)["id"]
    record = sf.query_ok(f"SELECT Fax, BillingState, BillingAddress, ShippingAddress FROM Account "
                         f"WHERE Id = '{created}'")["records"][0]
    assert record["Fax"] is None and record["BillingState"] is None
    assert record["BillingAddress"]["city"] == "Springfield"
    assert record["BillingAddress"]["country"] is None and record["BillingAddress"]["state"] is None
    assert record["ShippingAddress"] is None  # every component empty: the compound is null, as Salesforce writes it
    rows = sf.all_records("SELECT Fax, Phone, BillingState, Description, AccountNumber FROM Account")
    assert not [r for r in rows if "" in r.values()], "Salesforce JSON carries null for blank fields, never \"\""
    assert sf.query_ok(f"SELECT Id FROM Account WHERE Fax = null AND Id = '{created}'")["totalSize"] == 1


def test_limits_have_the_real_key_set(sf: SF) -> None:
    body = sf.get(f"{API}/limits").json()
    assert len(body) == 71
    for name in ("DailyApiRequests", "DailyBulkApiBatches", "DailyBulkV2QueryFileStorageMB", "DailyBulkV2QueryJobs",
                 "DataStorageMB", "HourlyODataCallout", "SingleEmail"):
        assert set(body[name]) >= {"Max", "Remaining"} and body[name]["Remaining"] <= body[name]["Max"]
    assert body["PermissionSets"]["CreateCustom"]["Max"] == 1000
    used = int(sf.query("SELECT Id FROM Account LIMIT 1").headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
    assert body["DailyApiRequests"]["Max"] - body["DailyApiRequests"]["Remaining"] in (used - 1, used)


def test_composite_batch_runs_each_subrequest(sf: SF) -> None:
    account = sf.query_ok("SELECT Id FROM Account ORDER BY Id LIMIT 1")["records"][0]["Id"]
    body = {"batchRequests": [
        {"method": "GET", "url": "v61.0/sobjects/Account/describe"},
        {"method": "GET", "url": f"v61.0/sobjects/Account/{account}?fields=Name"},
        {"method": "GET", "url": "v61.0/sobjects/NoSuchThing/describe"},
        {"method": "GET", "url": "v61.0/query?q=SELECT+Id+FROM+Contact+LIMIT+2"},
    ], "haltOnError": True}
    usage_before = sf.admin("GET", "stats")["api_usage"]
    answer = sf.request("POST", f"{API}/composite/batch", json=body)
    assert answer.status_code == 200 and sf.admin("GET", "stats")["api_usage"] == usage_before + 1
    result = answer.json()
    assert result["hasErrors"] is True
    assert [r["statusCode"] for r in result["results"]] == [200, 200, 404, 412]
    assert result["results"][0]["result"]["name"] == "Account"
    assert list(result["results"][1]["result"]) == ["attributes", "Name", "Id"]
    assert result["results"][1]["result"]["Id"] == account
    assert result["results"][3]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"
    assert sf.request("POST", f"{API}/composite/batch", json={"batchRequests": []}).status_code == 400


def test_composite_with_references(sf: SF) -> None:
    body = {"allOrNone": False, "compositeRequest": [
        {"method": "GET", "url": f"{API}/query?q=SELECT+Id,Name+FROM+Account+ORDER+BY+Id+LIMIT+1",
         "referenceId": "first"},
        {"method": "GET", "url": f"{API}/sobjects/Account/@{{first.records[0].Id}}?fields=Name",
         "referenceId": "again"},
        {"method": "GET", "url": f"{API}/sobjects/Account/describe", "referenceId": "describe"},
    ]}
    answer = sf.request("POST", f"{API}/composite", json=body)
    assert answer.status_code == 200
    results = {r["referenceId"]: r for r in answer.json()["compositeResponse"]}
    assert [r["httpStatusCode"] for r in results.values()] == [200, 200, 200]
    assert set(results["first"]) == {"body", "httpHeaders", "httpStatusCode", "referenceId"}
    assert results["again"]["body"]["Name"] == results["first"]["body"]["records"][0]["Name"]
    assert results["describe"]["body"]["fields"]


def test_parent_child_subquery_has_the_real_shape(sf: SF) -> None:
    soql = ("SELECT Id, (SELECT Id, Quantity, OpportunityId FROM OpportunityLineItems ORDER BY Quantity DESC), Name "
            "FROM Opportunity ORDER BY Id")
    records = sf.all_records(soql)
    lines = sf.all_records("SELECT Id, OpportunityId, Quantity FROM OpportunityLineItem")
    by_opportunity: dict[str, set[str]] = {}
    for line in lines:
        by_opportunity.setdefault(line["OpportunityId"], set()).add(line["Id"])
    assert list(records[0]) == ["attributes", "Id", "OpportunityLineItems", "Name"]  # the select order
    with_lines = [r for r in records if r["OpportunityLineItems"] is not None]
    assert with_lines and any(r["OpportunityLineItems"] is None for r in records)  # no children: null
    for record in records:
        children = record["OpportunityLineItems"]
        if children is None:
            assert record["Id"] not in by_opportunity
            continue
        assert list(children) == ["totalSize", "done", "records"] and children["done"] is True
        assert children["totalSize"] == len(children["records"])
        assert {c["Id"] for c in children["records"]} == by_opportunity[record["Id"]]
        assert children["records"][0]["attributes"]["type"] == "OpportunityLineItem"
        quantities = [c["Quantity"] for c in children["records"]]
        assert quantities == sorted(quantities, reverse=True)
    limited = sf.query_ok("SELECT Id, (SELECT Id FROM OpportunityLineItems LIMIT 1) FROM Opportunity")["records"]
    assert all(r["OpportunityLineItems"] is None or r["OpportunityLineItems"]["totalSize"] == 1 for r in limited)
    bad = sf.query("SELECT Id, (SELECT Id FROM LineItemz) FROM Opportunity")
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_TYPE"
    bulk = sf.request("POST", f"{API}/jobs/query", json={"operation": "query", "query": soql})
    assert bulk.status_code == 400


def test_order_by_desc_puts_nulls_first(sf: SF) -> None:
    rows = sf.all_records("SELECT Id, Fax FROM Account ORDER BY Fax DESC, Id")
    faxes = [r["Fax"] for r in rows]
    assert faxes[0] is None and None in faxes and faxes.index(None) == 0
    first_value = next(i for i, f in enumerate(faxes) if f is not None)
    assert all(f is None for f in faxes[:first_value]) and all(f is not None for f in faxes[first_value:])
    explicit = [r["Fax"] for r in sf.all_records("SELECT Id, Fax FROM Account ORDER BY Fax DESC NULLS LAST, Id")]
    assert explicit[-1] is None and explicit[0] is not None
    ascending = [r["Fax"] for r in sf.all_records("SELECT Id, Fax FROM Account ORDER BY Fax ASC, Id")]
    assert ascending[0] is None


def test_get_of_a_record_in_the_recycle_bin(sf: SF) -> None:
    victim = sf.query_ok("SELECT Id FROM Contact ORDER BY Id LIMIT 1")["records"][0]["Id"]
    sf.admin("DELETE", f"records/Contact/{victim}")
    answer = sf.get(f"{API}/sobjects/Contact/{victim}")
    assert answer.status_code == 404 and answer.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    missing = sf.get(f"{API}/sobjects/Contact/0035g0000099999AAA")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_request_log_lists_api_calls_with_their_soql(sf: SF) -> None:
    sf.reset()
    sf.query("SELECT Id FROM Account LIMIT 1")
    sf.get(f"{API}/sobjects/Account/describe")
    log = sf.admin("GET", "requests")["requests"]
    assert [(e["method"], e["path"].rsplit("/", 1)[-1], e["status"]) for e in log] == [
        ("POST", "token", 200), ("GET", "query", 200), ("GET", "describe", 200)]
    assert log[1]["q"] == "SELECT Id FROM Account LIMIT 1" and log[2]["q"] is None


def test_bulk_v1_query_job_and_its_errors(sf: SF) -> None:
    base = f"{sf.base}/services/async/61.0/job"
    session = {"X-SFDC-Session": sf.token(), "Content-Type": "application/json"}
    refused = sf.session.post(base, headers={**session, "X-SFDC-Session": "nope"}, json={"operation": "query"})
    assert refused.status_code == 400 and refused.json()["exceptionCode"] == "InvalidSessionId"
    assert sf.session.get(f"{base}/750nope", headers=session).json()["exceptionCode"] == "InvalidJob"
    job = sf.session.post(base, headers=session, json={"operation": "queryAll", "object": "Account",
                                                        "contentType": "CSV"}).json()
    assert job["state"] == "Open" and job["id"].startswith("750")
    batch = sf.session.post(f"{base}/{job['id']}/batch", headers={**session, "Content-Type": "text/csv"},
                            data="SELECT Id, Name FROM Account")
    assert batch.status_code == 201 and "<state>Queued</state>" in batch.text
    batch_id = batch.text.split("<id>")[1].split("</id>")[0]
    assert sf.session.post(f"{base}/{job['id']}", headers=session, json={"state": "Closed"}).json()["state"] == (
        "Closed")
    states = [sf.session.get(f"{base}/{job['id']}/batch/{batch_id}", headers=session).text.split("<state>")[1]
              .split("<")[0] for _ in range(2)]
    assert states == ["InProgress", "Completed"]
    results = sf.session.get(f"{base}/{job['id']}/batch/{batch_id}/result", headers=session).text
    result_id = results.split("<result>")[1].split("</result>")[0]
    rows = sf.session.get(f"{base}/{job['id']}/batch/{batch_id}/result/{result_id}", headers=session).text
    assert rows.splitlines()[0] == '"Id","Name"'
    parsed = list(csv.DictReader(io.StringIO(rows)))  # values may hold newlines
    assert {r["Id"] for r in parsed} == {r["Id"] for r in sf.all_records("SELECT Id FROM Account", all_rows=True)}
    bad = sf.session.post(f"{base}/{job['id']}/batch", headers={**session, "Content-Type": "text/csv"},
                          data="SELECT Nope FROM Account")
    assert bad.status_code == 400 and "InvalidJobState" in bad.text  # the job is closed
