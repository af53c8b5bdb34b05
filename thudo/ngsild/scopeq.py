"""Scope queries (clause 4.19): ``/a/b``, ``/a/+`` (one level), ``/a/#`` (the subtree),
combined with ``;`` (and), ``,`` or ``|`` (or) and parentheses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from thudo.errors import InvalidRequest, TooComplexQuery

__all__ = ["ScopeAll", "ScopeAny", "ScopeExpr", "ScopePattern", "parse_scope_q"]

_PATTERN = re.compile(r"/(?:[A-Za-z0-9_\-]+|\+|#)(?:/(?:[A-Za-z0-9_\-]+|\+|#))*|/#")


@dataclass(frozen=True, slots=True)
class ScopePattern:
    """One scope path; ``+`` matches one level, a final ``#`` the whole subtree."""

    pattern: str

    def regex(self) -> str:
        """The anchored regular expression equivalent to this pattern."""
        parts = self.pattern.split("/")[1:]
        out = ""
        for i, part in enumerate(parts):
            if part == "#" and i == len(parts) - 1:
                return "^" + out + "(/.*)?$" if out else "^/.*$"
            out += "/" + ("[^/]+" if part == "+" else re.escape(part))
        return "^" + out + "$"


@dataclass(frozen=True, slots=True)
class ScopeAny:
    """Any of the items."""

    items: tuple[ScopeExpr, ...]


@dataclass(frozen=True, slots=True)
class ScopeAll:
    """All of the items."""

    items: tuple[ScopeExpr, ...]


ScopeExpr = ScopePattern | ScopeAny | ScopeAll


def parse_scope_q(text: str) -> ScopeExpr:
    """Parse a ``scopeQ`` expression."""
    pos = 0

    def fail(message: str) -> InvalidRequest:
        return InvalidRequest(f"scopeQ: {message} at position {pos} of {text!r}")

    def any_of(depth: int) -> ScopeExpr:
        nonlocal pos
        if depth > 16:
            raise TooComplexQuery("scopeQ nests parentheses too deeply")
        items = [all_of(depth)]
        while pos < len(text) and text[pos] in ",|":
            pos += 1
            items.append(all_of(depth))
        return items[0] if len(items) == 1 else ScopeAny(tuple(items))

    def all_of(depth: int) -> ScopeExpr:
        nonlocal pos
        items = [atom(depth)]
        while pos < len(text) and text[pos] == ";":
            pos += 1
            items.append(atom(depth))
        return items[0] if len(items) == 1 else ScopeAll(tuple(items))

    def atom(depth: int) -> ScopeExpr:
        nonlocal pos
        if pos < len(text) and text[pos] == "(":
            pos += 1
            inner = any_of(depth + 1)
            if pos >= len(text) or text[pos] != ")":
                raise fail("missing ')'")
            pos += 1
            return inner
        m = _PATTERN.match(text, pos)
        if m is None:
            raise fail("expected a scope such as /a/b, /a/+ or /a/#")
        pos = m.end()
        return ScopePattern(m.group())

    if not text:
        raise InvalidRequest("scopeQ is empty")
    expr = any_of(0)
    if pos != len(text):
        raise fail(f"unexpected {text[pos]!r}")
    return expr
