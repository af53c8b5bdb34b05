"""Projections (``pick`` and ``omit``, clause 4.21): which members of an entity to keep.

``pick=id,locatedAt{id,name}`` keeps ``id`` and ``locatedAt``, and keeps ``id`` and
``name`` of the entities that ``locatedAt`` links to when they are joined. A name is an
entity member (``id``, ``type``, ``scope``) or an attribute name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from thudo.errors import BadRequestData

__all__ = ["ENTITY_KEYS", "Projection", "expand_projection", "parse_projection"]

ENTITY_KEYS = frozenset({"id", "type", "scope"})
_NAME = re.compile(r"[^,{}\s;()\"'<>=]+")

#: Member name → the projection of linked entities (None when not given).
Projection = dict[str, "Projection | None"]


def parse_projection(text: str, param: str) -> Projection:
    """Parse ``a,b{c,d{e}}``; raises BadRequestData naming the position of the fault."""
    pos = 0

    def fail(message: str) -> BadRequestData:
        return BadRequestData(f"{param}: {message} at position {pos} of {text!r}")

    def items(depth: int) -> Projection:
        nonlocal pos
        if depth > 8:
            raise fail("nesting is too deep")
        out: Projection = {}
        while True:
            m = _NAME.match(text, pos)
            if m is None:
                raise fail("expected a name")
            pos = m.end()
            sub: Projection | None = None
            if pos < len(text) and text[pos] == "{":
                pos += 1
                sub = items(depth + 1)
                if pos >= len(text) or text[pos] != "}":
                    raise fail("missing '}'")
                pos += 1
            out[m.group()] = sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            return out

    if not text:
        raise BadRequestData(f"{param} is empty")
    tree = items(0)
    if pos != len(text):
        raise fail(f"unexpected {text[pos]!r}")
    return tree


def expand_projection(tree: Projection, expand: Callable[[str], str]) -> Projection:
    """The same projection with attribute names expanded to IRIs."""
    out: Projection = {}
    for name, sub in tree.items():
        key = name if name in ENTITY_KEYS else expand(name)
        out[key] = expand_projection(sub, expand) if sub is not None else None
    return out
