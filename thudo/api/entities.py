"""The entity resource: create, retrieve, replace, merge and delete (clauses 5.6.1, 5.6.6,
5.6.17, 5.6.18, 5.7.1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.linked import join_request
from thudo.api.params import options_set, render_options
from thudo.api.representation import render_one
from thudo.errors import AlreadyExists, BadRequestData, InvalidRequest, ResourceNotFound
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import (
    ParseOptions,
    parse_attributes,
    parse_entity,
    parse_scope,
    parse_types,
)
from thudo.ngsild.update import merge_entity, replace_entity
from thudo.ngsild.validate import check_uri, now_iso
from thudo.store.base import DELETE, Outcome

__all__ = [
    "create_entity",
    "delete_entity",
    "merge_entity_call",
    "replace_entity_call",
    "retrieve_entity",
]


def entity_path(entity_id: str) -> str:
    """The Location of an entity (the id percent-encoded where a path needs it)."""
    return "/ngsi-ld/v1/entities/" + quote(entity_id, safe=":@!$&'()*+,;=-._~")


def check_entity_id(entity_id: str) -> str:
    """An entity id taken from the path must be a URI (400 BadRequestData otherwise)."""
    return check_uri(entity_id, "entity id")


async def create_entity(call: Call) -> Response:
    """POST /entities: 201 with Location, 409 if the id exists."""
    body, kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the payload of Create Entity must be a JSON object")
    ctx, _ = await call.body_context(body, kind)
    entity = parse_entity(body, ctx, now_iso(), _parse_opts(call))

    def change(current: Entity | None) -> Outcome:
        if current is not None:
            raise AlreadyExists(f"entity {entity['id']!r} already exists")
        return entity, None

    await call.store.change(call.tenant, entity["id"], change)
    return call.no_content(201, {"Location": entity_path(entity["id"])})


def _parse_opts(call: Call, allow_null: bool = False) -> ParseOptions:
    return ParseOptions(allow_null=allow_null, max_attributes=call.settings.max_attributes)


async def retrieve_entity(call: Call, entity_id: str) -> Response:
    """GET /entities/{id} in the representation the client asked for."""
    opts_set = _checked_options(call)
    check_entity_id(entity_id)
    kind = media.negotiate(call.header("accept"), (media.JSON, media.JSONLD, media.GEOJSON))
    ctx, value = await call.read_context()
    opts = render_options(call.params, ctx, opts_set)
    entity = await call.store.get_entity(call.tenant, entity_id)
    if entity is None:
        raise ResourceNotFound(f"entity {entity_id!r} does not exist")
    if opts.attrs is not None and not any(a in entity["attrs"] for a in opts.attrs):
        raise ResourceNotFound(f"entity {entity_id!r} has none of the attributes asked for")
    payload: Any = render_one(call, entity, ctx, opts, kind)
    if not payload:
        raise ResourceNotFound(f"nothing of entity {entity_id!r} is left after pick/omit")
    join = join_request(call, ctx)
    if join is not None and kind != media.GEOJSON:
        if join.mode == "inline":
            payload = await join.inline(entity, opts)
        else:
            linked = await join.flat([entity], opts)
            payload = linked[0] if len(linked) == 1 else linked
    return await call.answer(payload, value, kind)


def _checked_options(call: Call) -> set[str]:
    """options/format problems are InvalidRequest and come before a 404 (clause 6.3.x)."""
    try:
        opts = options_set(call.params)
        fmt = call.params.get("format")
        if fmt is not None and fmt not in ("keyValues", "simplified", "concise", "normalized"):
            raise BadRequestData(f"format {fmt!r} is not normalized, concise or keyValues")
    except BadRequestData as exc:
        raise InvalidRequest(exc.detail) from None
    if call.params.get("format") is not None:
        opts -= {"keyValues", "simplified", "concise", "normalized"}
    return opts


async def delete_entity(call: Call, entity_id: str) -> Response:
    """DELETE /entities/{id}: 204, or 404 when it does not exist."""
    check_entity_id(entity_id)

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise ResourceNotFound(f"entity {entity_id!r} does not exist")
        return DELETE, None

    await call.store.change(call.tenant, entity_id, change)
    return call.no_content()


def _body_id(body: dict[str, Any], entity_id: str) -> None:
    given = body.get("id")
    if given is not None and given != entity_id:
        raise BadRequestData(f"the payload id {given!r} differs from the entity id in the path")


async def replace_entity_call(call: Call, entity_id: str) -> Response:
    """PUT /entities/{id}: replace everything but the creation time."""
    check_entity_id(entity_id)
    body, kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the payload of Replace Entity must be a JSON object")
    _body_id(body, entity_id)
    ctx, _ = await call.body_context(body, kind)
    now = now_iso()
    new = parse_entity({**body, "id": entity_id}, ctx, now, _parse_opts(call))

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise ResourceNotFound(f"entity {entity_id!r} does not exist")
        return replace_entity(current, new, now), None

    await call.store.change(call.tenant, entity_id, change)
    return call.no_content()


async def merge_entity_call(call: Call, entity_id: str) -> Response:
    """PATCH /entities/{id}: merge-patch the entity (clause 5.6.17)."""
    check_entity_id(entity_id)
    body, kind = await call.json_body(allow_merge_patch=True)
    if not isinstance(body, dict):
        raise InvalidRequest("the payload of Merge Entity must be a JSON object")
    _body_id(body, entity_id)
    ctx, _ = await call.body_context(body, kind)
    now = now_iso()
    attrs = parse_attributes(body, ctx, now, _parse_opts(call, allow_null=True))
    types = parse_types(body["type"], ctx) if "type" in body else None
    scope = parse_scope(body["scope"]) if body.get("scope") is not None else None

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise ResourceNotFound(f"entity {entity_id!r} does not exist")
        merge_entity(current, attrs, now, types, scope)
        return current, None

    await call.store.change(call.tenant, entity_id, change)
    return call.no_content()
