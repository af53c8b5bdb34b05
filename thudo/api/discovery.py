"""Discovery of what the broker holds (clause 5.7.5-5.7.10): entity types and attributes."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.params import flag
from thudo.errors import ResourceNotFound
from thudo.ngsild.parse import expand_name

__all__ = ["retrieve_attribute", "retrieve_attributes", "retrieve_type", "retrieve_types"]

_OFFERED = (media.JSON, media.JSONLD)


def _kind(call: Call) -> str:
    return media.negotiate(call.header("accept"), _OFFERED)


async def retrieve_types(call: Call) -> Response:
    """GET /types, as an EntityTypeList or (details=true) a list of EntityType."""
    kind = _kind(call)
    details = flag(call.params, "details")
    ctx, value = await call.read_context()
    infos = await call.store.entity_types(call.tenant, with_attributes=details)
    payload: Any
    if details:
        payload = [
            {
                "id": info.type,
                "type": "EntityType",
                "typeName": ctx.compact(info.type),
                "attributeNames": sorted(ctx.compact(a) for a in info.attributes),
            }
            for info in infos
        ]
    else:
        payload = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": [ctx.compact(info.type) for info in infos],
        }
    return await call.answer(payload, value, kind)


async def retrieve_type(call: Call, name: str) -> Response:
    """GET /types/{type}: an EntityTypeInfo with the attributes of that type."""
    kind = _kind(call)
    ctx, value = await call.read_context()
    iri = expand_name(name, ctx, "entity type")
    infos = await call.store.entity_types(call.tenant, with_attributes=True)
    info = next((i for i in infos if i.type == iri), None)
    if info is None:
        raise ResourceNotFound(f"no entity has type {name!r}")
    payload = {
        "id": info.type,
        "type": "EntityTypeInfo",
        "typeName": ctx.compact(info.type),
        "entityCount": info.count,
        "attributeDetails": [
            {
                "id": attr,
                "type": "Attribute",
                "attributeName": ctx.compact(attr),
                "attributeTypes": sorted(kinds),
            }
            for attr, kinds in sorted(info.attributes.items())
        ],
    }
    return await call.answer(payload, value, kind)


async def retrieve_attributes(call: Call) -> Response:
    """GET /attributes, as an AttributeList or (details=true) a list of Attribute."""
    kind = _kind(call)
    details = flag(call.params, "details")
    ctx, value = await call.read_context()
    infos = await call.store.attributes(call.tenant)
    payload: Any
    if details:
        payload = [
            {
                "id": info.name,
                "type": "Attribute",
                "attributeName": ctx.compact(info.name),
                "typeNames": sorted(ctx.compact(t) for t in info.types),
            }
            for info in infos
        ]
    else:
        payload = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": [ctx.compact(info.name) for info in infos],
        }
    return await call.answer(payload, value, kind)


async def retrieve_attribute(call: Call, name: str) -> Response:
    """GET /attributes/{attrId}: one Attribute with counts and the types that use it."""
    kind = _kind(call)
    ctx, value = await call.read_context()
    iri = expand_name(name, ctx)
    infos = await call.store.attributes(call.tenant, iri)
    if not infos:
        raise ResourceNotFound(f"no entity has attribute {name!r}")
    info = infos[0]
    payload = {
        "id": info.name,
        "type": "Attribute",
        "attributeName": ctx.compact(info.name),
        "attributeCount": info.count,
        "attributeTypes": sorted(info.attribute_types),
        "typeNames": sorted(ctx.compact(t) for t in info.types),
    }
    return await call.answer(payload, value, kind)
