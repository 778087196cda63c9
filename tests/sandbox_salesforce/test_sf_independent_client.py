"""An independent client nobody here wrote (simple-salesforce) works against the stand-in unmodified.

simple-salesforce hard-codes `https://`, so it talks to the TLS side, verifying the sandbox's certificate with
the CA file the sandbox generated; only the host it connects to differs from a real org.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator

import pytest
import requests
from sf_helpers import DEMO, SF
from simple_salesforce import Salesforce


@pytest.fixture(scope="module")
def client(sf: SF) -> Iterator[Salesforce]:
    sf.reset(accounts=2300, contacts=50)
    tls_url, ca_bundle = os.environ["SANDBOX_SALESFORCE_TLS_URL"], os.environ["SANDBOX_CA_BUNDLE"]
    with pytest.MonkeyPatch.context() as patch:
        # requests lets REQUESTS_CA_BUNDLE override a session's `verify`: point it at the sandbox's CA.
        patch.setenv("REQUESTS_CA_BUNDLE", ca_bundle)
        session = requests.Session()
        token = session.post(f"{tls_url}/services/oauth2/token", data={"grant_type": "refresh_token", **DEMO}).json()
        assert token["instance_url"] == tls_url  # the server names itself by the URL the client used
        yield Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                         version="61.0")


def test_query_all_follows_next_records_url(client: Salesforce, sf: SF) -> None:
    result = client.query_all("SELECT Id, Name, BillingAddress, Owner.Name FROM Account ORDER BY Id")
    assert result["totalSize"] == 2300 and len(result["records"]) == 2300 and result["done"]
    assert result["records"][0]["Owner"]["attributes"]["type"] == "User"
    assert client.api_usage["api-usage"].used > 0  # it parsed our Sforce-Limit-Info header
    victim = result["records"][0]["Id"]
    sf.admin("DELETE", f"records/Account/{victim}")
    deleted = client.query_all(f"SELECT Id, IsDeleted FROM Account WHERE Id = '{victim}'", include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True


def test_describe_global_and_object(client: Salesforce) -> None:
    names = {entry["name"] for entry in client.describe()["sobjects"]}
    assert {"Account", "Contact", "Invoice__c"} <= names
    fields = {field["name"]: field for field in client.Invoice__c.describe()["fields"]}
    assert fields["Balance__c"]["calculated"] is True and fields["ShipTo__c"]["type"] == "address"
    assert client.Account.get(client.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"])["Name"]


def test_bulk2_query(client: Salesforce) -> None:
    chunks = list(client.bulk2.Contact.query("SELECT Id, LastName, Account.Name FROM Contact", max_records=20,
                                                   wait=0.1))
    rows = [row for chunk in chunks for row in csv.DictReader(io.StringIO(chunk))]
    assert len(chunks) == 3 and len(rows) == 50
    rest = {r["Id"]: r for r in client.query_all("SELECT Id, LastName FROM Contact")["records"]}
    assert {row["Id"]: row["LastName"] for row in rows} == {i: r["LastName"] for i, r in rest.items()}
