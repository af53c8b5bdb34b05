"""The @context resource (clause 5.13): add, list, serve and delete @contexts."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.reply import Reply
from thudo.errors import BadRequestData, InvalidRequest
from thudo.ngsild.jsonld import core_context_document, is_core_context_url
from thudo.store.base import ContextRecord

__all__ = ["add_context", "delete_context", "list_contexts", "serve_context"]


def _bool(call: Call, name: str) -> bool | None:
    raw = call.params.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _details(rec: ContextRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "URL": rec.url,
        "localId": rec.id,
        "kind": rec.kind,
        "createdAt": rec.created_at,
    }
    if rec.kind == "Cached" and rec.last_usage:
        out["lastUsage"] = rec.last_usage
    return out


def _json(call: Call, payload: Any, status: int = 200) -> Response:
    return Reply(orjson.dumps(payload), status, call.headers(), media_type=media.JSON)


async def add_context(call: Call) -> Response:
    """POST /jsonldContexts: host a user @context; 201 with its Location."""
    media.body_media_type(call.header("content-type"))
    data = await call.body_bytes()
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the @context document is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or "@context" not in body:
        raise InvalidRequest("a @context document must be a JSON object with a @context member")
    rec = await call.state.contexts.add_hosted(body, call.base_url)
    return call.no_content(201, {"Location": "/ngsi-ld/v1/jsonldContexts/" + rec.id})


async def list_contexts(call: Call) -> Response:
    """GET /jsonldContexts: URLs, or detailed records with details=true."""
    details = _bool(call, "details")
    kind = call.params.get("kind")
    await call.state.contexts.sync()  # include contexts stored by other processes
    records = call.state.contexts.list(kind)
    if details:
        return _json(call, [_details(r) for r in records])
    return _json(call, [r.url for r in records])


async def serve_context(call: Call, context_id: str) -> Response:
    """GET /jsonldContexts/{id}: the @context document, or its details."""
    details = _bool(call, "details")
    if is_core_context_url(context_id):
        if details:
            return _json(call, _core_details(context_id))
        return _json(call, core_context_document())
    rec = await call.state.contexts.lookup(context_id)
    if details:
        return _json(call, _details(rec))
    return Reply(rec.body, 200, call.headers(), media_type=media.JSON)


def _core_details(url: str) -> dict[str, Any]:
    return {
        "URL": url,
        "localId": "core",
        "kind": "Cached",
        "createdAt": "1970-01-01T00:00:00.000Z",
    }


async def delete_context(call: Call, context_id: str) -> Response:
    """DELETE /jsonldContexts/{id}; reload=true re-fetches a cached context instead."""
    reload = _bool(call, "reload") or False
    if is_core_context_url(context_id):
        if not reload:
            raise BadRequestData("the core @context is built in and cannot be deleted")
        return call.no_content()
    if reload and not context_id.startswith(("http://", "https://")):
        raise BadRequestData("reload needs the URL of a cached @context")
    await call.state.contexts.delete(context_id, reload)
    return call.no_content()
