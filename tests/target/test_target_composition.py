"""How the target is put together (issue 12): a strict import stack, services that hold a sink only while it may
hold records, the connection check and one-line fatal errors on the command line, `fail_on_dead_letters`."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import target_netsuite
from target_helpers import CUSTOMER_SCHEMA, DEMO_TBA, customer, run_target, state
from target_netsuite.services import TargetSettings
from target_netsuite.target import TargetNetSuite

PACKAGE = Path(target_netsuite.__file__).parent
#: Bottom to top; a module may import only modules of lower layers (TYPE_CHECKING imports included).
LAYERS = [
    {"auth", "sdk_internals", "match_keys"},
    {"client"},
    {"references", "dead_letters", "parking", "ledger", "fixed_ids", "totals", "lookups"},
    {"writes", "reconcile", "optional_references"},
    {"outcomes", "price_rows"},
    {"matching", "merge", "batches", "subsidiaries"},
    {"overtake", "breaker", "match_report", "order_lifecycle", "batch_job"},
    {"writers"},
    {"services"},
    {"sinks"},
    {"target"},
]


def _imports(module: str) -> set[str]:
    """The package modules a module imports, anywhere in it (module level, TYPE_CHECKING, functions)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
        found |= {name.split(".")[1] for name in names if name.startswith("target_netsuite.")}
    return found


def test_imports_form_a_strict_stack() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == set().union(*LAYERS), "a module is missing from LAYERS"
    layer_of = {module: n for n, layer in enumerate(LAYERS) for module in layer}
    upward = {(module, imported) for module in modules for imported in _imports(module)
              if layer_of[imported] >= layer_of[module]}
    assert upward == set(), f"imports that do not go down the stack: {sorted(upward)}"


def test_each_layer_imports_in_a_fresh_interpreter_without_loading_a_higher_one() -> None:
    """Import bottom-up in one fresh interpreter: after each layer, nothing above it is loaded."""
    script = (
        "import importlib, json, sys\n"
        f"layers = {[sorted(layer) for layer in LAYERS]!r}\n"
        "for n, layer in enumerate(layers):\n"
        "    for name in layer:\n"
        "        importlib.import_module('target_netsuite.' + name)\n"
        "    above = {'target_netsuite.' + m for later in layers[n + 1:] for m in later}\n"
        "    loaded = sorted(above & set(sys.modules))\n"
        "    assert not loaded, (layer, loaded)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


#: The calls that record a record's outcome, by receiver: the run summary, the dead letters, the parking store and
#: the write ledger (`invalidate`/`forget_keys` of the ledger drop a cache entry before a send, never an outcome).
OUTCOME_CALLS = {("summary", "add"), ("dead_letters", "add"), ("dead_letters", "resolve"), ("parked", "park"),
                 ("parked", "settle"), ("parked", "count_tried"), ("ledger", "record")}
#: Methods that only these stores have: a call of one is an outcome's whatever its receiver is named.
OUTCOME_METHODS = {"park", "count_tried", "record_refused", "forget_refused"}
#: The one module that records outcomes (issue 26).
RECORDER = "outcomes"


def _outcome_calls(module: str) -> list[str]:
    """`module:line receiver.method` of each call in the module that records an outcome."""
    found = []
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        receiver = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) else ""
        if (receiver.lstrip("_"), node.func.attr) in OUTCOME_CALLS or node.func.attr in OUTCOME_METHODS:
            found.append(f"{module}:{node.lineno} {receiver}.{node.func.attr}")
    return found


def test_only_the_recorder_records_outcomes() -> None:
    """The summary, the parking store, the dead letters and the ledger's records are written by outcomes.py alone;
    every other module decides and tells it (and the scan does see the recorder's own calls)."""
    modules = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", RECORDER))
    elsewhere = [call for module in modules for call in _outcome_calls(module)]
    assert elsewhere == [], f"outcomes recorded outside {RECORDER}.py: {elsewhere}"
    recorded = {call.split(" ")[1].split(".")[1] for call in _outcome_calls(RECORDER)}
    assert {"add", "resolve", "park", "settle", "count_tried", "record", "record_refused", "forget_refused"} <= recorded


def test_settings_are_the_schema_defaults_when_absent_or_null() -> None:
    schema = TargetNetSuite.config_jsonschema
    settings = TargetSettings.from_config({**DEMO_TBA, "dead_letter_path": None}, schema)
    assert settings.dead_letter_path == schema["properties"]["dead_letter_path"]["default"]
    assert settings.max_concurrency == schema["properties"]["max_concurrency"]["default"]
    assert settings.match_mode == schema["properties"]["match_mode"]["default"]
    assert settings.ignored_streams == [] and settings.record_types == {}


def test_sinks_retired_by_the_sdk_leave_the_services(admin, config) -> None:
    """A schema change makes the SDK retire a stream's sink. While the retired sink still holds records it stays
    (a child may need them written first); once drained it leaves, although the SDK calls its `clean_up` only
    at the end of the input, and a retired sink drained mid-run never gets one. At the end none is left."""
    changed = {**CUSTOMER_SCHEMA, "schema": {**CUSTOMER_SCHEMA["schema"], "properties": {
        **CUSTOMER_SCHEMA["schema"]["properties"], "comments": {"type": ["string", "null"]}}}}
    cases = {
        # checkpoint every record: the first sink is drained (and retired empty) before the new SCHEMA
        "drained before the change": ({"checkpoint_interval_seconds": 0}, 1),
        # one big batch: the retired sink still holds R1 when the new one opens
        "holding records": ({}, 2),
    }
    for name, (extra, open_after_change) in cases.items():
        target = TargetNetSuite(config={**config, **extra})
        sizes: list[int] = []
        register = target.services.sinks.register

        def spy(sink: object, register=register, target=target, sizes=sizes) -> None:
            register(sink)  # type: ignore[arg-type]
            sizes.append(len(target.services.sinks))

        target.services.sinks.register = spy  # type: ignore[method-assign]
        messages = [CUSTOMER_SCHEMA, customer(f"R1{name[0]}"), changed, customer(f"R2{name[0]}"), state(2)]
        target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
        assert sizes == [1, open_after_change], name
        assert len(target.services.sinks) == 0, name
        assert {f"R1{name[0]}", f"R2{name[0]}"} <= set(admin.by_external_id("customer")), name


def test_bad_credentials_stop_before_reading_with_one_line(admin, config, tmp_path) -> None:
    """On the command line the connection is checked before any record: refused credentials → one line naming
    the cause (never the secret), exit 1, no traceback, no STATE, nothing written."""
    secret = "not-the-sandbox-token-secret"
    result = run_target({**config, "token_secret": secret}, [CUSTOMER_SCHEMA, customer("BAD1"), state(1)], tmp_path)
    assert result.returncode == 1 and result.states == []
    refused = "target-netsuite: NetSuite refused the credentials"
    errors = [line for line in result.stderr.splitlines() if refused in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and secret not in result.stderr
    assert [e for e in admin.request_log() if e["method"] == "PUT"] == []


def test_connection_ok_is_logged_once_and_checked_once(admin, config, tmp_path) -> None:
    # match_mode create and no references: the connection check is the run's only SuiteQL query
    result = run_target({**config, "match_mode": "create"}, [CUSTOMER_SCHEMA, customer("OK1"), state(1)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("target-netsuite: connection OK (account 1234567_SB1)") == 1
    assert len([e for e in admin.request_log() if "suiteql" in e["path"]]) == 1


def test_fail_on_dead_letters_exits_2_after_state_with_one_line(admin, config, tmp_path) -> None:
    admin.knobs(reject_external_ids=["DL2"])
    messages = [CUSTOMER_SCHEMA, customer("DL1"), customer("DL2"), state("end")]
    result = run_target({**config, "fail_on_dead_letters": True}, messages, tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.states == [state("end")["value"]]  # state first, then the non-zero exit
    errors = [line for line in result.stderr.splitlines() if "target-netsuite: 1 records dead-lettered (see " in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert set(admin.by_external_id("customer")) == {"DL1"}


def test_number_settings_have_their_declared_python_types() -> None:
    """A config file's decimals reach the plugin as `Decimal`; the settings hold floats (the backoff multiplies
    them with floats)."""
    from decimal import Decimal

    settings = TargetSettings.from_config(
        {**DEMO_TBA, "backoff_factor": Decimal("0.05"), "max_concurrency": 3}, TargetNetSuite.config_jsonschema)
    assert type(settings.backoff_factor) is float and settings.backoff_factor == 0.05
    assert type(settings.max_concurrency) is int


def test_a_signal_inside_submit_stops_the_run_instead_of_hanging(config: dict) -> None:
    """SIGTERM can arrive while the main thread is inside `executor.submit`, holding the executor's lock: the
    handler must not wait for that lock (it did: the target hung, holding the account's run lock)."""
    target = TargetNetSuite(config=config)
    executor = target.services.executor
    outcome: list[BaseException] = []

    def interrupted_submit() -> None:
        with executor._shutdown_lock:  # (private) what `submit` holds when the signal lands
            try:
                target.stop_at_once(15)
            except SystemExit as exc:
                outcome.append(exc)

    thread = threading.Thread(target=interrupted_submit, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the signal handler waited for the lock its own thread holds"
    assert [exc.code for exc in outcome] == [143]
    for _ in range(200):  # the helper thread shuts the workers down once the lock is free
        try:
            executor.submit(print).cancel()
        except RuntimeError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the workers were never shut down")
    target.finish()


def test_a_match_report_never_moves_state_even_in_a_dry_run() -> None:
    """`dry_run` with `match_mode: report`: the report's sink (no STATE, the report written), never the dry run's,
    which would let Meltano's bookmark pass records nothing wrote."""
    from target_netsuite.sinks import DryRunSink, MatchReportSink, WritingSink, mode_sink

    schema = TargetNetSuite.config_jsonschema

    def chosen(**settings: object) -> type:
        return mode_sink(TargetSettings.from_config({**DEMO_TBA, **settings}, schema))

    assert chosen(dry_run=True, match_mode="report") is MatchReportSink
    assert not MatchReportSink.claims_progress
    assert chosen(dry_run=True) is DryRunSink
    assert chosen() is WritingSink
