"""SOQL execution: a parsed query becomes one parameterised SQLite statement, paged through cursors.

Compilation checks what the real API checks (object and field names, relationship paths, filterable and
sortable fields, literal types) and reports it with Salesforce's codes and messages. Relationship fields
(`Account.Name`, `Account.Owner.Email`) become LEFT JOINs; compound fields are assembled from their components
(null when every component is);
formula fields are SQL expressions, so they filter and sort like stored ones.

Parent-to-child subqueries (`(SELECT ... FROM OpportunityLineItems)`) are compiled as queries of the child
object; each page of parents then costs one more statement, `... WHERE OpportunityId IN (page ids)`, and every
parent carries `{"totalSize", "done": true, "records"}` for its children, or null when it has none, as
Salesforce answers.

Paging follows Salesforce's query locators: when a result is larger than one batch, the matching rowids are
written once, in order, into `cursor_rows` (a snapshot, like the real locator), and each `nextRecordsUrl`
(`/query/<locator>-<offset>`) reads one slice of it by primary key. Memory stays flat for any result size.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce import scale, soql
from sandbox.salesforce.describe import child_relationship
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.knobs import Knobs, Realism
from sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, Field, SObject, compound_key, sobject
from sandbox.salesforce.soql import BoolChain, Compare, InList, Like, Literal, Not, Path, Pos, Query
from sandbox.salesforce.store import Store, quote
from sandbox.salesforce.values import id_suffix, now_ms, parse_date, parse_datetime_ms, random_token, to_wire

MAX_OFFSET = 2000
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
_CUSTOM_FIELD_HINT = ("If you are attempting to use a custom field, be sure to append the '__c' after the custom "
                      "field name. Please reference your WSDL or the describe call for the appropriate names.")
_CUSTOM_REL_HINT = ("If you are attempting to use a custom relationship, be sure to append the '__r' after the "
                    "custom relationship name. Please reference your WSDL or the describe call for the appropriate "
                    "names.")
_TYPE_NAMES = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "integer", "long": "long"}


@dataclass
class _Node:
    """One object in the result tree: the root record or a parent reached through a relationship."""

    obj: SObject
    alias: str
    id_index: int = -1
    # (output key, kind, payload): kind "field" → (Field, column index); "compound" → [(key, Field, index)];
    # "rel" → _Node; "children" → ChildPlan (filled in by `attach_children`)
    items: list[tuple[str, str, Any]] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)


@dataclass
class Compiled:
    """A SOQL query as SQL pieces plus the recipe that turns a result row into a Salesforce record."""

    obj: SObject
    columns: list[str]
    joins: list[str]
    where: str
    params: list[Any]
    order: str
    limit: int | None
    offset: int
    root: _Node
    long_text: bool
    count_only: bool
    paths: list[tuple[str, Field, int]]  # (header as selected, field, column index): Bulk CSV columns
    children: list[ChildPlan] = field(default_factory=list)

    def from_sql(self) -> str:
        return f"FROM {quote(self.obj.name)} AS t0 {' '.join(self.joins)}"


@dataclass
class ChildPlan:
    """One parent-to-child subquery: the child query compiled, plus the column holding the parent's id."""

    key: str
    compiled: Compiled
    parent_index: int


class _Compiler:
    def __init__(self, query: Query) -> None:
        self.query = query
        self.params: list[Any] = []
        self.columns: list[str] = []
        self.joins: list[str] = []
        obj = sobject(query.object_name)
        if obj is None:
            raise soql.error_at(
                query.text, query.object_pos, "INVALID_TYPE",
                f"sObject type '{query.object_name}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or the "
                "describe call for the appropriate names.")
        self.obj = obj
        self.root = _Node(obj, "t0")
        self.root.id_index = self._column('t0."Id"')

    def _column(self, expr: str) -> int:
        self.columns.append(expr)
        return len(self.columns) - 1

    def _error(self, pos: Pos, code: str, detail: str) -> ApiError:
        return soql.error_at(self.query.text, pos, code, detail)

    def _resolve(self, path: Path) -> tuple[_Node, Field]:
        """Walk `Rel.Rel.Field`, adding LEFT JOINs; returns the owning node and the field."""
        node = self.root
        for part in path.parts[:-1]:
            reference = node.obj.relationships.get(part.lower())
            if reference is None:
                raise self._error(path.pos, "INVALID_FIELD",
                                  f"Didn't understand relationship '{part}' in field path. {_CUSTOM_REL_HINT}")
            child = node.children.get(reference.relationship_name or "")
            if child is None:
                target = sobject(reference.reference_to[0])
                assert target is not None
                alias = f"t{len(self.joins) + 1}"
                self.joins.append(f'LEFT JOIN {quote(target.name)} AS {alias} '
                                  f'ON {alias}."Id" = {node.alias}.{quote(reference.name)}')
                child = _Node(target, alias)
                child.id_index = self._column(f'{alias}."Id"')
                node.children[reference.relationship_name or ""] = child
            node = child
        found = node.obj.get(path.parts[-1])
        if found is None:
            raise self._error(path.pos, "INVALID_FIELD",
                              f"No such column '{path.parts[-1]}' on entity '{node.obj.name}'. {_CUSTOM_FIELD_HINT}")
        return node, found

    @staticmethod
    def expr(node: _Node, target: Field) -> str:
        if target.formula_sql:
            return target.formula_sql.format(t=node.alias)
        return f"{node.alias}.{quote(target.name)}"

    # -- SELECT ------------------------------------------------------------------------------------------------
    def select(self, children: dict[int, list[ChildPlan]] | None = None) -> tuple[bool, list[tuple[str, Field, int]]]:
        long_text = False
        seen: set[str] = set()
        paths: list[tuple[str, Field, int]] = []
        children = children or {}
        for position, path in enumerate([*self.query.fields, None]):
            for plan in children.get(position, []):
                self.root.items.append((plan.key, "children", plan))
            if path is None:
                break
            node, target = self._resolve(path)
            key = ".".join(p.lower() for p in (*path.parts[:-1], target.name))
            if key in seen:
                raise self._error(path.pos, "INVALID_FIELD", f"duplicate field selected: {path.text}")
            seen.add(key)
            long_text = long_text or target.long_text
            self._attach(path, node, target, paths)
        return long_text, paths

    def _attach(self, path: Path, node: _Node, target: Field, paths: list[tuple[str, Field, int]]) -> None:
        # Place the relationship chain in the record tree at its first mention, as Salesforce orders keys.
        owner = self.root
        for part in path.parts[:-1]:
            reference = owner.obj.relationships[part.lower()]
            name = reference.relationship_name or ""
            child = owner.children[name]
            if not any(kind == "rel" and key == name for key, kind, _ in owner.items):
                owner.items.append((name, "rel", child))
            owner = child
        header = ".".join([*(owner_part for owner_part in self._canonical_parts(path)), target.name])
        if target.is_compound:
            parts = [(compound_key(c), c, self._column(self.expr(node, c))) for c in node.obj.components(target)]
            node.items.append((target.name, "compound", parts))
            paths.append((header, target, -1))
        else:
            index = self._column(self.expr(node, target))
            node.items.append((target.name, "field", (target, index)))
            paths.append((header, target, index))

    def _canonical_parts(self, path: Path) -> list[str]:
        names, owner = [], self.obj
        for part in path.parts[:-1]:
            reference = owner.relationships[part.lower()]
            names.append(reference.relationship_name or "")
            owner = sobject(reference.reference_to[0]) or owner
        return names

    # -- WHERE -------------------------------------------------------------------------------------------------
    def condition(self, node: Any) -> str:
        if isinstance(node, BoolChain):
            return "(" + f" {node.op} ".join(self.condition(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.condition(node.inner)})"
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, InList):
            owner, target = self._filterable(node.path)
            column = self._text_expr(owner, target)
            values = [self._literal(target, node.path, value) for value in node.values]
            non_null = [v for v in values if v is not None]
            has_null = len(non_null) != len(values)
            self.params.extend(non_null)
            listed = f"{column} IN ({', '.join('?' * len(non_null))})" if non_null else "0"
            if node.negated:
                # SOQL's NOT IN keeps null rows unless null itself is listed.
                return f"(NOT {listed} AND {column} IS NOT NULL)" if has_null else f"(NOT {listed} OR {column} IS NULL)"
            return f"({listed} OR {column} IS NULL)" if has_null else f"({listed})"
        if isinstance(node, Like):
            owner, target = self._filterable(node.path)
            if target.type not in TEXT_TYPES or node.value.kind != "string":
                raise self._error(node.path.pos, "INVALID_FIELD",
                                  f"invalid operator on field type {target.type}: LIKE")
            self.params.append(node.value.value)
            return f"({self.expr(owner, target)} LIKE ? ESCAPE '\\')"
        raise AssertionError(node)

    def _filterable(self, path: Path) -> tuple[_Node, Field]:
        owner, target = self._resolve(path)
        if not target.is_filterable or target.is_compound:
            raise self._error(path.pos, "INVALID_FIELD", f"field '{target.name}' can not be filtered in query call")
        return owner, target

    def _text_expr(self, owner: _Node, target: Field) -> str:
        column = self.expr(owner, target)
        if target.type in TEXT_TYPES and target.type not in ("id", "reference"):
            return f"{column} COLLATE NOCASE"
        return column

    def _compare(self, node: Compare) -> str:
        owner, target = self._filterable(node.path)
        column = self._text_expr(owner, target)
        literal = node.value
        if literal.kind == "date_literal":
            return self._date_range(column, target, node)
        value = self._literal(target, node.path, literal)
        if value is None:
            if node.op == "=":
                return f"({column} IS NULL)"
            if node.op == "!=":
                return f"({column} IS NOT NULL)"
            raise self._error(literal.pos, "MALFORMED_QUERY", f"invalid operator for null: {node.op}")
        self.params.append(value)
        if node.op == "!=":
            return f"({column} != ? OR {column} IS NULL)"
        return f"({column} {node.op} ?)"

    def _literal(self, target: Field, path: Path, literal: Literal) -> Any:
        """A SOQL literal in the stored form of the field it is compared with, or Salesforce's type error."""
        if literal.kind == "null":
            return None
        kind = target.type

        def wrong(expected: str, quoted: bool = False) -> ApiError:
            hint = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            return self._error(literal.pos, "INVALID_FIELD",
                               f"value of filter criterion for field '{target.name}' must be of type {expected} "
                               f"and {hint}")

        if kind == "datetime":
            if literal.kind != "datetime":
                raise wrong("dateTime")
            stamp = parse_datetime_ms(literal.text)
            if stamp is None:
                raise self._error(literal.pos, "MALFORMED_QUERY", f"invalid datetime: {literal.text}")
            return stamp
        if kind == "date":
            if literal.kind != "date" or parse_date(literal.text) is None:
                raise wrong("date")
            return literal.text
        if kind == "boolean":
            if literal.kind not in ("true", "false"):
                raise wrong("boolean")
            return 1 if literal.value else 0
        if kind in NUMBER_TYPES:
            if literal.kind != "number":
                raise wrong(_TYPE_NAMES.get(kind, "double"))
            return literal.value
        if literal.kind != "string":
            raise wrong("string", quoted=True)
        if kind in ("id", "reference"):
            return self._id_value(literal)
        return literal.value

    def _id_value(self, literal: Literal) -> str:
        text = literal.value
        if not _ID_RE.match(text):
            raise self._error(literal.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
        return text + id_suffix(text) if len(text) == 15 else text

    def _date_range(self, column: str, target: Field, node: Compare) -> str:
        """`TODAY`, `LAST_N_DAYS:n`, ... as a [start, end) range in the field's stored form."""
        if target.type not in ("date", "datetime"):
            raise self._error(node.value.pos, "INVALID_FIELD",
                              f"value of filter criterion for field '{target.name}' must be of type "
                              f"{target.type} and should not be enclosed in quotes")
        literal = node.value.text.upper()
        today = dt.datetime.now(dt.UTC).date()
        name, _, number = literal.partition(":")
        days = int(number or 0)
        start, end = {
            "TODAY": (today, today + dt.timedelta(days=1)),
            "YESTERDAY": (today - dt.timedelta(days=1), today),
            "TOMORROW": (today + dt.timedelta(days=1), today + dt.timedelta(days=2)),
            "LAST_N_DAYS": (today - dt.timedelta(days=days), today + dt.timedelta(days=1)),
            "NEXT_N_DAYS": (today + dt.timedelta(days=1), today + dt.timedelta(days=days + 1)),
            "N_DAYS_AGO": (today - dt.timedelta(days=days), today - dt.timedelta(days=days - 1)),
        }[name]

        def stored(day: dt.date) -> Any:
            if target.type == "date":
                return day.isoformat()
            return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1000

        low, high = stored(start), stored(end)
        op = node.op
        if op in ("=", "!="):
            self.params.extend([low, high])
            inside = f"({column} >= ? AND {column} < ?)"
            return inside if op == "=" else f"(NOT {inside} OR {column} IS NULL)"
        bound = {"<": low, ">=": low, ">": high, "<=": high}[op]
        self.params.append(bound)
        return f"({column} {'<' if op in ('<', '<=') else '>='} ?)"

    # -- ORDER BY ----------------------------------------------------------------------------------------------
    def order(self) -> str:
        terms = []
        for item in self.query.order:
            owner, target = self._resolve(item.path)
            if not target.is_sortable or target.is_compound:
                raise self._error(item.path.pos, "INVALID_FIELD",
                                  f"field '{target.name}' can not be sorted in a query call")
            term = self._text_expr(owner, target) + (" DESC" if item.descending else " ASC")
            if item.nulls_first is not None:
                term += " NULLS FIRST" if item.nulls_first else " NULLS LAST"
            elif item.descending:  # Salesforce sorts nulls first in either direction; SQLite puts them last in DESC
                term += " NULLS FIRST"
            terms.append(term)
        return ", ".join(terms)


def _compile_child(query: Query, sub: soql.Subquery, parent: SObject, query_all: bool) -> ChildPlan:
    found = child_relationship(parent, sub.relationship)
    if found is None:
        raise soql.error_at(query.text, sub.pos, "INVALID_TYPE",
                            f"Didn't understand relationship '{sub.relationship}' in FROM part of query call. "
                            f"{_CUSTOM_REL_HINT}")
    child, reference, name = found
    child_query = Query(text=query.text, fields=sub.fields, object_name=child.name, object_pos=sub.pos,
                        where=sub.where, order=sub.order, limit=sub.limit)
    compiled = _compile(child_query, query_all)
    parent_index = len(compiled.columns)
    compiled.columns.append(f"t0.{quote(reference.name)}")
    return ChildPlan(name, compiled, parent_index)


def compile_query(text: str, query_all: bool) -> Compiled:
    """Parse and check a SOQL query; raises ApiError with the real code and message on any problem."""
    return _compile(soql.parse(text), query_all)


def _compile(query: Query, query_all: bool) -> Compiled:
    compiler = _Compiler(query)
    children: dict[int, list[ChildPlan]] = {}
    for position, sub in query.subqueries:
        children.setdefault(position, []).append(_compile_child(query, sub, compiler.obj, query_all))
    long_text, paths = compiler.select(children)
    clauses = []
    if query.where is not None:
        clauses.append(compiler.condition(query.where))
    if not query_all:
        clauses.append('t0."IsDeleted" = 0')
    order = compiler.order()
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise ApiError(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    return Compiled(
        obj=compiler.obj, columns=compiler.columns, joins=compiler.joins,
        where=" AND ".join(clauses) or "1", params=compiler.params, order=order, limit=query.limit,
        offset=query.offset or 0, root=compiler.root, long_text=long_text, count_only=query.count_only, paths=paths,
        children=[plan for plans in children.values() for plan in plans],
    )


def build_row_record(node: _Node, row: tuple[Any, ...], base: str) -> dict[str, Any]:
    """A result row's own record: the queried object's Id is never null (only a relationship's can be)."""
    record = build_record(node, row, base)
    if record is None:
        raise AssertionError(f"a {node.obj.name} result row without an Id")
    return record


def build_record(node: _Node, row: tuple[Any, ...], base: str) -> dict[str, Any] | None:
    """One result row as a Salesforce JSON record (nested `attributes`, relationship objects, compounds)."""
    record_id = row[node.id_index]
    if record_id is None:
        return None
    name = node.obj.name
    record: dict[str, Any] = {"attributes": {"type": name, "url": f"{base}/sobjects/{name}/{record_id}"}}
    for key, kind, payload in node.items:
        if kind == "field":
            target, index = payload
            record[key] = to_wire(target, row[index], base, name, record_id)
        elif kind == "compound":
            parts = {part: to_wire(f, row[i], base, name, record_id) for part, f, i in sorted(
                payload, key=lambda item: item[0])}
            # Salesforce writes a compound field whose parts are all empty as null (`"MailingAddress": null`).
            record[key] = parts if any(v is not None for v in parts.values()) else None
        elif kind == "children":
            record[key] = None
        else:
            record[key] = build_record(payload, row, base)
    return record


def attach_children(compiled: Compiled, rows: list[Any], records: list[dict[str, Any]], conn: Any,
                    base: str) -> None:
    """Fill each subquery's key on a page of parent records: one statement per subquery per page."""
    if not compiled.children or not records:
        return
    ids = [row[compiled.root.id_index] for row in rows]
    for plan in compiled.children:
        child = plan.compiled
        sql = (f"SELECT {', '.join(child.columns)} {child.from_sql()} WHERE {child.where} AND "
               f"{child.columns[plan.parent_index]} IN ({', '.join('?' * len(ids))}) "
               f"ORDER BY {child.order or 't0.' + quote('Id')}")
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in conn.execute(sql, [*child.params, *ids]):
            rows = grouped.setdefault(row[plan.parent_index], [])
            if child.limit is None or len(rows) < child.limit:
                rows.append(build_row_record(child.root, row, base))
        for parent_id, record in zip(ids, records, strict=True):
            found = grouped.get(parent_id)
            record[plan.key] = {"totalSize": len(found), "done": True, "records": found} if found else None


def parse_batch_size(header: str | None, long_text: bool) -> int:
    """`Sforce-Query-Options: batchSize=N`, clamped to 200..2000; at most 1000 when long text is selected."""
    size = 2000
    if header:
        match = re.search(r"batchSize\s*=\s*(\d+)", header)
        if match:
            size = min(max(int(match.group(1)), 200), 2000)
    return min(size, 1000) if long_text else size


class QueryEngine:
    """Runs `/query`, `/queryAll` and `nextRecordsUrl` pages against the store."""

    def __init__(self, store: Store, realism: Realism | None = None) -> None:
        self.store = store
        self.realism = realism

    def _knobs(self) -> Knobs:
        return self.realism.knobs if self.realism else Knobs()

    def _base_sql(self, compiled: Compiled, select: str) -> tuple[str, list[Any]]:
        sql = f"SELECT {select} {compiled.from_sql()} WHERE {compiled.where}"
        if compiled.order:
            sql += f" ORDER BY {compiled.order}"
        params = list(compiled.params)
        if compiled.limit is not None or compiled.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [compiled.limit if compiled.limit is not None else -1, compiled.offset]
        return sql, params

    def run(self, text: str, query_all: bool, version: str, batch_header: str | None) -> dict[str, Any]:
        compiled = compile_query(text, query_all)
        base = f"/services/data/v{version}"
        conn = self.store.conn()
        if compiled.count_only:
            sql, params = self._base_sql(compiled, "1")
            total = conn.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0]
            return {"totalSize": total, "done": True, "records": []}
        batch = parse_batch_size(batch_header, compiled.long_text)
        sql, params = self._base_sql(compiled, ", ".join(compiled.columns))
        probe, probe_params = sql, params
        if compiled.limit is None or compiled.limit > batch:
            probe = f"SELECT * FROM ({sql}) LIMIT {batch + 1}"
        rows = conn.execute(probe, probe_params).fetchall()
        if len(rows) <= batch:
            scale.check_query_timeout(self._knobs(), len(rows))
            records = [build_row_record(compiled.root, row, base) for row in rows]
            attach_children(compiled, rows, records, conn, base)
            return {"totalSize": len(records), "done": True, "records": records}
        locator = "0r8" + random_token(15)
        rid_sql, rid_params = self._base_sql(compiled, "t0.rid")
        with self.store.write() as wconn:
            scale.release_cursors(wconn, self._knobs())
            cursor = wconn.execute(f"INSERT INTO cursor_rows (locator, rid) SELECT ?, rid FROM ({rid_sql})",
                                   [locator, *rid_params])
            total = cursor.rowcount
            scale.check_query_timeout(self._knobs(), total)  # rolls the cursor back
            last = wconn.execute("SELECT last_insert_rowid()").fetchone()[0]
            wconn.execute("INSERT INTO cursors (locator, soql, query_all, first_seq, total, batch, used_ms) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (locator, text, int(query_all), last - total + 1, total, batch, now_ms()))
        return self.page(locator, 0, version)

    def page(self, locator: str, offset: int, version: str) -> dict[str, Any]:
        conn = self.store.conn()
        found = conn.execute("SELECT soql, query_all, first_seq, total, batch, used_ms FROM cursors "
                             "WHERE locator = ?", (locator,)).fetchone()
        if found is not None and scale.cursor_expired(self._knobs(), found[5]):
            with self.store.write() as wconn:
                scale.drop_cursor(wconn, locator)
            found = None
        if found is None or offset < 0 or offset > found[3]:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        text, query_all, first_seq, total, batch, _ = found
        compiled = compile_query(text, bool(query_all))
        start = first_seq + offset
        sql = (f"SELECT {', '.join(compiled.columns)} FROM cursor_rows AS c JOIN {quote(compiled.obj.name)} AS t0 "
               f"ON t0.rid = c.rid {' '.join(compiled.joins)} WHERE c.seq >= ? AND c.seq < ? ORDER BY c.seq")
        rows = conn.execute(sql, (start, min(start + batch, first_seq + total))).fetchall()
        base = f"/services/data/v{version}"
        next_offset = offset + batch
        body: dict[str, Any] = {"totalSize": total, "done": next_offset >= total}
        if next_offset < total:
            body["nextRecordsUrl"] = f"{base}/query/{locator}-{next_offset}"
        body["records"] = [build_row_record(compiled.root, row, base) for row in rows]
        attach_children(compiled, rows, body["records"], conn, base)
        with self.store.write() as wconn:
            wconn.execute("UPDATE cursors SET used_ms = ? WHERE locator = ?", (now_ms(), locator))
        return body

