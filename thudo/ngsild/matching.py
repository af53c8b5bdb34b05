"""Which subscriptions a change concerns (clause 5.8, 7.x): compiled subscriptions, the
trigger of a change, and an index by tenant and entity type so that thousands of
subscriptions do not make each write slow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import shape

from thudo.ngsild.geoquery import GeoQuery, geo_matches, parse_geoq
from thudo.ngsild.jsonld import DEFAULT_VOCAB
from thudo.ngsild.model import Entity
from thudo.ngsild.patterns import search
from thudo.ngsild.qeval import ValueTable, matches_q, matches_scope, matches_types
from thudo.ngsild.qlang import QNode, Term, parse_q
from thudo.ngsild.render import LOCATION
from thudo.ngsild.scopeq import ScopeExpr, parse_scope_q
from thudo.ngsild.subscription import DEFAULT_TRIGGERS, term_expander
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeExpr, TypeName, parse_type_expr
from thudo.ngsild.validate import normalize_datetime
from thudo.ngsild.values import K_BOOL, K_NUM, K_STR, q_path

__all__ = [
    "CompiledSubscription",
    "SubscriptionIndex",
    "change_trigger",
    "compile_subscription",
    "equality_keys",
]

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

    def selects(self, entity: Entity, table: ValueTable | None = None) -> bool:
        """Whether the entity passes the selectors, q, geoQ and scopeQ (``table``: the
        entity's value rows, shared by the subscriptions one change is matched against)."""
        if self.selectors and not any(s.matches(entity) for s in self.selectors):
            return False
        if self.q is not None and not matches_q(self.q, table or ValueTable(entity)):
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


_EQ_KINDS = {"number": K_NUM, "string": K_STR, "boolean": K_BOOL}
ValueKey = tuple[int, Any]


def equality_keys(q: QNode | None) -> tuple[str, frozenset[ValueKey]] | None:
    """For ``q`` of the form ``path==v`` or ``path==v1,v2`` (numbers, strings, booleans):
    the value-row path, and the (kind, value) keys of which an entity must hold one."""
    if not isinstance(q, Term) or q.op != "==" or q.range is not None or q.pattern is not None:
        return None
    keys: set[ValueKey] = set()
    for lit in q.values:
        kind = _EQ_KINDS.get(lit.kind)
        if kind is None:
            return None
        if kind == K_STR:
            keys.add((K_STR, lit.value))
        else:
            keys.add((kind, float(lit.value)))
    if not keys:
        return None
    return q_path(q.path.attr, q.path.subs, q.path.keys), frozenset(keys)


def _row_key(row: tuple[int, float | None, str | None]) -> ValueKey:
    kind, num, txt = row
    return (kind, txt) if kind == K_STR else (kind, num)


class SubscriptionIndex:
    """Compiled subscriptions by tenant, entity id, entity type and q value; replaced whole
    on every change, so thousands of subscriptions do not make each write slow.

    A subscription that names entity ids in all its selectors is found by id. One whose q
    is an equality (``zone==3``) is found by the value the entity holds at that path. The
    rest are found by type. Candidates are then checked in full (``selects``)."""

    def __init__(self, subs: list[CompiledSubscription] | None = None) -> None:
        self.by_id: dict[tuple[str, str], list[CompiledSubscription]] = {}
        self.by_type: dict[tuple[str, str], list[CompiledSubscription]] = {}
        self.by_value: dict[
            tuple[str, str], dict[str, dict[ValueKey, list[CompiledSubscription]]]
        ] = {}
        self.any_type: dict[str, list[CompiledSubscription]] = {}
        #: (tenant, type) pairs any non-periodic subscription may select.
        self.types: set[tuple[str, str]] = set()
        self.periodic: list[CompiledSubscription] = []
        self.size = 0
        for sub in subs or []:
            self.size += 1
            if sub.time_interval is not None:
                self.periodic.append(sub)
            elif sub.type_keys is None:
                self.any_type.setdefault(sub.tenant, []).append(sub)
            else:
                self._add(sub, sub.type_keys)

    def _add(self, sub: CompiledSubscription, type_keys: frozenset[str]) -> None:
        self.types.update((sub.tenant, t) for t in type_keys)
        ids = {s.id for s in sub.selectors}
        if None not in ids:
            for eid in ids:
                assert eid is not None
                self.by_id.setdefault((sub.tenant, eid), []).append(sub)
            return
        eq = equality_keys(sub.q)
        for t in type_keys:
            if eq is None:
                self.by_type.setdefault((sub.tenant, t), []).append(sub)
                continue
            by_key = self.by_value.setdefault((sub.tenant, t), {}).setdefault(eq[0], {})
            for key in eq[1]:
                by_key.setdefault(key, []).append(sub)

    def candidates(
        self,
        tenant: str,
        types: list[str],
        entity_id: str | None = None,
        table: ValueTable | None = None,
    ) -> list[CompiledSubscription]:
        """The subscriptions that may concern an entity of these types (with this id and
        these values; without ``table``, every subscription found by value is included)."""
        found = list(self.any_type.get(tenant, ()))
        if entity_id is not None:
            found.extend(self.by_id.get((tenant, entity_id), ()))
        seen = {id(s) for s in found}

        def add(subs: Iterable[CompiledSubscription]) -> None:
            for sub in subs:
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found.append(sub)

        for t in types:
            add(self.by_type.get((tenant, t), ()))
            for path, by_key in self.by_value.get((tenant, t), {}).items():
                if table is None:
                    for subs in by_key.values():
                        add(subs)
                    continue
                for row in table.values(path):
                    add(by_key.get(_row_key(row), ()))
        return found
