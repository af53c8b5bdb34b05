"""Batch operations (clause 5.6.7-5.6.10, 5.6.20): create, upsert, update, merge and delete
many entities in one transaction, reporting each failure in a BatchOperationResult."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.params import options_set
from thudo.api.reply import Reply
from thudo.errors import (
    AlreadyExists,
    BadRequestData,
    InvalidRequest,
    NgsiError,
    PayloadTooLarge,
    ResourceNotFound,
)
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import (
    ParseOptions,
    parse_attributes,
    parse_entity,
    parse_scope,
    parse_types,
)
from thudo.ngsild.update import append_attributes, merge_entity, replace_entity
from thudo.ngsild.validate import check_uri, now_iso
from thudo.store.base import DELETE, Change, Outcome

__all__ = ["batch_operation"]

_Item = tuple[str, Change]


def _error_entry(entity_id: str, exc: NgsiError) -> dict[str, Any]:
    return {"entityId": entity_id, "error": exc.to_problem()}


def _result(call: Call, success: list[str], errors: list[dict[str, Any]]) -> Response:
    body = {"success": success, "errors": errors}
    return Reply(orjson.dumps(body), 207, call.headers(), media_type=media.JSON)


async def _entities(call: Call) -> tuple[list[Any], str]:
    body, kind = await call.json_body()
    if not isinstance(body, list):
        raise InvalidRequest("a batch payload must be a JSON array")
    if not body:
        raise BadRequestData("a batch payload must not be empty")
    if len(body) > call.settings.max_batch_entities:
        raise PayloadTooLarge(
            f"a batch holds at most {call.settings.max_batch_entities} entities, got {len(body)}"
        )
    if kind == media.JSONLD and media.link_context_url(call.header("link")):
        raise BadRequestData(
            "with Content-Type application/ld+json the @context goes in the body, "
            "not in a Link header"
        )
    return body, kind


def _raw_id(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])
    return ""


async def batch_operation(call: Call, operation: str) -> Response:
    """POST /entityOperations/{create|upsert|update|merge|delete}."""
    handlers: dict[str, Callable[[Call], Any]] = {
        "create": _create,
        "upsert": _upsert,
        "update": _update,
        "merge": _merge,
        "delete": _delete,
    }
    handler = handlers.get(operation)
    if handler is None:
        raise ResourceNotFound(f"there is no entity operation {operation!r}")
    response: Response = await handler(call)
    return response


async def _parse_all(
    call: Call, build: Callable[[Any, Any, str], _Item]
) -> tuple[list[_Item], list[dict[str, Any]]]:
    """Parse every entity; the ones that fail become errors and are not applied."""
    body, kind = await _entities(call)
    items: list[_Item] = []
    errors: list[dict[str, Any]] = []
    now = now_iso()
    for raw in body:
        try:
            if not isinstance(raw, dict):
                raise BadRequestData("each entity of a batch must be a JSON object")
            ctx, _ = await call.body_context(raw, kind)
            items.append(build(raw, ctx, now))
        except NgsiError as exc:
            errors.append(_error_entry(_raw_id(raw), exc))
    return items, errors


async def _apply(
    call: Call, items: list[_Item], errors: list[dict[str, Any]]
) -> tuple[list[str], list[Any]]:
    results = await call.store.change_many(call.tenant, items) if items else []
    success: list[str] = []
    for (entity_id, _), result in zip(items, results, strict=True):
        if isinstance(result, NgsiError):
            errors.append(_error_entry(entity_id, result))
        else:
            success.append(entity_id)
    return success, results


def _opts(call: Call, allow_null: bool = False) -> ParseOptions:
    return ParseOptions(allow_null=allow_null, max_attributes=call.settings.max_attributes)


async def _create(call: Call) -> Response:
    def build(raw: Any, ctx: Any, now: str) -> _Item:
        entity = parse_entity(raw, ctx, now, _opts(call))

        def change(current: Entity | None) -> Outcome:
            if current is not None:
                raise AlreadyExists(f"entity {entity['id']!r} already exists")
            return entity, None

        return entity["id"], change

    items, errors = await _parse_all(call, build)
    success, _ = await _apply(call, items, errors)
    if errors:
        return _result(call, success, errors)
    return Reply(orjson.dumps(success), 201, call.headers(), media_type=media.JSON)


async def _upsert(call: Call) -> Response:
    opts = options_set(call.params)
    update_mode = "update" in opts

    def build(raw: Any, ctx: Any, now: str) -> _Item:
        entity = parse_entity(raw, ctx, now, _opts(call))

        def change(current: Entity | None) -> Outcome:
            if current is None:
                return entity, True
            if update_mode:
                append_attributes(current, entity["attrs"], now, no_overwrite=False)
                _union_types(current, entity["type"])
                if "scope" in entity:
                    current["scope"] = entity["scope"]
                return current, False
            return replace_entity(current, entity, now), False

        return entity["id"], change

    items, errors = await _parse_all(call, build)
    success, results = await _apply(call, items, errors)
    if errors:
        return _result(call, list(dict.fromkeys(success)), errors)
    created = [i for (i, _), r in zip(items, results, strict=True) if r is True]
    if created:
        body = orjson.dumps(list(dict.fromkeys(created)))
        return Reply(body, 201, call.headers(), media_type=media.JSON)
    return call.no_content()


def _union_types(entity: Entity, types: list[str]) -> None:
    for t in types:
        if t not in entity["type"]:
            entity["type"].append(t)


async def _update(call: Call) -> Response:
    no_overwrite = "noOverwrite" in options_set(call.params)

    def build(raw: Any, ctx: Any, now: str) -> _Item:
        entity_id = check_uri(raw.get("id"), "entity id")
        attrs = parse_attributes(raw, ctx, now, _opts(call))
        types = parse_types(raw["type"], ctx) if "type" in raw else []
        scope = parse_scope(raw["scope"]) if raw.get("scope") is not None else None

        def change(current: Entity | None) -> Outcome:
            if current is None:
                raise ResourceNotFound(f"entity {entity_id!r} does not exist")
            result = append_attributes(current, attrs, now, no_overwrite)
            _union_types(current, types)
            if scope is not None and not (no_overwrite and "scope" in current):
                current["scope"] = scope
            if result.not_updated:
                names = ", ".join(n for n, _ in result.not_updated)
                return current, BadRequestData(f"attributes not overwritten: {names}")
            return current, None

        return entity_id, change

    items, errors = await _parse_all(call, build)
    # An entity whose attributes were kept (noOverwrite) is applied, and reported among
    # the errors with the names it kept: _apply files NgsiError results there.
    success, _ = await _apply(call, items, errors)
    if errors:
        return _result(call, success, errors)
    return call.no_content()


async def _merge(call: Call) -> Response:
    def build(raw: Any, ctx: Any, now: str) -> _Item:
        entity_id = check_uri(raw.get("id"), "entity id")
        attrs = parse_attributes(raw, ctx, now, _opts(call, allow_null=True))
        types = parse_types(raw["type"], ctx) if "type" in raw else None
        scope = parse_scope(raw["scope"]) if raw.get("scope") is not None else None

        def change(current: Entity | None) -> Outcome:
            if current is None:
                raise ResourceNotFound(f"entity {entity_id!r} does not exist")
            merge_entity(current, attrs, now, types, scope)
            return current, None

        return entity_id, change

    items, errors = await _parse_all(call, build)
    success, _ = await _apply(call, items, errors)
    if errors:
        return _result(call, success, errors)
    return call.no_content()


async def _delete(call: Call) -> Response:
    body, _ = await _entities(call)
    items: list[_Item] = []
    errors: list[dict[str, Any]] = []
    for raw in body:
        try:
            entity_id = check_uri(raw, "entity id")
        except NgsiError as exc:
            errors.append(_error_entry(raw if isinstance(raw, str) else "", exc))
            continue
        items.append((entity_id, _delete_change(entity_id)))
    success, _ = await _apply(call, items, errors)
    if errors:
        return _result(call, success, errors)
    return call.no_content()


def _delete_change(entity_id: str) -> Change:
    def change(current: Entity | None) -> Outcome:
        if current is None:
            raise ResourceNotFound(f"entity {entity_id!r} does not exist")
        return DELETE, None

    return change
