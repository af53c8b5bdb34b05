"""Geo-queries (clause 4.10): parsing georel/geometry/coordinates, and the spatial predicates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon, shape

from thudo.errors import BadRequestData, NgsiError
from thudo.ngsild.geoquery import GEORELS, distance_m, geo_matches, parse_geoq, query_bbox

LOC = "https://uri.etsi.org/ngsi-ld/location"


def test_near_point_with_max_distance() -> None:
    q = parse_geoq("near;maxDistance==1500.5", "Point", "[105.8, 21.0]", LOC)
    assert (q.georel, q.max_distance, q.min_distance) == ("near", 1500.5, None)
    assert q.geometry == {"type": "Point", "coordinates": [105.8, 21.0]}
    assert q.geoproperty == LOC


def test_near_with_both_distances() -> None:
    q = parse_geoq("near;minDistance==10;maxDistance==20", "Point", "[0, 0]", LOC)
    assert (q.min_distance, q.max_distance) == (10.0, 20.0)


def test_coordinates_without_outer_brackets_and_as_json() -> None:
    assert parse_geoq("intersects", "Point", "1,2", LOC).geometry["coordinates"] == [1, 2]
    assert parse_geoq("intersects", "Point", [1, 2], LOC).geometry["coordinates"] == [1, 2]


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "named"),
    [
        ("nearby", "Point", "[0,0]", "nearby"),
        ("near", "Point", "[0,0]", "maxDistance"),
        ("near;maxDistance==abc", "Point", "[0,0]", "maxDistance==abc"),
        ("within;maxDistance==5", "Polygon", "[[[0,0],[1,0],[1,1],[0,0]]]", "maxDistance"),
        ("near;maxDistance==5", "LineString", "[[0,0],[1,1]]", "Point"),
        ("within", "Circle", "[0,0]", "Circle"),
        ("within", "Point", "[0,", "coordinates"),
        ("within", "Point", "[181, 0]", "coordinates"),
        ("within", "Point", "[0, 91]", "coordinates"),
        ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", "ring"),
        ("within", "Polygon", "[[[0,0],[1,0],[0,0]]]", "ring"),
        ("within", "LineString", "[[0,0]]", "LineString"),
        (None, "Point", "[0,0]", "georel"),
        ("within", "", "[0,0]", "geometry"),
    ],
)
def test_invalid_geo_queries_name_the_part(
    georel: Any, geometry: str, coordinates: str, named: str
) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_geoq(georel, geometry, coordinates, LOC)
    assert named in info.value.detail


def test_too_many_positions() -> None:
    ring = [[0, 0], [1, 0], [1, 1], [0, 1]] * 10 + [[0, 0]]
    with pytest.raises(BadRequestData, match="positions"):
        parse_geoq("within", "Polygon", json.dumps([ring]), LOC, max_points=10)


def test_distance_in_metres() -> None:
    # One degree of latitude is about 111.2 km on the sphere thudo uses.
    assert distance_m(Point(0, 0), Point(0, 1)) == pytest.approx(111_195, rel=1e-3)
    square = Polygon([(0.01, -0.01), (0.02, -0.01), (0.02, 0.01), (0.01, 0.01)])
    assert distance_m(Point(0, 0), square) == pytest.approx(1112, rel=1e-2)


@pytest.mark.parametrize(
    ("georel", "target", "expected"),
    [
        ("within", Point(0.5, 0.5), True),
        ("within", Point(2, 2), False),
        ("intersects", Polygon([(0.5, 0.5), (3, 0.5), (3, 3)]), True),
        ("disjoint", Point(2, 2), True),
        ("disjoint", Point(0.5, 0.5), False),
        ("equals", Polygon([(0, 0), (1, 0), (1, 1), (0, 1)]), True),
        ("overlaps", Polygon([(0.5, 0.5), (3, 0.5), (3, 3), (0.5, 3)]), True),
        ("overlaps", Polygon([(0.2, 0.2), (0.4, 0.2), (0.4, 0.4)]), False),
        ("contains", Polygon([(-1, -1), (2, -1), (2, 2), (-1, 2)]), True),
    ],
)
def test_predicates_against_the_unit_square(georel: str, target: Any, expected: bool) -> None:
    square = "[[[0,0],[1,0],[1,1],[0,1],[0,0]]]"
    q = parse_geoq(georel, "Polygon", square, LOC)
    assert geo_matches(q, target) is expected


def test_near_bounds() -> None:
    q = parse_geoq("near;maxDistance==1000;minDistance==100", "Point", "[0,0]", LOC)
    assert geo_matches(q, Point(0, 0.005))  # about 556 m
    assert not geo_matches(q, Point(0, 0.0001))  # about 11 m
    assert not geo_matches(q, Point(0, 0.02))  # about 2.2 km


def test_bbox_holds_every_near_match() -> None:
    q = parse_geoq("near;maxDistance==2000", "Point", "[105.8, 21.0]", LOC)
    box = query_bbox(q)
    assert box is not None
    minx, miny, maxx, maxy = box
    for dx, dy in [(0.0189, 0), (-0.0189, 0), (0, 0.0179), (0, -0.0179)]:
        p = Point(105.8 + dx, 21.0 + dy)
        assert geo_matches(q, p)
        assert minx <= p.x <= maxx and miny <= p.y <= maxy
    assert query_bbox(parse_geoq("disjoint", "Point", "[0,0]", LOC)) is None


# --- properties -------------------------------------------------------------------------------

_lon = st.floats(-180, 180, allow_nan=False)
_lat = st.floats(-90, 90, allow_nan=False)


@settings(max_examples=200)
@given(_lon, _lat, st.integers(0, 4 * 10**7).map(lambda q: q / 4))
def test_valid_points_parse(lon: float, lat: float, distance: float) -> None:
    text = json.dumps([lon, lat])
    q = parse_geoq(f"near;maxDistance=={distance}", "Point", text, LOC)
    assert q.geometry == {"type": "Point", "coordinates": [lon, lat]}
    assert q.max_distance == distance
    assert geo_matches(q, Point(lon, lat))


@settings(max_examples=200)
@given(_lon, _lat, _lon, _lat, st.sampled_from(sorted(GEORELS - {"near"})))
def test_valid_rectangles_parse(x1: float, y1: float, x2: float, y2: float, georel: str) -> None:
    ring = [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]
    q = parse_geoq(georel, "Polygon", json.dumps([ring]), LOC)
    assert q.georel == georel
    assert shape(q.geometry).bounds == (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400)
@given(
    st.one_of(st.text(max_size=30), st.sampled_from(["near;maxDistance==5", "within", "near"])),
    st.one_of(
        st.text(max_size=12), st.sampled_from(["Point", "Polygon", "LineString", "MultiPoint"])
    ),
    st.one_of(st.text(max_size=40), _json, _json.map(json.dumps)),
)
def test_anything_else_raises_only_ngsi_errors(
    georel: str, geometry: str, coordinates: Any
) -> None:
    try:
        q = parse_geoq(georel, geometry, coordinates, LOC)
    except NgsiError as exc:
        assert exc.status == 400
        assert exc.detail
    else:
        assert q.georel in GEORELS
        shape(q.geometry)  # what parsed is a geometry shapely accepts


@pytest.mark.parametrize("depth", [10, 5000])
def test_coordinates_nested_deeper_than_geojson_are_refused(depth: int) -> None:
    """Counting the positions of deeply nested coordinates once recursed into a
    RecursionError (a 500); nesting beyond GeoJSON's is a BadRequestData now."""
    nested: Any = 0.0
    for _ in range(depth):
        nested = [nested]
    with pytest.raises(BadRequestData, match="nested deeper"):
        parse_geoq("intersects", "Point", nested, "location")
