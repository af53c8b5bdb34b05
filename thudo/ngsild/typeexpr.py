"""Entity type selection (clause 4.17): ``A,B`` or ``A|B`` (any), ``A;B`` (all), parentheses."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from thudo.errors import InvalidRequest, TooComplexQuery

__all__ = ["TypeAll", "TypeAny", "TypeExpr", "TypeName", "parse_type_expr"]

_NAME = re.compile(r"[^,;|()\s]+")


@dataclass(frozen=True, slots=True)
class TypeName:
    """One expanded type name."""

    iri: str


@dataclass(frozen=True, slots=True)
class TypeAny:
    """The entity has at least one of these types."""

    items: tuple[TypeExpr, ...]


@dataclass(frozen=True, slots=True)
class TypeAll:
    """The entity has all of these types."""

    items: tuple[TypeExpr, ...]


TypeExpr = TypeName | TypeAny | TypeAll


class _Parser:
    def __init__(self, text: str, expand: Callable[[str], str]) -> None:
        self.text = text
        self.pos = 0
        self.expand = expand
        self.count = 0

    def fail(self, message: str) -> InvalidRequest:
        return InvalidRequest(f"type: {message} at position {self.pos} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def any_of(self, depth: int) -> TypeExpr:
        if depth > 16:
            raise TooComplexQuery("type nests parentheses too deeply")
        items = [self.all_of(depth)]
        while self.peek() in (",", "|"):
            self.pos += 1
            items.append(self.all_of(depth))
        return items[0] if len(items) == 1 else TypeAny(tuple(items))

    def all_of(self, depth: int) -> TypeExpr:
        items = [self.atom(depth)]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.atom(depth))
        return items[0] if len(items) == 1 else TypeAll(tuple(items))

    def atom(self, depth: int) -> TypeExpr:
        if self.peek() == "(":
            self.pos += 1
            inner = self.any_of(depth + 1)
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.pos += 1
            return inner
        m = _NAME.match(self.text, self.pos)
        if m is None:
            raise self.fail("expected a type name")
        self.pos = m.end()
        self.count += 1
        if self.count > 100:
            raise TooComplexQuery("type lists more than 100 names")
        return TypeName(self.expand(m.group()))


def parse_type_expr(text: str, expand: Callable[[str], str]) -> TypeExpr:
    """Parse the ``type`` query parameter; names are expanded with ``expand``."""
    if not text.strip():
        raise InvalidRequest("type is empty")
    parser = _Parser(text, expand)
    expr = parser.any_of(0)
    if parser.pos != len(text):
        raise parser.fail(f"unexpected {parser.peek()!r}")
    return expr
