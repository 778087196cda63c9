"""Unit tests of target-netsuite's pieces with stubbed HTTP (`responses`): wire shapes the sandbox cannot show
(the real host name, M2M JWT claims) and logic that is cheaper to pin down here."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import parse_qs, unquote

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from target_netsuite.client import AdaptiveLimiter, FatalError, account_host, checked_base_url
from target_netsuite.references import find_references, substitute, suiteql_source
from target_netsuite.target import TargetNetSuite

BASE = "https://1234567-sb1.suitetalk.api.netsuite.com"
TBA = {
    "account_id": "1234567_SB1",
    "consumer_key": "ck-value",
    "consumer_secret": "cs-value",
    "token_id": "tid-value",
    "token_secret": "ts-value",
    "backoff_factor": 0.001,
}


def _oauth_params(header: str | bytes) -> dict[str, str]:
    header = header.decode() if isinstance(header, bytes) else header
    assert header.startswith("OAuth ")
    return {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}


def _singer(*messages: dict) -> io.StringIO:
    return io.StringIO("".join(json.dumps(m) + "\n" for m in messages))


SCHEMA = {
    "type": "SCHEMA",
    "stream": "customer",
    "key_properties": ["externalId"],
    "schema": {"type": "object", "properties": {"externalId": {"type": ["string", "null"]}}},
}


def test_account_host_and_base_url_rules() -> None:
    assert account_host("1234567_SB1") == BASE
    assert account_host("1234567") == "https://1234567.suitetalk.api.netsuite.com"
    assert checked_base_url("http://127.0.0.1:8702/") == "http://127.0.0.1:8702"
    assert checked_base_url("https://example.com") == "https://example.com"
    with pytest.raises(FatalError, match="https"):
        checked_base_url("http://example.com")


def test_reference_walk_and_substitution() -> None:
    body = {
        "entity": {"externalId": "001A", "type": "customer"},
        "item": {"items": [{"item": {"externalId": "01tB", "type": "nonInventorySaleItem"}, "quantity": 2}]},
        "subsidiary": {"id": "1"},
    }
    refs = list(find_references(body))
    assert refs == [("entity", ("customer", "001A")), ("item.items[0].item", ("nonInventorySaleItem", "01tB"))]
    out = substitute(body, {("customer", "001A"): "7", ("nonInventorySaleItem", "01tB"): "9"})
    assert out == {"entity": {"id": "7"}, "item": {"items": [{"item": {"id": "9"}, "quantity": 2}]},
                   "subsidiary": {"id": "1"}}
    assert suiteql_source("salesOrder") == ("transaction", " AND type = 'SalesOrd'")
    assert suiteql_source("nonInventorySaleItem") == ("item", "")


def test_limiter_halves_once_per_round_trip_regrows_fast_then_probes_slowly() -> None:
    limiter = AdaptiveLimiter(8)
    starts = [limiter.acquire() for _ in range(4)]
    for started in starts:  # four 429s from the same round trip: one cut
        limiter.release(started, throttled=True)
    assert limiter.window == 4
    for _ in range(20):  # fast regrowth up to just below the refused level (8)
        limiter.release(limiter.acquire(), throttled=False)
    assert 7 <= limiter.window < 7.2
    for _ in range(80):  # beyond it only slowly: about one more request per 32 windows of successes
        limiter.release(limiter.acquire(), throttled=False)
    assert 7 < limiter.window < 7.5


@responses.activate
def test_tba_signature_realm_and_fresh_nonce_on_retry(tmp_path) -> None:
    """Upsert goes to the real host as PUT eid:, signed HMAC-SHA256 with the realm; a retry is signed anew."""
    responses.post(f"{BASE}/services/rest/query/v1/suiteql", json={"items": [], "hasMore": False, "count": 0})
    put_url = f"{BASE}/services/rest/record/v1/customer/eid:001A"
    responses.put(put_url, status=500, json={"o:errorDetails": [{"detail": "boom", "o:errorCode": "UNEXPECTED_ERROR"}]})
    responses.put(put_url, status=204, headers={"Location": f"{BASE}/services/rest/record/v1/customer/42"})
    target = TargetNetSuite(config={**TBA, "dead_letter_path": str(tmp_path)})
    target.check_connection()
    target.listen(_singer(SCHEMA, {"type": "RECORD", "stream": "customer",
                                   "record": {"externalId": "001A", "companyName": "Acme",
                                              "addressbook": {"items": []}}}))
    puts = [c for c in responses.calls if c.request.method == "PUT"]
    assert len(puts) == 2
    signatures = [_oauth_params(c.request.headers["Authorization"]) for c in puts]
    assert all(p["realm"] == "1234567_SB1" and p["oauth_signature_method"] == "HMAC-SHA256" for p in signatures)
    assert all(p["oauth_consumer_key"] == "ck-value" and p["oauth_token"] == "tid-value" for p in signatures)
    assert signatures[0]["oauth_nonce"] != signatures[1]["oauth_nonce"]
    assert parse_qs(puts[1].request.url.split("?", 1)[1]) == {"replace": ["addressbook"]}
    assert json.loads(puts[1].request.body) == {"companyName": "Acme", "addressbook": {"items": []}}
    assert target.services.resolver.known([("customer", "001A")]) == {("customer", "001A"): "42"}


@responses.activate
def test_missing_external_id_and_mapping_error_are_dead_lettered_without_a_request(tmp_path) -> None:
    target = TargetNetSuite(config={**TBA, "dead_letter_path": str(tmp_path)})
    target.listen(_singer(
        SCHEMA,
        {"type": "RECORD", "stream": "customer", "record": {"externalId": None, "companyName": "No id"}},
        {"type": "RECORD", "stream": "customer",
         "record": {"externalId": "001B", "_sdc_mapping_error": "no country code for 'Atlantis'"}},
    ))
    assert len(responses.calls) == 0  # never a POST, never anything
    letters = [json.loads(line) for line in target.services.dead_letters.path.read_text().splitlines()]
    assert [(x["code"], x["externalId"]) for x in letters] == [("MISSING_EXTERNAL_ID", None), ("MAPPING_ERROR", "001B")]
    assert letters[1]["detail"] == "no country code for 'Atlantis'"


@responses.activate
def test_retry_after_is_honoured() -> None:
    put_url = f"{BASE}/services/rest/record/v1/customer/eid:001A"
    responses.put(put_url, status=429, headers={"Retry-After": "0.3"},
                  json={"o:errorDetails": [{"detail": "busy", "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]})
    responses.put(put_url, status=204)
    target = TargetNetSuite(config=TBA)
    import time

    started = time.monotonic()
    assert target.client.upsert("customer", "001A", {}, []) is None
    assert time.monotonic() - started >= 0.3
    assert target.client.stats.throttled == 1


@pytest.mark.parametrize("key_kind", ["rsa", "ec"])
@responses.activate
def test_m2m_client_assertion_and_token_cache(key_kind: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if key_kind == "rsa" \
        else ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    token_url = f"{BASE}/services/rest/auth/oauth2/v1/token"
    responses.post(token_url, json={"access_token": "bearer-xyz", "expires_in": "3600", "token_type": "Bearer"})
    responses.put(f"{BASE}/services/rest/record/v1/customer/eid:1", status=204)
    responses.put(f"{BASE}/services/rest/record/v1/customer/eid:2", status=204)
    target = TargetNetSuite(config={"account_id": "1234567_SB1", "auth_method": "oauth2_m2m",
                                    "client_id": "client-1", "certificate_id": "cert-1", "private_key": pem})
    target.client.upsert("customer", "1", {}, [])
    target.client.upsert("customer", "2", {}, [])
    token_calls = [c for c in responses.calls if c.request.url == token_url]
    assert len(token_calls) == 1  # cached
    form = parse_qs(token_calls[0].request.body)
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assertion = form["client_assertion"][0]
    header = jwt.get_unverified_header(assertion)
    assert header["kid"] == "cert-1" and header["alg"] == ("PS256" if key_kind == "rsa" else "ES256")
    claims = jwt.decode(assertion, key.public_key(), algorithms=[header["alg"]], audience=token_url)
    assert claims["iss"] == "client-1" and claims["scope"] == ["restlets", "rest_webservices"]
    assert claims["exp"] - claims["iat"] <= 3600
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer bearer-xyz"


def test_unknown_stream_is_ignored(tmp_path) -> None:
    target = TargetNetSuite(config={**TBA, "dead_letter_path": str(tmp_path)})
    with responses.RequestsMock():  # any request would fail the test
        target.listen(_singer(
            {"type": "SCHEMA", "stream": "meltano_test_stream", "key_properties": [],
             "schema": {"type": "object", "properties": {"x": {"type": "string"}}}},
            {"type": "RECORD", "stream": "meltano_test_stream", "record": {"x": "1"}},
        ))
    assert target.services.summary.as_dict() == {"meltano_test_stream": {"ignored": 1}}


@responses.activate
def test_record_not_matching_schema_is_sent_not_fatal(tmp_path) -> None:
    """NetSuite, not the SCHEMA, decides: a schema mismatch is logged and the record is still written."""
    responses.put(f"{BASE}/services/rest/record/v1/customer/eid:12345", status=204)
    # match_mode create: no record-matching SuiteQL, so the PUT is the only request
    target = TargetNetSuite(config={**TBA, "dead_letter_path": str(tmp_path), "match_mode": "create"})
    target.listen(_singer(SCHEMA, {"type": "RECORD", "stream": "customer", "record": {"externalId": 12345}}))
    assert target.services.summary.as_dict() == {"customer": {"written": 1}}
    assert len(responses.calls) == 1


@responses.activate
def test_m2m_token_endpoint_outage_is_retried() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    token_url = f"{BASE}/services/rest/auth/oauth2/v1/token"
    responses.post(token_url, status=503)
    responses.post(token_url, json={"access_token": "bearer-xyz", "expires_in": "3600", "token_type": "Bearer"})
    responses.put(f"{BASE}/services/rest/record/v1/customer/eid:1", status=204)
    target = TargetNetSuite(config={"account_id": "1234567_SB1", "auth_method": "oauth2_m2m", "client_id": "c",
                                    "certificate_id": "k", "private_key": pem, "backoff_factor": 0.001})
    target.client.upsert("customer", "1", {}, [])
    put_url = f"{BASE}/services/rest/record/v1/customer/eid:1"
    assert [c.request.url for c in responses.calls] == [token_url, token_url, put_url]
