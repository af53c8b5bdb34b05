"""JSON-LD term expansion and compaction (thudo/ngsild/jsonld.py), checked against pyld."""

from __future__ import annotations

import functools
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyld import jsonld

from thudo.errors import BadRequestData
from thudo.ngsild.jsonld import (
    CORE_CONTEXT_URL,
    CORE_CONTEXT_URLS,
    DEFAULT_VOCAB,
    build_context,
    context_key,
    core_context,
    core_context_document,
    is_core_context_url,
)

NGSI = "https://uri.etsi.org/ngsi-ld/"
CORE_TERMS = frozenset(core_context_document()["@context"])


def _offline_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader: the built-in core context, never the network."""
    if url in CORE_CONTEXT_URLS:
        version = "1.9" if url.endswith("-v1.9.jsonld") else "1.8"
        doc = core_context_document(version)
        return {"contextUrl": None, "documentUrl": url, "document": doc}
    raise jsonld.JsonLdError(f"no network in tests: {url}", "loading document failed")


@functools.lru_cache(maxsize=1024)
def _pyld_expand_cached(ctx_key: str, term: str) -> str | None:
    import json

    ctx = json.loads(ctx_key)
    expanded = jsonld.expand({"@context": ctx, term: "x"}, {"documentLoader": _offline_loader})
    if not expanded:
        return None
    keys = [k for k in expanded[0] if not k.startswith("@")]
    return keys[0] if keys else None


def pyld_expand(ctx: Any, term: str) -> str | None:
    """The IRI pyld gives a property key under the core context and then ``ctx``."""
    import json

    full = [CORE_CONTEXT_URL, *(ctx if isinstance(ctx, list) else [ctx])]
    return _pyld_expand_cached(json.dumps(full, sort_keys=True), term)


# --- examples ---------------------------------------------------------------------------------


def test_core_context_terms() -> None:
    ctx = core_context()
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.expand("Property") == NGSI + "Property"
    assert ctx.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert ctx.compact(NGSI + "location") == "location"
    assert ctx.compact(DEFAULT_VOCAB + "temperature") == "temperature"


def test_absolute_iris_and_keywords_pass_through() -> None:
    ctx = core_context()
    assert ctx.expand("https://ex.org/a") == "https://ex.org/a"
    assert ctx.expand("@id") == "@id"
    assert ctx.compact("https://ex.org/a") == "https://ex.org/a"


def test_user_terms_prefixes_and_vocab() -> None:
    ctx = build_context(
        {
            "ex": "https://ex.org/",
            "speed": "ex:speed",
            "T": {"@id": "ex:Thing"},
            "@vocab": "https://v.org/",
        }
    )
    assert ctx.expand("speed") == "https://ex.org/speed"
    assert ctx.expand("ex:other") == "https://ex.org/other"
    assert ctx.expand("T") == "https://ex.org/Thing"
    assert ctx.expand("free") == "https://v.org/free"
    assert ctx.compact("https://ex.org/speed") == "speed"
    assert ctx.compact("https://ex.org/other") == "ex:other"
    assert ctx.compact("https://v.org/free") == "free"


def test_core_terms_are_protected() -> None:
    ctx = build_context({"location": "https://ex.org/myLocation"})
    assert ctx.expand("location") == NGSI + "location"


def test_remote_contexts_come_from_the_loader() -> None:
    docs = {
        "http://x/a.jsonld": {"a": "https://ex.org/a"},
        "http://x/b.jsonld": ["http://x/a.jsonld", {"b": "https://ex.org/b"}],
    }
    ctx = build_context("http://x/b.jsonld", docs.__getitem__)
    assert ctx.expand("a") == "https://ex.org/a"
    assert ctx.expand("b") == "https://ex.org/b"


def test_without_a_loader_remote_contexts_are_unavailable() -> None:
    with pytest.raises(BadRequestData, match="http://x/none"):
        build_context("http://x/none")


def test_remote_context_loops_are_refused() -> None:
    def loader(url: str) -> Any:
        return url  # every context points at itself

    with pytest.raises(BadRequestData, match="deeply"):
        build_context("http://x/self", loader, max_depth=4)


def test_cyclic_term_definitions_are_refused() -> None:
    with pytest.raises(BadRequestData, match="cyclically"):
        build_context({"a": "b:x", "b": "a:y"})


def test_core_context_urls() -> None:
    assert is_core_context_url(CORE_CONTEXT_URL)
    assert is_core_context_url(NGSI + "v1/ngsi-ld-core-context.jsonld")
    assert not is_core_context_url("https://example.org/ngsi-ld-core-context.jsonld")


def test_context_key_is_stable() -> None:
    assert context_key({"b": 1, "a": 2}) == context_key({"a": 2, "b": 1})
    assert context_key("http://x") == "http://x"


@pytest.mark.parametrize(
    "ctx",
    [
        {"ex": "https://ex.org/", "speed": "ex:speed"},
        {"@vocab": "https://v.org/"},
        [{"ex": "https://ex.org/ns#"}, {"t": {"@id": "ex:t", "@type": "@id"}}],
        {"a": "https://ex.org/a", "b": "a"},
    ],
)
@pytest.mark.parametrize(
    "term", ["speed", "ex:thing", "t", "free", "a", "b", "location", "https://z.org/q"]
)
def test_examples_agree_with_pyld(ctx: Any, term: str) -> None:
    ours = build_context(ctx).expand(term)
    theirs = pyld_expand(ctx, term)
    assert theirs == ours


# --- properties -------------------------------------------------------------------------------

_term_names = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=10).filter(
    lambda t: t[0].isalpha() and t not in CORE_TERMS
)
_local = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)


@st.composite
def _contexts(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    """A user @context and the IRI each of its terms should expand to."""
    names = draw(st.lists(_term_names, min_size=1, max_size=8, unique=True))
    ctx: dict[str, Any] = {}
    expected: dict[str, str] = {}
    prefix = draw(st.sampled_from([None, "ex"]))
    if prefix is not None:
        ctx[prefix] = "https://ex.org/ns/"
    for i, name in enumerate(names):
        if name == prefix:
            continue
        local = f"{draw(_local)}{i}"
        style = draw(st.sampled_from(["iri", "object", "compact"] if prefix else ["iri", "object"]))
        if style == "iri":
            ctx[name] = f"https://t.org/{local}"
            expected[name] = ctx[name]
        elif style == "object":
            ctx[name] = {"@id": f"https://o.org/{local}", "@type": "@id"}
            expected[name] = ctx[name]["@id"]
        else:
            ctx[name] = f"{prefix}:{local}"
            expected[name] = f"https://ex.org/ns/{local}"
    if draw(st.booleans()):
        ctx["@vocab"] = "https://vocab.org/"
    return ctx, expected


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_contexts(), st.data())
def test_compact_inverts_expand(
    case: tuple[dict[str, Any], dict[str, str]], data: st.DataObject
) -> None:
    ctx_value, expected = case
    ctx = build_context(ctx_value)
    for term, iri in expected.items():
        assert ctx.expand(term) == iri
        assert ctx.compact(iri) == term
    free = data.draw(_term_names.filter(lambda t: t not in ctx_value))
    assert ctx.compact(ctx.expand(free)) == free


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_contexts(), st.data())
def test_expansion_agrees_with_pyld(
    case: tuple[dict[str, Any], dict[str, str]], data: st.DataObject
) -> None:
    ctx_value, expected = case
    ours = build_context(ctx_value)
    free = data.draw(_term_names.filter(lambda t: t not in ctx_value))
    compact_iri = f"ex:{data.draw(_local)}" if "ex" in ctx_value else None
    for term in [*expected, free, *([compact_iri] if compact_iri else [])]:
        assume(term not in CORE_TERMS)
        assert pyld_expand(ctx_value, term) == ours.expand(term), term
