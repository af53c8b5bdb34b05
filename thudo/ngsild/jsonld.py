"""JSON-LD term expansion and IRI compaction for NGSI-LD, through cached term maps.

A general JSON-LD processor walks every node of a document; NGSI-LD only needs to expand
the names of attributes and the entity types, so thudo keeps an ``ActiveContext`` per
distinct @context and expands and compacts single names through dictionaries. This is
the hot path of every request, which is why it is written here rather than done by pyld
(the tests check it against pyld).

The NGSI-LD core context (ETSI GS CIM 009, clause 5.5.7) is always in effect and is
processed first; its terms are protected, so a user context cannot redefine them (a
conflicting definition is ignored, the core one stays).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from thudo.errors import BadRequestData

__all__ = [
    "CORE_CONTEXT_URL",
    "CORE_CONTEXT_URLS",
    "DEFAULT_VOCAB",
    "ActiveContext",
    "ContextValue",
    "TermDefinition",
    "build_context",
    "context_key",
    "context_link",
    "core_context",
    "core_context_document",
    "is_core_context_url",
]

ContextValue = str | dict[str, Any] | list[Any] | None

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_VOCAB = NGSI_LD + "default-context/"
CORE_CONTEXT_URL = NGSI_LD + "v1/ngsi-ld-core-context-v1.8.jsonld"
_CORE_PREFIXES = (
    NGSI_LD + "v1/ngsi-ld-core-context",
    "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context",
)
_CORE_VERSIONS = ("", "-v1.3", "-v1.4", "-v1.5", "-v1.6", "-v1.7", "-v1.8", "-v1.9")
CORE_CONTEXT_URLS = frozenset(p + v + ".jsonld" for p in _CORE_PREFIXES for v in _CORE_VERSIONS)
_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")


def is_core_context_url(url: str) -> bool:
    """True for any published URL of the ETSI core context, of any version."""
    return url in CORE_CONTEXT_URLS


@functools.cache
def core_context_document(version: str = "1.8") -> dict[str, Any]:
    """The built-in core context document (never fetched)."""
    name = f"ngsi-ld-core-context-v{version}.jsonld"
    data = importlib.resources.files("thudo.ngsild").joinpath("core", name).read_bytes()
    doc: dict[str, Any] = orjson.loads(data)
    return doc


def _core_version_of(url: str) -> str:
    return "1.9" if url.endswith("-v1.9.jsonld") else "1.8"


@dataclass(frozen=True, slots=True)
class TermDefinition:
    """One term of an active context."""

    iri: str
    type_mapping: str | None = None
    container: str | None = None
    prefix: bool = False
    protected: bool = False


class ActiveContext:
    """The result of processing a list of @context entries: term maps both ways."""

    def __init__(
        self, terms: dict[str, TermDefinition | None], vocab: str | None, source: ContextValue
    ) -> None:
        self.terms = terms
        self.vocab = vocab
        self.source = source
        self._expanded: dict[str, str] = {}
        self._compacted: dict[str, str] = {}
        #: Names that passed the parser's checks, with their IRIs (filled by the parser).
        self.checked_names: dict[str, str] = {}
        self._inverse: dict[str, str] | None = None
        self._prefixes: list[tuple[str, str]] | None = None

    def expand(self, term: str) -> str:
        """Expand a vocabulary term (an attribute name or a type) to an IRI."""
        hit = self._expanded.get(term)
        if hit is None:
            hit = self._expand_uncached(term)
            if len(self._expanded) < 100_000:
                self._expanded[term] = hit
        return hit

    def compact(self, iri: str) -> str:
        """Compact an IRI to the shortest term, compact IRI or vocab-relative name."""
        hit = self._compacted.get(iri)
        if hit is None:
            hit = self._compact_uncached(iri)
            if len(self._compacted) < 100_000:
                self._compacted[iri] = hit
        return hit

    def definition(self, term: str) -> TermDefinition | None:
        """The definition of a term, if the context defines it."""
        return self.terms.get(term)

    def _expand_uncached(self, term: str) -> str:
        if term.startswith("@"):
            return term
        if term in self.terms:
            d = self.terms[term]
            return d.iri if d is not None else term
        prefix, sep, suffix = term.partition(":")
        if sep:
            if suffix.startswith("//") or prefix == "_":
                return term
            d = self.terms.get(prefix)
            if d is not None:
                return d.iri + suffix
            return term
        if self.vocab is not None:
            return self.vocab + term
        return term

    def _inverse_map(self) -> dict[str, str]:
        if self._inverse is None:
            inverse: dict[str, str] = {}
            for term, d in self.terms.items():
                if d is None or d.iri.startswith("@"):
                    continue
                best = inverse.get(d.iri)
                if best is None or (len(term), term) < (len(best), best):
                    inverse[d.iri] = term
            self._inverse = inverse
        return self._inverse

    def _prefix_list(self) -> list[tuple[str, str]]:
        if self._prefixes is None:
            self._prefixes = sorted(
                ((t, d.iri) for t, d in self.terms.items() if d is not None and d.prefix),
                key=lambda p: (-len(p[1]), p[0]),
            )
        return self._prefixes

    def _compact_uncached(self, iri: str) -> str:
        term = self._inverse_map().get(iri)
        if term is not None:
            return term
        if self.vocab and iri.startswith(self.vocab) and len(iri) > len(self.vocab):
            suffix = iri[len(self.vocab) :]
            if suffix not in self.terms and ":" not in suffix:
                return suffix
        best: str | None = None
        for name, prefix_iri in self._prefix_list():
            if iri.startswith(prefix_iri) and len(iri) > len(prefix_iri):
                candidate = name + ":" + iri[len(prefix_iri) :]
                if candidate not in self.terms and (best is None or len(candidate) < len(best)):
                    best = candidate
        return best if best is not None else iri


def _context_list(value: ContextValue) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


class _Builder:
    """Processes @context entries into term definitions (JSON-LD 1.1, clause 4.1, simplified)."""

    def __init__(self, loader: Callable[[str], ContextValue], max_depth: int) -> None:
        self.terms: dict[str, TermDefinition | None] = {}
        self.vocab: str | None = None
        self.loader = loader
        self.max_depth = max_depth
        self.seen_core = False

    def process(self, value: ContextValue, depth: int = 0) -> None:
        if depth > self.max_depth:
            raise BadRequestData("@context nests remote contexts too deeply")
        for entry in _context_list(value):
            if entry is None:
                self._reset()
            elif isinstance(entry, str):
                self._process_url(entry, depth)
            elif isinstance(entry, dict):
                self._process_object(entry, depth)
            else:
                raise BadRequestData(
                    f"@context entries must be URLs or objects, not {type(entry).__name__}"
                )

    def _reset(self) -> None:
        kept: dict[str, TermDefinition | None] = {
            t: d for t, d in self.terms.items() if d is not None and d.protected
        }
        self.terms = kept
        self.vocab = DEFAULT_VOCAB

    def _process_url(self, url: str, depth: int) -> None:
        if is_core_context_url(url):
            doc = core_context_document(_core_version_of(url))
            self._process_object(doc["@context"], depth, core=True)
            return
        self.process(self.loader(url), depth + 1)

    def _process_object(self, ctx: dict[str, Any], depth: int, core: bool = False) -> None:
        if "@import" in ctx:
            imported = ctx["@import"]
            if not isinstance(imported, str):
                raise BadRequestData("@import in a @context must be a URL string")
            self._process_url(imported, depth + 1)
        protected = bool(ctx.get("@protected", False))
        if "@vocab" in ctx:
            self.vocab = self._vocab_value(ctx["@vocab"])
        pending = {k: v for k, v in ctx.items() if not k.startswith("@")}
        defined: dict[str, bool] = {}
        for term in pending:
            self._define(term, pending, defined, protected, core)

    def _vocab_value(self, raw: Any) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise BadRequestData("@vocab in a @context must be a string or null")
        if ":" in raw:
            prefix, _, suffix = raw.partition(":")
            d = self.terms.get(prefix)
            if d is not None and not suffix.startswith("//"):
                return d.iri + suffix
            return raw
        d = self.terms.get(raw)
        if d is not None:
            return d.iri
        return (self.vocab or "") + raw

    def _define(
        self,
        term: str,
        pending: dict[str, Any],
        defined: dict[str, bool],
        protected: bool,
        core: bool,
    ) -> None:
        if defined.get(term):
            return
        if term in defined:
            raise BadRequestData(f"@context defines term {term!r} cyclically")
        defined[term] = False
        raw = pending[term]
        existing = self.terms.get(term)
        new = self._make_definition(term, raw, pending, defined, protected, core)
        defined[term] = True
        if existing is not None and existing.protected and not core:
            # The core context is protected: a user context cannot redefine its terms.
            return
        self.terms[term] = new

    def _make_definition(
        self,
        term: str,
        raw: Any,
        pending: dict[str, Any],
        defined: dict[str, bool],
        protected: bool,
        core: bool,
    ) -> TermDefinition | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            iri = self._expand_in_context(raw, pending, defined, protected, core, term)
            simple_prefix = iri.endswith(_GEN_DELIMS)
            return TermDefinition(iri=iri, prefix=simple_prefix, protected=protected or core)
        if not isinstance(raw, dict):
            raise BadRequestData(f"@context term {term!r} must map to a string, an object or null")
        iri_raw = raw.get("@id", term)
        if iri_raw is None:
            return None
        if not isinstance(iri_raw, str):
            raise BadRequestData(f"@context term {term!r} has an @id that is not a string")
        iri = self._expand_in_context(iri_raw, pending, defined, protected, core, term)
        type_mapping = raw.get("@type")
        container = raw.get("@container")
        is_protected = bool(raw.get("@protected", protected)) or core
        return TermDefinition(
            iri=iri,
            type_mapping=type_mapping if isinstance(type_mapping, str) else None,
            container=container if isinstance(container, str) else None,
            prefix=bool(raw.get("@prefix", False)),
            protected=is_protected,
        )

    def _expand_in_context(
        self,
        value: str,
        pending: dict[str, Any],
        defined: dict[str, bool],
        protected: bool,
        core: bool,
        term: str,
    ) -> str:
        if value.startswith("@"):
            return value
        prefix, sep, suffix = value.partition(":")
        if sep:
            if suffix.startswith("//") or prefix == "_":
                return value
            if prefix in pending and prefix != term:
                self._define(prefix, pending, defined, protected, core)
            d = self.terms.get(prefix)
            return d.iri + suffix if d is not None else value
        if value in pending and value != term:
            self._define(value, pending, defined, protected, core)
        d = self.terms.get(value)
        if d is not None:
            return d.iri
        return (self.vocab or "") + value


def build_context(
    value: ContextValue,
    loader: Callable[[str], ContextValue] | None = None,
    max_depth: int = 8,
) -> ActiveContext:
    """Process a @context value on top of the core context.

    ``loader`` returns the @context member of an already-fetched remote document; it
    is called only for URLs that are not the core context. Fetching is the caller's
    job, so this module does no I/O.
    """

    def _no_loader(url: str) -> ContextValue:
        raise BadRequestData(f"@context {url!r} is not available")

    builder = _Builder(loader or _no_loader, max_depth)
    builder._process_object(core_context_document()["@context"], 0, core=True)
    builder.process(value)
    return ActiveContext(builder.terms, builder.vocab, value)


@functools.cache
def core_context() -> ActiveContext:
    """The active context made of the core context alone."""
    return build_context(None)


def context_key(value: ContextValue) -> str:
    """A stable cache key for a @context value."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


LINK_REL = "http://www.w3.org/ns/json-ld#context"


def context_link(url: str) -> str:
    """The HTTP Link header value that names a @context (clause 6.3.5)."""
    return f'<{url}>; rel="{LINK_REL}"; type="application/ld+json"'
