"""The Notification a subscriber receives (clause 5.3.1), built from an outbox row.

Entities are rendered at delivery time with the subscription's @context and its
notification settings: format, attributes, sysAttrs, lang, showChanges.
"""

from __future__ import annotations

import uuid
from typing import Any

from thudo.ngsild.jsonld import CORE_CONTEXT_URL, DEFAULT_VOCAB, ActiveContext
from thudo.ngsild.model import VALUE_MEMBER, Entity, Instance
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
    return RenderOptions(
        fmt="keyValues" if fmt in ("keyValues", "simplified") else fmt,
        sys_attrs=bool(notification.get("sysAttrs", False)),
        attrs=frozenset(expand(a) for a in attrs) if attrs else None,
        lang=tuple(t.strip() for t in lang.split(",")) if lang else None,
    )


def _with_previous(entity: Entity, previous: dict[str, list[Instance]]) -> Entity:
    """A copy of the entity whose changed attributes carry their previous values."""
    attrs = dict(entity["attrs"])
    for iri, old in previous.items():
        if iri not in attrs or not old:
            continue
        new_instances = []
        for inst in attrs[iri]:
            match = next((o for o in old if o.get("datasetId") == inst.get("datasetId")), None)
            inst = dict(inst)
            if match is not None:
                member = VALUE_MEMBER.get(match.get("type", "Property"), "value")
                if member in match:
                    inst[_PREVIOUS[member]] = match[member]
            new_instances.append(inst)
        attrs[iri] = new_instances
    return {**entity, "attrs": attrs}


def _entities_for(pending: PendingNotification) -> list[Entity]:
    if "entities" in pending.payload:
        found: list[Entity] = pending.payload["entities"]
        return found
    return [_entity_for(pending)]


def _entity_for(pending: PendingNotification) -> Entity:
    payload = pending.payload
    entity: Entity = payload["entity"]
    if pending.trigger == "entityDeleted":
        return {"id": entity["id"], "type": entity["type"], "attrs": {}}
    if pending.trigger == "attributeDeleted" and payload.get("deleted"):
        attrs = {**entity["attrs"]}
        for iri, instances in payload["deleted"].items():
            attrs[iri] = [_deleted_marker(i) for i in instances]
        entity = {**entity, "attrs": attrs}
    if payload.get("previous"):
        entity = _with_previous(entity, payload["previous"])
    return entity


def _deleted_marker(inst: Instance) -> Instance:
    kind = inst.get("type", "Property")
    member = VALUE_MEMBER.get(kind, "value")
    out: Instance = {"type": kind, member: "urn:ngsi-ld:null"}
    if "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    return out


def notification_body(
    doc: dict[str, Any],
    batch: list[PendingNotification],
    ctx: ActiveContext,
    context_url: str | None,
    now: str,
) -> dict[str, Any]:
    """The Notification for one or more outbox rows of the same subscription."""
    endpoint = doc.get("notification", {}).get("endpoint", {})
    accept = endpoint.get("accept", "application/json")
    opts = render_options_for(doc)
    entities = [e for p in batch for e in _entities_for(p)]
    data: Any
    if accept == "application/geo+json":
        data = {
            "type": "FeatureCollection",
            "features": [render_feature(e, ctx, opts) for e in entities],
        }
    else:
        data = [render_entity(e, ctx, opts) for e in entities]
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": doc["id"],
        "notifiedAt": now,
        "data": data,
    }
    if batch and batch[0].trigger != "timeInterval":
        body["triggerReason"] = batch[0].trigger
    if accept in ("application/ld+json", "application/geo+json"):
        body["@context"] = context_url or CORE_CONTEXT_URL
    return body
