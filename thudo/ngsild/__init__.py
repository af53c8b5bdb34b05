"""Pure NGSI-LD logic, without I/O: JSON-LD contexts, entities and their representations,
the query languages, subscriptions and the temporal representation."""

from thudo.ngsild.jsonld import ActiveContext, build_context, core_context
from thudo.ngsild.parse import parse_attributes, parse_entity
from thudo.ngsild.qlang import parse_q
from thudo.ngsild.render import RenderOptions, render_entity

__all__ = [
    "ActiveContext",
    "RenderOptions",
    "build_context",
    "core_context",
    "parse_attributes",
    "parse_entity",
    "parse_q",
    "render_entity",
]
