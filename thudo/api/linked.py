"""Linked entity retrieval for the API: builds a Linker that reads from the store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thudo.api.call import Call
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.linking import Linker, parse_join
from thudo.ngsild.model import Entity

__all__ = ["join_request"]


def join_request(
    call: Call, ctx: ActiveContext, params: Mapping[str, Any] | None = None
) -> Linker | None:
    """The join asked for by the ``join`` and ``joinLevel`` parameters, if any."""
    params = call.params if params is None else params
    found = parse_join(params.get("join"), params.get("joinLevel"))
    if found is None:
        return None

    async def fetch(entity_id: str) -> Entity | None:
        return await call.store.get_entity(call.tenant, entity_id)

    return Linker(fetch, ctx, found[0], found[1])
