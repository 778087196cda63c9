"""Bad settings through real `meltano run` (issue 23): a tap setting that cannot work stops the pipeline before
anything is read or written, with the tap's one line naming the setting, no traceback, and no state saved; a
token store whose refresh token Salesforce refuses gives way to the freshly configured one."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_refused_stored_refresh_token_gives_way_to_the_configured_one(meltano_project: MeltanoProject,
                                                                      salesforce: SandboxAdmin,
                                                                      netsuite: SandboxAdmin, tmp_path: Path) -> None:
    """The admin re-authorised (meltano.yml's `refresh_token` is the new one) while the token store still holds a
    token Salesforce revoked: the run logs in with the configured token, writes everything, saves state, and the
    store now holds the working token."""
    salesforce.post("reset", {"seed": 5, "accounts": 3, "contacts": 0, "products": 0, "opportunities": 0})
    netsuite.post("reset", {"knobs": True})
    store = tmp_path / "refresh_token.json"
    store.write_text(json.dumps({"refresh_token": "5Aep861revoked-by-the-admin"}))
    store.chmod(0o600)
    result = meltano_project.run_pipeline(env={"TAP_SALESFORCE_CUSTOM_TOKEN_STORE_PATH": str(store)})
    output = result.stdout + result.stderr
    lines = [text for text in output.splitlines() if "refused the refresh token saved in" in text]
    assert len(lines) == 1 and "the configured refresh_token works and replaces it there" in lines[0], output[-4000:]
    assert "Traceback" not in output
    assert len(netsuite.records("customer")) == 3
    assert meltano_project.state(STATE_ID) is not None
    assert json.loads(store.read_text())["refresh_token"] != "5Aep861revoked-by-the-admin"
