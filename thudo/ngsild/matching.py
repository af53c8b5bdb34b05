"""Which subscriptions a change concerns (clause 5.8, 7.x): compiled subscriptions, the
trigger of a change, and an index by tenant and entity type so that thousands of
subscriptions do not make each write slow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import shape

from thudo.ngsild.geoquery import GeoQuery, geo_matches, parse_geoq
from thudo.ngsild.jsonld import DEFAULT_VOCAB
from thudo.ngsild.model import Entity
from thudo.ngsild.patterns import search
from thudo.ngsild.qeval import ValueTable, matches_q, matches_scope, matches_types
from thudo.ngsild.qlang import QNode, parse_q
from thudo.ngsild.render import LOCATION
from thudo.ngsild.scopeq import ScopeExpr, parse_scope_q
from thudo.ngsild.subscription import DEFAULT_TRIGGERS, term_expander
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeExpr, TypeName, parse_type_expr
from thudo.ngsild.validate import normalize_datetime

__all__ = ["CompiledSubscription", "SubscriptionIndex", "change_trigger", "compile_subscription"]

_ENTITY_TRIGGERS = ("entityCreated", "entityUpdated", "entityDeleted")


@dataclass(frozen=True, slots=True)
class Selector:
    """One EntitySelector: an id, an id pattern and a type expression."""

    id: str | None
    id_pattern: str | None
    types: TypeExpr

    def matches(self, entity: Entity) -> bool:
        """Whether the entity is selected."""
        if self.id is not None and entity["id"] != self.id:
            return False
        if self.id_pattern is not None and not search(self.id_pattern, entity["id"]):
            return False
        return matches_types(self.types, entity["type"])


@dataclass(frozen=True, slots=True)
class CompiledSubscription:
    """A subscription ready for matching: every name expanded, every filter parsed."""

    tenant: str
    id: str
    selectors: tuple[Selector, ...]
    watched: frozenset[str] | None
    triggers: frozenset[str]
    q: QNode | None
    geo: GeoQuery | None
    scope: ScopeExpr | None
    is_active: bool
    expires_at: str | None
    throttling: float | None
    time_interval: float | None
    show_changes: bool
    type_keys: frozenset[str] | None = field(default=None)

    def live(self, now: str) -> bool:
        """Active and not expired."""
        return self.is_active and (self.expires_at is None or self.expires_at > now)

    def selects(self, entity: Entity) -> bool:
        """Whether the entity passes the selectors, q, geoQ and scopeQ."""
        if self.selectors and not any(s.matches(entity) for s in self.selectors):
            return False
        if self.q is not None and not matches_q(self.q, ValueTable(entity)):
            return False
        if self.scope is not None and not matches_scope(self.scope, entity.get("scope", [])):
            return False
        return self.geo is None or _geo_selects(self.geo, entity)


def _geo_selects(geo: GeoQuery, entity: Entity) -> bool:
    for inst in entity["attrs"].get(geo.geoproperty, []):
        value = inst.get("value")
        if inst.get("type") == "GeoProperty" and isinstance(value, dict):
            geom: shapely.Geometry = shape(value)
            if geo_matches(geo, geom):
                return True
    return False


def _type_names(expr: TypeExpr) -> set[str]:
    if isinstance(expr, TypeName):
        return {expr.iri}
    assert isinstance(expr, TypeAny | TypeAll)
    out: set[str] = set()
    for item in expr.items:
        out |= _type_names(item)
    return out


def compile_subscription(tenant: str, doc: dict[str, Any]) -> CompiledSubscription:
    """Compile a stored subscription (see ``thudo.ngsild.subscription``)."""
    expand = term_expander(doc.get("_terms", {}), DEFAULT_VOCAB)
    selectors = tuple(
        Selector(s.get("id"), s.get("idPattern"), parse_type_expr(s["type"], expand))
        for s in doc.get("entities", [])
    )
    watched = doc.get("watchedAttributes")
    geo = doc.get("geoQ")
    expires = doc.get("expiresAt")
    type_keys: frozenset[str] | None = None
    if selectors:
        names: set[str] = set()
        for s in selectors:
            names |= _type_names(s.types)
        type_keys = frozenset(names)
    return CompiledSubscription(
        tenant=tenant,
        id=doc["id"],
        selectors=selectors,
        watched=frozenset(expand(n) for n in watched) if watched else None,
        triggers=frozenset(doc.get("notificationTrigger") or DEFAULT_TRIGGERS),
        q=parse_q(doc["q"], expand) if doc.get("q") else None,
        geo=_compile_geo(geo, expand) if geo else None,
        scope=parse_scope_q(doc["scopeQ"]) if doc.get("scopeQ") else None,
        is_active=bool(doc.get("isActive", True)),
        expires_at=normalize_datetime(expires) if expires else None,
        throttling=doc.get("throttling"),
        time_interval=doc.get("timeInterval"),
        show_changes=bool(doc.get("notification", {}).get("showChanges", False)),
        type_keys=type_keys,
    )


def _compile_geo(geo: dict[str, Any], expand: Any) -> GeoQuery:
    prop = geo.get("geoproperty")
    return parse_geoq(
        geo.get("georel"),
        geo.get("geometry"),
        geo.get("coordinates"),
        expand(prop) if prop else LOCATION,
    )


def _datasets(instances: list[Any]) -> set[Any]:
    return {i.get("datasetId") for i in instances}


def _attr_changes(before: Entity, after: Entity) -> tuple[set[str], set[str], set[str]]:
    """Created, updated and deleted attributes; losing an instance counts as a deletion."""
    old, new = before["attrs"], after["attrs"]
    created = {a for a in new if a not in old}
    deleted = {a for a in old if a not in new or not _datasets(old[a]) <= _datasets(new[a])}
    updated = {a for a in new if a in old and a not in deleted and new[a] != old[a]}
    return created, updated, deleted


def change_trigger(
    sub: CompiledSubscription, before: Entity | None, after: Entity | None
) -> tuple[str, frozenset[str]] | None:
    """The trigger reason of a change for a subscription, and the attributes it concerns.

    None when the change does not concern the subscription. Entity triggers win over
    attribute triggers; ``watchedAttributes`` restricts the attribute triggers.
    """
    if after is None:
        if before is None:
            return None
        if "entityDeleted" in sub.triggers:
            return "entityDeleted", frozenset()
        if "attributeDeleted" in sub.triggers:
            gone = set(before["attrs"]) & (sub.watched or set(before["attrs"]))
            return ("attributeDeleted", frozenset(gone)) if gone else None
        return None
    if before is None:
        if "entityCreated" in sub.triggers:
            return "entityCreated", frozenset(after["attrs"])
        created = set(after["attrs"])
        if sub.watched is not None:
            created &= sub.watched
        if "attributeCreated" in sub.triggers and created:
            return "attributeCreated", frozenset(created)
        return None
    created, updated, deleted = _attr_changes(before, after)
    if sub.watched is not None:
        created &= sub.watched
        updated &= sub.watched
        deleted &= sub.watched
    for trigger, names in (
        ("attributeCreated", created),
        ("attributeUpdated", updated),
        ("attributeDeleted", deleted),
    ):
        if trigger in sub.triggers and names:
            return trigger, frozenset(names)
    if "entityUpdated" in sub.triggers and (created or updated or deleted or before != after):
        return "entityUpdated", frozenset(created | updated | deleted)
    return None


class SubscriptionIndex:
    """Compiled subscriptions by tenant and entity type; replaced whole on every change."""

    def __init__(self, subs: list[CompiledSubscription] | None = None) -> None:
        self.by_type: dict[tuple[str, str], list[CompiledSubscription]] = {}
        self.any_type: dict[str, list[CompiledSubscription]] = {}
        self.periodic: list[CompiledSubscription] = []
        self.size = 0
        for sub in subs or []:
            self.size += 1
            if sub.time_interval is not None:
                self.periodic.append(sub)
                continue
            if sub.type_keys is None:
                self.any_type.setdefault(sub.tenant, []).append(sub)
            else:
                for t in sub.type_keys:
                    self.by_type.setdefault((sub.tenant, t), []).append(sub)

    def candidates(self, tenant: str, types: list[str]) -> list[CompiledSubscription]:
        """The subscriptions that may concern an entity of these types."""
        found = list(self.any_type.get(tenant, ()))
        seen = {id(s) for s in found}
        for t in types:
            for sub in self.by_type.get((tenant, t), ()):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found.append(sub)
        return found
