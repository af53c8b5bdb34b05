"""Context source registrations and their discovery (clauses 5.9, 5.10).

Registrations are stored and discoverable; entity requests are not yet forwarded to the
registered sources, and registration subscriptions are not supported.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.params import comma_list, flag, paging, type_expression
from thudo.errors import InvalidRequest, OperationNotSupported, ResourceNotFound
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.parse import expand_name
from thudo.ngsild.registration import matches_registration, merge_registration, parse_registration
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeExpr, TypeName
from thudo.ngsild.validate import check_uri, now_iso

__all__ = [
    "create_registration",
    "delete_registration",
    "query_registration_subscriptions",
    "query_registrations",
    "retrieve_registration",
    "update_registration",
]

KIND = "csr"
_OFFERED = (media.JSON, media.JSONLD)
_TYPE_NAME = re.compile(r"[^,;|()\s]+")


def _path(reg_id: str) -> str:
    return "/ngsi-ld/v1/csourceRegistrations/" + reg_id


def _render(doc: dict[str, Any], ctx: ActiveContext, sys_attrs: bool) -> dict[str, Any]:
    terms = doc.get("_terms", {})
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    if not sys_attrs:
        out.pop("createdAt", None)
        out.pop("modifiedAt", None)
    out["information"] = [_render_info(i, terms, ctx) for i in doc.get("information", [])]
    return out


def _render_info(info: dict[str, Any], terms: dict[str, str], ctx: ActiveContext) -> dict[str, Any]:
    out = dict(info)
    if "entities" in info:
        out["entities"] = [
            {**e, "type": ctx.compact(terms.get(e["type"], e["type"]))} for e in info["entities"]
        ]
    for key in ("propertyNames", "relationshipNames"):
        if key in info:
            out[key] = [ctx.compact(terms.get(n, n)) for n in info[key]]
    return out


async def create_registration(call: Call) -> Response:
    """POST /csourceRegistrations: 201 with Location."""
    body, kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("a registration must be a JSON object")
    ctx, _ = await call.body_context(body, kind)
    doc = parse_registration(body, ctx, now_iso())
    await call.store.save_document(KIND, call.tenant, doc, create=True)
    return call.no_content(201, {"Location": _path(doc["id"])})


async def retrieve_registration(call: Call, reg_id: str) -> Response:
    """GET /csourceRegistrations/{id}."""
    kind = media.negotiate(call.header("accept"), _OFFERED)
    check_uri(reg_id, "registration id")
    ctx, value = await call.read_context()
    doc = await call.store.get_document(KIND, call.tenant, reg_id)
    if doc is None:
        raise ResourceNotFound(f"registration {reg_id!r} does not exist")
    sys_attrs = "sysAttrs" in comma_list(call.params.get("options"))
    return await call.answer(_render(doc, ctx, sys_attrs), value, kind)


def _type_names(expr: TypeExpr) -> set[str]:
    if isinstance(expr, TypeName):
        return {expr.iri}
    out: set[str] = set()
    assert isinstance(expr, TypeAny | TypeAll)
    for item in expr.items:
        out |= _type_names(item)
    return out


async def query_registrations(call: Call) -> Response:
    """GET /csourceRegistrations: discovery by id, type and attributes."""
    kind = media.negotiate(call.header("accept"), _OFFERED)
    ctx, value = await call.read_context()
    params = call.params
    ids = set(comma_list(params.get("id"))) or None
    type_param = params.get("type")
    types = _type_names(type_expression(type_param, ctx)) if type_param else None
    attrs_raw = comma_list(params.get("attrs"))
    attrs = {expand_name(a, ctx) for a in attrs_raw} or None
    limit, offset = paging(params, call.settings)
    docs = [
        d
        for d in await call.store.list_documents(KIND, call.tenant)
        if matches_registration(d, ids, types, attrs)
    ]
    sys_attrs = "sysAttrs" in comma_list(params.get("options"))
    payload = [_render(d, ctx, sys_attrs) for d in docs[offset : offset + limit]]
    extra = {"NGSILD-Results-Count": str(len(docs))} if flag(params, "count") else None
    return await call.answer(payload, value, kind, extra=extra)


async def update_registration(call: Call, reg_id: str) -> Response:
    """PATCH /csourceRegistrations/{id}."""
    check_uri(reg_id, "registration id")
    body, kind = await call.json_body(allow_merge_patch=True)
    ctx, _ = await call.body_context(body, kind)
    doc = await call.store.get_document(KIND, call.tenant, reg_id)
    if doc is None:
        raise ResourceNotFound(f"registration {reg_id!r} does not exist")
    await call.store.save_document(
        KIND, call.tenant, merge_registration(doc, body, ctx, now_iso()), create=False
    )
    return call.no_content()


async def delete_registration(call: Call, reg_id: str) -> Response:
    """DELETE /csourceRegistrations/{id}."""
    check_uri(reg_id, "registration id")
    if not await call.store.delete_document(KIND, call.tenant, reg_id):
        raise ResourceNotFound(f"registration {reg_id!r} does not exist")
    return call.no_content()


async def query_registration_subscriptions(call: Call) -> Response:
    """GET /csourceSubscriptions: registration subscriptions are not supported yet."""
    media.negotiate(call.header("accept"), _OFFERED)
    raise OperationNotSupported(
        "subscriptions to context source registrations are not supported yet", status=501
    )
