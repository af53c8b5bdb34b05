"""Evaluate a parsed ``q`` (and scopeQ, type expressions) against one entity in memory.

Used where a single entity is at hand, such as matching a change against subscriptions.
It reads the same value rows as the stores' indexes (``thudo.ngsild.values``), so an
expression means the same thing in a query and in a subscription.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from thudo.ngsild.model import KEY_SEP, SUB_SEP, Entity
from thudo.ngsild.patterns import search
from thudo.ngsild.qlang import And, Literal, Or, QNode, Term
from thudo.ngsild.scopeq import ScopeAll, ScopeAny, ScopeExpr, ScopePattern
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeExpr, TypeName
from thudo.ngsild.values import K_ATTR, K_BOOL, K_NUM, K_STR, K_SUB, K_TIME, attribute_rows, q_path

__all__ = ["ValueTable", "matches_q", "matches_scope", "matches_types"]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.eq,  # negated after the search
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class ValueTable:
    """The value rows of one entity, grouped by path.

    Rows are built per attribute on first use: matching one change against many
    subscriptions shares one table, and each q reads only the attributes it names.
    """

    __slots__ = ("_attrs", "_done", "rows")

    def __init__(self, entity: Entity) -> None:
        self._attrs = entity["attrs"]
        self._done: set[str] = set()
        self.rows: dict[str, list[tuple[int, float | None, str | None]]] = {}

    def values(self, path: str) -> list[tuple[int, float | None, str | None]]:
        """The rows at a path (markers included)."""
        attr = path.split(SUB_SEP, 1)[0].split(KEY_SEP, 1)[0]
        if attr not in self._done:
            self._done.add(attr)
            for row_path, kind, num, txt in attribute_rows(
                attr, self._attrs.get(attr, ()), system_times=True
            ):
                self.rows.setdefault(row_path, []).append((kind, num, txt))
        return self.rows.get(path, [])


def _literal_matches(lit: Literal, row: tuple[int, float | None, str | None], op: str) -> bool:
    kind, num, txt = row
    compare = _OPS[op]
    if lit.kind == "number":
        return kind == K_NUM and num is not None and compare(num, lit.value)
    if lit.kind == "boolean":
        return kind == K_BOOL and num is not None and compare(num, 1.0 if lit.value else 0.0)
    if lit.kind == "datetime":
        return kind == K_TIME and txt is not None and compare(txt, lit.value)
    if lit.kind == "date":
        return kind in (K_STR, K_TIME) and txt is not None and compare(txt[:10], lit.value)
    return kind == K_STR and txt is not None and compare(txt, lit.value)


def _in_range(term: Term, row: tuple[int, float | None, str | None]) -> bool:
    assert term.range is not None
    low, high = term.range.low, term.range.high
    return _literal_matches(low, row, ">=") and _literal_matches(high, row, "<=")


def _term(term: Term, table: ValueTable) -> bool:
    rows = table.values(q_path(term.path.attr, term.path.subs, term.path.keys))
    if term.op is None:
        return bool(rows)
    values = [r for r in rows if r[0] not in (K_ATTR, K_SUB)]
    if term.pattern is not None:
        hit = any(r[0] == K_STR and r[2] is not None and search(term.pattern, r[2]) for r in values)
        return hit if term.op == "~=" else bool(values) and not hit
    if term.range is not None:
        hit = any(_in_range(term, r) for r in values)
    else:
        op = term.op
        hit = any(_literal_matches(lit, r, op) for lit in term.values for r in values)
    if term.op == "!=":
        return bool(values) and not hit
    return hit


def matches_q(node: QNode, table: ValueTable) -> bool:
    """Whether the entity behind ``table`` satisfies the q expression."""
    if isinstance(node, Term):
        return _term(node, table)
    if isinstance(node, And):
        return all(matches_q(i, table) for i in node.items)
    assert isinstance(node, Or)
    return any(matches_q(i, table) for i in node.items)


def matches_types(expr: TypeExpr, types: list[str]) -> bool:
    """Whether an entity with these (expanded) types satisfies a type expression."""
    if isinstance(expr, TypeName):
        return expr.iri in types
    if isinstance(expr, TypeAny):
        return any(matches_types(i, types) for i in expr.items)
    assert isinstance(expr, TypeAll)
    return all(matches_types(i, types) for i in expr.items)


def matches_scope(expr: ScopeExpr, scopes: list[str]) -> bool:
    """Whether an entity with these scopes satisfies a scopeQ expression."""
    if isinstance(expr, ScopePattern):
        pattern = re.compile(expr.regex())
        return any(pattern.match(s) for s in scopes)
    if isinstance(expr, ScopeAny):
        return any(matches_scope(i, scopes) for i in expr.items)
    assert isinstance(expr, ScopeAll)
    return all(matches_scope(i, scopes) for i in expr.items)
