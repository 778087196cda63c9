"""Safe, compiled mapping expressions: `truncate(Name, 83)`, `ref("customer", AccountId)`, `line["Quantity"]`.

An expression is a Python expression restricted to a whitelist of syntax (no imports, no lambdas, no assignment, no
attribute access except a few data methods such as `.upper()`, no builtins), as in the SDK's simpleeval-based stream
maps. It is checked once against the input stream's schema (every name must be a field, a loop variable or a
function; a constant key into a known object must exist) and compiled once into a Python function, so mapping a record
costs one call per leaf rather than a walk of the syntax tree. Its output type is inferred from the input schema and
the functions' declared result types, so the output SCHEMA is typed properly.
"""

from __future__ import annotations

import ast
import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from transform_mappers.functions import FunctionSpec, Schema

RECORD_ARG = "__r__"
LOOP_ARG = "__v__"
ITEM_FN = "__item__"

ALLOWED_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "get", "isdigit", "items", "join", "keys", "lower", "lstrip",
    "replace", "rstrip", "split", "splitlines", "startswith", "strip", "title", "upper", "values", "zfill",
})
_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
    ast.Mod, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.IfExp, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
    ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.Call, ast.keyword, ast.Constant, ast.Name, ast.Load,
    ast.Store, ast.Attribute, ast.Subscript, ast.Slice, ast.Dict, ast.List, ast.Tuple, ast.Set, ast.JoinedStr,
    ast.FormattedValue, ast.ListComp, ast.GeneratorExp, ast.comprehension,
)
_RECORD_NAMES = frozenset({"record", "_"})
_TYPE_OF_CONSTANT = {bool: "boolean", int: "integer", float: "number", Decimal: "number", str: "string"}


class ExpressionError(ValueError):
    """An expression the mapper refuses at start-up (does not parse, unknown name, forbidden syntax)."""


class MissingFieldError(ExpressionError):
    """An expression names a field its stream's schema does not have (e.g. deleted at the source)."""

    def __init__(self, message: str, field: str) -> None:
        """Keep the field's name for the caller's message."""
        super().__init__(message)
        self.field = field


def parse(source: str) -> ast.Expression:
    """Parse and check the syntax whitelist; needs no schema, so it runs when the config is loaded."""
    if not isinstance(source, str) or not source.strip():
        msg = f"expression {source!r} is empty or not text"
        raise ExpressionError(msg)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        msg = f"expression {source!r} does not parse: {exc.msg}"
        raise ExpressionError(msg) from None
    except (RecursionError, MemoryError):
        msg = f"expression {source[:60]!r}... is nested too deep"
        raise ExpressionError(msg) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            msg = f"expression {source!r} uses {type(node).__name__}, which mappings do not allow"
            raise ExpressionError(msg)
        if isinstance(node, ast.Attribute) and node.attr not in ALLOWED_METHODS:
            msg = f"expression {source!r} uses attribute .{node.attr}, which mappings do not allow"
            raise ExpressionError(msg)
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            msg = f"expression {source!r} uses the reserved name {node.id}"
            raise ExpressionError(msg)
        if isinstance(node, ast.comprehension) and not all(isinstance(n, ast.Name) for n in _targets(node.target)):
            msg = f"expression {source!r}: comprehension targets must be plain names"
            raise ExpressionError(msg)
    return tree


@dataclass(frozen=True)
class Scope:
    """What names an expression may use: the input stream's fields, loop variables in scope, and functions."""

    stream: str
    fields: Mapping[str, Schema]
    functions: Mapping[str, FunctionSpec]
    config: Mapping[str, Any]
    loop_vars: Mapping[str, Schema] = field(default_factory=dict)

    def with_loop_var(self, name: str, schema: Schema) -> Scope:
        """The scope inside an `__each__` block."""
        return Scope(self.stream, self.fields, self.functions, self.config, {**self.loop_vars, name: schema})


@dataclass(frozen=True)
class Expression:
    """A compiled expression: `fn(record, loop_vars)` → value, plus its inferred output schema."""

    source: str
    fn: Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
    schema: Schema
    fields: tuple[str, ...]


def compile_expression(source: str, scope: Scope, global_names: Mapping[str, Any]) -> Expression:
    """Check `source` against `scope` and compile it into a function of (record, loop variables)."""
    tree = parse(source)
    schema = _Inferrer(scope, source).infer(tree.body, {})
    rewriter = _Rewriter(scope, source)
    body = rewriter.visit(copy.deepcopy(tree.body))
    lambda_args = ast.arguments(
        posonlyargs=[], args=[ast.arg(RECORD_ARG), ast.arg(LOOP_ARG)], kwonlyargs=[], kw_defaults=[], defaults=[],
    )
    module = ast.fix_missing_locations(ast.Expression(ast.Lambda(lambda_args, body)))
    namespace = {"__builtins__": {}, **global_names, ITEM_FN: _item}
    fn = eval(compile(module, f"<mapping {source!r}>", "eval"), namespace)
    return Expression(source, fn, schema, tuple(sorted(rewriter.fields_used)))


def _item(container: Any, key: str) -> Any:
    """`x["key"]` in an expression: null-safe, and a key missing from an object is null, like a missing field."""
    if container is None:
        return None
    if isinstance(container, Mapping):
        return container.get(key)
    return container[key]


def _targets(node: ast.expr) -> list[ast.expr]:
    return [e for elt in node.elts for e in _targets(elt)] if isinstance(node, ast.Tuple) else [node]


class _Rewriter(ast.NodeTransformer):
    """Turns names into lookups: fields → `__r__.get("F")`, loop variables → `__v__["v"]`; checks calls."""

    def __init__(self, scope: Scope, source: str) -> None:
        self.scope = scope
        self.source = source
        self.bound: set[str] = set()
        self.fields_used: set[str] = set()

    def _fail(self, why: str) -> ExpressionError:
        return ExpressionError(f"expression {self.source!r} {why}")

    def visit_Name(self, node: ast.Name) -> ast.expr:
        name = node.id
        if isinstance(node.ctx, ast.Store) or name in self.bound or name == "config":
            return node
        if name in self.scope.loop_vars:
            return ast.Subscript(ast.Name(LOOP_ARG, ast.Load()), ast.Constant(name), ast.Load())
        if name in _RECORD_NAMES:
            return ast.Name(RECORD_ARG, ast.Load())
        if name in self.scope.fields:
            self.fields_used.add(name)
            getter = ast.Attribute(ast.Name(RECORD_ARG, ast.Load()), "get", ast.Load())
            return ast.Call(getter, [ast.Constant(name)], [])
        if name in self.scope.functions:
            raise self._fail(f"uses the function {name!r} without calling it")
        raise MissingFieldError(f"expression {self.source!r} names {name!r}, which stream {self.scope.stream!r} "
                                "does not have", name)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        if isinstance(node.func, ast.Name):
            spec = self.scope.functions.get(node.func.id)
            if spec is None or node.func.id in self.bound:
                raise self._fail(f"calls {node.func.id!r}, which is not a mapping function")
            _check_arity(spec, node, self._fail)
            node.args = [self.visit(arg) for arg in node.args]
            node.keywords = [self.visit(kw) for kw in node.keywords]
            return node
        return cast("ast.expr", self.generic_visit(node))  # a visited expression stays an expression

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(node.ctx, ast.Load):
            return ast.Call(ast.Name(ITEM_FN, ast.Load()), [self.visit(node.value), node.slice], [])
        return cast("ast.expr", self.generic_visit(node))

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> ast.expr:
        saved = set(self.bound)
        for generator in node.generators:
            generator.iter = self.visit(generator.iter)
            self.bound.update(t.id for t in _targets(generator.target) if isinstance(t, ast.Name))
            generator.ifs = [self.visit(cond) for cond in generator.ifs]
        node.elt = self.visit(node.elt)
        self.bound = saved
        return node

    visit_ListComp = _comprehension  # noqa: N815 - the names ast.NodeTransformer dispatches to
    visit_GeneratorExp = _comprehension  # noqa: N815


def _check_arity(spec: FunctionSpec, node: ast.Call, fail: Callable[[str], ExpressionError]) -> None:
    try:
        signature = inspect.signature(spec.fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*node.args, **{kw.arg: kw.value for kw in node.keywords if kw.arg})
    except TypeError as exc:
        raise fail(f"calls {ast.unparse(node.func)}() wrongly: {exc}") from None


def nullable(schema: Schema) -> Schema:
    """The same schema, also allowing null (leaves may be absent or null in the output)."""
    kind = schema.get("type")
    if kind is None:
        return schema
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {**schema, "type": kinds if "null" in kinds else [*kinds, "null"]}


def _kinds(schema: Schema) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return ({kind} if isinstance(kind, str) else set(kind)) - {"null"}


def merge_schemas(schemas: list[Schema]) -> Schema:
    """One schema covering all of `schemas` (for `a or b`, `x if c else y`); unknown if any is unknown."""
    kinds: set[str] = set()
    for schema in schemas:
        found = _kinds(schema)
        if found is None:
            return {}
        kinds |= found
    if not kinds:
        return {"type": "null"}
    if kinds == {"object"}:
        return _merge_objects(schemas)
    if len(kinds) == 1:
        base = next(s for s in schemas if _kinds(s) == kinds)
        return nullable(base)
    if kinds == {"integer", "number"}:
        return {"type": ["number", "null"]}
    return {"type": [*sorted(kinds), "null"]}


def _value_schema(value: Any) -> Schema:
    kind = _TYPE_OF_CONSTANT.get(type(value))
    if kind:
        return {"type": kind, "const": value}  # a setting is fixed for the run
    return {"type": "object"} if isinstance(value, Mapping) else {}


def _merge_objects(schemas: list[Schema]) -> Schema:
    """Object schemas of several shapes (e.g. a fixed sublist line and generated ones): properties merged by key."""
    by_key: dict[str, list[Schema]] = {}
    for schema in schemas:
        for key, prop in (schema.get("properties") or {}).items():
            by_key.setdefault(key, []).append(prop)
    merged = {key: props[0] if len(props) == 1 else merge_schemas(props) for key, props in by_key.items()}
    nullable_kind = any("null" in (s.get("type") or []) for s in schemas if isinstance(s.get("type"), list))
    return {"type": ["object", "null"] if nullable_kind else "object", "properties": merged}


class _Inferrer:
    """Infers the JSON schema of an expression's value and checks constant keys against known object schemas."""

    def __init__(self, scope: Scope, source: str) -> None:
        self.scope = scope
        self.source = source

    def infer(self, node: ast.expr, bound: dict[str, Schema]) -> Schema:
        if isinstance(node, ast.Constant):
            if node.value is None:
                return {"type": "null"}
            kind = _TYPE_OF_CONSTANT.get(type(node.value))
            return {"type": kind, "const": node.value} if kind else {}
        if isinstance(node, ast.Name):
            if node.id in bound:
                return bound[node.id]
            if node.id in self.scope.loop_vars:
                return self.scope.loop_vars[node.id]
            if node.id in _RECORD_NAMES:
                return {"type": "object", "properties": dict(self.scope.fields)}
            if node.id == "config":
                return {"type": "object", "properties": {k: _value_schema(v) for k, v in self.scope.config.items()}}
            return self.scope.fields.get(node.id, {})
        if isinstance(node, ast.Subscript):
            return self._subscript(node, bound)
        if isinstance(node, ast.Call):
            args = [self.infer(arg, bound) for arg in node.args]
            keywords = {kw.arg: self.infer(kw.value, bound) for kw in node.keywords if kw.arg}
            if isinstance(node.func, ast.Name) and node.func.id in self.scope.functions:
                return self.scope.functions[node.func.id].result_schema(args, keywords)
            if isinstance(node.func, ast.Attribute):
                return self._method(node.func.attr)
            return {}
        if isinstance(node, ast.Compare) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            return {"type": "boolean"}
        if isinstance(node, ast.UnaryOp):
            return self.infer(node.operand, bound)
        if isinstance(node, ast.BoolOp):
            return merge_schemas([self.infer(value, bound) for value in node.values])
        if isinstance(node, ast.IfExp):
            self.infer(node.test, bound)
            return merge_schemas([self.infer(node.body, bound), self.infer(node.orelse, bound)])
        if isinstance(node, ast.BinOp):
            return self._binop(node, bound)
        if isinstance(node, ast.JoinedStr):
            return {"type": "string"}
        if isinstance(node, ast.Dict):
            return self._dict(node, bound)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.infer(elt, bound) for elt in node.elts]
            return {"type": "array", "items": merge_schemas(items) if items else {}}
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            inner = dict(bound)
            for generator in node.generators:
                item = self.infer(generator.iter, inner).get("items", {})
                for target in _targets(generator.target):
                    if isinstance(target, ast.Name):
                        inner[target.id] = item if isinstance(generator.target, ast.Name) else {}
            return {"type": "array", "items": self.infer(node.elt, inner)}
        return {}

    def _subscript(self, node: ast.Subscript, bound: dict[str, Schema]) -> Schema:
        container = self.infer(node.value, bound)
        key = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if isinstance(key, str) and isinstance(container.get("properties"), dict):
            if key not in container["properties"] and container.get("additionalProperties") is not True:
                msg = f"expression {self.source!r} names {key!r}, which {ast.unparse(node.value)!r} does not have"
                raise ExpressionError(msg)
            return container["properties"].get(key, {})
        if isinstance(key, int) and isinstance(container.get("items"), dict):
            return container["items"]
        if isinstance(node.slice, ast.Slice):
            return container
        return {}

    @staticmethod
    def _method(name: str) -> Schema:
        if name in {"split", "splitlines", "keys", "values", "items"}:
            return {"type": "array"}
        if name in {"count"}:
            return {"type": "integer"}
        if name in {"endswith", "startswith", "isdigit"}:
            return {"type": "boolean"}
        return {} if name == "get" else {"type": "string"}

    def _binop(self, node: ast.BinOp, bound: dict[str, Schema]) -> Schema:
        left = _kinds(self.infer(node.left, bound)) or set()
        right = _kinds(self.infer(node.right, bound)) or set()
        numeric = {"integer", "number"}
        if left and right and left <= numeric and right <= numeric:
            whole = left == right == {"integer"} and not isinstance(node.op, ast.Div)
            return {"type": "integer" if whole else "number"}
        if "string" in left and isinstance(node.op, (ast.Add, ast.Mod, ast.Mult)):
            return {"type": "string"}
        return {}

    def _dict(self, node: ast.Dict, bound: dict[str, Schema]) -> Schema:
        properties: dict[str, Schema] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            schema = self.infer(value, bound)
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                properties[key.value] = {k: v for k, v in schema.items() if k != "const"} or {}
        return {"type": "object", "properties": properties}
