"""Bad settings through real `meltano run` (issue 23): a tap setting that cannot work stops the pipeline before
anything is read or written, with the tap's one line naming the setting, no traceback, and no state saved."""

from __future__ import annotations

import pytest
from e2e_harness import STATE_ID, MeltanoProject, SandboxAdmin


@pytest.mark.parametrize(("env", "line"), [
    ({"TAP_SALESFORCE_CUSTOM_OBJECTS": '["Account", "Acount"]'},
     "tap-salesforce-custom: objects: 'Acount' not found or not queryable in this org"),
    ({"TAP_SALESFORCE_CUSTOM_AUTH_FLOW": "jwt", "TAP_SALESFORCE_CUSTOM_USERNAME": "integration@example.com",
      "TAP_SALESFORCE_CUSTOM_PRIVATE_KEY": "not a key"},
     "tap-salesforce-custom: private_key is not a readable unencrypted PEM private key"),
], ids=["misspelled object", "jwt key that is not a key"])
def test_bad_tap_setting_stops_meltano_run_with_one_line(meltano_project: MeltanoProject, salesforce: SandboxAdmin,
                                                         netsuite: SandboxAdmin, env: dict[str, str],
                                                         line: str) -> None:
    salesforce.post("reset", {"seed": 5, "accounts": 3, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    result = meltano_project.run_pipeline(env=env, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert [text for text in output.splitlines() if line in text], output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    assert netsuite.records("customer") == []
    assert meltano_project.state(STATE_ID) is None
