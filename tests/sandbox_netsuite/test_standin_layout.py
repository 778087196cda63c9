"""Both stand-ins are laid out alike and reached through one admin client (issue 26).

- No import circle between the sandbox's modules, type-only (`if TYPE_CHECKING:`) imports included.
- Each stand-in's state holder (`backend.py`) has no HTTP in it.
- Every admin route of both stand-ins (`routes.py`) has a method on the shipped admin client
  (`sandbox.client`): each method is called against a recording session and every route must be hit.
- Tests and benchmarks never spell an admin URL themselves: no string in tests/ or bench/ (docstrings aside)
  holds the admin prefix; they call the client.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from sandbox.client import NetSuiteClient, SalesforceClient
from sandbox.netsuite.routes import ADMIN_ROUTES as NETSUITE_ADMIN_ROUTES
from sandbox.salesforce.routes import routes as salesforce_routes
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sandbox" / "sandbox"
ADMIN_PREFIX = "/__" + "admin"  # spelled in two parts so this file passes its own check


# --- imports -----------------------------------------------------------------------------------------------------

def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The sandbox modules `path` imports, at any level of the file (TYPE_CHECKING blocks included)."""
    found: set[str] = set()
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: _imports(path, modules) - {name} for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_circle_in_the_stand_ins_type_only_imports_included() -> None:
    graph = _graph()
    assert "sandbox.netsuite.backend" in graph and "sandbox.salesforce.backend" in graph
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_type_only_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("backend", ["netsuite", "salesforce"])
def test_the_state_holders_have_no_http_in_them(backend: str) -> None:
    tree = ast.parse((PACKAGE / backend / "backend.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    http = {name for name in imported if name.split(".")[0] in ("starlette", "requests", "httpx", "uvicorn")}
    http |= {name for name in imported if name.endswith((".responses", ".routes", ".admin", ".pipeline", ".app"))}
    assert not http, f"{backend}/backend.py imports {sorted(http)}"


# --- the admin client covers every admin route --------------------------------------------------------------------

class _Answer:
    status_code = 200
    ok = True
    content = json.dumps({"records": [], "jobs": [], "accounts": [], "ids": [], "api_usage": 0,
                          "validation_rules": [], "locked_records": {}}).encode()
    text = content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


class _Recorder:
    """A session that answers every request with `_Answer` and remembers (method, path)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, url: str, **_: Any) -> _Answer:
        self.sent.append((method, url.removeprefix("http://sandbox")))
        return _Answer()

    def get(self, url: str, **kwargs: Any) -> _Answer:
        return self.request("GET", url, **kwargs)


def _every_method(client: SalesforceClient | NetSuiteClient) -> None:
    """Every admin method of the client, once (the shared surface first)."""
    client.health()
    client.reset()
    client.knobs()
    client.knobs(latency_ms=0)
    client.stats()
    client.request_log()
    if isinstance(client, SalesforceClient):
        client.records("Account")
        client.create("Account", {"Name": "A"})
        client.update("Account", "001", {"Name": "B"})
        client.delete_record("Account", "001")
        client.undelete("Account", "001")
        client.purge("Account", "001")
        client.expire_sessions()
        client.metadata()
        client.change_metadata("Account", {"delete": ["Website"]})
        client.share_modstamp("Account", 2)
    else:
        client.records("customer")
        client.create_records("customer", [{"companyName": "A"}])
        client.record("customer", "eid:A/1")
        client.edit_record("customer", "eid:A", {"phone": "1"})
        client.delete_record("customer", "100")
        client.order_transition("eid:O1", "approve")
        client.pay_invoice("1001", 5.0)
        client.accounts()
        client.add_m2m_client("c", "cert", "pem")
        client.jobs()


def _admin_routes(name: str) -> list[Route]:
    if name == "netsuite":
        return [Route(path, _endpoint, methods=list(methods)) for path, methods, _ in NETSUITE_ADMIN_ROUTES]
    return [r for r in salesforce_routes() if isinstance(r, Route) and r.path.startswith(ADMIN_PREFIX)]


async def _endpoint(request: Any) -> None:  # pragma: no cover - never served
    return None


@pytest.mark.parametrize("name", ["netsuite", "salesforce"])
def test_every_admin_route_has_a_client_method(name: str) -> None:
    recorder = _Recorder()
    client = (NetSuiteClient if name == "netsuite" else SalesforceClient)("http://sandbox", http=recorder)
    _every_method(client)
    routes = _admin_routes(name)
    assert len(routes) >= 15 if name == "netsuite" else len(routes) >= 14

    def hit(route: Route, method: str, path: str) -> bool:
        return method in (route.methods or ()) and route.path_regex.match(path) is not None

    missing = [f"{sorted(set(r.methods or ()) - {'HEAD'})} {r.path}" for r in routes
               if not any(hit(r, method, path) for method, path in recorder.sent)]
    assert not missing, f"admin routes without a {type(client).__name__} method: {missing}"
    strays = [f"{method} {path}" for method, path in recorder.sent if not any(hit(r, method, path) for r in routes)]
    assert not strays, f"client methods calling no admin route: {strays}"


# --- tests and benchmarks go through the client --------------------------------------------------------------------

def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def raw_admin_lines(path: Path) -> list[int]:
    """Lines of `path` holding a string (not a docstring) that spells the admin prefix, f-strings included."""
    tree = ast.parse(path.read_text())
    docstrings = _docstrings(tree)
    return sorted(node.lineno for node in ast.walk(tree) if isinstance(node, ast.Constant)
                  and isinstance(node.value, str) and ADMIN_PREFIX in node.value and id(node) not in docstrings)


def test_tests_and_benchmarks_never_spell_an_admin_url() -> None:
    files = [p for folder in ("tests", "bench") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 100
    found = [f"{path.relative_to(ROOT)}:{line}" for path in files for line in raw_admin_lines(path)]
    assert not found, f"call the admin client (sandbox/sandbox/client.py) instead of a raw admin URL: {found}"


def test_the_raw_url_check_sees_f_strings_and_skips_docstrings(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(f'"""Mentions {ADMIN_PREFIX}/jobs in a docstring."""\n'
                      f'import requests\nrequests.get(f"{{url}}{ADMIN_PREFIX}/jobs")\n'
                      f'requests.post("http://x{ADMIN_PREFIX}/reset")\n')
    assert raw_admin_lines(sample) == [3, 4]
