"""A retried write adds an address line once (found by the multi-host soak, bench/host_soak.py): NetSuite applies
an update that adds a line, the connection drops before the answer, the transport retries; a plain add would add
the line again (two `Billing (synced)` lines, the older one left behind for good), so an update that adds a line
is a keyed replace naming every line it keeps (target_netsuite/merge.py). Real HTTP to the NetSuite stand-in,
whose `drop_after` fault applies the write and drops the connection."""

from __future__ import annotations

import io
import json

from target_helpers import CUSTOMER_SCHEMA, customer
from target_netsuite.target import TargetNetSuite


def _listen(config: dict, messages: list[dict]) -> None:
    target = TargetNetSuite(config=config)
    target.check_connection()
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    target.finish()


def _book(city: str, *, billing: bool, shipping: bool) -> dict:
    return {"defaultBilling": billing, "defaultShipping": shipping, "addressbookaddress": {"city": city,
                                                                                           "country": "US"}}


def test_an_address_line_added_by_a_write_netsuite_applied_before_the_connection_dropped_is_added_once(
        admin, config) -> None:
    _listen(config, [CUSTOMER_SCHEMA, customer("A1", addressbook={"items": [_book("Köln", billing=False,
                                                                                    shipping=True)]})])
    admin.knobs(error_script=[{"fault": "drop_after", "method": "PUT", "match": "/customer/"}])
    _listen(config, [CUSTOMER_SCHEMA, customer("A1", addressbook={"items": [
        _book("Köln", billing=False, shipping=True), _book("Denver", billing=True, shipping=False)]})])
    lines = admin.by_external_id("customer")["A1"]["addressbook"]["items"]
    assert sorted((line["addressbookaddress"]["city"], line["label"]) for line in lines) == [
        ("Denver", "Billing (synced)"), ("Köln", "Shipping (synced)")], lines


def test_a_create_netsuite_applied_before_the_connection_dropped_has_its_address_lines_once(admin, config) -> None:
    admin.knobs(error_script=[{"fault": "drop_after", "method": "PUT", "match": "/customer/"}])
    _listen(config, [CUSTOMER_SCHEMA, customer("A2", addressbook={"items": [_book("Köln", billing=True,
                                                                                    shipping=True)]})])
    lines = admin.by_external_id("customer")["A2"]["addressbook"]["items"]
    assert len(lines) == 1, lines
