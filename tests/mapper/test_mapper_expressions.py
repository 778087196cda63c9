"""The expression compiler: what it refuses (unsafe syntax, unknown names), and the types it infers."""

from __future__ import annotations

import pytest
from transform_mappers.expressions import ExpressionError, Scope, compile_expression
from transform_mappers.functions import FunctionSettings, build_functions

FUNCTIONS = build_functions(FunctionSettings(picklists={"stage": {"Won": 1, "Lost": 2}}))
GLOBALS = {**{name: spec.fn for name, spec in FUNCTIONS.items()}, "config": {"subsidiary_id": "7"}}
FIELDS = {
    "Id": {"type": ["string"]},
    "Name": {"type": ["string", "null"]},
    "Amount": {"type": ["number", "null"]},
    "Count": {"type": ["integer", "null"]},
    "IsWon": {"type": ["boolean", "null"]},
    "Lines": {"type": ["array", "null"], "items": {"type": "object", "properties": {
        "Quantity": {"type": ["number", "null"]}, "Product2Id": {"type": ["string", "null"]}}}},
}
SCOPE = Scope("Opportunity", FIELDS, FUNCTIONS, GLOBALS["config"])


def compiled(source: str, scope: Scope = SCOPE):
    return compile_expression(source, scope, GLOBALS)


@pytest.mark.parametrize(("source", "why"), [
    ("Name.__class__", "attribute .__class__"),
    ("().__class__.__bases__[0].__subclasses__()", "attribute"),
    ("__import__('os')", "reserved name"),
    ("open('/etc/passwd')", "'open', which is not a mapping function"),
    ("lambda: 1", "Lambda"),
    ("(x := 1)", "NamedExpr"),
    ("'{0.__class__}'.format(Name)", "attribute .format"),
    ("Name ** 2", "Pow"),
    ("Nmae", "names 'Nmae', which stream 'Opportunity' does not have"),
    ("truncate(Name)", "wrongly"),
    ('Lines[0]["Quantty"]', "names 'Quantty'"),
    ('config["currency_id"]', "names 'currency_id', which 'config' does not have"),
    ("Name(", "does not parse"),
    ("phone", "uses the function 'phone' without calling it"),
    ("", "empty"),
])
def test_refused_at_compile_time(source: str, why: str) -> None:
    with pytest.raises(ExpressionError, match=why.replace("(", r"\(").replace("[", r"\[")):
        compiled(source)


@pytest.mark.parametrize(("source", "schema_type"), [
    ("Name", ["string", "null"]),
    ("Amount", ["number", "null"]),
    ("Amount * 2", "number"),
    ("Count + 1", "integer"),
    ("not IsWon", "boolean"),
    ("IsWon and Amount > 3", ["boolean", "null"]),
    ("Name or Amount", ["number", "string", "null"]),
    ("truncate(Name, 3)", ["string", "null"]),
    ("negate(IsWon)", ["boolean", "null"]),
    ("coalesce(Amount, 0)", ["number", "null"]),
    ('picklist(Name, "stage")', ["integer", "null"]),
    ('f"{Name}-{Id}"', "string"),
    ("Name.upper()", "string"),
    ('config["subsidiary_id"]', "string"),
    ('Lines[0]["Quantity"]', ["number", "null"]),
    ('[line["Quantity"] for line in Lines]', "array"),
])
def test_inferred_types(source: str, schema_type: object) -> None:
    assert compiled(source).schema["type"] == schema_type


def test_reference_schema_is_an_object() -> None:
    schema = compiled('ref("customer", Id)').schema
    assert schema["type"] == ["object", "null"]
    assert set(schema["properties"]) == {"externalId", "type"}


def test_compiled_functions_read_records_and_loop_variables() -> None:
    scope = SCOPE.with_loop_var("line", FIELDS["Lines"]["items"])
    fn = compiled('ref("nonInventorySaleItem", line["Product2Id"])', scope).fn
    assert fn({}, {"line": {"Product2Id": "01t"}}) == {"externalId": "01t", "type": "nonInventorySaleItem"}
    total = compiled('sum([l["Quantity"] for l in Lines if l["Quantity"]]) if Lines else 0'.replace("sum", "max"))
    assert total.fn({"Lines": [{"Quantity": 2}, {"Quantity": None}, {"Quantity": 5}]}, {}) == 5
    assert compiled("Name").fn({}, {}) is None  # a field missing from one record is null, not an error
    assert compiled("record['Id']").fn({"Id": "x"}, {}) == "x"


def test_no_builtins_reach_expressions() -> None:
    with pytest.raises(ExpressionError):
        compiled("getattr(Name, 'upper')")
