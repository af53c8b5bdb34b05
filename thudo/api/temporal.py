"""The temporal API (clause 5.6.11-5.6.16, 5.7.3-5.7.4): entity history by time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.params import comma_list, flag, options_set, render_options, type_expression
from thudo.api.query import query_body_params, selection_from_params
from thudo.errors import BadRequestData, InvalidRequest, ResourceNotFound
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.model import ENTITY_MEMBERS, INSTANCE_MEMBERS, Instance
from thudo.ngsild.parse import (
    ParseOptions,
    expand_name,
    parse_attribute,
    parse_scope,
    parse_types,
)
from thudo.ngsild.render import RenderOptions
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import (
    Aggregation,
    TemporalEntity,
    parse_aggregation,
    parse_time_filter,
    render_temporal,
)
from thudo.ngsild.validate import check_uri, now_iso

__all__ = [
    "append_temporal_attrs",
    "create_temporal",
    "delete_temporal",
    "delete_temporal_attr",
    "delete_temporal_instance",
    "modify_temporal_instance",
    "query_temporal",
    "query_temporal_post",
    "retrieve_temporal",
]

_OFFERED = (media.JSON, media.JSONLD)


def _path(entity_id: str) -> str:
    return "/ngsi-ld/v1/temporal/entities/" + entity_id


def _instances(body: dict[str, Any], ctx: ActiveContext, call: Call) -> dict[str, list[Instance]]:
    """Attribute instances of a temporal payload: several per datasetId are allowed."""
    now = now_iso()
    opts = ParseOptions(max_attributes=call.settings.max_attributes)
    attrs: dict[str, list[Instance]] = {}
    for name, raw in body.items():
        if name == "@context" or name in ENTITY_MEMBERS:
            continue
        if name in INSTANCE_MEMBERS:
            raise BadRequestData(f"{name!r} is a reserved name and cannot be an attribute")
        iri = expand_name(name, ctx)
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            attrs.setdefault(iri, []).extend(parse_attribute(item, iri, name, ctx, now, opts))
    return attrs


async def create_temporal(call: Call) -> Response:
    """POST /temporal/entities: 201 for a new temporal entity, 204 when it existed."""
    body, kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("a temporal entity must be a JSON object")
    ctx, _ = await call.body_context(body, kind)
    entity_id = check_uri(body.get("id"), "entity id")
    if "type" not in body:
        raise BadRequestData(f"temporal entity {entity_id!r} has no type")
    types = parse_types(body["type"], ctx)
    scope = parse_scope(body["scope"]) if body.get("scope") is not None else None
    attrs = _instances(body, ctx, call)
    created = await call.store.temporal_append(call.tenant, entity_id, types, scope, attrs)
    if created:
        return call.no_content(201, {"Location": _path(entity_id)})
    return call.no_content()


def _mode(opts: set[str], params: Mapping[str, Any]) -> str:
    fmt = params.get("format")
    if fmt in _TEMPORAL_FORMATS:
        return str(fmt)  # format wins over options
    if "aggregatedValues" in opts:
        return "aggregatedValues"
    if "temporalValues" in opts:
        return "temporalValues"
    return "normalized"


async def _answer(
    call: Call,
    entities: list[TemporalEntity],
    ctx: ActiveContext,
    value: Any,
    kind: str,
    count: int | None,
    content_range: str | None,
    single: bool,
) -> Response:
    opts = _render_options(call.params, ctx)
    mode = _mode(options_set(call.params), call.params)
    payload: Any = [render_temporal(e, ctx, opts, mode) for e in entities]
    payload = [p for p in payload if p]
    if single:
        if not payload:
            raise ResourceNotFound("nothing of the temporal entity is left after pick/omit")
        payload = payload[0]
    extra: dict[str, str] = {}
    if count is not None:
        extra["NGSILD-Results-Count"] = str(count)
    status = 200
    if content_range is not None:
        status = 206
        extra["Content-Range"] = content_range
    return await call.answer(payload, value, kind, status, extra)


_TEMPORAL_FORMATS = ("temporalValues", "aggregatedValues")


def _render_options(params: Mapping[str, Any], ctx: ActiveContext) -> RenderOptions:
    """The rendering options; temporal formats are taken out before the common checks."""
    opts = options_set(params) - set(_TEMPORAL_FORMATS)
    plain = {k: v for k, v in params.items() if k != "format" or v not in _TEMPORAL_FORMATS}
    return render_options(plain, ctx, opts)


def check_temporal_options(params: Mapping[str, Any]) -> None:
    """options/format problems are InvalidRequest (clause 6.3.x, checked first)."""
    fmt = params.get("format")
    allowed = (*_TEMPORAL_FORMATS, "normalized", "keyValues", "simplified", "concise")
    if fmt is not None and fmt not in allowed:
        raise InvalidRequest(f"format {fmt!r} is not one of {', '.join(allowed)}")
    try:
        options_set(params)
    except BadRequestData as exc:
        raise InvalidRequest(exc.detail) from None


def _aggregation(call: Call, params: Mapping[str, Any]) -> Aggregation | None:
    if _mode(options_set(call.params), params) != "aggregatedValues":
        return None
    return parse_aggregation(params)


async def retrieve_temporal(call: Call, entity_id: str) -> Response:
    """GET /temporal/entities/{id}."""
    kind = media.negotiate(call.header("accept"), _OFFERED)
    check_temporal_options(call.params)
    check_uri(entity_id, "entity id")
    ctx, value = await call.read_context()
    time = parse_time_filter(call.params)
    _render_options(call.params, ctx)
    attrs = _attr_names(call.params.get("attrs"), ctx)
    sel = EntitySelection(ids=(entity_id,), limit=1)
    entities, _, content_range = await call.store.temporal_query(
        call.tenant,
        sel,
        time,
        call.settings.temporal_max_instances,
        _aggregation(call, call.params),
    )
    if not entities:
        raise ResourceNotFound(f"temporal entity {entity_id!r} does not exist")
    if attrs is not None:
        for e in entities:
            e.attrs = {k: v for k, v in e.attrs.items() if k in attrs}
            e.aggregates = {k: v for k, v in e.aggregates.items() if k in attrs}
        if not any(e.attrs or e.aggregates for e in entities):
            raise ResourceNotFound(f"{entity_id!r} has no history for the attributes asked for")
    return await _answer(call, entities, ctx, value, kind, None, content_range, single=True)


def _attr_names(raw: str | None, ctx: ActiveContext) -> frozenset[str] | None:
    if raw is None:
        return None
    return frozenset(expand_name(n, ctx, "attrs item") for n in comma_list(raw))


async def query_temporal(call: Call) -> Response:
    """GET /temporal/entities."""
    kind = media.negotiate(call.header("accept"), _OFFERED)
    check_temporal_options(call.params)
    ctx, value = await call.read_context()
    return await _query(call, call.params, ctx, value, kind)


async def _query(
    call: Call, params: Mapping[str, Any], ctx: ActiveContext, value: Any, kind: str
) -> Response:
    time = parse_time_filter(params)
    _render_options(params, ctx)
    type_param = params.get("type")
    types = type_expression(type_param, ctx) if type_param is not None else None
    sel = selection_from_params(call, {**params, "limit": params.get("limit", "100")}, ctx, types)
    only_ids = sel.ids is not None and sel.types is None and sel.attrs is None and sel.q is None
    if (sel.is_unfiltered or only_ids) and not flag(params, "local"):
        raise BadRequestData("a temporal query needs at least one of type, attrs, q or idPattern")
    order: tuple[str, ...] | None = None
    if sel.q is not None or sel.geo is not None or sel.scope is not None or sel.order:
        sel, order = await _current_ids(call, sel)
    entities, count, content_range = await call.store.temporal_query(
        call.tenant, sel, time, call.settings.temporal_max_instances, _aggregation(call, params)
    )
    if order is not None:
        rank = {entity_id: i for i, entity_id in enumerate(order)}
        entities.sort(key=lambda e: rank.get(e.id, len(rank)))
    return await _answer(call, entities, ctx, value, kind, count, content_range, single=False)


async def _current_ids(call: Call, sel: EntitySelection) -> tuple[EntitySelection, tuple[str, ...]]:
    """q, geoQ, scopeQ and orderBy apply to the entities' current state; the history of
    the entities found is then read (in that order)."""
    current = replace(sel, limit=call.settings.max_page_size, offset=0, count=False, attrs=None)
    page = await call.store.query_entities(call.tenant, current)
    ids = tuple(e["id"] for e in page.entities)
    narrowed = replace(sel, ids=ids or ("urn:ngsi-ld:none",), q=None, geo=None, scope=None)
    return replace(narrowed, order=()), ids


async def query_temporal_post(call: Call) -> Response:
    """POST /temporalOperations/query."""
    body, body_kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the Query payload must be a JSON object")
    kind = media.negotiate(call.header("accept"), _OFFERED)
    ctx, value = await call.body_context(body, body_kind)
    params: dict[str, Any] = dict(call.params)
    temporal_q = body.get("temporalQ") or {}
    if not isinstance(temporal_q, dict):
        raise BadRequestData("temporalQ must be an object")
    for key, member in temporal_q.items():
        if member is None:
            continue
        # Members stand for query parameters: a text, or a number such as lastN.
        if isinstance(member, bool) or not isinstance(member, str | int | float):
            raise BadRequestData(f"temporalQ {key} must be a string or a number")
        params[key] = member if isinstance(member, str) else str(member)
    params.update(query_body_params(body))
    selectors = body.get("entities")
    if selectors is not None and not (
        isinstance(selectors, list)
        and all(
            isinstance(s, dict) and all(isinstance(s.get(k, ""), str) for k in ("type", "id"))
            for s in selectors
        )
    ):
        raise BadRequestData("entities must be an array of EntitySelectors with text members")
    if selectors:
        types = [s["type"] for s in selectors if s.get("type")]
        ids = [s["id"] for s in selectors if s.get("id")]
        if types:
            params["type"] = ",".join(types)
        if ids:
            params["id"] = ",".join(ids)
    return await _query(call, params, ctx, value, kind)


async def delete_temporal(call: Call, entity_id: str) -> Response:
    """DELETE /temporal/entities/{id}."""
    check_uri(entity_id, "entity id")
    if not await call.store.temporal_delete(call.tenant, entity_id):
        raise ResourceNotFound(f"temporal entity {entity_id!r} does not exist")
    return call.no_content()


async def append_temporal_attrs(call: Call, entity_id: str) -> Response:
    """POST /temporal/entities/{id}/attrs: add attribute instances."""
    check_uri(entity_id, "entity id")
    body, kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the payload must be a JSON object of attributes")
    ctx, _ = await call.body_context(body, kind)
    attrs = _instances(body, ctx, call)
    await call.store.temporal_append(call.tenant, entity_id, None, None, attrs)
    return call.no_content()


async def delete_temporal_attr(call: Call, entity_id: str, name: str) -> Response:
    """DELETE /temporal/entities/{id}/attrs/{attrId}."""
    check_uri(entity_id, "entity id")
    ctx, _ = await call.read_context()
    dataset = call.params.get("datasetId")
    if dataset is not None:
        check_uri(dataset, "datasetId")
    deleted = await call.store.temporal_delete_attribute(
        call.tenant, entity_id, expand_name(name, ctx), dataset, flag(call.params, "deleteAll")
    )
    if not deleted:
        raise ResourceNotFound(f"temporal entity {entity_id!r} has no attribute {name!r}")
    return call.no_content()


async def modify_temporal_instance(
    call: Call, entity_id: str, name: str, instance_id: str
) -> Response:
    """PATCH /temporal/entities/{id}/attrs/{attrId}/{instanceId}."""
    check_uri(entity_id, "entity id")
    check_uri(instance_id, "instanceId")
    body, kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the payload must be a JSON object")
    ctx, _ = await call.body_context(body, kind)
    iri = expand_name(name, ctx)
    members = {k: v for k, v in body.items() if k != "@context"}
    if not any(k in members for k in ("type", "value", "object", "languageMap", "json", "vocab")):
        # The instance wrapped under its attribute name.
        members = members.get(name, members.get(iri, members))
    opts = ParseOptions(max_attributes=call.settings.max_attributes)
    fragment = parse_attribute(members, iri, name, ctx, now_iso(), opts)
    if len(fragment) != 1:
        raise BadRequestData(f"the payload must hold exactly one instance of {name!r}")
    if not await call.store.temporal_modify_instance(
        call.tenant, entity_id, iri, instance_id, fragment[0]
    ):
        raise ResourceNotFound(f"no instance {instance_id!r} of {name!r} in {entity_id!r}")
    return call.no_content()


async def delete_temporal_instance(
    call: Call, entity_id: str, name: str, instance_id: str
) -> Response:
    """DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId}."""
    check_uri(entity_id, "entity id")
    check_uri(instance_id, "instanceId")
    ctx, _ = await call.read_context()
    iri = expand_name(name, ctx)
    if not await call.store.temporal_delete_instance(call.tenant, entity_id, iri, instance_id):
        raise ResourceNotFound(f"no instance {instance_id!r} of {name!r} in {entity_id!r}")
    return call.no_content()
