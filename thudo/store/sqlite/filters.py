"""Compile an EntitySelection into a WHERE clause over ``entities e`` with bound parameters.

Each ``q`` term becomes a set of entity keys read from the ``attrs`` index (``;`` is
INTERSECT, ``|`` is UNION, ``!=`` is EXCEPT), so that SQLite can drive the query from
the most selective index. Values are always bound, never formatted into the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thudo.ngsild.geoquery import GeoQuery, query_bbox
from thudo.ngsild.model import SUB_SEP
from thudo.ngsild.qlang import And, Literal, QNode, Term, encode_term
from thudo.ngsild.scopeq import ScopeAll, ScopeAny, ScopeExpr, ScopePattern
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeExpr, TypeName
from thudo.ngsild.values import K_ATTR, K_BOOL, K_NUM, K_STR, K_TIME, q_path

__all__ = ["Where", "compile_order", "compile_selection"]

_SQL_OPS = {"==": "=", "!=": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


@dataclass(slots=True)
class Where:
    """SQL conditions joined by AND, and their parameters in order."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def sql(self) -> str:
        """The conditions as one SQL expression."""
        return " AND ".join(self.clauses) if self.clauses else "1"


PathId = Callable[[str], int]


def compile_selection(tenant: int, sel: EntitySelection, pid: PathId) -> Where:
    """The WHERE clause (without the keyword) for a selection within one tenant."""
    # "+e.tenant" keeps the planner from scanning the tenant's entities through the
    # (tenant, id) index when a filter below can drive the query far more selectively.
    w = Where(["e.tenant = ?" if sel.ids is not None else "+e.tenant = ?"], [tenant])
    if sel.ids is not None:
        w.clauses.append(f"e.id IN ({','.join('?' * len(sel.ids))})")
        w.params.extend(sel.ids)
    if sel.id_pattern is not None:
        w.clauses.append("regexp(?, e.id)")
        w.params.append(sel.id_pattern)
    drives = sel.q is not None or sel.geo is not None or sel.ids is not None
    if sel.types is not None:
        sql, params = _types(tenant, sel.types, correlated=drives)
        w.clauses.append(sql)
        w.params.extend(params)
    if sel.q is not None:
        sql, params = _q_set(tenant, sel.q, pid)
        w.clauses.append(f"e.eid IN ({sql})")
        w.params.extend(params)
    if sel.attrs is not None:
        marks = ",".join("?" * len(sel.attrs))
        w.clauses.append(
            f"e.eid IN (SELECT eid FROM attrs WHERE tenant = ? AND kind = {K_ATTR} "
            f"AND pid IN ({marks}))"
        )
        w.params.append(tenant)
        w.params.extend(pid(a) for a in sorted(sel.attrs))
    if sel.scope is not None:
        sql, params = _scope(sel.scope)
        w.clauses.append(sql)
        w.params.extend(params)
    if sel.geo is not None:
        sql, params = _geo(tenant, sel.geo)
        w.clauses.append(sql)
        w.params.extend(params)
    return w


def _types(tenant: int, expr: TypeExpr, correlated: bool) -> tuple[str, list[Any]]:
    if isinstance(expr, TypeName):
        if correlated:
            return (
                "EXISTS (SELECT 1 FROM etypes t WHERE t.eid = e.eid AND t.type = ?)",
                [expr.iri],
            )
        return "e.eid IN (SELECT eid FROM etypes WHERE tenant = ? AND type = ?)", [
            tenant,
            expr.iri,
        ]
    if isinstance(expr, TypeAny) and all(isinstance(i, TypeName) for i in expr.items):
        names = [i.iri for i in expr.items if isinstance(i, TypeName)]
        marks = ",".join("?" * len(names))
        if correlated:
            return (
                f"EXISTS (SELECT 1 FROM etypes t WHERE t.eid = e.eid AND t.type IN ({marks}))",
                names,
            )
        return f"e.eid IN (SELECT eid FROM etypes WHERE tenant = ? AND type IN ({marks}))", [
            tenant,
            *names,
        ]
    joiner = " OR " if isinstance(expr, TypeAny) else " AND "
    parts: list[str] = []
    params: list[Any] = []
    assert isinstance(expr, TypeAny | TypeAll)
    for item in expr.items:
        sql, p = _types(tenant, item, correlated=True)
        parts.append(sql)
        params.extend(p)
    return "(" + joiner.join(parts) + ")", params


def _q_set(tenant: int, node: QNode, pid: PathId) -> tuple[str, list[Any]]:
    """A SELECT of entity keys matching a q node."""
    if isinstance(node, Term):
        return _term_set(tenant, node, pid)
    op = " INTERSECT " if isinstance(node, And) else " UNION "
    parts: list[str] = []
    params: list[Any] = []
    for item in node.items:
        sql, p = _q_set(tenant, item, pid)
        parts.append(f"SELECT * FROM ({sql})")
        params.extend(p)
    return op.join(parts), params


_UNINDEXED = ("createdAt", "modifiedAt")


def _term_set(tenant: int, term: Term, pid: PathId) -> tuple[str, list[Any]]:
    if term.path.subs and term.path.subs[-1] in _UNINDEXED:
        # These members have no index rows: the term is evaluated on each entity.
        sql = "SELECT eid FROM entities WHERE tenant = ? AND term_match(doc, ?)"
        return sql, [tenant, encode_term(term)]
    path = q_path(term.path.attr, term.path.subs, term.path.keys)
    base = "SELECT eid FROM attrs WHERE tenant = ? AND pid = ?"
    params: list[Any] = [tenant, pid(path)]
    if term.op is None:
        return base, params
    cond, cparams = _condition(term)
    positive = f"{base} AND ({cond})"
    if term.op in ("!=", "!~="):
        # "not equal": the attribute exists and no value of it matches (clause 4.9).
        exists = f"{base} AND kind != {K_ATTR}"
        return f"{exists} EXCEPT {positive}", [*params, *params, *cparams]
    return positive, [*params, *cparams]


def _condition(term: Term) -> tuple[str, list[Any]]:
    if term.pattern is not None:
        return f"kind = {K_STR} AND regexp(?, val)", [term.pattern]
    sql_op = _SQL_OPS[term.op or "=="]
    if term.range is not None:
        lo, hi = term.range.low, term.range.high
        column, kinds, bound = _column(lo)
        sql = f"kind IN ({kinds}) AND {column} BETWEEN ? AND ?{bound}"
        return sql, [_param(lo), _param(hi)]
    parts: list[str] = []
    params: list[Any] = []
    for lit in term.values:
        column, kinds, bound = _column(lit)
        if sql_op == "=":
            # An equality is an index lookup on its own; a bound would make it a range scan.
            bound = ""
        parts.append(f"(kind IN ({kinds}) AND {column} {sql_op} ?{bound})")
        params.append(_param(lit))
    return " OR ".join(parts), params


# Numbers sort before every text in ``val``: "val < ''" keeps a numeric range off the texts.
_NUMERIC = " AND val < ''"


def _column(lit: Literal) -> tuple[str, str, str]:
    """The expression to compare, the row kinds it applies to, and an index bound."""
    if lit.kind == "number":
        return "val", str(K_NUM), _NUMERIC
    if lit.kind == "boolean":
        return "val", str(K_BOOL), _NUMERIC
    if lit.kind == "datetime":
        return "val", str(K_TIME), ""
    if lit.kind == "date":
        return "substr(val, 1, 10)", f"{K_STR},{K_TIME}", ""
    return "val", str(K_STR), ""


def _param(lit: Literal) -> Any:
    if lit.kind == "boolean":
        return 1.0 if lit.value else 0.0
    return lit.value


def _scope(expr: ScopeExpr) -> tuple[str, list[Any]]:
    if isinstance(expr, ScopePattern):
        if "+" in expr.pattern or "#" in expr.pattern:
            return (
                "EXISTS (SELECT 1 FROM escopes s WHERE s.eid = e.eid AND regexp(?, s.scope))",
                [expr.regex()],
            )
        return "EXISTS (SELECT 1 FROM escopes s WHERE s.eid = e.eid AND s.scope = ?)", [
            expr.pattern
        ]
    joiner = " OR " if isinstance(expr, ScopeAny) else " AND "
    parts: list[str] = []
    params: list[Any] = []
    assert isinstance(expr, ScopeAny | ScopeAll)
    for item in expr.items:
        sql, p = _scope(item)
        parts.append(sql)
        params.extend(p)
    return "(" + joiner.join(parts) + ")", params


def _geo(tenant: int, geo: GeoQuery) -> tuple[str, list[Any]]:
    sql = "e.eid IN (SELECT g.eid FROM geo g WHERE g.tenant = ? AND g.path = ?"
    params: list[Any] = [tenant, geo.geoproperty]
    box = query_bbox(geo)
    if box is not None:
        sql += (
            " AND g.gid IN (SELECT gid FROM geo_rtree WHERE minx <= ? AND maxx >= ?"
            " AND miny <= ? AND maxy >= ?)"
        )
        params.extend([box[2], box[0], box[3], box[1]])
    sql += " AND geo_match(g.wkb, ?, ?, ?, ?))"
    params.extend([geo.georel, geo.geometry_json, geo.max_distance, geo.min_distance])
    return sql, params


_ENTITY_KEYS = {
    "@id": "e.id",
    "@createdAt": "e.created_at",
    "@modifiedAt": "e.modified_at",
    "@type": "(SELECT min(t.type) FROM etypes t WHERE t.eid = e.eid)",
}


def compile_order(sel: EntitySelection, pid: PathId) -> tuple[str, list[Any]]:
    """The ORDER BY list (orderBy, clause 4.23), always ending with the insertion order."""
    parts: list[str] = []
    params: list[Any] = []
    for key, desc in sel.order:
        direction = " DESC" if desc else ""
        column = _ENTITY_KEYS.get(key)
        if column is None and key.endswith(tuple(SUB_SEP + m for m in _UNINDEXED)):
            column = "member_sort(e.doc, ?, ?)"
            params.extend([key, 1 if desc else 0])
        if column is None:
            agg = "max" if desc else "min"
            column = (
                f"(SELECT {agg}(a.val) FROM attrs a WHERE a.eid = e.eid "
                f"AND a.pid = ? AND a.kind IN ({K_NUM},{K_STR},{K_BOOL},{K_TIME}))"
            )
            params.append(pid(key))
        parts.append(column + direction)
    parts.append("e.eid")
    return ", ".join(parts), params
