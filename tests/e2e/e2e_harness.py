"""Shared harness for end-to-end tests: real `meltano run` in this project, pointed at the test session's sandboxes.

Each test gets its own Meltano system database (so its state never mixes with the demo's or another test's) and
its own Meltano run directory (`MELTANO_SYS_DIR_ROOT`, the installed plugins linked in, as `bench/soak.py` does),
so tests in parallel workers never share the tap's catalog or other run files; it reaches the sandboxes through
the standard Meltano setting environment variables, which outrank meltano.yml.

Discovery once per project and settings: Meltano discovers the tap's catalog before every `meltano run` (its own
cache is off for editable plugins), about 1.5 CPU-seconds a run. The first successful run of a project discovers for
real (describe calls to the stand-in, Meltano's select and metadata rules); later runs with the same tap settings
(every `TAP_SALESFORCE_CUSTOM*` variable and the environment) hand the tap that run's catalog
(`TAP_SALESFORCE_CUSTOM__CATALOG`), byte for byte what discovery would give again while the org's describe is
unchanged. A test whose subject is discovery, or that changes describe or counts describe calls between runs, sets
`discover_every_run=True` (test_schema_drift_pipeline, test_quiet_runs, test_api_budget); tests that run the tap
through `meltano invoke`/Dagster/their own processes discover as before. Meltano's global options before `run`
(`--log-config=...`) are part of the key; a copy of the project with its own meltano.yml (`root`) keeps its own.

Meltano starts with a small environment (`inherited_env`), as cron starts a job, not with the test process's whole
environment: Meltano copies the environment for every setting it resolves.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy
from sandbox.client import SandboxClient

ROOT = Path(__file__).resolve().parents[2]
MELTANO = ROOT / ".venv" / "bin" / "meltano"
PIPELINE = ("tap-salesforce-custom", "salesforce-to-netsuite", "target-netsuite")
STATE_ID = "dev:tap-salesforce-custom-to-target-netsuite"
CATALOG_SETTING = "TAP_SALESFORCE_CUSTOM__CATALOG"


#: What a test's `meltano` inherits from the test process, as cron hands a job a small environment: the system's
#: basics, the session's sandbox URLs and bytecode cache, and every variable that names a Meltano, plugin or
#: PostgreSQL setting. Not the rest of the machine's environment: Meltano copies the whole environment each time it
#: resolves a setting (about 14,000 times a `meltano run` of this project), so each inherited variable costs every
#: run CPU (measured: about 0.8 CPU-seconds a run for the ~40 variables a test worker has beyond these).
INHERITED = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "SHELL"})
INHERITED_PREFIXES = ("SANDBOX_", "PYTHON", "MELTANO_", "TAP_", "TARGET_", "NETSUITE_", "PIPELINE_OPS", "PG",
                      "SSL_CERT_", "REQUESTS_CA_BUNDLE")


def inherited_env() -> dict[str, str]:
    """The part of this process's environment a test's `meltano` is started with (see `INHERITED`)."""
    return {k: v for k, v in os.environ.items() if k in INHERITED or k.startswith(INHERITED_PREFIXES)}


@dataclass
class MeltanoProject:
    """Runs `meltano` commands in the repository with a private system database and sandbox URLs."""

    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    #: True: every `meltano run` discovers the catalog (describe calls); False: once per tap settings (see above).
    discover_every_run: bool = False
    #: Where the discovered catalogs are kept (default: this project's own folder). A test file whose tests all see
    #: the same org describe may share one folder between its projects: discovery once per file and tap settings.
    catalogs: Path | None = None
    #: The Meltano project the commands run in (a test may run in a copy with its own meltano.yml).
    root: Path = ROOT

    def system_dir(self) -> Path:
        """This test's `.meltano`: the installed plugins linked from the repository's, its own run files."""
        system = self.tmp / "meltano-system"
        if not system.is_dir():
            system.mkdir(parents=True)
            for entry in (ROOT / ".meltano").iterdir():
                if entry.is_dir() and entry.name not in ("run", "logs"):
                    (system / entry.name).symlink_to(entry)
        return system

    def base_env(self) -> dict[str, str]:
        env = {
            **inherited_env(),
            "MELTANO_SYS_DIR_ROOT": str(self.system_dir()),
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_DATABASE_URI": f"sqlite:///{self.tmp / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TAP_SALESFORCE_CUSTOM_LOGIN_URL": os.environ["SANDBOX_SALESFORCE_URL"],
            "TARGET_NETSUITE_BASE_URL": os.environ["SANDBOX_NETSUITE_URL"],
            "TARGET_NETSUITE_DEAD_LETTER_PATH": str(self.tmp / "dead_letters"),
        }
        env.update(self.env)
        return env

    def meltano(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        merged = {**self.base_env(), **(env or {})}
        kept = self._kept_catalog(args, merged)
        if kept is not None and kept.is_file():
            merged[CATALOG_SETTING] = str(kept)
        discovered = self.system_dir() / "run" / "tap-salesforce-custom" / "tap.properties.json"
        before = discovered.stat().st_mtime_ns if discovered.is_file() else None
        result = subprocess.run(
            [str(MELTANO), *args],
            cwd=self.root,
            env=merged,
            text=True,
            capture_output=True,
            timeout=timeout,
        )
        if (kept is not None and not kept.is_file() and result.returncode == 0 and discovered.is_file()
                and discovered.stat().st_mtime_ns != before
                and json.loads(discovered.read_text() or "{}").get("streams")):  # a quota-stopped discovery is empty
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(discovered, kept)
        return result

    def _kept_catalog(self, args: tuple[str, ...], env: dict[str, str]) -> Path | None:
        """Where this project keeps the catalog discovered under these tap settings and Meltano's global options
        (`meltano --log-config=... run ...`), or None: discover."""
        options = list(itertools.takewhile(lambda arg: arg.startswith("--"), args))
        if self.discover_every_run or args[len(options):][:1] != ("run",) or CATALOG_SETTING in env:
            return None
        settings = sorted((k, v) for k, v in env.items()
                          if k.startswith("TAP_SALESFORCE_CUSTOM") or k == "MELTANO_ENVIRONMENT")
        key = hashlib.sha256(json.dumps([settings, options]).encode()).hexdigest()[:16]
        return (self.catalogs or self.tmp / "catalogs") / f"{key}.json"

    def run_pipeline(
        self, *extra: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = self.meltano("run", *extra, *PIPELINE, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"meltano run failed ({result.returncode}):\n{result.stderr[-6000:]}")
        return result

    def start_pipeline(self, *extra: str, log: Path) -> subprocess.Popen[bytes]:
        """`meltano run` in the background, in its own process group, its console output going to `log` (a pipe
        nobody reads would fill and stop a long run)."""
        with log.open("wb") as out:
            return subprocess.Popen([str(MELTANO), "run", *extra, *PIPELINE], cwd=self.root, env=self.base_env(),
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def state(self, state_id: str = STATE_ID, *, cli: bool = False) -> dict | None:
        """The state the next run would start from (what `meltano state get` prints), or None if there is none.

        With Meltano's default state backend (the system database) it is read from the database's `state` table as
        Meltano's own `state get` reads it (partial state merged onto the completed one), without a Meltano
        process (about 2 CPU-seconds each). `cli=True`, or another backend (`MELTANO_STATE_BACKEND_URI`), runs
        the real `meltano state get`."""
        env = self.base_env()
        if cli or env.get("MELTANO_STATE_BACKEND_URI", "systemdb") != "systemdb":
            result = self.meltano("state", "get", state_id)
            if result.returncode != 0 or not result.stdout.strip():
                return None
            return json.loads(result.stdout) or None
        return system_db_state(env["MELTANO_DATABASE_URI"], state_id)


def system_db_state(database_uri: str, state_id: str) -> dict | None:
    """A state id's state in Meltano's system database: its `state` row's `partial_state` (JSON text) merged
    onto its `completed_state` at depth (`meltano.core.state_store.base.MeltanoState.json_merged`); None if
    there is no such row (or no database yet) or the merged state is empty, as `meltano state get` prints `{}`."""
    if database_uri.startswith("sqlite:///") and not Path(database_uri.removeprefix("sqlite:///")).is_file():
        return None  # never create the file: Meltano creates and migrates it on its first command
    engine = sqlalchemy.create_engine(database_uri)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sqlalchemy.text("SELECT partial_state, completed_state FROM state WHERE state_id = :state_id"),
                {"state_id": state_id},
            ).first()
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError):
        return None  # no `state` table: Meltano has not migrated this database yet
    finally:
        engine.dispose()
    if row is None:
        return None
    partial, completed = (json.loads(value) if value else {} for value in row)
    return _merge(partial or {}, completed or {}) or None


def _merge(source: dict, destination: dict) -> dict:
    """`meltano.core.utils.merge`: `source` into `destination` at depth, `source` winning."""
    for key, value in source.items():
        if isinstance(value, dict):
            _merge(value, destination.setdefault(key, {}))
        else:
            destination[key] = value
    return destination


def write_back_project(tmp: Path, objects: tuple[str, ...], **extra: str) -> MeltanoProject:
    """A project for both jobs: the sync reads these Salesforce objects; the write-back job
    (`sync-netsuite-to-salesforce`) reads the NetSuite sandbox and writes to the Salesforce sandbox, its dead
    letters and ledger in this test's folder."""
    return MeltanoProject(tmp, env={
        "TAP_SALESFORCE_CUSTOM__SELECT": json.dumps([f"{name}.*" for name in objects]),
        "TAP_NETSUITE_CUSTOM_BASE_URL": os.environ["SANDBOX_NETSUITE_URL"],
        "TARGET_SALESFORCE_CUSTOM_LOGIN_URL": os.environ["SANDBOX_SALESFORCE_URL"],
        "TARGET_SALESFORCE_CUSTOM_DEAD_LETTER_PATH": str(tmp / "dead_letters_sf"),  # its ledger too
        **extra,
    })


class SandboxAdmin(SandboxClient):
    """The shipped admin client (`sandbox.client.SandboxClient`: get/post/patch/delete/records, ...)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, timeout=300)

    def post(self, path: str, body: dict | None = None) -> dict:
        return super().post(path, body) or {}


def run_summaries(output: str) -> list[dict]:
    """The target's `Run summary: {json}` lines, from Meltano's console output."""
    decoder = json.JSONDecoder()
    found = []
    for line in output.splitlines():
        if "Run summary: " in line:
            found.append(decoder.raw_decode(line.split("Run summary: ", 1)[1])[0])
    return found
