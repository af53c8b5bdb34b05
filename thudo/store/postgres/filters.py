"""Compile an EntitySelection into a WHERE clause over ``entities e`` with bound parameters.

Each ``q`` term becomes a set of entity keys read from the ``attrs`` index (``;`` is
INTERSECT, ``|`` is UNION, ``!=`` is EXCEPT); geo-queries use PostGIS with GiST indexes,
``near`` on the sphere in metres. Values are always bound (``%s``), never formatted in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thudo.ngsild.geoquery import GeoQuery
from thudo.ngsild.model import SUB_SEP
from thudo.ngsild.qlang import And, Literal, QNode, Term
from thudo.ngsild.scopeq import ScopeAll, ScopeAny, ScopeExpr, ScopePattern
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeExpr, TypeName
from thudo.ngsild.values import K_ATTR, K_BOOL, K_NUM, K_STR, K_TIME, q_path

__all__ = ["Where", "compile_order", "compile_selection", "types_condition"]

_SQL_OPS = {"==": "=", "!=": "=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
#: Texts are indexed by this many leading characters (schema.py, attrs_txt).
_PREFIX = 200


@dataclass(slots=True)
class Where:
    """SQL conditions joined by AND, and their parameters in order."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, sql: str, params: list[Any]) -> None:
        """Add one condition."""
        self.clauses.append(sql)
        self.params.extend(params)

    def sql(self) -> str:
        """The conditions as one SQL expression."""
        return " AND ".join(self.clauses) if self.clauses else "true"


def compile_selection(tenant: int, sel: EntitySelection) -> Where:
    """The WHERE clause (without the keyword) for a selection within one tenant."""
    w = Where(["e.tenant = %s"], [tenant])
    if sel.ids is not None:
        w.add("e.id = ANY(%s)", [list(sel.ids)])
    if sel.id_pattern is not None:
        w.add("e.id ~ %s", [sel.id_pattern])
    if sel.types is not None:
        w.add(*types_condition(sel.types, "e"))
    if sel.q is not None:
        sql, params = _q_set(tenant, sel.q)
        w.add(f"e.eid IN ({sql})", params)
    if sel.attrs is not None:
        w.add(
            f"e.eid IN (SELECT eid FROM attrs WHERE tenant = %s AND kind = {K_ATTR}"
            " AND path = ANY(%s))",
            [tenant, sorted(sel.attrs)],
        )
    if sel.scope is not None:
        w.add(*_scope(sel.scope))
    if sel.geo is not None:
        w.add(*_geo(tenant, sel.geo))
    return w


def types_condition(expr: TypeExpr, alias: str) -> tuple[str, list[Any]]:
    """A condition on the types of the entity row ``alias`` (clause 4.17); the inner alias
    ``ty`` must differ from every outer one (``t`` in the temporal queries was shadowed)."""
    if isinstance(expr, TypeName):
        return (
            f"EXISTS (SELECT 1 FROM etypes ty WHERE ty.eid = {alias}.eid AND ty.type = %s)",
            [expr.iri],
        )
    if isinstance(expr, TypeAny) and all(isinstance(i, TypeName) for i in expr.items):
        names = [i.iri for i in expr.items if isinstance(i, TypeName)]
        return (
            f"EXISTS (SELECT 1 FROM etypes ty WHERE ty.eid = {alias}.eid AND ty.type = ANY(%s))",
            [names],
        )
    joiner = " OR " if isinstance(expr, TypeAny) else " AND "
    assert isinstance(expr, TypeAny | TypeAll)
    parts: list[str] = []
    params: list[Any] = []
    for item in expr.items:
        sql, p = types_condition(item, alias)
        parts.append(sql)
        params.extend(p)
    return "(" + joiner.join(parts) + ")", params


def _q_set(tenant: int, node: QNode) -> tuple[str, list[Any]]:
    """A SELECT of entity keys matching a q node."""
    if isinstance(node, Term):
        return _term_set(tenant, node)
    op = " INTERSECT " if isinstance(node, And) else " UNION "
    parts: list[str] = []
    params: list[Any] = []
    for item in node.items:
        sql, p = _q_set(tenant, item)
        parts.append(f"({sql})")
        params.extend(p)
    return op.join(parts), params


#: Instance members without index rows (as on SQLite): a term on one is evaluated on the
#: entity documents. Every write would otherwise add two rows per attribute for a rare query.
_UNINDEXED = ("createdAt", "modifiedAt")
_UNINDEXED_PATHS = tuple(SUB_SEP + m for m in _UNINDEXED)
#: A stored time stamp as the index holds times (validate.normalize_datetime).
_NORMALIZED = (
    "to_char(({}->>%s)::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
)


def _term_set(tenant: int, term: Term) -> tuple[str, list[Any]]:
    if term.path.subs and term.path.subs[-1] in _UNINDEXED:
        times, tparams = _member_times(term.path.attr, term.path.subs)
        # The rows the index would hold, read from the documents.
        base = (
            f"SELECT eid FROM (SELECT e.eid, {K_TIME} AS kind, NULL::float8 AS num, t.txt"
            f" FROM entities e CROSS JOIN LATERAL ({times}) t WHERE e.tenant = %s) m WHERE true"
        )
        params = [*tparams, tenant]
    else:
        path = q_path(term.path.attr, term.path.subs, term.path.keys)
        base = "SELECT eid FROM attrs WHERE tenant = %s AND path = %s"
        params = [tenant, path]
    if term.op is None:
        return base, params
    cond, cparams = _condition(term)
    positive = f"{base} AND ({cond})"
    if term.op in ("!=", "!~="):
        # "not equal": the attribute exists and no value of it matches (clause 4.9).
        exists = f"{base} AND kind != {K_ATTR}"
        return f"({exists}) EXCEPT ({positive})", [*params, *params, *cparams]
    return positive, [*params, *cparams]


def _member_times(attr: str, subs: tuple[str, ...]) -> tuple[str, list[Any]]:
    """A SELECT of ``txt``: the normalized values of a member time of an attribute or a
    sub-attribute (``subs`` ends with the member) in the document of the entity ``e``."""
    *path, member = subs
    params: list[Any] = [member, attr]
    sources = ["jsonb_array_elements(e.doc::jsonb->'attrs'->%s) a0"]
    for n, sub in enumerate(path, start=1):
        # A sub-attribute holds an array of instances; anything else holds none.
        sources.append(
            f"jsonb_array_elements(CASE jsonb_typeof(a{n - 1}->%s) WHEN 'array'"
            f" THEN a{n - 1}->%s ELSE '[]' END) a{n}"
        )
        params.extend([sub, sub])
    last = f"a{len(path)}"
    sql = f"SELECT {_NORMALIZED.format(last)} AS txt FROM {', '.join(sources)} WHERE {last} ? %s"
    return sql, [*params, member]


def _condition(term: Term) -> tuple[str, list[Any]]:
    if term.pattern is not None:
        return f"kind = {K_STR} AND txt ~ %s", [term.pattern]
    sql_op = _SQL_OPS[term.op or "=="]
    if term.range is not None:
        lo, hi = term.range.low, term.range.high
        column, kinds = _column(lo)
        return f"kind IN ({kinds}) AND {column} BETWEEN %s AND %s", [_param(lo), _param(hi)]
    parts: list[str] = []
    params: list[Any] = []
    for lit in term.values:
        column, kinds = _column(lit)
        if sql_op == "=" and column == "txt":
            # The index holds a prefix of each text: compare it first, then the whole.
            parts.append(
                f"(kind IN ({kinds}) AND left(txt, {_PREFIX}) = left(%s, {_PREFIX}) AND txt = %s)"
            )
            params.extend([_param(lit), _param(lit)])
            continue
        parts.append(f"(kind IN ({kinds}) AND {column} {sql_op} %s)")
        params.append(_param(lit))
    return " OR ".join(parts), params


def _column(lit: Literal) -> tuple[str, str]:
    """The expression to compare and the row kinds it applies to."""
    if lit.kind == "number":
        return "num", str(K_NUM)
    if lit.kind == "boolean":
        return "num", str(K_BOOL)
    if lit.kind == "datetime":
        return "txt", str(K_TIME)
    if lit.kind == "date":
        return "left(txt, 10)", f"{K_STR},{K_TIME}"
    return "txt", str(K_STR)


def _param(lit: Literal) -> Any:
    if lit.kind == "boolean":
        return 1.0 if lit.value else 0.0
    if lit.kind == "number":
        return float(lit.value)
    return str(lit.value)


def _scope(expr: ScopeExpr) -> tuple[str, list[Any]]:
    if isinstance(expr, ScopePattern):
        if "+" in expr.pattern or "#" in expr.pattern:
            return (
                "EXISTS (SELECT 1 FROM escopes s WHERE s.eid = e.eid AND s.scope ~ %s)",
                [expr.regex()],
            )
        return "EXISTS (SELECT 1 FROM escopes s WHERE s.eid = e.eid AND s.scope = %s)", [
            expr.pattern
        ]
    joiner = " OR " if isinstance(expr, ScopeAny) else " AND "
    assert isinstance(expr, ScopeAny | ScopeAll)
    parts: list[str] = []
    params: list[Any] = []
    for item in expr.items:
        sql, p = _scope(item)
        parts.append(sql)
        params.extend(p)
    return "(" + joiner.join(parts) + ")", params


_REF = "ST_SetSRID(ST_GeomFromGeoJSON(%s::text), 4326)"
# Planar predicates on lon/lat, like shapely in the SQLite backend and in subscriptions.
_PLANAR = {
    "within": "ST_Within(g.geom, {ref})",
    "contains": "ST_Contains(g.geom, {ref})",
    "intersects": "ST_Intersects(g.geom, {ref})",
    "equals": "ST_Equals(g.geom, {ref})",
    "disjoint": "ST_Disjoint(g.geom, {ref})",
    "overlaps": "ST_Overlaps(g.geom, {ref})",
}


def _geo(tenant: int, geo: GeoQuery) -> tuple[str, list[Any]]:
    sql = "e.eid IN (SELECT g.eid FROM geo g WHERE g.tenant = %s AND g.path = %s AND "
    params: list[Any] = [tenant, geo.geoproperty]
    if geo.georel != "near":
        return sql + _PLANAR[geo.georel].format(ref=_REF) + ")", [*params, geo.geometry_json]
    # Metres on the sphere (use_spheroid false), the radius thudo.ngsild.geoquery uses.
    parts = []
    if geo.max_distance is not None:
        parts.append(f"ST_DWithin(g.geom::geography, {_REF}::geography, %s, false)")
        params.extend([geo.geometry_json, geo.max_distance])
    if geo.min_distance is not None:
        parts.append(f"NOT ST_DWithin(g.geom::geography, {_REF}::geography, %s, false)")
        params.extend([geo.geometry_json, geo.min_distance])
    return sql + " AND ".join(parts) + ")", params


_ENTITY_KEYS = {
    "@id": "e.id",
    "@createdAt": "e.created_at",
    "@modifiedAt": "e.modified_at",
    "@type": "(SELECT min(t.type) FROM etypes t WHERE t.eid = e.eid)",
}
_VALUE_KINDS = f"({K_NUM},{K_STR},{K_BOOL},{K_TIME})"


def compile_order(sel: EntitySelection) -> tuple[str, list[Any]]:
    """The ORDER BY list (orderBy, clause 4.23), always ending with the insertion order.

    As in SQLite, missing values sort first ascending and numbers before texts.
    """
    parts: list[str] = []
    params: list[Any] = []
    for key, desc in sel.order:
        column = _ENTITY_KEYS.get(key)
        if column is not None:
            nulls = "DESC NULLS LAST" if desc else "ASC NULLS FIRST"
            parts.append(f"{column} {nulls}")
            continue
        if key.endswith(_UNINDEXED_PATHS):
            attr, *subs = key.split(SUB_SEP)
            times, tparams = _member_times(attr, tuple(subs))
            agg, nulls = ("max", "DESC NULLS LAST") if desc else ("min", "ASC NULLS FIRST")
            parts.append(f"(SELECT {agg}(t.txt) FROM ({times}) t) {nulls}")
            params.extend(tparams)
            continue
        # An entity sorts by its smallest value (largest, descending), numbers before
        # texts: the class of that value (1 number, 2 text), then the value in its class.
        # The other class's value must not break a tie (SQLite's one column does not):
        # [1, "zz"] and [1] are equal ascending.
        rows = f"FROM attrs a WHERE a.eid = e.eid AND a.path = %s AND a.kind IN {_VALUE_KINDS}"
        agg, nulls, lone = ("max", "DESC", 1) if desc else ("min", "ASC", 2)
        value_class = f"(SELECT {agg}(CASE WHEN a.txt IS NULL THEN 1 ELSE 2 END) {rows})"
        first, second = ("txt", "num") if desc else ("num", "txt")
        parts.append(f"{value_class} {nulls} NULLS {'LAST' if desc else 'FIRST'}")
        parts.append(f"(SELECT {agg}(a.{first}) {rows}) {nulls} NULLS LAST")
        parts.append(
            f"CASE WHEN {value_class} = {lone} THEN (SELECT {agg}(a.{second}) {rows}) END"
            f" {nulls} NULLS LAST"
        )
        params.extend([key, key, key, key])
    parts.append("e.eid")
    return ", ".join(parts), params
