"""The Notification a subscriber receives (clause 5.3.1), built from an outbox row.

Entities are rendered at delivery time with the subscription's @context and its
notification settings: format, attributes, pick/omit, sysAttrs, datasetId, lang, joins
and showChanges. Deleted attributes appear with the NGSI-LD null (clause 4.5.0).
"""

from __future__ import annotations

import uuid
from typing import Any

from thudo.ngsild.jsonld import CORE_CONTEXT_URL, DEFAULT_VOCAB, ActiveContext
from thudo.ngsild.linking import Fetch, Linker, parse_join
from thudo.ngsild.model import VALUE_MEMBER, Entity, Instance
from thudo.ngsild.parse import NULL
from thudo.ngsild.projection import expand_projection, parse_projection
from thudo.ngsild.render import RenderOptions, render_entity, render_feature
from thudo.ngsild.subscription import term_expander
from thudo.store.base import PendingNotification

__all__ = ["notification_body", "render_options_for"]

_PREVIOUS = {
    "value": "previousValue",
    "object": "previousObject",
    "languageMap": "previousLanguageMap",
    "vocab": "previousVocab",
    "json": "previousJson",
    "valueList": "previousValueList",
    "objectList": "previousObjectList",
}


def render_options_for(doc: dict[str, Any]) -> RenderOptions:
    """How a subscription wants its entities rendered."""
    notification = doc.get("notification", {})
    expand = term_expander(doc.get("_terms", {}), DEFAULT_VOCAB)
    attrs = notification.get("attributes")
    fmt = notification.get("format", "normalized")
    lang = doc.get("lang")
    datasets = doc.get("datasetId")
    if datasets is not None and not isinstance(datasets, list):
        datasets = [datasets]
    pick = _projection(notification.get("pick"), "pick", expand)
    omit = _projection(notification.get("omit"), "omit", expand)
    return RenderOptions(
        fmt="keyValues" if fmt in ("keyValues", "simplified") else fmt,
        sys_attrs=bool(notification.get("sysAttrs", False)),
        attrs=frozenset(expand(a) for a in attrs) if attrs else None,
        pick=frozenset(pick) if pick is not None else None,
        omit=frozenset(k for k, v in omit.items() if v is None) if omit is not None else None,
        pick_tree=pick,
        omit_tree=omit,
        lang=tuple(t.strip() for t in lang.split(",")) if lang else None,
        dataset_ids=(
            frozenset(None if d == "@none" else d for d in datasets) if datasets else None
        ),
    )


def _projection(raw: Any, what: str, expand: Any) -> Any:
    if raw is None:
        return None
    text = ",".join(raw) if isinstance(raw, list) else str(raw)
    return expand_projection(parse_projection(text, what), expand)


def _nulled(inst: Instance, at: str, sys_attrs: bool, plain_language: bool = False) -> Instance:
    """An instance that reports a deletion: its value member set to the NGSI-LD null."""
    kind = inst.get("type", "Property")
    member = VALUE_MEMBER.get(kind, "value")
    null: Any = NULL
    if kind == "LanguageProperty" and not plain_language:
        null = {"@none": NULL}
    out: Instance = {"type": kind, member: null}
    if "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    if sys_attrs:
        out["createdAt"] = inst.get("createdAt", at)
        out["modifiedAt"] = at
        out["deletedAt"] = at
    return out


def _with_previous(inst: Instance, old: Instance | None) -> Instance:
    if old is None:
        return inst
    member = VALUE_MEMBER.get(old.get("type", "Property"), "value")
    if member not in old:
        return inst
    return {**inst, _PREVIOUS[member]: old[member]}


def _old_instance(
    previous: dict[str, list[Instance]], attr: str, inst: Instance
) -> Instance | None:
    return next(
        (o for o in previous.get(attr, []) if o.get("datasetId") == inst.get("datasetId")), None
    )


def _deleted_entity(payload: dict[str, Any], trigger: str, sys_attrs: bool) -> Entity:
    """entityDeleted / attributeDeleted on a deleted entity: id, type, deletedAt and the
    attributes concerned, nulled."""
    entity: Entity = payload["entity"]
    at = str(payload.get("at") or entity.get("modifiedAt", ""))
    out: Entity = {"id": entity["id"], "type": entity["type"], "deletedAt": at, "attrs": {}}
    if sys_attrs:
        out["createdAt"] = entity.get("createdAt")
        out["modifiedAt"] = at
    previous = payload.get("previous", {})
    plain = trigger == "entityDeleted"
    for attr, instances in payload.get("deleted", {}).items():
        out["attrs"][attr] = [
            _with_previous(_nulled(i, at, sys_attrs, plain), _old_instance(previous, attr, i))
            for i in instances
        ]
    return out


def _changed_entity(payload: dict[str, Any], sys_attrs: bool) -> Entity:
    """The entity after the change, with deleted instances nulled and previous values."""
    entity: Entity = payload["entity"]
    at = str(payload.get("at") or entity.get("modifiedAt", ""))
    previous: dict[str, list[Instance]] = payload.get("previous", {})
    changed = set(payload.get("attrs", []))
    attrs = dict(entity["attrs"])
    for attr in changed:
        if attr in attrs and attr in previous:
            attrs[attr] = [_with_previous(i, _old_instance(previous, attr, i)) for i in attrs[attr]]
    for attr, removed in payload.get("deleted", {}).items():
        if attr not in attrs and len(removed) > 1:
            # The whole attribute is gone: one null stands for all its instances.
            whole = {k: v for k, v in removed[0].items() if k != "datasetId"}
            attrs[attr] = [_nulled(whole, at, sys_attrs)]
            continue
        nulled = [
            _with_previous(_nulled(i, at, sys_attrs), _old_instance(previous, attr, i))
            for i in removed
        ]
        attrs[attr] = [*attrs.get(attr, []), *nulled]
    return {**entity, "attrs": attrs}


def _entities_for(pending: PendingNotification, sys_attrs: bool) -> list[Entity]:
    payload = pending.payload
    if "entities" in payload:
        found: list[Entity] = payload["entities"]
        return found
    deleted_entity = pending.trigger == "entityDeleted" or (
        pending.trigger == "attributeDeleted" and payload.get("entity_deleted")
    )
    if deleted_entity:
        return [_deleted_entity(payload, pending.trigger, sys_attrs)]
    return [_changed_entity(payload, sys_attrs)]


async def notification_body(
    doc: dict[str, Any],
    batch: list[PendingNotification],
    ctx: ActiveContext,
    context_url: str | None,
    now: str,
    fetch: Fetch,
) -> dict[str, Any]:
    """The Notification for one or more outbox rows of the same subscription."""
    notification = doc.get("notification", {})
    accept = notification.get("endpoint", {}).get("accept", "application/json")
    opts = render_options_for(doc)
    entities = [e for p in batch for e in _entities_for(p, opts.sys_attrs)]
    data: Any
    if accept == "application/geo+json":
        data = {
            "type": "FeatureCollection",
            "features": [render_feature(e, ctx, opts) for e in entities],
        }
    else:
        join = parse_join(notification.get("join"), notification.get("joinLevel"))
        if join is not None:
            data = await Linker(fetch, ctx, join[0], join[1]).render(entities, opts)
        else:
            data = [render_entity(e, ctx, opts) for e in entities]
        if accept == "application/ld+json":
            for item in data:
                item["@context"] = context_url or CORE_CONTEXT_URL
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": doc["id"],
        "notifiedAt": now,
        "data": data,
    }
    if batch and batch[0].trigger != "timeInterval":
        body["triggerReason"] = batch[0].trigger
    if accept == "application/geo+json":
        body["@context"] = context_url or CORE_CONTEXT_URL
    return body
