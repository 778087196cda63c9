"""A small SuiteQL engine: enough of `SELECT ... FROM <table> [WHERE ...] [ORDER BY ...]` for id lookups.

Parsed with a lark grammar (not regexes) so that what is not understood is refused with NetSuite's
INVALID_PARAMETER error instead of being half-matched. Tables are the SuiteQL views of the records the sandbox
stores: `customer`, `contact`, `item`, `transaction`, `subsidiary`. Columns are the records' top-level fields,
lower-cased; references give their id; every value is rendered as a string (booleans "T"/"F"), and NULL
columns are left out of the row, as NetSuite does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError

from sandbox.netsuite.responses import NetSuiteError

_GRAMMAR = r"""
?start: select
select: _SELECT columns _FROM table [where] [order]
columns: STAR -> all_columns
       | column ("," column)*
column: colref [_AS? NAME]
colref: NAME ("." (NAME | STAR))?
table: NAME [NAME]
where: _WHERE cond
?cond: cond _OR conj | conj
?conj: conj _AND atom | atom
?atom: colref _IN "(" value ("," value)* ")" -> in_list
     | colref _NOT _IN "(" value ("," value)* ")" -> not_in_list
     | colref OP value -> compare
     | colref _IS _NULL -> is_null
     | colref _IS _NOT _NULL -> is_not_null
     | "(" cond ")"
value: STRING -> string | NUMBER -> number
order: _ORDER _BY colref [DIRECTION]
OP: "<>" | "!=" | "<=" | ">=" | "=" | "<" | ">"
STAR: "*"
STRING: /'([^']|'')*'/
NUMBER: /-?\d+(\.\d+)?/
DIRECTION.2: /(asc|desc)\b/i
_SELECT.2: /select\b/i
_FROM.2: /from\b/i
_WHERE.2: /where\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_IS.2: /is\b/i
_NULL.2: /null\b/i
_AS.2: /as\b/i
_ORDER.2: /order\b/i
_BY.2: /by\b/i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr")

Row = dict[str, str]
Predicate = Callable[[Row], bool]


@dataclass
class Query:
    columns: list[tuple[str, str]] | None  # (source column, output name); None = every column
    table: str
    alias: str | None
    predicate: Predicate
    order: tuple[str, bool] | None  # (column, descending)
    # (column, values) that every matching row must have: lets the store fetch only those rows (an index
    # lookup) for the `id`/`externalid` lookups clients make, instead of scanning the table.
    narrowing: tuple[str, set[str]] | None = None


class _Condition:
    """A WHERE predicate, plus the column/values it pins down when it is an `=`/`IN` (or an AND of one)."""

    def __init__(self, test: Predicate, narrowing: tuple[str, set[str]] | None = None) -> None:
        self.test = test
        self.narrowing = narrowing

    def __call__(self, row: Row) -> bool:
        return self.test(row)


def _column(ref: list[str]) -> str:
    return ref[-1].lower()


@v_args(inline=True)
class _ToQuery(Transformer):  # type: ignore[type-arg]
    def colref(self, first: Token, second: Token | None = None) -> list[str]:
        return [str(first)] + ([str(second)] if second is not None else [])

    def column(self, ref: list[str], alias: Token | None = None) -> tuple[str, str]:
        return _column(ref), (str(alias).lower() if alias is not None else _column(ref))

    def all_columns(self, _star: Token) -> None:
        return None

    def columns(self, *cols: tuple[str, str]) -> list[tuple[str, str]] | None:
        if any(col[0] == "*" for col in cols):
            return None
        return list(cols)

    def table(self, name: Token, alias: Token | None = None) -> tuple[str, str | None]:
        return str(name).lower(), (str(alias).lower() if alias is not None else None)

    def string(self, token: Token) -> str:
        return str(token)[1:-1].replace("''", "'")

    def number(self, token: Token) -> str:
        return str(token)

    def in_list(self, ref: list[str], *values: str) -> _Condition:
        col, wanted = _column(ref), set(values)
        return _Condition(lambda row: row.get(col) in wanted, (col, wanted))

    def not_in_list(self, ref: list[str], *values: str) -> Predicate:
        col, unwanted = _column(ref), set(values)
        return lambda row: row.get(col) is not None and row.get(col) not in unwanted

    def compare(self, ref: list[str], op: Token, value: str) -> _Condition:
        col = _column(ref)
        return _Condition(lambda row: _compare(row.get(col), str(op), value),
                          (col, {value}) if str(op) == "=" else None)

    def is_null(self, ref: list[str]) -> Predicate:
        col = _column(ref)
        return lambda row: row.get(col) is None

    def is_not_null(self, ref: list[str]) -> Predicate:
        col = _column(ref)
        return lambda row: row.get(col) is not None

    def cond(self, left: Predicate, right: Predicate) -> Predicate:
        return lambda row: left(row) or right(row)

    def conj(self, left: Predicate, right: Predicate) -> _Condition:
        narrowing = getattr(left, "narrowing", None) or getattr(right, "narrowing", None)
        return _Condition(lambda row: left(row) and right(row), narrowing)

    def where(self, predicate: Predicate) -> Predicate:
        return predicate

    def order(self, ref: list[str], direction: Token | None = None) -> tuple[str, bool]:
        return _column(ref), direction is not None and str(direction).lower() == "desc"

    def select(self, columns: list[tuple[str, str]] | None, table: tuple[str, str | None],
               predicate: Predicate | None, order: tuple[str, bool] | None) -> Query:
        return Query(columns, table[0], table[1], predicate or (lambda row: True), order,
                     getattr(predicate, "narrowing", None))


def _as_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _compare(actual: str | None, op: str, value: str) -> bool:
    if actual is None:
        return False
    left: Any = actual
    right: Any = value
    if (a := _as_number(actual)) is not None and (b := _as_number(value)) is not None:
        left, right = a, b
    if op == "=":
        return bool(left == right)
    if op in ("<>", "!="):
        return bool(left != right)
    return bool({"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op])


def invalid_query() -> NetSuiteError:
    return NetSuiteError(
        400, "INVALID_PARAMETER",
        "Invalid search query. Detailed unprocessed description follows. Search error occurred: "
        "Invalid or unsupported search.",
        query_param="q",
    )


def parse(text: str) -> Query:
    try:
        query = _ToQuery().transform(_PARSER.parse(text.strip().rstrip(";")))
    except LarkError as exc:
        raise invalid_query() from exc
    if not isinstance(query, Query):
        raise invalid_query()
    return query


def row_value(value: Any) -> str | None:
    """SuiteQL renders every value as a string: booleans T/F, references as their id, no NULLs."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, dict):
        return str(value["id"]) if "id" in value else None
    if isinstance(value, list):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_row(record: dict[str, Any], extra: dict[str, str]) -> Row:
    row = {k.lower(): v for k, v in ((k, row_value(v)) for k, v in record.items()) if v is not None}
    row.update(extra)
    return row


def execute(query: Query, rows: Iterable[Row]) -> list[Row]:
    """Filter, order and project rows; unknown selected columns are an error, as in NetSuite."""
    matched = [row for row in rows if query.predicate(row)]
    if query.order is not None:
        column, descending = query.order
        matched.sort(key=lambda row: (_as_number(row.get(column, "")) is None, _sort_key(row.get(column))),
                     reverse=descending)
    if query.columns is None:
        return matched
    return [{out: row[src] for src, out in query.columns if src in row} for row in matched]


def _sort_key(value: str | None) -> tuple[float, str]:
    if value is None:
        return (float("inf"), "")
    number = _as_number(value)
    return (number if number is not None else 0.0, value)
