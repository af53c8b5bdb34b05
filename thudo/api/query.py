"""Querying entities (clause 5.7.2, GET /entities and POST /entityOperations/query) and
purging them (DELETE /entities)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.linked import join_request
from thudo.api.params import comma_list, flag, paging, render_options, type_expression
from thudo.api.representation import render_many
from thudo.errors import BadRequestData, InvalidRequest, OperationNotSupported
from thudo.ngsild.geoquery import GeoQuery, parse_geoq
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.linking import Linker
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import expand_name
from thudo.ngsild.patterns import check_pattern
from thudo.ngsild.qlang import MEMBER_NAMES, parse_q
from thudo.ngsild.render import LOCATION
from thudo.ngsild.scopeq import parse_scope_q
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.typeexpr import TypeAny, TypeExpr
from thudo.ngsild.validate import check_uri, now_iso
from thudo.ngsild.values import q_path
from thudo.store.base import DELETE, Outcome

__all__ = ["purge_entities", "query_body_params", "query_entities", "query_entities_post"]


def _ids(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    ids = comma_list(value)
    if not ids:
        raise BadRequestData("id is empty")
    return tuple(check_uri(i, "id") for i in ids)


def _geo(params: Mapping[str, Any], ctx: ActiveContext, max_points: int) -> GeoQuery | None:
    parts = [params.get(k) for k in ("georel", "geometry", "coordinates")]
    if all(p is None for p in parts):
        return None
    prop = params.get("geoproperty")
    geoprop = LOCATION if prop is None else expand_name(prop, ctx, "geoproperty")
    return parse_geoq(parts[0], parts[1], parts[2], geoprop, max_points)


def selection_from_params(
    call: Call, params: Mapping[str, Any], ctx: ActiveContext, types: TypeExpr | None
) -> EntitySelection:
    """The EntitySelection of a query's parameters (GET parameters or a POST body)."""
    if len(str(params.get("q") or "")) > call.settings.max_query_length:
        raise BadRequestData(f"q is longer than {call.settings.max_query_length} characters")
    id_pattern = params.get("idPattern")
    if id_pattern is not None:
        check_pattern(id_pattern, "idPattern")
    attrs = params.get("attrs")
    attr_names = None
    if attrs is not None:
        names = comma_list(attrs)
        if not names or any(n in ("id", "type") for n in names):
            raise BadRequestData("attrs lists attribute names; id and type are not attributes")
        attr_names = frozenset(expand_name(n, ctx, "attrs item") for n in names)
    q = params.get("q")
    scope_q = params.get("scopeQ")
    limit, offset = paging(params, call.settings)
    return EntitySelection(
        ids=_ids(params.get("id")),
        id_pattern=id_pattern,
        types=types,
        q=parse_q(q, ctx.expand) if q is not None else None,
        geo=_geo(params, ctx, call.settings.max_geometry_points),
        scope=parse_scope_q(scope_q) if scope_q is not None else None,
        attrs=attr_names,
        limit=limit,
        offset=offset,
        count=flag(params, "count"),
        order=_order(params.get("orderBy"), ctx),
    )


_ORDER_MEMBERS = {
    "id": "@id",
    "type": "@type",
    "createdAt": "@createdAt",
    "modifiedAt": "@modifiedAt",
}


def _order(value: str | None, ctx: ActiveContext) -> tuple[tuple[str, bool], ...]:
    """``orderBy=a.b;desc,id`` as sort keys on index paths or entity members."""
    if value is None:
        return ()
    keys: list[tuple[str, bool]] = []
    for item in comma_list(value):
        path, _, direction = item.partition(";")
        if direction not in ("", "asc", "desc"):
            raise BadRequestData(f"orderBy: {direction!r} is not asc or desc")
        if path in _ORDER_MEMBERS:
            keys.append((_ORDER_MEMBERS[path], direction == "desc"))
            continue
        names = path.split(".")
        subs = tuple(n if n in MEMBER_NAMES else expand_name(n, ctx) for n in names[1:])
        keys.append((q_path(expand_name(names[0], ctx), subs), direction == "desc"))
    if len(keys) > 8:
        raise BadRequestData("orderBy has more than 8 keys")
    return tuple(keys)


def _check_csf(params: Mapping[str, Any]) -> None:
    if params.get("csf") is not None:
        raise OperationNotSupported(
            "csf (context source filters) needs context source registrations, "
            "which this broker does not support yet",
            status=501,
        )


async def query_entities(call: Call) -> Response:
    """GET /entities."""
    params = call.params
    _check_csf(params)
    kind = media.negotiate(call.header("accept"), (media.JSON, media.JSONLD, media.GEOJSON))
    ctx, value = await call.read_context()
    opts = render_options(params, ctx)
    type_param = params.get("type")
    types = type_expression(type_param, ctx) if type_param is not None else None
    sel = selection_from_params(call, params, ctx, types)
    unfiltered = sel.is_unfiltered or (sel.ids is not None and _only_ids(sel))
    if unfiltered and not flag(params, "local"):
        raise BadRequestData(
            "a query needs at least one of type, attrs, q, geoQ, scopeQ or idPattern"
        )
    return await _answer_page(call, sel, ctx, value, opts, kind, join_request(call, ctx))


def _only_ids(sel: EntitySelection) -> bool:
    return (
        sel.id_pattern is None
        and sel.types is None
        and sel.q is None
        and (sel.geo is None and sel.scope is None and sel.attrs is None)
    )


async def _answer_page(
    call: Call,
    sel: EntitySelection,
    ctx: ActiveContext,
    value: Any,
    opts: Any,
    kind: str,
    join: Linker | None = None,
) -> Response:
    page = await call.store.query_entities(call.tenant, sel)
    payload: Any
    if join is not None and kind != media.GEOJSON:
        payload = await join.render(page.entities, opts)
    else:
        payload = render_many(call, page.entities, ctx, opts, kind)
    extra: dict[str, str] = {}
    if page.count is not None:
        extra["NGSILD-Results-Count"] = str(page.count)
    links = _page_links(call, sel, len(page.entities), page.count)
    response = await call.answer(payload, value, kind, extra=extra)
    if links:
        existing = response.headers.get("link")
        response.headers["Link"] = ", ".join([*([existing] if existing else []), *links])
    return response


def _page_links(call: Call, sel: EntitySelection, returned: int, count: int | None) -> list[str]:
    """``Link`` rel=next/prev for paging (clause 5.5.9)."""
    if call.request.method != "GET":
        return []
    base = dict(call.params)
    links: list[str] = []
    more = returned == sel.limit and (count is None or sel.offset + sel.limit < count)
    if more and sel.limit > 0:
        q = urlencode({**base, "offset": sel.offset + sel.limit, "limit": sel.limit})
        links.append(f'<{call.request.url.path}?{q}>; rel="next"')
    if sel.offset > 0:
        prev = max(0, sel.offset - sel.limit)
        q = urlencode({**base, "offset": prev, "limit": sel.limit})
        links.append(f'<{call.request.url.path}?{q}>; rel="prev"')
    return links


async def query_entities_post(call: Call) -> Response:
    """POST /entityOperations/query: the query as a Query object in the body."""
    body, body_kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("the Query payload must be a JSON object")
    if body.get("type") not in (None, "Query"):
        raise BadRequestData("the payload type must be Query")
    kind = media.negotiate(call.header("accept"), (media.JSON, media.JSONLD, media.GEOJSON))
    ctx, value = await call.body_context(body, body_kind)
    params = query_body_params(body)
    _check_csf(params)
    params.update({k: v for k, v in call.params.items() if k in ("limit", "offset", "count")})
    types, extra_ids, id_pattern = _entity_selectors(body.get("entities"), ctx)
    if extra_ids:
        params["id"] = ",".join(extra_ids)
    if id_pattern:
        params["idPattern"] = id_pattern
    merged_params = {**dict(call.params), **params}
    opts = render_options(merged_params, ctx)
    sel = selection_from_params(call, params, ctx, types)
    if sel.is_unfiltered and not flag(call.params, "local"):
        raise BadRequestData("a query needs at least one of entities, attrs, q, geoQ or scopeQ")
    join = join_request(call, ctx, {"join": body.get("join"), "joinLevel": body.get("joinLevel")})
    return await _answer_page(call, sel, ctx, value, opts, kind, join)


def query_body_params(body: dict[str, Any]) -> dict[str, Any]:
    """The query parameters that the members of a Query object stand for (clause 5.2.23)."""
    params: dict[str, Any] = {}
    attrs = body.get("attrs")
    if attrs is not None:
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise BadRequestData("attrs must be an array of attribute names")
        params["attrs"] = ",".join(attrs)
    for key in ("q", "scopeQ", "lang", "csf"):
        if body.get(key) is not None:
            if not isinstance(body[key], str):
                raise BadRequestData(f"{key} must be a string")
            params[key] = body[key]
    # Projections and datasetIds: a string as in a query, or an array of strings.
    for key in ("pick", "omit", "datasetId"):
        member = body.get(key)
        if member is None:
            continue
        if isinstance(member, list) and all(isinstance(m, str) for m in member):
            member = ",".join(member)
        if not isinstance(member, str):
            raise BadRequestData(f"{key} must be a string or an array of strings")
        params[key] = member
    geo = body.get("geoQ")
    if geo is not None:
        if not isinstance(geo, dict):
            raise BadRequestData("geoQ must be an object with geometry, coordinates and georel")
        params["georel"] = geo.get("georel")
        params["geometry"] = geo.get("geometry")
        params["coordinates"] = geo.get("coordinates")
        if geo.get("geoproperty") is not None:
            params["geoproperty"] = geo["geoproperty"]
    if body.get("geometryProperty") is not None:
        params["geometryProperty"] = body["geometryProperty"]
    return params


def _entity_selectors(
    raw: Any, ctx: ActiveContext
) -> tuple[TypeExpr | None, list[str], str | None]:
    """The EntitySelectors of a Query: their types, ids and idPattern combined."""
    if raw is None:
        return None, [], None
    if not isinstance(raw, list) or not raw:
        raise BadRequestData("entities must be a non-empty array of EntitySelectors")
    types: list[TypeExpr] = []
    ids: list[str] = []
    patterns: list[str] = []
    for sel in raw:
        if not isinstance(sel, dict):
            raise BadRequestData("each EntitySelector must be an object")
        if isinstance(sel.get("type"), str):
            types.append(type_expression(sel["type"], ctx))
        elif sel.get("type") is not None:
            raise BadRequestData("EntitySelector type must be a string")
        if sel.get("id") is not None:
            ids.append(check_uri(sel["id"], "EntitySelector id"))
        if sel.get("idPattern") is not None:
            patterns.append(str(sel["idPattern"]))
    type_expr: TypeExpr | None = None
    if types:
        type_expr = types[0] if len(types) == 1 else TypeAny(tuple(types))
    pattern = "|".join(f"(?:{p})" for p in patterns) if patterns else None
    return type_expr, ids, pattern


async def purge_entities(call: Call) -> Response:
    """DELETE /entities: delete every entity matching the filters (clause 5.6.21)."""
    params = call.params
    keep, drop = params.get("keep"), params.get("drop")
    if keep is not None and drop is not None:
        raise BadRequestData("keep and drop cannot be used together")
    ctx, _ = await call.read_context()
    type_param = params.get("type")
    types = type_expression(type_param, ctx) if type_param is not None else None
    sel = selection_from_params(call, {**dict(params), "limit": "0"}, ctx, types)
    if sel.is_unfiltered and not flag(params, "local"):
        raise BadRequestData("purge needs at least one of id, type, q, scopeQ or local=true")
    keep_set = _names(keep, ctx)
    drop_set = _names(drop, ctx)
    now = now_iso()
    batch = call.settings.max_page_size
    offset = 0
    while True:
        page_sel = _with_page(sel, batch, offset)
        page = await call.store.query_entities(call.tenant, page_sel)
        if not page.entities:
            break
        changes = [(e["id"], _purge_change(keep_set, drop_set, now)) for e in page.entities]
        await call.store.change_many(call.tenant, changes)
        if keep_set is not None or drop_set is not None:
            offset += batch
    return call.no_content()


def _with_page(sel: EntitySelection, limit: int, offset: int) -> EntitySelection:
    from dataclasses import replace

    return replace(sel, limit=limit, offset=offset, count=False)


def _names(value: str | None, ctx: ActiveContext) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(expand_name(n, ctx) for n in comma_list(value))


def _purge_change(keep: frozenset[str] | None, drop: frozenset[str] | None, now: str) -> Any:
    def change(current: Entity | None) -> Outcome:
        if current is None:
            return DELETE, None
        if keep is None and drop is None:
            return DELETE, None
        attrs = current["attrs"]
        for name in list(attrs):
            if (keep is not None and name not in keep) or (drop is not None and name in drop):
                del attrs[name]
        current["modifiedAt"] = now
        return current, None

    return change
