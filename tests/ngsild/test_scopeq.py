"""Scope queries (clause 4.19)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.errors import InvalidRequest, NgsiError, TooComplexQuery
from thudo.ngsild.scopeq import ScopeAll, ScopeAny, ScopePattern, parse_scope_q


def test_combinations() -> None:
    assert parse_scope_q("/a/b") == ScopePattern("/a/b")
    assert parse_scope_q("/a,/b|/c") == ScopeAny(
        (ScopePattern("/a"), ScopePattern("/b"), ScopePattern("/c"))
    )
    assert parse_scope_q("/a;(/b,/c)") == ScopeAll(
        (ScopePattern("/a"), ScopeAny((ScopePattern("/b"), ScopePattern("/c"))))
    )


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("/a/+", ["/a/b", "/a/c"], ["/a", "/a/b/c", "/b/a"]),
        ("/a/#", ["/a", "/a/b", "/a/b/c"], ["/ab", "/b/a"]),
        ("/a/+/c", ["/a/b/c"], ["/a/c", "/a/b/c/d"]),
        ("/#", ["/a", "/a/b"], []),
        ("/a", ["/a"], ["/a/b", "/ab"]),
    ],
)
def test_pattern_regex(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = re.compile(ScopePattern(pattern).regex())
    assert all(regex.match(s) for s in matches)
    assert not any(regex.match(s) for s in misses)


@pytest.mark.parametrize("text", ["", "a", "/", "/a/", "//a", "/a b", "(/a", "/a)", "/a;", "/a'--"])
def test_invalid_scope_queries(text: str) -> None:
    with pytest.raises(InvalidRequest, match="scopeQ"):
        parse_scope_q(text)


def test_deep_nesting_is_too_complex() -> None:
    with pytest.raises(TooComplexQuery):
        parse_scope_q("(" * 20 + "/a" + ")" * 20)


@given(st.text(st.sampled_from(list("/ab+#;,|() x'")), max_size=30))
def test_garbage_parses_or_raises_an_ngsi_error(text: str) -> None:
    try:
        parse_scope_q(text)
    except NgsiError as exc:
        assert exc.status in (400, 403)
