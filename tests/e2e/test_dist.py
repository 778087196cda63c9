"""Issue 27 item 7: each connector installs alone, as the README says.

`make dist` builds every package's wheel and sdist, portable: a connector requires `connector-kit==<version>` and
no artifact names a path of the machine that built it. A fresh venv outside the checkout installs the three
connectors from those artifacts alone (`--find-links`; PyPI only for third-party packages), and they run in plain
Singer pipelines against the stand-ins: tap → target-jsonl, tap → meltano-map-transform → target-jsonl, hand-written
Singer → target-netsuite. And pip installs a connector with its kit in one command from a checkout
(`pip install <checkout>/tap-salesforce-custom`) and from git (`pip install "git+…#subdirectory=…"`, a local clone),
also a second time from pip's wheel cache.

Needs PyPI (third-party dependencies, hatchling for the builds). One set of venvs per module; about 3 minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from e2e_harness import ROOT
from sandbox.client import NetSuiteClient, SalesforceClient
from sandbox.credentials import NETSUITE, SALESFORCE

pytestmark = pytest.mark.e2e

UV = str(Path(sys.executable).with_name("uv"))
PYTHON = sys.executable
VERSION = "0.2.0"
CONNECTORS = {"tap-salesforce-custom": "tap-salesforce-custom", "netsuite-mapper": "transform_mappers",
              "target-netsuite": "target-netsuite"}
DISTRIBUTIONS = ["connector_kit", "tap_salesforce_custom", "netsuite_mapper", "target_netsuite", "sfns_sandbox",
                 "pipeline_ops", "tap_netsuite_custom", "target_salesforce_custom"]
#: The third-party Singer tools the connectors must work with (target-jsonl as README; the mapper as bench/).
TARGET_JSONL = "target-jsonl==0.1.4"
MELTANO_MAP_TRANSFORM = "meltano-map-transform==0.12.3"
#: What the connectors need besides connector-kit (their pyproject.toml files).
THIRD_PARTY = ["singer-sdk[msgspec]~=0.54.9", "requests", "requests-oauthlib", "pyjwt", "cryptography",
               "typing-extensions"]
SYNC_ACCOUNTS = {"seed": 11, "accounts": 7, "contacts": 0, "products": 0, "opportunities": 0}


def _env() -> dict[str, str]:
    """This test's environment without the project venv's (a user's shell in another folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "UV_", "MELTANO_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    return env


def _run(args: list[str], cwd: Path, *, stdin: Path | None = None, stdout: Path | None = None,
         timeout: float = 600) -> str:
    with contextlib.ExitStack() as files:
        source = files.enter_context((stdin or Path(os.devnull)).open("rb"))
        sink = files.enter_context(stdout.open("wb")) if stdout else subprocess.PIPE
        result = subprocess.run(args, cwd=cwd, env=_env(), stdin=source, stdout=sink, stderr=subprocess.PIPE,
                                timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stderr.decode()[-4000:]}"
    return "" if stdout else result.stdout.decode()


def _uv_venv(path: Path, *packages: str, find_links: Path | None = None) -> Path:
    _run([UV, "venv", "--quiet", "--python", PYTHON, str(path)], cwd=path.parent)
    links = ["--find-links", str(find_links)] if find_links else []
    _run([UV, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"), *links, *packages],
         cwd=path.parent)
    return path / "bin"


def _pip_venv(path: Path) -> Path:
    """A fresh venv with pip, where pip installs the connector and resolves its kit. The connectors' third-party
    dependencies are put in first by uv (from its cache: seconds, not pip's minute), so pip has only our packages
    to find and build."""
    _run([UV, "venv", "--quiet", "--seed", "--python", PYTHON, str(path)], cwd=path.parent)
    _run([UV, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"), "-c",
          str(ROOT / "requirements" / "constraints.txt"), *THIRD_PARTY], cwd=path.parent)
    return path / "bin"


def _requires(metadata: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def wheelhouse(work: Path) -> Path:
    dist = work / "dist"
    _run(["make", "--no-print-directory", "dist", f"DIST={dist}"], cwd=ROOT)
    return dist


@pytest.fixture(scope="module")
def connectors(work: Path, wheelhouse: Path) -> Path:
    """One fresh venv holding the three connectors, installed by name from the wheelhouse alone."""
    return _uv_venv(work / "connectors", *CONNECTORS, find_links=wheelhouse)


def test_make_dist_builds_portable_wheels_and_sdists(wheelhouse: Path) -> None:
    built = sorted(path.name for path in wheelhouse.iterdir() if path.name.endswith((".whl", ".tar.gz")))
    assert built == sorted([f"{name}-{VERSION}-py3-none-any.whl" for name in DISTRIBUTIONS]
                           + [f"{name}-{VERSION}.tar.gz" for name in DISTRIBUTIONS])
    for name in DISTRIBUTIONS:
        with zipfile.ZipFile(wheelhouse / f"{name}-{VERSION}-py3-none-any.whl") as wheel:
            wheel_metadata = wheel.read(f"{name}-{VERSION}.dist-info/METADATA").decode()
        with tarfile.open(wheelhouse / f"{name}-{VERSION}.tar.gz") as sdist:
            member = sdist.extractfile(f"{name}-{VERSION}/PKG-INFO")
            assert member is not None
            sdist_metadata = member.read().decode()
        for metadata in (wheel_metadata, sdist_metadata):
            assert str(ROOT) not in metadata and "file:" not in "".join(_requires(metadata)), name
            assert "Dynamic: Requires-Dist" not in metadata, name  # a wheel built from the sdist keeps its list
        kit = [r for r in _requires(wheel_metadata) if r.startswith("connector-kit")]
        expected = [] if name in ("connector_kit", "sfns_sandbox") else [f"connector-kit=={VERSION}"]
        assert kit == expected == [r for r in _requires(sdist_metadata) if r.startswith("connector-kit")], name


def test_connectors_from_the_artifacts_run_in_plain_singer_pipelines(
    work: Path, connectors: Path, salesforce_url: str, netsuite_url: str
) -> None:
    kit = _run([str(connectors / "python"), "-c", "import connector_kit; print(connector_kit.__file__)"], cwd=work)
    assert kit.startswith(str(work / "connectors")), kit
    salesforce, netsuite = SalesforceClient(salesforce_url), NetSuiteClient(netsuite_url)
    salesforce.reset(**SYNC_ACCOUNTS)
    salesforce.calm()
    accounts = {a["Id"]: a for a in salesforce.records("Account") if not a.get("IsDeleted")}
    tap_config = work / "tap.json"
    tap_config.write_text(json.dumps({"login_url": salesforce_url, **SALESFORCE.as_dict(),
                                      "start_date": "2000-01-01", "objects": ["Account"]}))
    tap_out = work / "tap.singer"
    _run([str(connectors / "tap-salesforce-custom"), "--config", str(tap_config)], cwd=work, stdout=tap_out)

    # tap → target-jsonl
    jsonl = _uv_venv(work / "target-jsonl", TARGET_JSONL)
    plain = work / "plain"
    plain.mkdir()
    (work / "jsonl-plain.json").write_text(json.dumps({"destination_path": str(plain), "do_timestamp_file": False}))
    _run([str(jsonl / "target-jsonl"), "--config", str(work / "jsonl-plain.json")], cwd=work, stdin=tap_out)
    written = {row["Id"]: row for row in map(json.loads, (plain / "Account.jsonl").read_text().splitlines())}
    assert set(accounts) <= set(written) and all(written[i]["Name"] == a["Name"] for i, a in accounts.items())

    # tap → meltano-map-transform → target-jsonl
    mmt = _uv_venv(work / "meltano-map-transform", MELTANO_MAP_TRANSFORM)
    (work / "mapper.json").write_text(json.dumps({"stream_maps": {"Account": {
        "Id": "Id", "name_upper": "Name.upper()", "__else__": None}}}))
    mapped_out = work / "mapped.singer"
    _run([str(mmt / "meltano-map-transform"), "--config", str(work / "mapper.json")], cwd=work, stdin=tap_out,
         stdout=mapped_out)
    mapped = work / "mapped"
    mapped.mkdir()
    (work / "jsonl-mapped.json").write_text(json.dumps({"destination_path": str(mapped), "do_timestamp_file": False}))
    _run([str(jsonl / "target-jsonl"), "--config", str(work / "jsonl-mapped.json")], cwd=work, stdin=mapped_out)
    rows = {row["Id"]: row for row in map(json.loads, (mapped / "Account.jsonl").read_text().splitlines())}
    assert set(accounts) <= set(rows)
    assert all(rows[i] == {"Id": i, "name_upper": a["Name"].upper()} for i, a in accounts.items())

    # hand-written Singer → target-netsuite
    netsuite.reset()
    customers = {f"HAND{n:03d}": f"Handwritten Customer {n}" for n in range(3)}
    messages = [
        {"type": "SCHEMA", "stream": "customer", "key_properties": ["externalId"], "schema": {"type": "object",
         "properties": {"externalId": {"type": "string"}, "companyName": {"type": "string"},
                        "subsidiary": {"type": "object", "properties": {"id": {"type": "string"}}}}}},
        *({"type": "RECORD", "stream": "customer", "record": {"externalId": key, "companyName": name,
                                                               "subsidiary": {"id": "1"}}}
          for key, name in customers.items()),
        {"type": "STATE", "value": {"bookmarks": {"customer": {"position": "handwritten"}}}},
    ]
    singer = work / "handwritten.singer"
    singer.write_text("".join(json.dumps(message) + "\n" for message in messages))
    (work / "target.json").write_text(json.dumps({
        "account_id": NETSUITE.account_id, "base_url": netsuite_url, "auth_method": "tba", **NETSUITE.tba(),
        "dead_letter_path": str(work / "dead_letters"), "lock_path": str(work / "target.lock")}))
    states = _run([str(connectors / "target-netsuite"), "--config", str(work / "target.json")], cwd=work, stdin=singer)
    assert json.loads(states.splitlines()[-1]) == messages[-1]["value"]
    assert {c["externalId"]: c["companyName"] for c in netsuite.records("customer")} == customers


def test_pip_installs_a_connector_from_a_checkout_with_its_kit(work: Path) -> None:
    """The README's `pip install ./tap-salesforce-custom`, in a fresh venv (before: no connector-kit found)."""
    venv = _pip_venv(work / "from-checkout")
    _run([str(venv / "pip"), "install", "--quiet", str(ROOT / "tap-salesforce-custom")], cwd=work)
    assert "tap-salesforce-custom" in _run([str(venv / "tap-salesforce-custom"), "--version"], cwd=work)
    origin = json.loads(next((venv.parent / "lib").glob("python3*/site-packages/connector_kit-*.dist-info"))
                        .joinpath("direct_url.json").read_text())
    assert origin["url"] == (ROOT / "connector_kit").as_uri()


def _clone_of_the_work_tree(work: Path) -> tuple[Path, str]:
    """A git repository holding this work tree as it is (committed or not): what a release tag would hold."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    repo = work / "repository"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-C", str(repo)]
    for args in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "release"],
                 ["tag", f"v{VERSION}"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return repo, subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def test_pip_installs_a_connector_from_git_with_its_kit(work: Path) -> None:
    """The README's `pip install "git+…@v<version>#subdirectory=…"`; then a lock file's `name @ git+…@<commit>`
    twice: the second install takes the connector's wheel from pip's cache, whose kit requirement must not name
    the first install's deleted clone."""
    repo, commit = _clone_of_the_work_tree(work)
    venv = _pip_venv(work / "from-git-tag")
    _run([str(venv / "pip"), "install", "--quiet", f"git+{repo.as_uri()}@v{VERSION}#subdirectory=target-netsuite"],
         cwd=work)
    assert "target-netsuite" in _run([str(venv / "target-netsuite"), "--version"], cwd=work)
    pinned = f"tap-salesforce-custom @ git+file://localhost{repo}@{commit}#subdirectory=tap-salesforce-custom"
    for n in (1, 2):
        venv = _pip_venv(work / f"from-git-commit-{n}")
        _run([str(venv / "pip"), "install", "--quiet", pinned], cwd=work)
        assert "tap-salesforce-custom" in _run([str(venv / "tap-salesforce-custom"), "--version"], cwd=work)
