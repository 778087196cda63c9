"""Issue 17: an idle incremental run in the shipped production set-up costs at most 9 Salesforce API calls: one token
call, one query per stream (Account, Contact, Product2, Quote, Opportunity) and one line-change query per parent read
with its lines (Opportunity, Quote, Product2 with its standard price book entries; issue 25 added Quote, 2 calls, and
the prices, 1 call).

Through `meltano --environment=prod run` (the prod environment of meltano.yml, pointed at the sandboxes by the
standard setting variables, as a `.env` would), 6 objects configured (OpportunityLineItem read through its
Opportunity, QuoteLineItem through its Quote), measured by the Salesforce sandbox's own API usage counter. Before
issue 17 the same run (without Quote) cost 14: Meltano rediscovered the catalog on every run (6 describe calls) and
Opportunity re-read its parents apart (2).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_harness import MeltanoProject, SandboxAdmin

pytestmark = pytest.mark.e2e

BUDGET = 9


def _prod(project: MeltanoProject, tmp: Path) -> None:
    project.discover_every_run = True  # the budget counts a production run's discovery (answered by the tap's cache)
    project.env.update({
        "MELTANO_ENVIRONMENT": "prod",
        "TAP_SALESFORCE_CUSTOM_AUTH_FLOW": "refresh_token",
        "TAP_SALESFORCE_CUSTOM_CLIENT_ID": "sandbox-client-id",
        "TAP_SALESFORCE_CUSTOM_CLIENT_SECRET": "sandbox-client-secret",
        "TAP_SALESFORCE_CUSTOM_REFRESH_TOKEN": "sandbox-refresh-token",
        "TAP_SALESFORCE_CUSTOM_START_DATE": "2000-01-01",
        # prod's own catalog_cache_path, moved into this test's folder so parallel tests do not share it
        "TAP_SALESFORCE_CUSTOM_CATALOG_CACHE_PATH": str(tmp / "catalog-cache.json"),
        "TARGET_NETSUITE_ACCOUNT_ID": "1234567_SB1",
        "TARGET_NETSUITE_AUTH_METHOD": "tba",
        "TARGET_NETSUITE_CONSUMER_KEY": "sandbox-consumer-key",
        "TARGET_NETSUITE_CONSUMER_SECRET": "sandbox-consumer-secret",
        "TARGET_NETSUITE_TOKEN_ID": "sandbox-token-id",
        "TARGET_NETSUITE_TOKEN_SECRET": "sandbox-token-secret",
        "NETSUITE_MAPPER_SUBSIDIARY_ID": "1",
        "NETSUITE_MAPPER_CURRENCY_ID": "1",
        "NETSUITE_MAPPER_SERVICE_ITEM_ID": "499",
    })


def _usage(salesforce: SandboxAdmin) -> int:
    return int(salesforce.get("stats")["api_usage"])


def test_idle_incremental_run_costs_at_most_eight_calls(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, tmp_path: Path
) -> None:
    salesforce.post("reset", {"seed": 17, "accounts": 20, "contacts": 20, "products": 5, "opportunities": 10})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    _prod(project, tmp_path)
    project.run_pipeline()  # initial load: discovery (describe) + full reads
    project.run_pipeline()  # first incremental run

    costs = []
    for _ in range(2):
        before = _usage(salesforce)
        result = project.run_pipeline()
        costs.append(_usage(salesforce) - before)
        assert "Catalog from" in result.stderr  # discovery answered from the cache: no describe call
    assert max(costs) <= BUDGET, costs
    assert project.state("prod:tap-salesforce-custom-to-target-netsuite") is not None


def test_a_changed_line_item_still_resends_its_opportunity_within_the_budget(
    meltano_project: MeltanoProject, salesforce: SandboxAdmin, netsuite: SandboxAdmin, tmp_path: Path
) -> None:
    """The fold that saves the calls must not lose a line change: its sales order is rewritten with the new line."""
    salesforce.post("reset", {"seed": 18, "accounts": 10, "contacts": 0, "products": 5, "opportunities": 10})
    netsuite.post("reset", {"knobs": True})
    project = meltano_project
    _prod(project, tmp_path)
    project.run_pipeline()
    project.run_pipeline()
    won = {o["Id"] for o in salesforce.records("Opportunity") if o.get("IsWon") and not o.get("IsDeleted")}
    line = next(x for x in salesforce.records("OpportunityLineItem")
                if x["OpportunityId"] in won and not x.get("IsDeleted"))
    salesforce.patch(f"records/OpportunityLineItem/{line['Id']}", {"Quantity": 99})

    before = _usage(salesforce)
    project.run_pipeline()
    assert _usage(salesforce) - before <= BUDGET
    order = next(r for r in netsuite.records("salesOrder") if r["externalId"] == line["OpportunityId"])
    quantities = [item.get("quantity") for item in order["item"]["items"]]
    assert 99 in quantities, order["item"]
