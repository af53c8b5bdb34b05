"""Checks on the building blocks of payloads: URIs, names, date-times, GeoJSON."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.errors import BadRequestData
from thudo.ngsild.validate import (
    check_datetime,
    check_geojson,
    check_name,
    check_uri,
    is_uri,
    normalize_datetime,
    now_iso,
)


@pytest.mark.parametrize(
    "uri", ["urn:ngsi-ld:Room:1", "https://ex.org/a?b=c#d", "urn:x:O'Brien", "urn:x:ü"]
)
def test_uris(uri: str) -> None:
    assert check_uri(uri, "id") == uri


@pytest.mark.parametrize(
    "bad",
    [
        "room",
        "",
        "urn:a b",
        "urn:<a>",
        'urn:"a"',
        "urn:a\x00",
        "1urn:a",
        None,
        5,
        "urn:" + "a" * 3000,
    ],
)
def test_not_uris(bad: object) -> None:
    assert not is_uri(bad)
    with pytest.raises(BadRequestData, match=r"^entity id must be an absolute URI"):
        check_uri(bad, "entity id")


@pytest.mark.parametrize("char", list("<>\"'=;()\\ \t\n\x00\x7f"))
def test_forbidden_name_characters(char: str) -> None:
    with pytest.raises(BadRequestData) as info:
        check_name(f"a{char}b")
    assert repr(char) in info.value.detail


def test_names() -> None:
    assert check_name("temperature_2-x:y") == "temperature_2-x:y"
    with pytest.raises(BadRequestData, match="empty"):
        check_name("")
    with pytest.raises(BadRequestData, match="longer"):
        check_name("a" * 1025)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000000Z"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000000Z"),
        ("2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123456Z"),
        ("2024-05-01T10:00", "2024-05-01T10:00:00.000000Z"),
        ("2024-05-01", None),
        ("2024-13-01T00:00:00Z", None),
        ("yesterday", None),
    ],
)
def test_datetimes(text: str, normalized: str | None) -> None:
    assert normalize_datetime(text) == normalized


def test_check_datetime_names_the_member() -> None:
    with pytest.raises(BadRequestData, match="observedAt of 't'"):
        check_datetime("soon", "observedAt of 't'")


def test_now_iso_is_utc_milliseconds() -> None:
    stamp = now_iso()
    assert stamp.endswith("Z") and len(stamp) == len("2024-01-01T00:00:00.000Z")
    assert normalize_datetime(stamp) is not None


def test_now_iso_follows_the_clock() -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)
    stamps = [now_iso() for _ in range(2000)]
    after = dt.datetime.now(dt.UTC)
    parsed = [dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
    assert all(before <= p <= after for p in parsed), (before, stamps[0], stamps[-1], after)
    assert parsed == sorted(parsed)


_offsets = st.integers(-14 * 4, 14 * 4).map(lambda q: dt.timezone(dt.timedelta(minutes=15 * q)))
_stamps = st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1), timezones=_offsets)


@given(_stamps, _stamps)
def test_normalized_datetimes_sort_like_instants(a: dt.datetime, b: dt.datetime) -> None:
    na, nb = normalize_datetime(a.isoformat()), normalize_datetime(b.isoformat())
    assert na is not None and nb is not None
    assert dt.datetime.fromisoformat(na.replace("Z", "+00:00")) == a
    assert (na < nb) == (a < b)


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [1, 2]},
        {"type": "Point", "coordinates": [1, 2, 3]},
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
        {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [0, 0]}]},
    ],
)
def test_valid_geojson(geometry: dict) -> None:
    assert check_geojson(geometry, "g") == geometry


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [200, 0]},
        {"type": "Point", "coordinates": [True, 0]},
        {"type": "Point"},
        {"type": "Circle", "coordinates": [0, 0]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
        {"type": "MultiPolygon", "coordinates": "x"},
        {"type": "GeometryCollection", "geometries": "x"},
        [0, 0],
    ],
)
def test_invalid_geojson(geometry: object) -> None:
    with pytest.raises(BadRequestData, match=r"^g"):
        check_geojson(geometry, "g")
