"""The mapper in a plain shell pipe between the real tap and the real target, against the sandboxes over HTTP:
`tap-salesforce-custom | netsuite-mapper | target-netsuite`, no Meltano. Shows the shipped mapping's payloads are
accepted by NetSuite (codes, lengths, sublists, references), that a record the mapping cannot map is dead-lettered
with its reason, and that a deleted Account is inactivated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox.client import NetSuiteClient, SalesforceClient

BIN = Path(sys.executable).parent
VOLUMES = {"seed": 11, "accounts": 12, "contacts": 15, "products": 6, "opportunities": 12}


def sf_admin(base: str) -> SalesforceClient:
    return SalesforceClient(base, timeout=30)


def ns_admin(base: str) -> NetSuiteClient:
    return NetSuiteClient(base, timeout=30)


def run_pipe(tmp_path: Path, salesforce_url: str, netsuite_url: str, mapping: dict, state: Path | None) -> Path:
    """Run the three connectors in one shell pipe; return the file of STATE lines the target printed."""
    tap = {"auth_flow": "refresh_token", "login_url": salesforce_url, "client_id": "sandbox-client-id",
           "client_secret": "sandbox-client-secret", "refresh_token": "sandbox-refresh-token",
           "start_date": "2000-01-01", "objects": ["Account", "Contact", "Product2", "Opportunity"],
           "include_deleted": True}
    target = {"account_id": "1234567_SB1", "base_url": netsuite_url, "consumer_key": "sandbox-consumer-key",
              "consumer_secret": "sandbox-consumer-secret", "token_id": "sandbox-token-id",
              "token_secret": "sandbox-token-secret", "dead_letter_path": str(tmp_path / "dead_letters")}
    for name, config in (("tap", tap), ("mapper", mapping), ("target", target)):
        (tmp_path / f"{name}.json").write_text(json.dumps(config))
    state_arg = f"--state '{state}'" if state else ""
    out = tmp_path / f"state-{len(list(tmp_path.glob('state-*')))}.jsonl"
    command = (f"set -o pipefail; '{BIN}/tap-salesforce-custom' --config tap.json {state_arg}"
               f" | '{BIN}/netsuite-mapper' --config mapper.json"
               f" | '{BIN}/target-netsuite' --config target.json > '{out}'")
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, timeout=300, check=False,
                          env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return out


def last_state(state_lines: Path, tmp_path: Path) -> Path:
    """The last state the target printed (a target prints bare state values), as a `--state` file for the tap."""
    line = [x for x in state_lines.read_text().splitlines() if x.strip()][-1]
    path = tmp_path / "state.json"
    path.write_text(line)
    return path


def dead_letters(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((tmp_path / "dead_letters").glob("*.jsonl"))
            for line in f.read_text().splitlines()]


@pytest.fixture
def sandboxes(salesforce_url: str, netsuite_url: str) -> tuple[str, str]:
    sf_admin(salesforce_url).reset(**VOLUMES)
    ns_admin(netsuite_url).reset(knobs=True)
    return salesforce_url, netsuite_url


def test_pipe_moves_the_default_mapping_into_netsuite(tmp_path: Path, sandboxes, mapping_config) -> None:
    salesforce_url, netsuite_url = sandboxes
    bad = sf_admin(salesforce_url).create("Account", {"Name": "Narnia Imports", "BillingCountry": "Narnia"})
    state = run_pipe(tmp_path, salesforce_url, netsuite_url, mapping_config, None)

    accounts = {a["Id"]: a for a in sf_admin(salesforce_url).records("Account")}
    customers = {c["externalId"]: c for c in ns_admin(netsuite_url).records("customer")}
    assert set(customers) == set(accounts) - {bad["id"]}
    lines = sf_admin(salesforce_url).records("OpportunityLineItem")
    won = [o for o in sf_admin(salesforce_url).records("Opportunity") if o["IsWon"]]
    no_lines = {o["Id"] for o in won if not any(li["OpportunityId"] == o["Id"] for li in lines)}
    letters = {d["externalId"]: d for d in dead_letters(tmp_path)}
    assert no_lines and set(letters) == {bad["id"]}  # a won deal without products is one service line, no letter
    assert letters[bad["id"]]["code"] == "MAPPING_ERROR"
    assert "country: cannot resolve country 'Narnia'" in letters[bad["id"]]["detail"]

    for sf_id, customer in customers.items():
        account = accounts[sf_id]
        assert customer["companyName"] == account["Name"].strip()[:83].rstrip()
        assert customer["subsidiary"]["id"] == "1"
        for line in customer.get("addressbook", {}).get("items", []):
            country = line["addressbookaddress"].get("country")
            assert country is None or (len(country) == 2 and country.isupper())

    items = {i["externalId"]: i["id"] for i in ns_admin(netsuite_url).records("nonInventorySaleItem")}
    internal = {c["externalId"]: c["id"] for c in customers.values()}
    contacts = ns_admin(netsuite_url).records("contact")
    assert len(contacts) == VOLUMES["contacts"]
    sf_contacts = {c["Id"]: c for c in sf_admin(salesforce_url).records("Contact")}
    for contact in contacts:
        account_id = sf_contacts[contact["externalId"]]["AccountId"]
        if account_id:
            assert contact["company"]["id"] == internal[account_id]

    orders = {o["externalId"]: o for o in ns_admin(netsuite_url).records("salesOrder")}
    assert set(orders) == {o["Id"] for o in won}
    for opportunity in (o for o in won if o["Id"] not in no_lines):
        expected = sorted((items[li["Product2Id"]], float(li["Quantity"]), float(li["TotalPrice"]))
                          for li in lines if li["OpportunityId"] == opportunity["Id"] and not li["IsDeleted"])
        got = sorted((li["item"]["id"], float(li["quantity"]), float(li["amount"]))
                     for li in orders[opportunity["Id"]]["item"]["items"])
        assert got == expected
        assert orders[opportunity["Id"]]["total"] == opportunity["Amount"]

    # A deleted Account becomes an inactive customer (deleted_record_action: inactivate), nothing else changes.
    gone = next(iter(customers))
    sf_admin(salesforce_url).delete_record("Account", gone)
    run_pipe(tmp_path, salesforce_url, netsuite_url, mapping_config, last_state(state, tmp_path))
    after = {c["externalId"]: c for c in ns_admin(netsuite_url).records("customer")}
    assert after[gone]["isInactive"] is True
    assert not any(c.get("isInactive") for eid, c in after.items() if eid != gone)


def test_record_with_text_that_is_not_utf8_is_dead_lettered_by_the_target(tmp_path: Path, netsuite_url: str,
                                                                          mapping_config) -> None:
    """`netsuite-mapper | target-netsuite` on input whose second Account holds a byte that is not UTF-8: the
    neighbours are written, that record is a MAPPING_ERROR dead letter naming it and the field, the STATE after it
    is emitted, both exit 0, no traceback (issue 23)."""
    ns_admin(netsuite_url).reset(knobs=True)
    schema = json.loads((Path(__file__).with_name("golden") / "accounts.in.jsonl").read_text().splitlines()[0])

    def account(record_id: str, name: bytes) -> bytes:
        record = {"Id": record_id, "Name": "PLACEHOLDER", "IsDeleted": False}
        return json.dumps({"type": "RECORD", "stream": "Account", "record": record}).encode().replace(
            b"PLACEHOLDER", name)

    state = {"bookmarks": {"Account": {"replication_key_value": "2024-01-01T00:00:00Z"}}}
    stdin = b"\n".join([json.dumps(schema).encode(), account("001U000001", b"Good One"),
                        account("001U000002", b"Caf\xe9 Bad"), account("001U000003", b"Good Three"),
                        json.dumps({"type": "STATE", "value": state}).encode()]) + b"\n"
    target = {"account_id": "1234567_SB1", "base_url": netsuite_url, "consumer_key": "sandbox-consumer-key",
              "consumer_secret": "sandbox-consumer-secret", "token_id": "sandbox-token-id",
              "token_secret": "sandbox-token-secret", "dead_letter_path": str(tmp_path / "dead_letters")}
    for name, config in (("mapper", mapping_config), ("target", target)):
        (tmp_path / f"{name}.json").write_text(json.dumps(config))
    (tmp_path / "input.jsonl").write_bytes(stdin)
    command = (f"set -o pipefail; '{BIN}/netsuite-mapper' --config mapper.json < input.jsonl"
               f" | '{BIN}/target-netsuite' --config target.json")
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, timeout=300, check=False)
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert [json.loads(line) for line in done.stdout.splitlines() if line.strip()][-1] == state
    customers = {c["externalId"] for c in ns_admin(netsuite_url).records("customer")}
    assert customers == {"001U000001", "001U000003"}
    [letter] = dead_letters(tmp_path)
    assert letter["externalId"] == "001U000002" and letter["code"] == "MAPPING_ERROR"
    assert "RECORD of stream 'Account' (Id '001U000002') holds text that is not valid UTF-8 in Name" in letter["detail"]
