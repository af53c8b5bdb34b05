"""Linked entity retrieval (clause 4.5.23, ``join=inline|flat`` with ``joinLevel``).

The entities that relationships point to are fetched and either placed inside each
relationship (``inline``: an ``entity`` member, or the whole value in the simplified
form) or appended to the result (``flat``), down to ``joinLevel`` hops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from thudo.errors import BadRequestData
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.model import Entity, Instance
from thudo.ngsild.render import RenderOptions, render_entity

__all__ = ["MAX_JOIN_LEVEL", "Fetch", "Linker", "parse_join"]

MAX_JOIN_LEVEL = 8
_RELATIONSHIPS = ("Relationship", "ListRelationship")
Fetch = Callable[[str], Awaitable[Entity | None]]


def _targets(inst: Instance) -> list[str]:
    if inst.get("type") == "ListRelationship":
        return [o["object"] for o in inst.get("objectList", []) if isinstance(o, dict)]
    obj = inst.get("object")
    return obj if isinstance(obj, list) else [obj] if isinstance(obj, str) else []


class Linker:
    """A join (``join``/``joinLevel``), carried out with one entity cache.

    ``fetch`` reads an entity by id; this module does no I/O of its own.
    """

    def __init__(self, fetch: Fetch, ctx: ActiveContext, mode: str, level: int) -> None:
        self.fetch = fetch
        self.ctx = ctx
        self.mode = mode
        self.level = level
        self._cache: dict[str, Entity | None] = {}

    async def _fetch(self, entity_id: str) -> Entity | None:
        if entity_id not in self._cache:
            self._cache[entity_id] = await self.fetch(entity_id)
        return self._cache[entity_id]

    async def render(self, entities: list[Entity], opts: RenderOptions) -> list[dict[str, Any]]:
        """The entities with their links, inline or flat; empty renderings dropped."""
        if self.mode == "inline":
            out = [await self.inline(e, opts) for e in entities]
        else:
            out = await self.flat(entities, opts)
        return [o for o in out if o]

    def _links(
        self, entity: Entity, rendered: dict[str, Any], opts: RenderOptions
    ) -> list[tuple[str, list[Instance]]]:
        out = []
        for iri, instances in entity["attrs"].items():
            if self.ctx.compact(iri) not in rendered:
                continue
            chosen = [i for i in instances if i.get("type") in _RELATIONSHIPS]
            if opts.dataset_ids is not None:
                chosen = [i for i in chosen if i.get("datasetId") in opts.dataset_ids]
            if chosen:
                out.append((iri, chosen))
        return out

    async def inline(self, entity: Entity, opts: RenderOptions, depth: int = 0) -> dict[str, Any]:
        """The entity rendered with its linked entities inside its relationships."""
        rendered = render_entity(entity, self.ctx, opts)
        if depth >= self.level:
            return rendered
        for iri, instances in self._links(entity, rendered, opts):
            sub_opts = opts.for_linked(iri)
            name = self.ctx.compact(iri)
            linked: list[list[dict[str, Any]]] = []
            for inst in instances:
                found = []
                for target in _targets(inst):
                    target_entity = await self._fetch(target)
                    if target_entity is not None:
                        found.append(await self.inline(target_entity, sub_opts, depth + 1))
                linked.append(found)
            rendered[name] = _attach(rendered[name], linked, opts.fmt)
        return rendered

    async def flat(self, roots: list[Entity], opts: RenderOptions) -> list[dict[str, Any]]:
        """The entities, followed by every entity they link to (once each)."""
        out = [render_entity(e, self.ctx, opts) for e in roots]
        seen = {e["id"] for e in roots}
        frontier = list(zip(roots, out, [opts] * len(roots), strict=True))
        for _ in range(self.level):
            following = []
            for entity, rendered, ent_opts in frontier:
                for iri, instances in self._links(entity, rendered, ent_opts):
                    sub_opts = ent_opts.for_linked(iri)
                    for target in (t for inst in instances for t in _targets(inst)):
                        target_entity = None if target in seen else await self._fetch(target)
                        if target_entity is None:
                            continue
                        seen.add(target)
                        linked = render_entity(target_entity, self.ctx, sub_opts)
                        out.append(linked)
                        following.append((target_entity, linked, sub_opts))
            frontier = following
        return out


def _attach(value: Any, linked: list[list[dict[str, Any]]], fmt: str) -> Any:
    """Put joined entities into a rendered attribute (one list per instance)."""
    if fmt == "keyValues":
        parts = [found[0] if len(found) == 1 else found for found in linked]
        values = value if isinstance(value, list) and len(linked) > 1 else [value]
        merged = [p if p else v for p, v in zip(parts, values, strict=False)]
        return merged[0] if len(merged) == 1 else merged
    items = value if isinstance(value, list) else [value]
    for item, found in zip(items, linked, strict=False):
        if found and isinstance(item, dict):
            item["entity"] = found[0] if len(found) == 1 else found
    return value


def parse_join(mode: Any, level_raw: Any) -> tuple[str, int] | None:
    """``join`` and ``joinLevel`` checked; None when no join is asked for."""
    if mode is None or mode == "@none":
        return None
    if mode not in ("inline", "flat"):
        raise BadRequestData(f"join must be inline, flat or @none, not {mode!r}")
    level = 1
    if level_raw is not None:
        text = str(level_raw)
        if not text.isdigit() or not 1 <= int(text) <= MAX_JOIN_LEVEL:
            raise BadRequestData(f"joinLevel must be an integer from 1 to {MAX_JOIN_LEVEL}")
        level = int(text)
    return str(mode), level
