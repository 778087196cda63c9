"""SOQL: the grammar, what it accepts, what it rejects (with Salesforce's codes), and what queries return."""

from __future__ import annotations

import itertools

import pytest
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.soql import BoolChain, Compare, InList, Like, Not, parse
from sf_helpers import SF


def test_parser_builds_the_tree_connectors_send() -> None:
    query = parse("select Id, Account.Owner.Name FROM Contact where (Name like 'A%' or Email = null) "
                  "AND NOT Id IN ('0035g0000000001AAA') ORDER BY LastName DESC NULLS LAST, Id LIMIT 5 OFFSET 2")
    assert [p.parts for p in query.fields] == [("Id",), ("Account", "Owner", "Name")]
    assert query.object_name == "Contact" and query.limit == 5 and query.offset == 2
    assert isinstance(query.where, BoolChain) and query.where.op == "AND"
    inner, negated = query.where.items
    assert isinstance(inner, BoolChain) and inner.op == "OR"
    assert isinstance(inner.items[0], Like) and isinstance(inner.items[1], Compare)
    assert isinstance(negated, Not) and isinstance(negated.inner, InList)
    assert [(o.path.parts, o.descending, o.nulls_first) for o in query.order] == [
        (("LastName",), True, False), (("Id",), False, None)]


@pytest.mark.parametrize("literal", ["2024-05-20T20:49:32Z", "2024-05-20T20:49:32.000Z", "2024-05-20T20:49:32.000+0000",
                                     "2024-05-20T20:49:32+00:00", "2024-05-20T22:49:32.000+02:00",
                                     "2024-05-20T15:49:32-0500"])
def test_every_datetime_literal_form_parses(literal: str) -> None:
    where = parse(f"SELECT Id FROM Account WHERE SystemModstamp >= {literal}").where
    assert isinstance(where, Compare) and where.value.kind == "datetime"


@pytest.mark.parametrize("soql, fragment", [
    ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "unexpected token: 'OR'"),
    ("SELECT Id FROM Account WHERE", "unexpected token: '<EOF>'"),
    ("SELECT FROM Account", "unexpected token: 'Account'"),
    ("SELECT Id Account", "unexpected token: 'Account'"),
    ("SELECT Id FROM Account LIMIT 5 ORDER BY Id", "unexpected token: 'ORDER'"),
    ("SELECT Id FROM Account WHERE Name IS NULL", "unexpected token: 'IS'"),
    ("SELECT Id FROM Account WHERE Name = \"x\"", "unexpected token: '\"x\"'"),
    ("SELECT Id, COUNT() FROM Account", "COUNT() may only be used by itself"),
])
def test_malformed_queries_are_rejected_with_malformed_query(soql: str, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse(soql)
    assert caught.value.code == "MALFORMED_QUERY" and caught.value.status == 400
    assert fragment in caught.value.message and "ERROR at Row:1:Column:" in caught.value.message


@pytest.mark.parametrize("soql, code, fragment", [
    ("SELECT Id, Nmae FROM Account", "INVALID_FIELD", "No such column 'Nmae' on entity 'Account'"),
    ("SELECT Id FROM Acount", "INVALID_TYPE", "sObject type 'Acount' is not supported"),
    ("SELECT Id, Acount.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Acount'"),
    ("SELECT Id, Account.Nmae FROM Contact", "INVALID_FIELD", "No such column 'Nmae' on entity 'Account'"),
    ("SELECT Id FROM Account WHERE Description = 'x'", "INVALID_FIELD",
     "field 'Description' can not be filtered in query call"),
    ("SELECT Id FROM Account ORDER BY Description", "INVALID_FIELD", "can not be sorted"),
    ("SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01T00:00:00Z'", "INVALID_FIELD",
     "must be of type dateTime and should not be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE SystemModstamp > 2024-01-01", "INVALID_FIELD", "must be of type dateTime"),
    ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD", "must be of type string and should be enclosed"),
    ("SELECT Id FROM Account WHERE IsDeleted = 'false'", "INVALID_FIELD", "must be of type boolean"),
    ("SELECT Id FROM Account WHERE Id = 'nonsense'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: nonsense"),
    ("SELECT Id, Name, name FROM Account", "INVALID_FIELD", "duplicate field selected: name"),
    ("SELECT Id FROM Account LIMIT 10 OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset"),
    ("SELECT Id FROM Account", "MALFORMED_QUERY", "unexpected token"),
])
def test_rejections_over_http_carry_the_real_error_code(sf: SF, soql: str, code: str, fragment: str) -> None:
    if code == "MALFORMED_QUERY":
        soql += " WHERE ("
    response = sf.query(soql)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code and fragment in error["message"], error


def test_every_datetime_literal_form_selects_the_same_rows(sf: SF) -> None:
    forms = ["2024-03-01T12:00:00Z", "2024-03-01T12:00:00.000+0000", "2024-03-01T12:00:00.000+00:00",
             "2024-03-01T14:00:00+02:00", "2024-03-01T07:00:00.000-0500"]
    results = [{r["Id"] for r in sf.all_records(f"SELECT Id FROM Account WHERE SystemModstamp >= {form}")}
               for form in forms]
    assert results[0] and all(result == results[0] for result in results)
    everything = {r["Id"] for r in sf.all_records("SELECT Id FROM Account")}
    assert results[0] < everything


def test_where_operators_filter_in_sql(sf: SF) -> None:
    rows = sf.all_records("SELECT Id, Name, Industry, NumberOfEmployees, BillingCountry FROM Account")
    industries = {"Banking", "Retail"}
    expected = {r["Id"] for r in rows if r["Industry"] in industries}
    got = sf.all_records("SELECT Id FROM Account WHERE Industry IN ('Banking', 'retail')")
    assert {r["Id"] for r in got} == expected  # string comparison is case-insensitive, like SOQL
    not_in = sf.all_records("SELECT Id FROM Account WHERE Industry NOT IN ('Banking', 'Retail')")
    assert {r["Id"] for r in not_in} == {r["Id"] for r in rows} - expected  # NOT IN keeps nulls
    nulls = sf.all_records("SELECT Id FROM Account WHERE Industry = null")
    assert {r["Id"] for r in nulls} == {r["Id"] for r in rows if r["Industry"] is None}
    big = sf.all_records("SELECT Id FROM Account WHERE NumberOfEmployees > 1000 AND NumberOfEmployees <= 200000")
    assert {r["Id"] for r in big} == {r["Id"] for r in rows if r["NumberOfEmployees"] is not None
                                      and 1000 < r["NumberOfEmployees"] <= 200000}
    like = sf.all_records("SELECT Id FROM Account WHERE Name LIKE '%gmbh%'")
    assert {r["Id"] for r in like} == {r["Id"] for r in rows if "gmbh" in r["Name"].lower()}
    negated = sf.all_records("SELECT Id FROM Account WHERE NOT (Industry = 'Banking' OR Industry = 'Retail')")
    assert {r["Id"] for r in negated} == {r["Id"] for r in rows if r["Industry"] not in industries
                                          and r["Industry"] is not None}


def test_order_by_several_keys_with_nulls_placement(sf: SF) -> None:
    rows = sf.all_records("SELECT Id, Industry, Name FROM Account ORDER BY Industry DESC NULLS FIRST, Name ASC")
    industries = [r["Industry"] for r in rows]
    nulls = industries.count(None)
    assert nulls and industries[:nulls] == [None] * nulls
    rest = rows[nulls:]
    keys = [(r["Industry"].lower(), r["Name"].lower()) for r in rest]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)
    for earlier, later in itertools.pairwise(keys):
        if earlier[0] == later[0]:
            assert earlier[1] <= later[1]
    last = sf.all_records("SELECT Id, Industry FROM Account ORDER BY Industry ASC NULLS LAST")
    assert last[-1]["Industry"] is None and last[0]["Industry"] is not None


def test_limit_offset_and_count(sf: SF) -> None:
    ordered = [r["Id"] for r in sf.all_records("SELECT Id FROM Account ORDER BY Id")]
    page = sf.query_ok("SELECT Id FROM Account ORDER BY Id LIMIT 7 OFFSET 5")
    assert [r["Id"] for r in page["records"]] == ordered[5:12] and page["totalSize"] == 7
    count = sf.query_ok("SELECT count() FROM Account WHERE Industry != null")
    assert count["records"] == [] and count["totalSize"] == len(sf.all_records(
        "SELECT Id FROM Account WHERE Industry != null"))


def test_relationship_fields_nest_parent_records(sf: SF) -> None:
    contacts = sf.all_records("SELECT Id, Account.Name, Account.Owner.Email, AccountId FROM Contact")
    accounts = {r["Id"]: r for r in sf.all_records("SELECT Id, Name, Owner.Email FROM Account")}
    assert any(c["Account"] is None for c in contacts) or all(c["AccountId"] for c in contacts)
    for contact in contacts:
        if contact["AccountId"] is None:
            assert contact["Account"] is None
            continue
        parent = accounts[contact["AccountId"]]
        assert contact["Account"]["attributes"]["type"] == "Account"
        assert contact["Account"]["Name"] == parent["Name"]
        assert contact["Account"]["Owner"]["Email"] == parent["Owner"]["Email"]
    assert list(contacts[0]) == ["attributes", "Id", "Account", "AccountId"]
    filtered = sf.all_records("SELECT Id FROM Contact WHERE Account.Industry = 'Banking'")
    banking = {i for i, a in sf_accounts_by_industry(sf).items() if a == "Banking"}
    assert {c["Id"] for c in filtered} == {c["Id"] for c in contacts if c["AccountId"] in banking}


def sf_accounts_by_industry(sf: SF) -> dict[str, str | None]:
    return {r["Id"]: r["Industry"] for r in sf.all_records("SELECT Id, Industry FROM Account")}


def test_formula_compound_and_typed_values(sf: SF) -> None:
    invoices = sf.all_records("SELECT Id, Amount__c, AmountPaid__c, Balance__c, ShipTo__c, Warehouse__c, Paid__c, "
                              "IssuedAt__c, InvoiceDate__c, LineCount__c, Tags__c, Payload__c, Attachment__c "
                              "FROM Invoice__c WHERE Balance__c > 0 ORDER BY Balance__c DESC")
    assert invoices
    for invoice in invoices:
        assert invoice["Balance__c"] == pytest.approx(invoice["Amount__c"] - invoice["AmountPaid__c"])
        # A compound value is null when every component is (Salesforce writes `"Warehouse__c": null`).
        assert invoice["ShipTo__c"] is None or set(invoice["ShipTo__c"]) == {
            "street", "city", "postalCode", "stateCode", "countryCode", "latitude", "longitude", "geocodeAccuracy"}
        assert invoice["Warehouse__c"] is None or set(invoice["Warehouse__c"]) == {"latitude", "longitude"}
        assert isinstance(invoice["Paid__c"], bool) and isinstance(invoice["LineCount__c"], int)
    assert any(i["ShipTo__c"] for i in invoices) and any(i["Warehouse__c"] for i in invoices)
    balances = [i["Balance__c"] for i in invoices]
    assert balances == sorted(balances, reverse=True)
    fifteen = invoices[0]["Id"][:15]
    assert sf.query_ok(f"SELECT Id FROM Invoice__c WHERE Id = '{fifteen}'")["records"][0]["Id"] == invoices[0]["Id"]


def test_date_literals_like_last_n_days(sf: SF) -> None:
    fresh = sf.admin("POST", "records/Account", {"Name": "Brand new"}, expect=201)["id"]
    recent = sf.all_records("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:2")
    assert [r["Id"] for r in recent] == [fresh]
    assert fresh not in {r["Id"] for r in sf.all_records("SELECT Id FROM Account WHERE CreatedDate < YESTERDAY")}
