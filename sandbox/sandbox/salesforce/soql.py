"""SOQL parsing: a lark grammar for the subset connectors send, and Salesforce's parse-error messages.

Parent-to-child subqueries (`SELECT Id, (SELECT Id FROM OpportunityLineItems) FROM Opportunity`) are parsed
into `Subquery` items, kept with their place in the select list. The grammar follows SOQL's own rules where
connectors trip on them: keywords are case-insensitive, AND and OR
cannot be mixed without parentheses, datetime literals are unquoted and come in every accepted zone form,
OFFSET follows LIMIT. A syntax error becomes `MALFORMED_QUERY` with the real multi-line message: the tail of the
query, a caret under the offending token and `ERROR at Row:r:Column:c`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from sandbox.salesforce.errors import ApiError

_GRAMMAR = r"""
start: select_clause from_clause where_clause? order_clause? limit_clause? offset_clause?

select_clause: SELECT select_item ("," select_item)*
?select_item: path | count_call | subquery
count_call: COUNT "(" ")"
subquery: "(" SELECT path ("," path)* FROM NAME where_clause? order_clause? limit_clause? ")"
from_clause: FROM NAME
where_clause: WHERE condition

?condition: unary | and_chain | or_chain
and_chain: unary (AND unary)+
or_chain: unary (OR unary)+
?unary: NOT unary -> negation
      | "(" condition ")"
      | comparison
?comparison: path COMP_OP value            -> compare
           | path IN "(" value_list ")"    -> in_list
           | path NOT IN "(" value_list ")" -> not_in_list
           | path LIKE value               -> like
value_list: value ("," value)*
value: STRING | NUMBER | DATETIME | DATE | DATE_LITERAL | NULL | TRUE | FALSE

order_clause: ORDER BY order_item ("," order_item)*
order_item: path DIRECTION? nulls?
nulls: NULLS FIRST_OR_LAST
limit_clause: LIMIT INT
offset_clause: OFFSET INT

path: NAME ("." NAME)*

SELECT.2: /select\b/i
FROM.2: /from\b/i
WHERE.2: /where\b/i
AND.2: /and\b/i
OR.2: /or\b/i
NOT.2: /not\b/i
IN.2: /in\b/i
LIKE.2: /like\b/i
ORDER.2: /order\b/i
BY.2: /by\b/i
LIMIT.2: /limit\b/i
OFFSET.2: /offset\b/i
NULLS.2: /nulls\b/i
NULL.2: /null\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
COUNT.2: /count\b/i
DIRECTION.2: /(asc|desc)\b/i
FIRST_OR_LAST.2: /(first|last)\b/i
DATE_LITERAL.3: /(today|yesterday|tomorrow|(last|next)_n_days:\d+|n_days_ago:\d+)\b/i
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})/
DATE.2: /\d{4}-\d{2}-\d{2}/
NUMBER: /[+-]?\d+(\.\d+)?/
INT: /\d+/
STRING: /'(?:[^'\\]|\\.)*'/
COMP_OP: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
NAME: /[A-Za-z][A-Za-z0-9_]*/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", propagate_positions=True)
_ECHO_WINDOW = 32
_STRING_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\",
                   "%": "\\%", "_": "\\_"}


@dataclass(frozen=True)
class Pos:
    """Where a token starts (1-based, like Salesforce's `Row:Column`)."""

    line: int
    column: int


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    pos: Pos

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, datetime, date, date_literal, null, true, false
    value: Any
    text: str
    pos: Pos


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    path: Path
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: Path
    value: Literal


@dataclass(frozen=True)
class Not:
    inner: Any


@dataclass(frozen=True)
class BoolChain:
    op: str  # AND / OR
    items: tuple[Any, ...]


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool
    nulls_first: bool | None


@dataclass
class Subquery:
    """`(SELECT fields FROM ChildRelationship [WHERE] [ORDER BY] [LIMIT])` inside a select list."""

    relationship: str
    pos: Pos
    fields: list[Path]
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None


@dataclass
class Query:
    """A parsed SELECT: field paths (or count()), subqueries, object, WHERE tree, ORDER BY, LIMIT, OFFSET.

    `subqueries` holds `(number of field paths before it, Subquery)`, so records keep the select order.
    """

    text: str
    fields: list[Path] = field(default_factory=list)
    count_only: bool = False
    object_name: str = ""
    object_pos: Pos = Pos(1, 1)
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    subqueries: list[tuple[int, Subquery]] = field(default_factory=list)


def _pos(token: Token) -> Pos:
    return Pos(token.line or 1, token.column or 1)


def _unescape(body: str) -> str:
    """A SOQL string literal's value. `\\%` and `\\_` stay escaped: they only mean something to LIKE."""
    out, index = [], 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            out.append(_STRING_ESCAPES.get(nxt, nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


class _ToAst(Transformer):
    def path(self, items: list[Token]) -> Path:
        return Path(tuple(str(t) for t in items), _pos(items[0]))

    def value(self, items: list[Token]) -> Literal:
        token = items[0]
        kind = token.type.lower()
        text = str(token)
        value: Any = text
        if kind == "string":
            value = _unescape(text[1:-1])
        elif kind == "number":
            value = float(text) if "." in text else int(text)
        elif kind in ("null", "true", "false"):
            value = {"null": None, "true": True, "false": False}[kind]
        return Literal(kind, value, text, _pos(token))

    def value_list(self, items: list[Literal]) -> tuple[Literal, ...]:
        return tuple(items)

    def compare(self, items: list[Any]) -> Compare:
        path, op, value = items
        return Compare(path, "!=" if str(op) == "<>" else str(op), value)

    def in_list(self, items: list[Any]) -> InList:
        return InList(items[0], items[-1], False)

    def not_in_list(self, items: list[Any]) -> InList:
        return InList(items[0], items[-1], True)

    def like(self, items: list[Any]) -> Like:
        return Like(items[0], items[-1])

    def negation(self, items: list[Any]) -> Not:
        return Not(items[-1])

    def and_chain(self, items: list[Any]) -> BoolChain:
        return BoolChain("AND", tuple(i for i in items if not isinstance(i, Token)))

    def or_chain(self, items: list[Any]) -> BoolChain:
        return BoolChain("OR", tuple(i for i in items if not isinstance(i, Token)))

    def order_item(self, items: list[Any]) -> OrderItem:
        path = items[0]
        descending = any(isinstance(i, Token) and i.type == "DIRECTION" and str(i).lower() == "desc" for i in items)
        nulls = next((i for i in items if isinstance(i, bool)), None)
        return OrderItem(path, descending, nulls)

    def nulls(self, items: list[Token]) -> bool:
        return str(items[-1]).lower() == "first"

    def subquery(self, items: list[Any]) -> Subquery:
        name = next(i for i in items if isinstance(i, Token) and i.type == "NAME")
        sub = Subquery(str(name), _pos(name), [i for i in items if isinstance(i, Path)])
        for clause in items:
            if not hasattr(clause, "data"):
                continue
            if clause.data == "where_clause":
                sub.where = clause.children[1]
            elif clause.data == "order_clause":
                sub.order = [c for c in clause.children if isinstance(c, OrderItem)]
            elif clause.data == "limit_clause":
                sub.limit = int(clause.children[1])
        return sub


def parse(text: str) -> Query:
    """Parse one SOQL statement, or raise `ApiError(400, MALFORMED_QUERY)` with Salesforce's message."""
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    ast = _ToAst().transform(tree)
    query = Query(text=text)
    for clause in ast.children:
        name = clause.data
        if name == "select_clause":
            for item in clause.children[1:]:
                if isinstance(item, Path):
                    query.fields.append(item)
                elif isinstance(item, Subquery):
                    query.subqueries.append((len(query.fields), item))
                else:
                    query.count_only = True
            if query.count_only and query.fields:
                raise error_at(text, _pos(clause.children[0]), "MALFORMED_QUERY",
                               "COUNT() may only be used by itself in the select list")
        elif name == "from_clause":
            token = clause.children[1]
            query.object_name, query.object_pos = str(token), _pos(token)
        elif name == "where_clause":
            query.where = clause.children[1]
        elif name == "order_clause":
            query.order = [c for c in clause.children if isinstance(c, OrderItem)]
        elif name == "limit_clause":
            query.limit = int(clause.children[1])
        elif name == "offset_clause":
            query.offset = int(clause.children[1])
    return query


def _syntax_error(text: str, exc: UnexpectedInput) -> ApiError:
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        lines = text.split("\n")
        return error_at(text, Pos(len(lines), len(lines[-1]) + 1), "MALFORMED_QUERY", "unexpected token: '<EOF>'")
    if isinstance(exc, UnexpectedToken):
        return error_at(text, _pos(exc.token), "MALFORMED_QUERY", f"unexpected token: '{exc.token}'")
    if isinstance(exc, UnexpectedCharacters):
        line = text.split("\n")[exc.line - 1]
        bad = line[exc.column - 1:].split(" ", 1)[0] or line[exc.column - 1: exc.column]
        return error_at(text, Pos(exc.line, exc.column), "MALFORMED_QUERY", f"unexpected token: '{bad}'")
    return ApiError(400, "MALFORMED_QUERY", "unexpected token")


def error_at(text: str, pos: Pos, code: str, detail: str, status: int = 400) -> ApiError:
    """An error whose message points into the query like Salesforce's: echoed tail, caret, Row:Column."""
    lines = text.split("\n")
    line = lines[pos.line - 1] if 0 < pos.line <= len(lines) else text
    start = max(0, pos.column - 1 - _ECHO_WINDOW)
    if start:
        # Start the echo at a token boundary, as the real messages do.
        boundary = max(line.rfind(" ", 0, start + 1), line.rfind(",", 0, start + 1))
        start = boundary + 1 if boundary >= 0 else 0
    caret = " " * (pos.column - 1 - start) + "^"
    message = f"\n{line[start:]}\n{caret}\nERROR at Row:{pos.line}:Column:{pos.column}\n{detail}"
    return ApiError(status, code, message)
