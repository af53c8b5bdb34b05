"""What a query selects (clause 5.7.2): ids, types, q, geo-query, scope and paging."""

from __future__ import annotations

from dataclasses import dataclass

from thudo.ngsild.geoquery import GeoQuery
from thudo.ngsild.qlang import QNode
from thudo.ngsild.scopeq import ScopeExpr
from thudo.ngsild.typeexpr import TypeExpr

__all__ = ["EntitySelection"]


@dataclass(frozen=True, slots=True)
class EntitySelection:
    """The filters of an entity query, with expanded names, and the page wanted."""

    ids: tuple[str, ...] | None = None
    id_pattern: str | None = None
    types: TypeExpr | None = None
    q: QNode | None = None
    geo: GeoQuery | None = None
    scope: ScopeExpr | None = None
    attrs: frozenset[str] | None = None  # the entity must have at least one of these
    limit: int = 20
    offset: int = 0
    count: bool = False
    #: Sort keys: an index path, or "@id", "@type", "@createdAt", "@modifiedAt"; True = descending.
    order: tuple[tuple[str, bool], ...] = ()

    @property
    def is_unfiltered(self) -> bool:
        """True when nothing restricts the entities (clause 5.7.2 needs a filter)."""
        return (
            self.ids is None
            and self.id_pattern is None
            and self.types is None
            and self.q is None
            and self.geo is None
            and self.scope is None
            and self.attrs is None
        )
