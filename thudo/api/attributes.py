"""Attributes of one entity: append, update, partial update, replace and delete
(clauses 5.6.2-5.6.5, 5.6.19)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from thudo.api.call import Call
from thudo.api.entities import check_entity_id
from thudo.api.params import flag, options_set
from thudo.api.reply import Reply
from thudo.errors import BadRequestData, InvalidRequest, ResourceNotFound
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import (
    ParseOptions,
    expand_name,
    parse_attribute,
    parse_attributes,
    parse_scope,
    parse_types,
)
from thudo.ngsild.update import (
    UpdateResult,
    append_attributes,
    delete_attribute,
    partial_update_attribute,
    replace_attribute,
    update_attributes,
)
from thudo.ngsild.validate import check_uri, now_iso
from thudo.store.base import Outcome

__all__ = [
    "append_attrs",
    "delete_attr",
    "partial_update_attr",
    "replace_attr",
    "update_attrs",
]


def _missing(entity_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"entity {entity_id!r} does not exist")


def update_result_body(result: UpdateResult) -> dict[str, Any]:
    """The UpdateResult of clause 5.2.18 (attribute names expanded, as the suite expects)."""
    return {
        "updated": result.updated,
        "notUpdated": [{"attributeName": n, "reason": r} for n, r in result.not_updated],
    }


def _result_response(call: Call, result: UpdateResult) -> Response:
    if not result.not_updated:
        return call.no_content()
    return Reply(
        orjson.dumps(update_result_body(result)), 207, call.headers(), media_type="application/json"
    )


async def _fragment(call: Call, allow_null: bool) -> tuple[dict[str, Any], ActiveContext]:
    body, kind = await call.json_body(allow_merge_patch=True)
    if not isinstance(body, dict):
        raise InvalidRequest("the payload must be a JSON object of attributes")
    ctx, _ = await call.body_context(body, kind)
    return body, ctx


def _opts(call: Call, allow_null: bool) -> ParseOptions:
    return ParseOptions(allow_null=allow_null, max_attributes=call.settings.max_attributes)


async def append_attrs(call: Call, entity_id: str) -> Response:
    """POST /entities/{id}/attrs: add attributes, replacing existing ones unless noOverwrite."""
    check_entity_id(entity_id)
    no_overwrite = "noOverwrite" in options_set(call.params)
    body, ctx = await _fragment(call, allow_null=False)
    now = now_iso()
    attrs = parse_attributes(body, ctx, now, _opts(call, False))
    types = parse_types(body["type"], ctx) if "type" in body else None
    scope = parse_scope(body["scope"]) if body.get("scope") is not None else None

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise _missing(entity_id)
        result = append_attributes(current, attrs, now, no_overwrite)
        _add_types(current, types)
        if scope is not None:
            merged = list(current.get("scope", [])) + [s for s in scope if no_overwrite]
            current["scope"] = _unique(merged if no_overwrite else scope)
            current["modifiedAt"] = now
        return current, result

    result = await call.store.change(call.tenant, entity_id, change)
    return _result_response(call, result)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _add_types(entity: Entity, types: list[str] | None) -> None:
    for t in types or ():
        if t not in entity["type"]:
            entity["type"].append(t)


async def update_attrs(call: Call, entity_id: str) -> Response:
    """PATCH /entities/{id}/attrs: update attributes (clause 5.6.2)."""
    check_entity_id(entity_id)
    body, ctx = await _fragment(call, allow_null=True)
    now = now_iso()
    attrs = parse_attributes(body, ctx, now, _opts(call, True))
    types = parse_types(body["type"], ctx) if "type" in body else None
    scope = parse_scope(body["scope"]) if body.get("scope") is not None else None

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise _missing(entity_id)
        result = update_attributes(current, attrs, now)
        _add_types(current, types)
        if scope is not None:
            if "scope" in current:
                current["scope"] = scope
                result.updated.append("scope")
            else:
                result.not_updated.append(("scope", "the entity has no scope to update"))
        if types or result.updated:
            current["modifiedAt"] = now
        return current, result

    result = await call.store.change(call.tenant, entity_id, change)
    return _result_response(call, result)


async def partial_update_attr(call: Call, entity_id: str, name: str) -> Response:
    """PATCH /entities/{id}/attrs/{attrId}: merge members into one attribute instance."""
    check_entity_id(entity_id)
    body, ctx = await _fragment(call, allow_null=True)
    members = {k: v for k, v in body.items() if k != "@context"}
    if not members:
        raise BadRequestData(f"the fragment for attribute {name!r} is empty")
    iri = expand_name(name, ctx)
    now = now_iso()
    if "type" not in members and not _has_value_member(members):
        members = {**members, "type": "_inherit"}
    fragment = _parse_fragment(members, iri, name, ctx, now, call)

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise _missing(entity_id)
        _check_same_type(current, iri, name, members)
        partial_update_attribute(current, iri, name, fragment, now)
        return current, None

    await call.store.change(call.tenant, entity_id, change)
    return call.no_content()


_VALUE_KEYS = ("value", "object", "objectList", "languageMap", "vocab", "json", "valueList")


def _has_value_member(members: dict[str, Any]) -> bool:
    return any(k in members for k in _VALUE_KEYS)


def _parse_fragment(
    members: dict[str, Any], iri: str, name: str, ctx: ActiveContext, now: str, call: Call
) -> list[dict[str, Any]]:
    """A fragment may carry only sub-attributes; it then keeps the attribute's value."""
    if members.get("type") == "_inherit":
        rest = {k: v for k, v in members.items() if k != "type"}
        parsed = parse_attribute(
            {"type": "Property", "value": 0, **rest}, iri, name, ctx, now, _opts(call, True)
        )
        for inst in parsed:
            inst.pop("value", None)
            inst.pop("type", None)
        return parsed
    return parse_attribute(members, iri, name, ctx, now, _opts(call, True))


def _check_same_type(entity: Entity, iri: str, name: str, members: dict[str, Any]) -> None:
    given = members.get("type")
    current = entity["attrs"].get(iri)
    if given in (None, "_inherit") or not current:
        return
    if all(inst.get("type") != given for inst in current):
        raise BadRequestData(
            f"attribute {name!r} is a {current[0].get('type')}; "
            f"a partial update cannot make it a {given}"
        )


async def replace_attr(call: Call, entity_id: str, name: str) -> Response:
    """PUT /entities/{id}/attrs/{attrId}: replace one existing attribute."""
    check_entity_id(entity_id)
    body, ctx = await _fragment(call, allow_null=False)
    if name == "scope" or "scope" in body:
        raise BadRequestData("scope is not an attribute and cannot be replaced here")
    iri = expand_name(name, ctx)
    now = now_iso()
    members = {k: v for k, v in body.items() if k != "@context"}
    instances = parse_attribute(members, iri, name, ctx, now, _opts(call, False))

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise _missing(entity_id)
        replace_attribute(current, iri, name, instances, now)
        return current, None

    await call.store.change(call.tenant, entity_id, change)
    return call.no_content()


async def delete_attr(call: Call, entity_id: str, name: str) -> Response:
    """DELETE /entities/{id}/attrs/{attrId}, with datasetId or deleteAll."""
    check_entity_id(entity_id)
    ctx, _ = await call.read_context()
    delete_all = flag(call.params, "deleteAll")
    dataset = call.params.get("datasetId")
    if dataset is not None:
        dataset = check_uri(dataset, "datasetId")
    now = now_iso()
    if name == "scope":
        return await _delete_scope(call, entity_id, now)
    iri = expand_name(name, ctx)

    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise _missing(entity_id)
        delete_attribute(current, iri, name, dataset, delete_all, now)
        return current, None

    await call.store.change(call.tenant, entity_id, change)
    return call.no_content()


async def _delete_scope(call: Call, entity_id: str, now: str) -> Response:
    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise _missing(entity_id)
        if "scope" not in current:
            raise ResourceNotFound(f"entity {entity_id!r} has no scope")
        del current["scope"]
        current["modifiedAt"] = now
        return current, None

    await call.store.change(call.tenant, entity_id, change)
    return call.no_content()
