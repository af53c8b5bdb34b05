"""One API call: its tenant, its body (read within limits), its @context and its answer.

Every resource module works through a ``Call``, so the rules of clauses 6.3.4-6.3.6
(media types, @context in the body or in a Link header, tenants) live in one place.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from thudo.api import media
from thudo.api.reply import Reply
from thudo.config import Settings
from thudo.contexts.registry import ContextRegistry
from thudo.errors import BadRequestData, InvalidRequest, PayloadTooLarge
from thudo.ngsild.jsonld import CORE_CONTEXT_URL, ActiveContext, ContextValue
from thudo.store.base import Store

__all__ = ["AppState", "Call", "check_depth"]

_TENANT = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")


async def _nothing() -> None:
    return None


async def _no_wait(tenant: str, sub_id: str) -> None:
    return None


@dataclass(slots=True)
class AppState:
    """What every handler needs: settings, the store and the @context registry."""

    settings: Settings
    store: Store
    contexts: ContextRegistry
    #: Called after a subscription changed, so that matching uses it at once.
    subscriptions_changed: Callable[[], Awaitable[None]] = _nothing
    #: Waits briefly for deliveries of a subscription that are under way.
    deliveries_settled: Callable[[str, str], Awaitable[None]] = _no_wait


def check_depth(value: Any, limit: int) -> None:
    """Reject JSON nested deeper than ``limit`` levels (level by level, so no recursion)."""
    level = [value]
    depth = 1
    while level:
        if depth > limit:
            raise BadRequestData(f"the JSON payload is nested deeper than {limit} levels")
        # One list comprehension per container: a batch body has tens of thousands of them.
        below: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                below.extend([v for v in node.values() if isinstance(v, _CONTAINERS)])
            elif isinstance(node, list):
                below.extend([v for v in node if isinstance(v, _CONTAINERS)])
        level = below
        depth += 1


_CONTAINERS = (dict, list)


class Call:
    """The request being handled and the helpers to answer it."""

    __slots__ = ("_headers", "_params", "request", "state", "tenant")

    def __init__(self, request: Request, state: AppState) -> None:
        self.request = request
        self.state = state
        self._headers: dict[str, str] | None = None
        self._params: dict[str, str] | None = None
        self.tenant = self._tenant()

    @property
    def settings(self) -> Settings:
        """The application settings."""
        return self.state.settings

    @property
    def store(self) -> Store:
        """The entity store."""
        return self.state.store

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (form-decoded; the last of repeated ones)."""
        if self._params is None:
            raw = self.request.scope.get("query_string", b"").decode("latin-1")
            self._params = dict(parse_qsl(raw, keep_blank_values=True)) if raw else {}
        return self._params

    def header(self, name: str) -> str | None:
        """A request header by its lower-case name."""
        if self._headers is None:
            self._headers = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in self.request.scope["headers"]
            }
        return self._headers.get(name)

    def _tenant(self) -> str:
        raw = self.header("ngsild-tenant")
        if raw is None or raw == "":
            return ""
        if not _TENANT.match(raw):
            raise BadRequestData("NGSILD-Tenant must be 1-64 letters, digits, '_', '-', '.' or ':'")
        return raw

    # --- bodies -----------------------------------------------------------------------
    async def body_bytes(self) -> bytes:
        """The raw body, refused with 413 beyond ``max_body_bytes``."""
        limit = self.settings.max_body_bytes
        declared = self.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the payload is larger than the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the payload is larger than the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def json_body(self, allow_merge_patch: bool = False) -> tuple[Any, str]:
        """The parsed JSON body and its media type (JSON or JSONLD)."""
        kind = media.body_media_type(self.header("content-type"), allow_merge_patch)
        data = await self.body_bytes()
        if not data.strip():
            raise InvalidRequest("the request body is empty")
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
        limit = self.settings.max_json_depth
        if data.count(b"{") + data.count(b"[") > limit:
            check_depth(body, limit)
        return body, kind

    # --- @context ---------------------------------------------------------------------
    def body_context_value(self, body: Any, kind: str) -> ContextValue:
        """The @context of one payload object, by the rules of clause 6.3.5."""
        link = media.link_context_url(self.header("link"))
        has_inline = isinstance(body, dict) and "@context" in body
        if kind == media.JSONLD:
            if link is not None:
                raise BadRequestData(
                    "with Content-Type application/ld+json the @context goes in the body, "
                    "not in a Link header"
                )
            if not has_inline:
                raise BadRequestData(
                    "a payload sent as application/ld+json must contain an @context"
                )
            value: ContextValue = body["@context"]
            return value
        if has_inline:
            raise BadRequestData(
                "a payload sent as application/json must not contain an @context; "
                "use a Link header or application/ld+json"
            )
        return link

    async def body_context(self, body: Any, kind: str) -> tuple[ActiveContext, ContextValue]:
        """The active context of a payload, and the @context value it came from."""
        value = self.body_context_value(body, kind)
        return await self.state.contexts.resolve(value), value

    async def read_context(self) -> tuple[ActiveContext, ContextValue]:
        """The active context of a request without a body (the Link header, or the core)."""
        value = media.link_context_url(self.header("link"))
        return await self.state.contexts.resolve(value), value

    async def context_url(self, value: ContextValue) -> str:
        """A URL that names the context ``value`` (hosting it if it is inline)."""
        if value is None:
            return CORE_CONTEXT_URL
        if isinstance(value, str):
            return value
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            return value[0]
        return await self.state.contexts.implicit_url(value, self.base_url)

    @property
    def base_url(self) -> str:
        """The scheme and authority the client used, without a trailing slash."""
        return str(self.request.base_url).rstrip("/")

    # --- answers ----------------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        """Headers every answer carries."""
        return {"NGSILD-Tenant": self.tenant} if self.tenant else {}

    async def answer(
        self,
        payload: Any,
        value: ContextValue,
        kind: str,
        status: int = 200,
        extra: dict[str, str] | None = None,
    ) -> Response:
        """A JSON, JSON-LD or GeoJSON answer with the @context placed as the media type asks."""
        headers = self.headers()
        if extra:
            headers.update(extra)
        if kind in (media.JSONLD, media.GEOJSON):
            ctx_out: Any = value if value is not None else CORE_CONTEXT_URL
            if isinstance(payload, list):
                for item in payload:
                    item["@context"] = ctx_out
            elif isinstance(payload, dict):
                payload["@context"] = ctx_out
        else:
            headers["Link"] = media.context_link(await self.context_url(value))
        return Reply(orjson.dumps(payload), status, headers, media_type=kind)

    def no_content(self, status: int = 204, extra: dict[str, str] | None = None) -> Response:
        """An answer without a body."""
        headers = self.headers()
        if extra:
            headers.update(extra)
        return Reply(b"", status, headers)
