"""A second independent client, `aiosalesforce` (async, httpx, client-credentials flow, refresh on 401), against
the Salesforce stand-in, with inputs the other tests do not use: REST paging at the smallest batch size with
the session expired between pages, and Bulk 2.0 results paged with `maxRecords` while the session expires.

aiosalesforce only accepts `https://<domain>.my.salesforce.com` base URLs, so its httpx client gets a transport
that sends each request to the stand-in instead (real HTTP; the Host header stays the My Domain one).
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest
from aiosalesforce import Salesforce
from aiosalesforce.auth import ClientCredentialsFlow
from sandbox.credentials import SALESFORCE
from sf_helpers import SF

MY_DOMAIN = "https://acme.my.salesforce.com"
ACCOUNTS = 450


class _ToSandbox(httpx.AsyncBaseTransport):
    """Send every request to the stand-in (scheme, host and port replaced; path and query kept)."""

    def __init__(self, base_url: str) -> None:
        self._target = httpx.URL(base_url)
        self._inner = httpx.AsyncHTTPTransport()
        self.paths: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self._target.scheme, host=self._target.host,
                                            port=self._target.port)
        response = await self._inner.handle_async_request(request)
        self.paths.append((request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(scope="module", autouse=True)
def _org(sf: SF) -> None:
    sf.reset(accounts=ACCOUNTS, contacts=0, products=0, opportunities=0, invoices=0)


@pytest.fixture(autouse=True)
def _calm(sf: SF) -> Any:
    sf.admin_client.calm()
    yield
    sf.admin_client.calm()


def _run(sf: SF, work: Any) -> tuple[Any, list[tuple[str, int]]]:
    async def main() -> Any:
        transport = _ToSandbox(sf.base)
        async with httpx.AsyncClient(transport=transport, headers={"Sforce-Query-Options": "batchSize=200"}) as http:
            client = Salesforce(http, MY_DOMAIN, ClientCredentialsFlow(SALESFORCE.client_id, SALESFORCE.client_secret),
                                version="61.0")
            return await work(client), transport.paths
    return asyncio.run(main())


def test_rest_paging_survives_a_session_expired_between_pages(sf: SF) -> None:
    sf.admin("POST", "knobs", {"fault_script": [{"match": "/query/", "expire_sessions": True}]})

    async def work(client: Salesforce) -> list[str]:
        return [record["Id"] async for record in client.query("SELECT Id, Name FROM Account ORDER BY Id")]

    ids, paths = _run(sf, work)
    assert len(ids) == ACCOUNTS and len(set(ids)) == ACCOUNTS and ids == sorted(ids)
    # The first nextRecordsUrl call found its session expired (401); aiosalesforce logged in again and retried.
    statuses = [status for path, status in paths if "/query/" in path]
    assert statuses[0] == 401 and statuses[1:] == [200, 200]
    assert sum(path.endswith("/services/oauth2/token") for path, _ in paths) == 2


def test_bulk_results_paged_with_max_records_across_an_expired_session(sf: SF) -> None:
    async def work(client: Salesforce) -> tuple[list[str], list[int]]:
        api = f"{MY_DOMAIN}/services/data/v61.0/jobs/query"
        job = (await client.request("POST", api, json={"operation": "query",
                                                       "query": "SELECT Id FROM Account"})).json()
        for _ in range(20):
            state = (await client.request("GET", f"{api}/{job['id']}")).json()["state"]
            if state == "JobComplete":
                break
        assert state == "JobComplete"
        ids: list[str] = []
        counts: list[int] = []
        locator = ""
        while True:
            if len(counts) == 1:  # the session dies between two result pages
                sf.admin_client.expire_sessions()
            params = {"maxRecords": 200, **({"locator": locator} if locator else {})}
            page = await client.request("GET", f"{api}/{job['id']}/results", params=params)
            rows = list(csv.DictReader(io.StringIO(page.text)))
            counts.append(int(page.headers["Sforce-NumberOfRecords"]))
            assert counts[-1] == len(rows)
            ids += [row["Id"] for row in rows]
            locator = page.headers["Sforce-Locator"]
            if locator == "null":
                return ids, counts

    (ids, counts), paths = _run(sf, work)
    assert counts == [200, 200, ACCOUNTS - 400]
    assert len(set(ids)) == ACCOUNTS
    assert (f"/services/data/v61.0/jobs/query/{paths[-1][0].split('/')[-2]}/results", 401) in paths
