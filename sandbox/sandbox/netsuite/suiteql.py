"""A small SuiteQL engine: enough of `SELECT ... FROM <table> [WHERE ...] [ORDER BY ...]` for id lookups.

WHERE conditions may apply the string functions `UPPER`, `LOWER`, `TRIM` and `REGEXP_REPLACE(x, pattern[,
replacement])` to a column and compare with `LIKE` (`%`, `_`), as the record-matching queries of the target do.

Parsed with a lark grammar (not regexes) so that what is not understood is refused with NetSuite's
INVALID_PARAMETER error instead of being half-matched. Tables are the SuiteQL views of the records the sandbox
stores: `customer`, `contact`, `item`, `transaction`, `subsidiary`. Columns are the records' top-level fields,
lower-cased (a column the table does not have is an error, as in NetSuite); references give their id;
every value is rendered as a string (booleans "T"/"F"), and NULL columns are left out of the row, as NetSuite does.

Date-times (`lastmodifieddate`, `datecreated`) show as the date alone (`12/7/2026`, the default date format), as
NetSuite's SuiteQL does; `TO_CHAR(col, 'YYYY-MM-DD HH24:MI:SS')` (a selected column, with an alias) gives the
time to the second, and `TO_TIMESTAMP('2026-12-07 10:55:00', 'YYYY-MM-DD HH24:MI:SS')` is a date-time literal that
`=`/`<`/`>`... compare with such a column. `ORDER BY` takes several keys (`ORDER BY lastmodifieddate, id`): what an
incremental reader needs (tap-netsuite-custom).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError

from sandbox.netsuite.errors import NetSuiteError

_GRAMMAR = r"""
?start: select
select: _SELECT columns _FROM table [where] [order]
columns: STAR -> all_columns
       | column ("," column)*
column: colref [_AS? NAME]
      | func _AS? NAME -> func_column
colref: NAME ("." (NAME | STAR))?
table: NAME [NAME]
where: _WHERE cond
?cond: cond _OR conj | conj
?conj: conj _AND atom | atom
?atom: operand _IN "(" value ("," value)* ")" -> in_list
     | operand _NOT _IN "(" value ("," value)* ")" -> not_in_list
     | operand OP value -> compare
     | operand _LIKE value -> like
     | operand _IS _NULL -> is_null
     | operand _IS _NOT _NULL -> is_not_null
     | "(" cond ")"
?operand: colref | func
func: FUNC "(" operand ("," value)* ")"
FUNC.3: /(upper|lower|trim|regexp_replace|to_char)(?=\s*\()/i
value: STRING -> string | NUMBER -> number | _TO_TIMESTAMP "(" STRING "," STRING ")" -> timestamp
order: _ORDER _BY order_key ("," order_key)*
order_key: colref [DIRECTION]
_TO_TIMESTAMP.3: /to_timestamp(?=\s*\()/i
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
_LIKE.2: /like\b/i
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
    columns: list[tuple[Any, str]] | None  # (source column or function of the row, output name); None = every column
    table: str
    alias: str | None
    predicate: Predicate
    order: list[tuple[str, bool]] | None  # (column, descending) per key
    # (column, values) that every matching row must have: lets the store fetch only those rows (an index
    # lookup) for the `id`/`externalid` lookups clients make, instead of scanning the table.
    narrowing: tuple[str, set[str]] | None = None
    referenced: frozenset[str] = frozenset()  # every column the query names (SELECT, WHERE, ORDER BY)


class _Condition:
    """A WHERE predicate, plus the column/values it pins down when it is an `=`/`IN` (or an AND of one)."""

    def __init__(self, test: Predicate, narrowing: tuple[str, set[str]] | None = None) -> None:
        self.test = test
        self.narrowing = narrowing

    def __call__(self, row: Row) -> bool:
        return self.test(row)


class Moment(str):
    """A date-time value: shown as NetSuite shows it (the date alone), compared and ordered by the instant `at`."""

    at: dt.datetime

    def __new__(cls, shown: str, at: dt.datetime) -> Moment:
        value = super().__new__(cls, shown)
        value.at = at
        return value


_ORACLE_FORMAT = re.compile(r'YYYY|MM|DD|HH24|MI|SS|"[^"]*"|.', re.IGNORECASE)
_STRFTIME = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH24": "%H", "MI": "%M", "SS": "%S"}


def _strftime(oracle_format: str) -> str:
    """An Oracle date format (`YYYY-MM-DD HH24:MI:SS`, `"T"` literals) as a strftime format."""
    out = []
    for token in _ORACLE_FORMAT.findall(oracle_format):
        if token.upper() in _STRFTIME:
            out.append(_STRFTIME[token.upper()])
        elif token.startswith('"'):
            out.append(token[1:-1].replace("%", "%%"))
        elif token.isalpha():
            raise invalid_query()
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def _instant(value: str | None) -> dt.datetime | None:
    """The instant of a compared value: a Moment's own, else a shown date (`12/7/2026`) at midnight."""
    if value is None:
        return None
    if isinstance(value, Moment):
        return value.at
    try:
        return dt.datetime.strptime(value, "%m/%d/%Y").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _column(ref: list[str]) -> str:
    return ref[-1].lower()


Operand = list[str] | Callable[[Row], str | None]  # a column reference, or a function of the row


def _getter(ref: Operand) -> Callable[[Row], str | None]:
    if isinstance(ref, list):
        col = _column(ref)
        return lambda row: row.get(col)
    return ref


def _narrow(ref: Operand, values: set[str]) -> tuple[str, set[str]] | None:
    """Only a plain column pins the rows an index lookup can fetch; a function of it does not."""
    return (_column(ref), values) if isinstance(ref, list) else None


def _apply(name: str, value: str | None, args: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if name == "upper":
        result = value.upper()
    elif name == "lower":
        result = value.lower()
    elif name == "trim":
        result = value.strip(" ")
    elif name == "to_char":
        at = _instant(value)
        if at is None or len(args) != 1:
            raise invalid_query()
        result = at.strftime(_strftime(args[0]))
    else:  # regexp_replace(source, pattern[, replacement]): Oracle's POSIX classes behave like Python's here
        if not args:
            raise invalid_query()
        result = re.sub(args[0], args[1] if len(args) > 1 else "", value)
    return result or None  # Oracle treats the empty string as NULL


def _like(pattern: str) -> re.Pattern[str]:
    parts = ("." if ch == "_" else ".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


@v_args(inline=True)
class _ToQuery(Transformer):
    def __init__(self) -> None:
        super().__init__()
        self.referenced: set[str] = set()  # every column named anywhere in the query (checked against the table)

    def colref(self, first: Token, second: Token | None = None) -> list[str]:
        ref = [str(first)] + ([str(second)] if second is not None else [])
        if ref[-1] != "*":
            self.referenced.add(ref[-1].lower())
        return ref

    def func(self, name: Token, operand: Operand, *args: str) -> Callable[[Row], str | None]:
        inner, fname = _getter(operand), str(name).lower()
        if (fname in ("regexp_replace", "to_char")) != bool(args) or len(args) > 2:
            raise invalid_query()
        return lambda row: _apply(fname, inner(row), args)

    def column(self, ref: list[str], alias: Token | None = None) -> tuple[str, str]:
        return _column(ref), (str(alias).lower() if alias is not None else _column(ref))

    def func_column(self, getter: Callable[[Row], str | None], alias: Token) -> tuple[Any, str]:
        return getter, str(alias).lower()

    def timestamp(self, text: Token, oracle_format: Token) -> Moment:
        shown = str(text)[1:-1]
        try:
            at = dt.datetime.strptime(shown, _strftime(str(oracle_format)[1:-1])).replace(tzinfo=dt.UTC)
        except ValueError as exc:
            raise invalid_query() from exc
        return Moment(shown, at)

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

    def in_list(self, ref: Operand, *values: str) -> _Condition:
        get, wanted = _getter(ref), set(values)
        return _Condition(lambda row: get(row) in wanted, _narrow(ref, wanted))

    def not_in_list(self, ref: Operand, *values: str) -> Predicate:
        get, unwanted = _getter(ref), set(values)
        return lambda row: get(row) is not None and get(row) not in unwanted

    def compare(self, ref: Operand, op: Token, value: str) -> _Condition:
        get = _getter(ref)
        return _Condition(lambda row: _compare(get(row), str(op), value),
                          _narrow(ref, {value}) if str(op) == "=" else None)

    def like(self, ref: Operand, pattern: str) -> Predicate:
        get, regex = _getter(ref), _like(pattern)
        return lambda row: (value := get(row)) is not None and regex.fullmatch(value) is not None

    def is_null(self, ref: Operand) -> Predicate:
        get = _getter(ref)
        return lambda row: get(row) is None

    def is_not_null(self, ref: Operand) -> Predicate:
        get = _getter(ref)
        return lambda row: get(row) is not None

    def cond(self, left: Predicate, right: Predicate) -> Predicate:
        return lambda row: left(row) or right(row)

    def conj(self, left: Predicate, right: Predicate) -> _Condition:
        narrowing = getattr(left, "narrowing", None) or getattr(right, "narrowing", None)
        return _Condition(lambda row: left(row) and right(row), narrowing)

    def where(self, predicate: Predicate) -> Predicate:
        return predicate

    def order_key(self, ref: list[str], direction: Token | None = None) -> tuple[str, bool]:
        return _column(ref), direction is not None and str(direction).lower() == "desc"

    def order(self, *keys: tuple[str, bool]) -> list[tuple[str, bool]]:
        return list(keys)

    def select(self, columns: list[tuple[Any, str]] | None, table: tuple[str, str | None],
               predicate: Predicate | None, order: list[tuple[str, bool]] | None) -> Query:
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
    if isinstance(value, Moment) or isinstance(actual, Moment):
        a_at, v_at = _instant(actual), _instant(value)
        if a_at is None or v_at is None:
            return False
        return bool({"=": a_at == v_at, "<>": a_at != v_at, "!=": a_at != v_at, "<": a_at < v_at,
                     ">": a_at > v_at, "<=": a_at <= v_at, ">=": a_at >= v_at}[op])
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


def unknown_field(column: str, table: str) -> NetSuiteError:
    """NetSuite refuses a column the table does not have (it does not answer NULL for it)."""
    return NetSuiteError(
        400, "INVALID_PARAMETER",
        "Invalid search query. Detailed unprocessed description follows. Search error occurred: "
        f"Field '{column}' for record '{table}' was not found. Reason: NOT_EXPOSED - Not available for channel "
        "SEARCH",
        query_param="q",
    )


def parse(text: str) -> Query:
    transformer = _ToQuery()
    try:
        query = transformer.transform(_PARSER.parse(text.strip().rstrip(";")))
    except LarkError as exc:
        raise invalid_query() from exc
    if not isinstance(query, Query):
        raise invalid_query()
    query.referenced = frozenset(transformer.referenced)
    return query


def row_value(value: Any) -> str | None:
    """SuiteQL renders every value as a string: booleans T/F, references as their id, no NULLs."""
    if value is None or value == "":
        return None
    if isinstance(value, Moment):
        return value
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
    for column, descending in reversed(query.order or []):  # stable sorts, last key first
        matched.sort(key=functools.partial(_order_key, column), reverse=descending)
    if query.columns is None:
        return matched
    return [{out: value for src, out in query.columns
             if (value := (src(row) if callable(src) else row.get(src))) is not None} for row in matched]


def _order_key(column: str, row: Row) -> tuple[bool, tuple[float, str]]:
    """Numbers before text, each in order; NULLs last."""
    return _as_number(row.get(column, "")) is None, _sort_key(row.get(column))


def _sort_key(value: str | None) -> tuple[float, str]:
    if value is None:
        return (float("inf"), "")
    if isinstance(value, Moment):
        return (value.at.timestamp(), "")
    number = _as_number(value)
    return (number if number is not None else 0.0, value)
