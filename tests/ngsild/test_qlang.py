"""The q language (clause 4.9): parse results, error messages, and properties of the parser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thudo.errors import InvalidRequest, NgsiError, TooComplexQuery
from thudo.ngsild.qlang import MEMBER_NAMES, And, AttrPath, Literal, Or, QNode, Range, Term, parse_q
from thudo.ngsild.validate import normalize_datetime

BASE = "https://ex.org/"


def expand(name: str) -> str:
    return BASE + name


def parse(text: str) -> QNode:
    return parse_q(text, expand)


def term(name: str, op: str | None = None, *values: Literal, **kw: object) -> Term:
    return Term(AttrPath(expand(name), text=name), op, tuple(values), **kw)  # type: ignore[arg-type]


def num(x: float) -> Literal:
    return Literal("number", float(x))


# --- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["==", "!=", ">", ">=", "<", "<="])
def test_comparison_operators(op: str) -> None:
    assert parse(f"speed{op}5") == term("speed", op, num(5))


def test_existence_term() -> None:
    assert parse("speed") == term("speed")


def test_and_binds_tighter_than_or() -> None:
    assert parse("a==1;b==2|c==3") == Or(
        (And((term("a", "==", num(1)), term("b", "==", num(2)))), term("c", "==", num(3)))
    )


def test_parentheses_group() -> None:
    assert parse("a==1;(b==2|c==3)") == And(
        (term("a", "==", num(1)), Or((term("b", "==", num(2)), term("c", "==", num(3)))))
    )


def test_range_and_list() -> None:
    assert parse("a==1..5") == term("a", "==", range=Range(num(1), num(5)))
    assert parse("a!=1,2,3") == term("a", "!=", num(1), num(2), num(3))


def test_quoted_strings_keep_operators_and_escapes() -> None:
    assert parse('name=="a;b|c)\\"d\\\\"') == term("name", "==", Literal("string", 'a;b|c)"d\\'))


def test_booleans_dates_and_datetimes() -> None:
    assert parse("ok==true") == term("ok", "==", Literal("boolean", True))
    assert parse("day==2024-05-01") == term("day", "==", Literal("date", "2024-05-01"))
    got = parse("at>2024-05-01T12:00:00+02:00")
    assert got == term("at", ">", Literal("datetime", "2024-05-01T10:00:00.000000Z"))


def test_uri_values() -> None:
    assert parse("rel==urn:ngsi-ld:Building:A") == term(
        "rel", "==", Literal("string", "urn:ngsi-ld:Building:A")
    )


def test_dotted_paths_expand_sub_attributes_but_not_members() -> None:
    got = parse("temperature.accuracy.observedAt>1")
    assert isinstance(got, Term)
    assert got.path == AttrPath(
        expand("temperature"),
        (expand("accuracy"), "observedAt"),
        (),
        "temperature.accuracy.observedAt",
    )


def test_bracket_keys_are_not_expanded() -> None:
    got = parse("address[city][zip]==1")
    assert isinstance(got, Term)
    assert got.path.keys == ("city", "zip")
    assert got.path.attr == expand("address")


def test_pattern_operators() -> None:
    assert parse('name!~="^a"') == term("name", "!~=", pattern="^a")


def test_match_pattern_operator() -> None:
    """``~=`` (clause 4.9) must parse like ``!~=``; a name may not swallow the ``~``."""
    assert parse('name~="^a"') == term("name", "~=", pattern="^a")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("a>>1", "'>1'"),
        ("(a==1", "position 5"),
        ("a==", "position 3"),
        ("==1", "position 0"),
        ('a=="x', "unterminated"),
        ("a==1;", "position 5"),
        ("a[b==1", "position 3"),
        ("a==1)", "')'"),
    ],
)
def test_errors_name_the_offending_part(text: str, named: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse(text)
    assert named in info.value.detail
    assert repr(text) in info.value.detail
    assert info.value.detail.startswith("q: ")


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_datetimes_beyond_the_calendar_are_invalid_requests(stamp: str) -> None:
    with pytest.raises(InvalidRequest):
        parse(f"at>{stamp}")


def test_empty_q_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        parse("")


def test_range_needs_equality() -> None:
    with pytest.raises(InvalidRequest, match="range"):
        parse("a>1..2")


def test_too_many_terms_is_too_complex() -> None:
    with pytest.raises(TooComplexQuery):
        parse_q(";".join(["a==1"] * 10), expand, max_terms=5)


def test_deep_parentheses_are_too_complex() -> None:
    with pytest.raises(TooComplexQuery):
        parse("(" * 40 + "a" + ")" * 40)


def test_param_name_is_used_in_messages() -> None:
    with pytest.raises(InvalidRequest, match=r"^csf: "):
        parse_q("a>>1", expand, param="csf")


@pytest.mark.parametrize("text", ["name==\x00", "name==a\x00b", "a==1;b==\x01"])
def test_control_characters_in_unquoted_values_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse(text)


# --- properties -------------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
_members = st.sampled_from(sorted(MEMBER_NAMES))
_numbers = st.one_of(
    st.integers(-(10**12), 10**12).map(lambda i: (str(i), num(i))),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: (repr(f), num(f))),
)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_strings = _text.map(
    lambda s: ('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"', Literal("string", s))
)
_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
_stamps = _datetimes.map(lambda s: (s, Literal("datetime", normalize_datetime(s))))
_dates = (
    st.dates()
    .map(lambda d: (d.isoformat(), Literal("date", d.isoformat())))
    .filter(lambda p: len(p[0]) == 10)
)
_booleans = st.booleans().map(lambda b: (str(b).lower(), Literal("boolean", b)))
_literals = st.one_of(_numbers, _strings, _stamps, _dates, _booleans)


@st.composite
def _paths(draw: st.DrawFn) -> tuple[str, AttrPath]:
    attr = draw(_names)
    subs = draw(st.lists(st.one_of(_names, _members), max_size=2))
    keys = draw(st.lists(_names, max_size=2))
    text = ".".join([attr, *subs]) + "".join(f"[{k}]" for k in keys)
    expanded = tuple(s if s in MEMBER_NAMES else expand(s) for s in subs)
    return text, AttrPath(expand(attr), expanded, tuple(keys), text)


@st.composite
def _terms(draw: st.DrawFn) -> tuple[str, Term]:
    text, path = draw(_paths())
    shape = draw(st.sampled_from(["exists", "one", "list", "range"]))
    if shape == "exists":
        return text, Term(path)
    if shape == "one":
        op = draw(st.sampled_from(["==", "!=", ">", ">=", "<", "<="]))
        raw, lit = draw(_literals)
        return f"{text}{op}{raw}", Term(path, op, (lit,))
    op = draw(st.sampled_from(["==", "!="]))
    if shape == "list":
        items = draw(st.lists(_literals, min_size=2, max_size=4))
        raw = ",".join(r for r, _ in items)
        return f"{text}{op}{raw}", Term(path, op, tuple(lit for _, lit in items))
    kind = draw(st.sampled_from([_numbers, _stamps, _strings]))
    (lo_raw, lo), (hi_raw, hi) = draw(kind), draw(kind)
    return f"{text}{op}{lo_raw}..{hi_raw}", Term(path, op, range=Range(lo, hi))


def _wrap(text: str, node: QNode) -> str:
    return text if isinstance(node, Term) else f"({text})"


_queries = st.recursive(
    _terms(),
    lambda children: st.tuples(
        st.sampled_from([And, Or]), st.lists(children, min_size=2, max_size=3)
    ).map(
        lambda pair: (
            (";" if pair[0] is And else "|").join(_wrap(t, n) for t, n in pair[1]),
            pair[0](tuple(n for _, n in pair[1])),
        )
    ),
    max_leaves=8,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_queries)
def test_well_formed_expressions_parse_to_their_tree(case: tuple[str, QNode]) -> None:
    text, expected = case
    assert parse(text) == expected


@settings(max_examples=100)
@given(
    _paths(),
    st.sampled_from(["~=", "!~="]),
    st.from_regex(r"\^?[a-z]{1,4}(\.\*)?\$?", fullmatch=True),
)
def test_pattern_terms_parse(path: tuple[str, AttrPath], op: str, pattern: str) -> None:
    text, expected = path
    assert parse(f'{text}{op}"{pattern}"') == Term(expected, op, pattern=pattern)


_garbage_alphabet = st.sampled_from(list('abAZ09_.;|()[]=!<>~",:-TZ \\\x00/#@+%'))


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=40), st.text(_garbage_alphabet, max_size=40)))
def test_garbage_parses_or_raises_an_ngsi_error(text: str) -> None:
    try:
        parse(text)
    except NgsiError as exc:
        assert exc.status in (400, 403)
        assert exc.detail
