"""The NGSI-LD query language ``q`` (clause 4.9): a parser to a small typed AST.

Grammar (simplified from clause 4.9)::

    query   = term *( (";" | "|") term )          ";" is AND, "|" is OR, AND binds tighter
    term    = "(" query ")" | path [ op value ]
    path    = name *( "." name ) *( "[" key "]" )
    op      = "==" | "!=" | ">=" | "<=" | ">" | "<" | "~=" | "!~="
    value   = literal [ ".." literal ] | literal *( "," literal )
    literal = number | "quoted string" | true | false | date-time | date | time | URI

Attribute names are expanded with the request's @context; the trailing path members
``observedAt``, ``unitCode``, ``datasetId``, ``createdAt`` and ``modifiedAt`` refer to
the attribute's members rather than to sub-attributes.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from thudo.errors import InvalidRequest, NgsiError, TooComplexQuery
from thudo.ngsild.patterns import check_pattern
from thudo.ngsild.validate import normalize_datetime

__all__ = [
    "MEMBER_NAMES",
    "And",
    "AttrPath",
    "Literal",
    "Or",
    "QNode",
    "Range",
    "Term",
    "decode_term",
    "encode_term",
    "parse_q",
]

MEMBER_NAMES = frozenset({"observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt"})
_OPS = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")
_NAME = re.compile(r"[A-Za-z0-9_\-:/#@%+]+")
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


@dataclass(frozen=True, slots=True)
class AttrPath:
    """An attribute, then sub-attributes or a member, then keys into a JSON value."""

    attr: str
    subs: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class Literal:
    """A comparable value: kind is number, string, boolean or datetime."""

    kind: str
    value: Any


@dataclass(frozen=True, slots=True)
class Range:
    """``low..high``, inclusive."""

    low: Literal
    high: Literal


@dataclass(frozen=True, slots=True)
class Term:
    """``path``, or ``path op value``."""

    path: AttrPath
    op: str | None = None
    values: tuple[Literal, ...] = ()
    range: Range | None = None
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class And:
    """All of the items."""

    items: tuple[QNode, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of the items."""

    items: tuple[QNode, ...]


QNode = Term | And | Or


class _Parser:
    def __init__(self, text: str, expand: Callable[[str], str], max_terms: int, param: str) -> None:
        self.text = text
        self.pos = 0
        self.expand = expand
        self.terms = 0
        self.max_terms = max_terms
        self.param = param

    def fail(self, message: str) -> NgsiError:
        return InvalidRequest(f"{self.param}: {message} at position {self.pos} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> QNode:
        node = self.query(0)
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.peek()!r}")
        return node

    def query(self, depth: int) -> QNode:
        if depth > 32:
            raise TooComplexQuery(f"{self.param} nests parentheses too deeply")
        alternatives = [self.conjunction(depth)]
        while self.peek() == "|":
            self.pos += 1
            alternatives.append(self.conjunction(depth))
        return alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))

    def conjunction(self, depth: int) -> QNode:
        items = [self.term(depth)]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.term(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def term(self, depth: int) -> QNode:
        if self.peek() == "(":
            self.pos += 1
            node = self.query(depth + 1)
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.pos += 1
            return node
        self.terms += 1
        if self.terms > self.max_terms:
            raise TooComplexQuery(f"{self.param} has more than {self.max_terms} terms")
        path = self.path()
        op = self.operator()
        if op is None:
            return Term(path)
        if op in ("~=", "!~="):
            return Term(path, op, pattern=check_pattern(self.pattern(), self.param))
        return self.comparison(path, op)

    def path(self) -> AttrPath:
        start = self.pos
        names = [self.name("attribute name")]
        while self.peek() == ".":
            self.pos += 1
            names.append(self.name("sub-attribute name"))
        keys: list[str] = []
        while self.peek() == "[":
            self.pos += 1
            keys.append(self.name("key"))
            if self.peek() != "]":
                raise self.fail("missing ']'")
            self.pos += 1
        subs = tuple(n if n in MEMBER_NAMES else self.expand(n) for n in names[1:])
        text = self.text[start : self.pos]
        return AttrPath(self.expand(names[0]), subs, tuple(keys), text)

    def name(self, what: str) -> str:
        m = _NAME.match(self.text, self.pos)
        if m is None:
            raise self.fail(f"expected an {what}")
        self.pos = m.end()
        return m.group()

    def operator(self) -> str | None:
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        nxt = self.peek()
        if nxt in ("", ";", "|", ")"):
            return None
        raise self.fail(f"unexpected {nxt!r} after an attribute path")

    def pattern(self) -> str:
        if self.peek() == '"':
            return str(self.quoted())
        start, depth = self.pos, 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif ch in ";|" and depth == 0:
                break
            elif ch == "\\":
                self.pos += 1
            self.pos += 1
        if self.pos == start:
            raise self.fail("expected a regular expression")
        return self.text[start : self.pos]

    def comparison(self, path: AttrPath, op: str) -> Term:
        first = self.literal()
        if self.text.startswith("..", self.pos):
            self.pos += 2
            second = self.literal()
            if op not in ("==", "!="):
                raise self.fail("a range needs == or !=")
            return Term(path, op, range=Range(first, second))
        values = [first]
        while self.peek() == ",":
            self.pos += 1
            values.append(self.literal())
        if len(values) > 1 and op not in ("==", "!="):
            raise self.fail("a list of values needs == or !=")
        return Term(path, op, values=tuple(values))

    def quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise self.fail("unterminated string")

    def literal(self) -> Literal:
        if self.peek() == '"':
            return Literal("string", self.quoted())
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ";|),":
            if self.text.startswith("..", self.pos) and not self._in_uri(start):
                break
            self.pos += 1
        raw = self.text[start : self.pos]
        if not raw:
            raise self.fail("expected a value")
        return self.classify(raw)

    def _in_uri(self, start: int) -> bool:
        return ":" in self.text[start : self.pos] and not _DATE.match(self.text[start : start + 10])

    def classify(self, raw: str) -> Literal:
        if re.search(r"[\x00-\x1f\x7f]", raw):
            raise self.fail("control characters are not allowed in values; quote strings")
        if raw in ("true", "false"):
            return Literal("boolean", raw == "true")
        if _NUMBER.match(raw):
            return Literal("number", float(raw))
        if _DATE.match(raw):
            return Literal("date", raw)
        if re.match(r"^\d{4}-\d{2}-\d{2}T", raw):
            stamp = normalize_datetime(raw)
            if stamp is None:
                raise self.fail(f"{raw!r} is not a valid date-time")
            return Literal("datetime", stamp)
        if _TIME.match(raw):
            return Literal("string", raw)
        if _URI_SCHEME.match(raw):
            return Literal("string", raw)
        if re.search(r"[\s\"'<>=\x00-\x1f\x7f]", raw):
            raise self.fail(f'{raw!r} is not a valid value; quote strings with "')
        return Literal("string", raw)


def parse_q(
    text: str,
    expand: Callable[[str], str],
    max_terms: int = 64,
    param: str = "q",
) -> QNode:
    """Parse a ``q`` expression; names are expanded with ``expand``.

    Raises InvalidRequest naming the position and the offending character.
    """
    if not text:
        raise InvalidRequest(f"{param} is empty")
    return _Parser(text, expand, max_terms, param).parse()


def encode_term(term: Term) -> str:
    """A term as JSON text, to hand it to code that evaluates it elsewhere."""

    def lit(item: Literal) -> list[Any]:
        return [item.kind, item.value]

    data = {
        "path": [term.path.attr, list(term.path.subs), list(term.path.keys)],
        "op": term.op,
        "values": [lit(v) for v in term.values],
        "range": [lit(term.range.low), lit(term.range.high)] if term.range else None,
        "pattern": term.pattern,
    }
    return json.dumps(data, sort_keys=True)


@functools.lru_cache(maxsize=256)
def decode_term(text: str) -> Term:
    """The term that ``encode_term`` wrote."""
    data = json.loads(text)
    attr, subs, keys = data["path"]
    rng = data["range"]
    return Term(
        AttrPath(attr, tuple(subs), tuple(keys)),
        data["op"],
        tuple(Literal(k, v) for k, v in data["values"]),
        Range(Literal(*rng[0]), Literal(*rng[1])) if rng else None,
        data["pattern"],
    )
