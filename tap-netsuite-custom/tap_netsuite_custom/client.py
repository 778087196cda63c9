"""SuiteQL over the shared transport (connector_kit): NetSuite's answer rules, the auth, one page per call.

NetSuite's rules here: 2xx is done; 429 is throttling (waited out, honouring `Retry-After`); 408 and 5xx are
retried with backoff; a 401 first makes the auth log in again (M2M: a new token; TBA signs every attempt anew),
then ends the run with one line; any other 4xx (`INVALID_PARAMETER` for a column the role cannot see, a role
without SuiteQL) ends the run with NetSuite's error code and detail. Secrets never reach a log: TBA signing loggers
are kept quiet (connector_kit.netsuite_auth), and no header or body of a request is logged.
"""

from __future__ import annotations

import json
import logging
import typing as t

import requests
from connector_kit.netsuite_auth import (
    TOKEN_PATH,
    AuthError,
    MachineToMachineAuth,
    TokenBasedAuth,
    read_private_key,
)
from connector_kit.transport import RetryPolicy, Transport, Verdict

from tap_netsuite_custom.errors import NetSuiteTapError

if t.TYPE_CHECKING:
    from tap_netsuite_custom.settings import TapSettings

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
#: SuiteQL's largest page (`limit`), and the largest `offset` + `limit` it serves for one query.
MAX_PAGE = 1000
MAX_OFFSET = 100_000
_LOGGER = logging.getLogger("tap_netsuite_custom.client")


def error_details(response: requests.Response) -> str:
    """`<o:errorCode>: <detail>` of NetSuite's error body, else `HTTP <status>` and a short text."""
    try:
        first = response.json()["o:errorDetails"][0]
        detail = " ".join(str(first.get("detail", "")).split())
        return f"{first.get('o:errorCode', 'UNKNOWN')}: {detail[:300]}"
    except (ValueError, KeyError, IndexError, TypeError):
        return f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"


def classify_suiteql(response: requests.Response) -> Verdict:
    status = response.status_code
    if status < 400:
        return Verdict.done()
    if status == 429:
        return Verdict.throttled(f"HTTP 429 {error_details(response)}")
    if status in (408, 500, 502, 503, 504):
        return Verdict.retry(f"HTTP {status} {error_details(response)}")
    if status == 401:
        return Verdict.fatal(NetSuiteTapError(f"NetSuite refused the credentials (HTTP 401 {error_details(response)})"
                                              ": check account_id and the auth settings"))
    return Verdict.record_error(f"HTTP {status}")


def make_auth(settings: TapSettings, session: requests.Session) -> TokenBasedAuth | MachineToMachineAuth:
    config = settings.config
    try:
        if settings.auth_method == "tba":
            return TokenBasedAuth(realm=settings.account_id, consumer_key=config["consumer_key"],
                                  consumer_secret=config["consumer_secret"], token_id=config["token_id"],
                                  token_secret=config["token_secret"])
        return MachineToMachineAuth(
            token_url=f"{settings.base_url}{TOKEN_PATH}", client_id=config["client_id"],
            certificate_id=config["certificate_id"],
            private_key_pem=read_private_key(config.get("private_key"), config.get("private_key_path")),
            session=session, timeout=settings.request_timeout, verify=settings.ca_bundle or True)
    except AuthError as exc:
        raise NetSuiteTapError(str(exc)) from None


class SuiteQLClient:
    """One NetSuite account: a session, the auth and the shared transport; `page()` runs one SuiteQL page."""

    def __init__(self, settings: TapSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.auth = make_auth(settings, self.session)
        policy = RetryPolicy(max_retries=settings.max_retries, backoff_factor=settings.backoff_factor,
                             max_throttle_wait=300.0)
        self.transport = Transport(self.session, policy, service="NetSuite", timeout=settings.request_timeout,
                                   verify=settings.ca_bundle or True, fatal_error=NetSuiteTapError,
                                   exhausted_error=NetSuiteTapError, logger=_LOGGER)
        self.auth.use_transport(self.transport.unlimited())
        self.calls = 0

    def page(self, query: str, *, limit: int, offset: int) -> dict[str, t.Any]:
        """One page of `query`: NetSuite's `{items, hasMore, count, offset, totalResults, links}`."""
        if not (1 <= limit <= MAX_PAGE and offset >= 0 and offset + limit <= MAX_OFFSET):
            msg = f"SuiteQL paging out of range: limit {limit}, offset {offset} (at most {MAX_PAGE}, {MAX_OFFSET})"
            raise NetSuiteTapError(msg)
        self.calls += 1
        try:
            response = self.transport.request(
                "POST", f"{self.settings.base_url}{SUITEQL_PATH}", classify=classify_suiteql, auth=self.auth,
                params={"limit": str(limit), "offset": str(offset)}, data=json.dumps({"q": query}),
                headers={"Prefer": "transient", "Content-Type": "application/json", "Accept": "application/json"})
        except AuthError as exc:
            raise NetSuiteTapError(str(exc)) from None
        if response.status_code >= 400:
            msg = f"NetSuite refused a SuiteQL query (HTTP {response.status_code} {error_details(response)})"
            raise NetSuiteTapError(msg)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            msg = f"NetSuite answered a SuiteQL query with HTTP {response.status_code} but no result page"
            raise NetSuiteTapError(msg)
        return body

    def close(self) -> None:
        self.transport.stop_retrying()
        self.session.close()
