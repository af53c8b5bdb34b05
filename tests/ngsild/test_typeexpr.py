"""Entity type selection (clause 4.17)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.errors import InvalidRequest, NgsiError
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeName, parse_type_expr


def expand(name: str) -> str:
    return "https://ex.org/" + name


def n(name: str) -> TypeName:
    return TypeName(expand(name))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", n("A")),
        ("A,B", TypeAny((n("A"), n("B")))),
        ("A|B", TypeAny((n("A"), n("B")))),
        ("A;B", TypeAll((n("A"), n("B")))),
        ("A;B|C", TypeAny((TypeAll((n("A"), n("B"))), n("C")))),
        ("(A|B);C", TypeAll((TypeAny((n("A"), n("B"))), n("C")))),
    ],
)
def test_type_expressions(text: str, expected: object) -> None:
    assert parse_type_expr(text, expand) == expected


@pytest.mark.parametrize("text", ["", " ", "A,", "(A", "A)", "A B", "A;;B"])
def test_invalid_type_expressions(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_type_expr(text, expand)


@given(st.text(st.sampled_from(list("AB,;|() x'\x00")), max_size=25))
def test_garbage_parses_or_raises_an_ngsi_error(text: str) -> None:
    try:
        parse_type_expr(text, expand)
    except NgsiError as exc:
        assert exc.status in (400, 403)
