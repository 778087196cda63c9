"""Declarative NetSuite payload templates: nested dicts and lists whose leaves are expressions.

A template is YAML/JSON. Strings are expressions; other scalars (true, 1, null) are constants; dicts become objects;
lists become arrays whose elements may be conditional (`__if__`) or repeated over an input array (`__each__` with
`__as__`). A leaf may carry an explicit type: `{__expr__: "...", __schema__: {...}}`. A template is compiled once per
input schema into a tree of closures, so mapping a record is one pass over that tree.

Invariants:
- Every field the template names is ours, and the payload always says what Salesforce holds for it. Text leaves are
  trimmed, and blank text counts as null. Outside sublists a null leaf is sent as an explicit `null`, which NetSuite
  takes as "empty this field". A nested object whose leaves are all null (a reference, a subrecord) is sent as
  `null` as a whole. A field the template does not name is never in the payload, so NetSuite keeps its value.
- Inside a sublist line, null leaves and empty objects are left out. The target replaces the sublist whole, so each
  line is written new and a field it does not carry is empty anyway. Lists are kept even when empty: a sublist is the
  complete current list, so an empty one clears it, or is refused by NetSuite when a record needs lines (a sales
  order). That record is dead-lettered visibly instead of keeping stale lines.
- A leaf that raises is recorded as a failure (path, reason, the input values involved) and left out, never sent as
  null: a value we could not compute must not clear anything. The record is still emitted, flagged with
  `_sdc_mapping_error`, so the target dead-letters it with that reason.
- Record types whose delete action is `inactivate` carry the active state on every upsert: `isInactive: true` when
  Salesforce deleted the record, else the template's value, or `false` when the template has none or it is null. So a
  record undeleted in Salesforce becomes active again in NetSuite.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from transform_mappers.expressions import (
    Expression,
    ExpressionError,
    MissingFieldError,
    Scope,
    compile_expression,
    merge_schemas,
    nullable,
)
from transform_mappers.functions import MappingValueError, Schema
from transform_mappers.settings import DEFAULTS, DELETE_ACTIONS

ERROR_KEY = "_sdc_mapping_error"
ACTION_KEY = "_sdc_action"

_Failures = list[tuple[str, str]]
Evaluator = Callable[[Mapping[str, Any], Mapping[str, Any], _Failures], Any]
_NO_LOOP_VARS: Mapping[str, Any] = {}
_OPTION_KEYS = frozenset({"__key_properties__", "__on_delete__"})
_CONSTANT_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


class _Failed:
    """The value of a leaf that raised: left out of the payload (an unknown value must not clear a NetSuite field);
    false, so a failed `__if__` drops its element and a failed `__each__` yields no lines, as a null would."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<failed>"


_FAILED: Any = _Failed()


class _LeftOut:
    """The value of an object whose own `__if__` is false: the key is not in the payload at all, so NetSuite keeps
    that field as it is (unlike null, which empties it)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<left out>"


_LEFT_OUT: Any = _LeftOut()


class TemplateError(ValueError):
    """A template that cannot be compiled; the message names the path inside the template."""


class MissingFieldTemplateError(TemplateError):
    """A template leaf names a field the stream does not have: `field` and the leaf's `path`."""

    def __init__(self, message: str, field: str, path: str) -> None:
        """Keep the field and the leaf path for the caller's decision and message."""
        super().__init__(message)
        self.field = field
        self.path = path


@dataclass(frozen=True)
class PayloadOptions:
    """Settings shared by every template: deleted-record handling and NetSuite field lengths."""

    deleted_record_action: str = DEFAULTS["deleted_record_action"]
    deleted_field: str = DEFAULTS["deleted_field"]
    inactive_field: str = "isInactive"
    field_lengths: Mapping[str, int] = field(default_factory=dict)


class AnyFields(Mapping[str, Schema]):
    """Stands in for a stream's fields before its SCHEMA arrives: every name is a field of unknown type.

    Compiling a template against it checks syntax, options, function names and arity at config load.
    """

    def __getitem__(self, key: str) -> Schema:
        return {}

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class Payload:
    """One compiled template: maps a (stream-mapped) Salesforce record to a NetSuite payload."""

    def __init__(self, name: str, template: Mapping[str, Any], scope: Scope, globals_: Mapping[str, Any],
                 options: PayloadOptions) -> None:
        unknown = [k for k in template if k.startswith("__") and k not in _OPTION_KEYS]
        if unknown:
            msg = f"unknown option {unknown[0]!r} (allowed: {', '.join(sorted(_OPTION_KEYS))})"
            raise TemplateError(msg)
        self.name = name
        keys = template.get("__key_properties__", ["externalId"])
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise TemplateError(f"__key_properties__ must be a list of field names, not {keys!r}")
        self.key_properties: list[str] = keys
        self.on_delete: str = template.get("__on_delete__", options.deleted_record_action)
        if self.on_delete not in DELETE_ACTIONS:
            msg = f"__on_delete__ {self.on_delete!r} is not one of {', '.join(DELETE_ACTIONS)}"
            raise TemplateError(msg)
        self._deleted_field = options.deleted_field
        self._inactive_field = options.inactive_field
        body = {k: v for k, v in template.items() if k not in _OPTION_KEYS}
        compiler = _Compiler(globals_, options.field_lengths)
        self._root, self.schema = compiler.object(body, "", scope)
        missing = [k for k in self.key_properties if k not in self.schema["properties"]]
        if missing:
            msg = f"key property {missing[0]!r} is not a top-level field of the template"
            raise TemplateError(msg)
        self._keys = [(k, compiler.top_level[k]) for k in self.key_properties]
        self.schema["properties"][ERROR_KEY] = {"type": ["string", "null"]}
        self.schema["properties"][ACTION_KEY] = {"type": ["string", "null"], "enum": ["upsert", "delete", None]}
        if self.on_delete == "inactivate":
            self.schema["properties"].setdefault(self._inactive_field, {"type": ["boolean", "null"]})

    def map(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """The NetSuite payload for `record`, a delete action, a flagged record, or None (deleted and ignored)."""
        failures: _Failures = []
        deleted = record.get(self._deleted_field) is True
        if deleted and self.on_delete == "ignore":
            return None
        if deleted and self.on_delete == "delete":
            out = {key: evaluate(record, _NO_LOOP_VARS, failures) for key, evaluate in self._keys}
            out = {key: None if value is _FAILED else value for key, value in out.items()}
            out[ACTION_KEY] = "delete"
        else:
            out = self._root(record, _NO_LOOP_VARS, failures)
            if deleted:
                out[self._inactive_field] = True
            elif self.on_delete == "inactivate" and out.get(self._inactive_field) is None:
                out[self._inactive_field] = False  # an undeleted record comes back active
        for key in self.key_properties:
            if out.get(key) is None:
                out[key] = None
                failures.append((key, "key property is null"))
        if failures:
            out[ERROR_KEY] = "; ".join(f"{self.name}.{path}: {reason}" for path, reason in failures)
        return out


def _describe(exc: Exception, expression: Expression, record: Mapping[str, Any], loop: Mapping[str, Any]) -> str:
    """Why a leaf failed, with the input values it read (so a dead letter says what to fix in Salesforce)."""
    reason = str(exc) if isinstance(exc, MappingValueError) else f"{type(exc).__name__}: {exc}"
    inputs = [f"{name}={_short(record.get(name))}" for name in expression.fields]
    inputs += [f"{name}={_short(value)}" for name, value in loop.items()]
    where = f" (from {', '.join(inputs)})" if inputs else ""
    return f"{reason}{where} [expression: {expression.source}]"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _constant(value: Any) -> Evaluator:
    return lambda _record, _loop, _failures: value


class _Compiler:
    """Turns a template tree into closures plus the JSON schema of what they produce."""

    def __init__(self, globals_: Mapping[str, Any], field_lengths: Mapping[str, int]) -> None:
        self.globals = globals_
        self.field_lengths = field_lengths
        self.top_level: dict[str, Evaluator] = {}

    def node(self, node: Any, path: str, scope: Scope, *, in_line: bool = False) -> tuple[Evaluator, Schema]:
        """`in_line`: inside a sublist line (null leaves left out) rather than the record body (null leaves sent)."""
        if isinstance(node, str):
            return self.leaf(node, None, path, scope)
        if isinstance(node, Mapping):
            if "__expr__" in node:
                extra = set(node) - {"__expr__", "__schema__"}
                if extra:
                    raise TemplateError(f"{path}: unexpected {min(extra)!r} beside __expr__")
                return self.leaf(node["__expr__"], node.get("__schema__"), path, scope)
            return self.object(node, path, scope, in_line=in_line)
        if isinstance(node, list):
            return self.array(node, path, scope)
        if node is None or type(node) in _CONSTANT_TYPES:
            return _constant(node), {"type": _CONSTANT_TYPES.get(type(node), "null")}
        raise TemplateError(f"{path}: unsupported template value {node!r}")

    def leaf(self, source: Any, declared: Schema | None, path: str, scope: Scope) -> tuple[Evaluator, Schema]:
        try:
            expression = compile_expression(source, scope, self.globals)
        except MissingFieldError as exc:
            raise MissingFieldTemplateError(f"{path}: {exc}", exc.field, path) from None
        except ExpressionError as exc:
            raise TemplateError(f"{path}: {exc}") from None
        fn = expression.fn
        limit = self._length(path)
        field_name = source.strip() if source.strip() in expression.fields else None

        def evaluate(record: Mapping[str, Any], loop: Mapping[str, Any], failures: _Failures) -> Any:
            try:
                value = fn(record, loop)
            except Exception as exc:  # any failure of one leaf flags the record, never stops the run
                failures.append((path, _describe(exc, expression, record, loop)))
                return _FAILED
            if type(value) is str:
                value = value.strip()
                if limit is not None and len(value) > limit:
                    value = value[:limit].rstrip()
                return value or None
            return value

        def copy_field(record: Mapping[str, Any], _loop: Mapping[str, Any], _failures: _Failures) -> Any:
            """The common leaf `Name`: a plain field read cannot fail, so skip the compiled call."""
            value = record.get(cast("str", field_name))  # copy_field is used only when field_name is set
            if type(value) is str:
                value = value.strip()
                if limit is not None and len(value) > limit:
                    value = value[:limit].rstrip()
                return value or None
            return value

        # A leaf that reads no record field and yields a constant (a setting such as config["subsidiary_id"]) keeps
        # `const` in the output SCHEMA: a fixed id, which the target checks exists before any record arrives.
        fixed = not expression.fields and "const" in expression.schema and expression.schema["const"] is not None
        schema = declared if declared is not None else {k: v for k, v in expression.schema.items()
                                                         if k != "const" or fixed}
        if limit is not None and _kinds_include(schema, "string"):
            schema = {**schema, "maxLength": limit}
        return (copy_field if field_name else evaluate), nullable(schema)

    def _length(self, path: str) -> int | None:
        generic = re.sub(r"\[\d*\]", "[]", path)
        for key in (path, generic, generic.rsplit(".", 1)[-1]):
            if key in self.field_lengths:
                return int(self.field_lengths[key])
        return None

    def object(self, node: Mapping[str, Any], path: str, scope: Scope, *,
               in_line: bool = False) -> tuple[Evaluator, Schema]:
        children: list[tuple[str, Evaluator]] = []
        properties: dict[str, Schema] = {}
        conditions: dict[str, Evaluator] = {}  # an object with `__if__` is left out, not emptied, when false
        for key, child in node.items():
            if not isinstance(key, str) or key.startswith("__"):
                raise TemplateError(f"{path or 'payload'}: unexpected key {key!r}")
            child_path = f"{path}.{key}" if path else key
            if isinstance(child, Mapping) and "__if__" in child and "__expr__" not in child:
                condition = self._condition(child, child_path, scope)
                assert condition is not None
                conditions[key] = condition
                child = {k: v for k, v in child.items() if k != "__if__"}
            evaluate, schema = self.node(child, child_path, scope, in_line=in_line)
            if key in conditions:
                evaluate = _when(conditions[key], evaluate)
            children.append((key, evaluate))
            properties[key] = schema
            if not path:
                self.top_level[key] = evaluate
        items = tuple(children)
        nested = bool(path)

        def evaluate_line_object(record: Mapping[str, Any], loop: Mapping[str, Any], failures: _Failures) -> dict:
            """In a sublist line: only what has a value (the line is written new)."""
            out = {}
            for key, evaluate in items:
                value = evaluate(record, loop, failures)
                if value is not None and value is not _FAILED and value is not _LEFT_OUT and (
                        value or type(value) is not dict):
                    out[key] = value
            return out

        def evaluate_body_object(record: Mapping[str, Any], loop: Mapping[str, Any], failures: _Failures) -> Any:
            """In the record body: every owned field, null when empty, so NetSuite empties it too."""
            out = {}
            failed = False
            for key, evaluate in items:
                value = evaluate(record, loop, failures)
                if value is _LEFT_OUT:
                    continue
                if value is _FAILED:
                    failed = True
                    continue
                out[key] = None if type(value) is dict and not value else value
            if nested and not failed and all(value is None for value in out.values()):
                return None  # all null: the whole reference/subrecord is emptied
            return out if out or not nested else _FAILED

        evaluate_object = evaluate_line_object if in_line else evaluate_body_object
        return evaluate_object, {"type": ["object", "null"] if path else "object", "properties": properties}

    def array(self, node: list[Any], path: str, scope: Scope) -> tuple[Evaluator, Schema]:
        parts: list[Callable[[Mapping[str, Any], Mapping[str, Any], _Failures, list[Any]], None]] = []
        item_schemas: list[Schema] = []
        for index, element in enumerate(node):
            if isinstance(element, Mapping) and "__each__" in element:
                part, schema = self._each(element, f"{path}[]", scope)
            else:
                part, schema = self._element(element, f"{path}[{index}]", scope)
            parts.append(part)
            item_schemas.append(schema)

        def evaluate_array(record: Mapping[str, Any], loop: Mapping[str, Any], failures: _Failures) -> list:
            out: list[Any] = []
            for part in parts:
                part(record, loop, failures, out)
            return out

        items = merge_schemas(item_schemas) if item_schemas else {}
        return evaluate_array, {"type": ["array", "null"], "items": items}

    def _condition(self, element: Mapping[str, Any], path: str, scope: Scope) -> Evaluator | None:
        if "__if__" not in element:
            return None
        return self.leaf(element["__if__"], None, f"{path}.__if__", scope)[0]

    def _element(self, element: Any, path: str, scope: Scope) -> tuple[Callable[..., None], Schema]:
        condition = None
        if isinstance(element, Mapping) and "__if__" in element:
            condition = self._condition(element, path, scope)
            element = {k: v for k, v in element.items() if k != "__if__"}
        evaluate, schema = self.node(element, path, scope, in_line=True)

        def part(record: Mapping[str, Any], loop: Mapping[str, Any], failures: _Failures, out: list) -> None:
            if condition is None or condition(record, loop, failures):
                value = evaluate(record, loop, failures)
                if value is not None and value is not _FAILED:
                    out.append(value)

        return part, schema

    def _each(self, element: Mapping[str, Any], path: str, scope: Scope) -> tuple[Callable[..., None], Schema]:
        name = element.get("__as__", "item")
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise TemplateError(f"{path}: __as__ must be a plain name, not {name!r}")
        source, source_schema = self.leaf(element["__each__"], None, f"{path}.__each__", scope)
        inner = scope.with_loop_var(name, source_schema.get("items", {}) if isinstance(source_schema, dict) else {})
        condition = self._condition(element, path, inner)
        body = {k: v for k, v in element.items() if k not in {"__each__", "__as__", "__if__"}}
        evaluate, schema = self.node(body, path, inner, in_line=True)

        def part(record: Mapping[str, Any], loop: Mapping[str, Any], failures: _Failures, out: list) -> None:
            values = source(record, loop, failures)
            if values is not None and not isinstance(values, list | tuple):
                failures.append((f"{path}.__each__", f"expected a list to repeat over, got {type(values).__name__}"))
                return
            for index, value in enumerate(values or ()):
                inner_loop = {**loop, name: value}
                before = len(failures)
                if condition is None or condition(record, inner_loop, failures):
                    out.append(evaluate(record, inner_loop, failures))
                for at in range(before, len(failures)):
                    where, reason = failures[at]
                    head, _, tail = where.rpartition("[]")
                    failures[at] = (f"{head}[{index}]{tail}", reason)

        return part, schema


def _when(condition: Evaluator, evaluate: Evaluator) -> Evaluator:
    """An object leaf with its own `__if__`: evaluated when the condition holds, else left out of the payload."""
    def conditional(record: Mapping[str, Any], loop: Mapping[str, Any], failures: _Failures) -> Any:
        return evaluate(record, loop, failures) if condition(record, loop, failures) else _LEFT_OUT

    return conditional


def _kinds_include(schema: Schema, kind: str) -> bool:
    declared = schema.get("type")
    return declared == kind or (isinstance(declared, list) and kind in declared)
