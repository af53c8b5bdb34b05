"""Parsing payloads into the internal form (clause 4.5), and the parse → render round trip."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thudo.errors import BadRequestData
from thudo.ngsild.jsonld import build_context, core_context, core_context_document
from thudo.ngsild.model import ENTITY_MEMBERS, INSTANCE_MEMBERS
from thudo.ngsild.parse import NULL, ParseOptions, is_null_instance, parse_attributes, parse_entity
from thudo.ngsild.render import RenderOptions, render_entity

NOW = "2024-01-01T00:00:00.000Z"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
CTX = core_context()


def parse(body: dict[str, Any], **opts: Any) -> dict[str, Any]:
    return parse_entity(body, CTX, NOW, ParseOptions(**opts))


def test_internal_form() -> None:
    entity = parse(
        {
            "id": "urn:a:1",
            "type": ["Room", "Room"],
            "scope": "/a/b",
            "temperature": {
                "type": "Property",
                "value": 20,
                "accuracy": {"type": "Property", "value": 1},
            },
        }
    )
    assert entity["id"] == "urn:a:1"
    assert entity["type"] == [VOCAB + "Room"]
    assert entity["scope"] == ["/a/b"]
    [temp] = entity["attrs"][VOCAB + "temperature"]
    assert temp["value"] == 20
    assert temp[VOCAB + "accuracy"][0]["value"] == 1
    assert temp["createdAt"] == temp["modifiedAt"] == NOW


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"type": "Room"}, "id"),
        ({"id": "urn:a:1"}, "type"),
        ({"id": "nope", "type": "Room"}, "entity id"),
        ({"id": "urn:a:1", "type": "Room", "scope": "a/b"}, "scope"),
        ({"id": "urn:a:1", "type": "Room", "t": {"type": "Relationship", "object": "x y"}}, "t"),
        ({"id": "urn:a:1", "type": "Room", "t": {"type": "Property"}}, "value"),
        ({"id": "urn:a:1", "type": "Room", "t": {"type": "Widget", "value": 1}}, "Widget"),
        ({"id": "urn:a:1", "type": "Room", "t": {"type": "Property", "value": None}}, "null"),
        (
            {
                "id": "urn:a:1",
                "type": "Room",
                "t": {"type": "Property", "value": 1, "observedAt": "yesterday"},
            },
            "observedAt",
        ),
        (
            {
                "id": "urn:a:1",
                "type": "Room",
                "t": {"type": "LanguageProperty", "languageMap": {"not a tag": "x"}},
            },
            "language tag",
        ),
        (
            {
                "id": "urn:a:1",
                "type": "Room",
                "t": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [0]}},
            },
            "Point",
        ),
        (
            {
                "id": "urn:a:1",
                "type": "Room",
                "t": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}],
            },
            "more than once",
        ),
        ({"id": "urn:a:1", "type": "Room", "t": NULL}, "null"),
    ],
)
def test_invalid_entities_name_the_fault(body: dict[str, Any], named: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse(body)
    assert named in info.value.detail


def test_nulls_are_deletion_markers_only_when_allowed() -> None:
    attrs = parse_attributes({"t": NULL}, CTX, NOW, ParseOptions(allow_null=True))
    assert is_null_instance(attrs[VOCAB + "t"][0])
    with pytest.raises(BadRequestData):
        parse_attributes({"t": NULL}, CTX, NOW, ParseOptions(allow_null=False))


def test_attribute_limit() -> None:
    with pytest.raises(BadRequestData, match="more than 3"):
        parse({"id": "urn:a:1", "type": "Room", **{f"a{i}": i for i in range(4)}}, max_attributes=3)


# --- round trip -----------------------------------------------------------------------------

USER_CTX = {
    "ex": "https://ex.org/",
    "speed": "ex:speed",
    "Car": "ex:Car",
    "owner": {"@id": "ex:owner", "@type": "@id"},
}
RESERVED = (
    INSTANCE_MEMBERS
    | ENTITY_MEMBERS
    | frozenset(core_context_document()["@context"])
    | frozenset(USER_CTX)
)

_names = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=10).filter(
    lambda n: n[0].isalpha() and n not in RESERVED
)
_attr_names = st.one_of(_names, st.sampled_from(["speed", "owner"]))
_type_names = st.one_of(_names, st.just("Car"))
_scalars = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=10).filter(lambda s: s != NULL),
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(_names, inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)
_uris = st.from_regex(r"urn:ngsi-ld:[A-Za-z]{1,5}:[A-Za-z0-9]{1,6}", fullmatch=True)
_datetimes = st.datetimes(
    min_value=__import__("datetime").datetime(1990, 1, 1),
    max_value=__import__("datetime").datetime(2090, 1, 1),
).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
_points = st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(
    lambda p: {"type": "Point", "coordinates": [p[0], p[1]]}
)
_lang_maps = st.dictionaries(
    st.sampled_from(["en", "vi", "fr", "en-GB", "@none"]), st.text(max_size=8), min_size=1
)


@st.composite
def _instance(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "Property",
                "Relationship",
                "GeoProperty",
                "LanguageProperty",
                "ListProperty",
                "JsonProperty",
            ]
        )
    )
    inst: dict[str, Any] = {"type": kind}
    if kind == "Property":
        inst["value"] = draw(_json_values)
    elif kind == "Relationship":
        inst["object"] = draw(_uris)
    elif kind == "GeoProperty":
        inst["value"] = draw(_points)
    elif kind == "LanguageProperty":
        inst["languageMap"] = draw(_lang_maps)
    elif kind == "ListProperty":
        inst["valueList"] = draw(st.lists(_scalars, max_size=3))
    else:
        inst["json"] = draw(_json_values)
    if kind in ("Property", "GeoProperty") and draw(st.booleans()):
        inst["observedAt"] = draw(_datetimes)
    if kind == "Property" and draw(st.booleans()):
        inst["unitCode"] = draw(st.sampled_from(["CEL", "MTR", "KMH"]))
    if depth == 0:
        for name in draw(st.lists(_names, max_size=2, unique=True)):
            inst[name] = draw(_instance(depth=1))
    return inst


@st.composite
def _attribute(draw: st.DrawFn) -> Any:
    if not draw(st.booleans()):
        return draw(_instance())
    datasets = draw(st.lists(_uris, min_size=1, max_size=2, unique=True))
    instances = [draw(_instance())]
    for ds in datasets:
        instances.append({**draw(_instance()), "datasetId": ds})
    return instances


@st.composite
def _entities(draw: st.DrawFn) -> dict[str, Any]:
    types = draw(st.lists(_type_names, min_size=1, max_size=3, unique=True))
    body: dict[str, Any] = {"id": draw(_uris), "type": types[0] if len(types) == 1 else types}
    scopes = draw(
        st.lists(
            st.from_regex(r"/[A-Za-z]{1,4}(/[A-Za-z0-9]{1,4}){0,2}", fullmatch=True),
            max_size=2,
            unique=True,
        )
    )
    if scopes:
        body["scope"] = scopes[0] if len(scopes) == 1 else scopes
    for name in draw(st.lists(_attr_names, max_size=5, unique=True)):
        body[name] = draw(_attribute())
    return body


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_entities(), st.sampled_from([None, USER_CTX]))
def test_parse_then_render_gives_back_the_normalized_input(
    body: dict[str, Any], ctx_value: Any
) -> None:
    ctx = build_context(ctx_value)
    entity = parse_entity(body, ctx, NOW, ParseOptions())
    assert render_entity(entity, ctx, RenderOptions()) == body
