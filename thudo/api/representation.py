"""Entities in the media type the client asked for: JSON(-LD) objects or GeoJSON features."""

from __future__ import annotations

from typing import Any

from thudo.api import media
from thudo.api.call import Call
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import expand_name
from thudo.ngsild.render import LOCATION, RenderOptions, render_entity, render_feature

__all__ = ["geometry_property", "render_many", "render_one"]


def geometry_property(call: Call, ctx: ActiveContext) -> str:
    """The GeoProperty that gives a Feature its geometry (``geometryProperty``)."""
    name = call.params.get("geometryProperty")
    return LOCATION if name is None else expand_name(name, ctx, "geometryProperty")


def render_one(
    call: Call, entity: Entity, ctx: ActiveContext, opts: RenderOptions, kind: str
) -> dict[str, Any]:
    """One entity; an empty dict when pick/omit left nothing of it."""
    if kind == media.GEOJSON:
        return render_feature(entity, ctx, opts, geometry_property(call, ctx))
    return render_entity(entity, ctx, opts)


def render_many(
    call: Call, entities: list[Entity], ctx: ActiveContext, opts: RenderOptions, kind: str
) -> Any:
    """A list of entities, or a FeatureCollection; entities left empty by pick/omit are dropped."""
    if kind == media.GEOJSON:
        prop = geometry_property(call, ctx)
        features = [render_feature(e, ctx, opts, prop) for e in entities]
        return {"type": "FeatureCollection", "features": features}
    out = [render_entity(e, ctx, opts) for e in entities]
    return [o for o in out if o]
