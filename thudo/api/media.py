"""Media types (clause 6.3.4-6.3.6): Accept negotiation, Content-Type checks and the
JSON-LD context Link header."""

from __future__ import annotations

import functools
import re

from thudo.errors import BadRequestData, NotAcceptable, UnsupportedMediaType
from thudo.ngsild.jsonld import LINK_REL, context_link

__all__ = [
    "GEOJSON",
    "JSON",
    "JSONLD",
    "LINK_REL",
    "MERGE_PATCH",
    "body_media_type",
    "context_link",
    "link_context_url",
    "negotiate",
]

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"

_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


@functools.lru_cache(maxsize=256)
def negotiate(accept: str | None, offered: tuple[str, ...]) -> str:
    """The best offered media type for an Accept header, or NotAcceptable (406)."""
    if not accept or not accept.strip():
        return offered[0]
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        chosen = _match(media, offered)
        if chosen is None:
            continue
        rank = (quality, -position, chosen)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        raise NotAcceptable(f"Accept {accept!r} matches none of {', '.join(offered)}")
    return best[2]


def _match(media: str, offered: tuple[str, ...]) -> str | None:
    if media in offered:
        return media
    if media in ("*/*", "application/*"):
        return offered[0]
    return None


def body_media_type(content_type: str | None, allow_merge_patch: bool = False) -> str:
    """Check a request's Content-Type; returns JSON or JSONLD, or raises 415."""
    if not content_type:
        raise UnsupportedMediaType("the request has a body but no Content-Type")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSONLD:
        return JSONLD
    if media == JSON or (allow_merge_patch and media == MERGE_PATCH):
        return JSON
    accepted = "application/json or application/ld+json"
    if allow_merge_patch:
        accepted += " or application/merge-patch+json"
    raise UnsupportedMediaType(f"Content-Type {media!r} is not supported; use {accepted}")


def link_context_url(header: str | None) -> str | None:
    """The @context URL of a Link header with rel=json-ld#context, if any.

    Clause 6.3.5: more than one such link is an error.
    """
    if not header:
        return None
    found: list[str] = []
    for m in _LINK.finditer(header):
        params = m.group(2)
        rel = re.search(r"rel\s*=\s*\"?([^\";]+)\"?", params)
        if rel is not None and rel.group(1).strip() == LINK_REL:
            found.append(m.group(1).strip())
    if len(found) > 1:
        raise BadRequestData("more than one JSON-LD @context Link header was given")
    if found and not found[0]:
        raise BadRequestData("the JSON-LD @context Link header has an empty URL")
    return found[0] if found else None
