"""Geo-queries (clause 4.10): parsing ``georel``/``geometry``/``coordinates`` and the
exact spatial predicates, evaluated with shapely.

``near`` distances are in metres on the sphere: point to point by the haversine
formula, anything else in a local equirectangular projection centred on the reference
point, which is exact to well under 1% over the extent of a city.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from thudo.errors import BadRequestData, InvalidRequest
from thudo.ngsild.validate import check_geojson

__all__ = ["GEORELS", "GeoQuery", "geo_matches", "parse_geoq", "query_bbox"]

GEORELS = frozenset({"near", "within", "contains", "intersects", "equals", "disjoint", "overlaps"})
_QUERY_GEOMETRIES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
_EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = math.pi * _EARTH_RADIUS_M / 180.0
_DISTANCE = re.compile(r"^(maxDistance|minDistance)==(\d+(?:\.\d+)?)$")


@dataclass(frozen=True, slots=True)
class GeoQuery:
    """A parsed geo-query. ``geometry_json`` is the GeoJSON text of the reference shape."""

    georel: str
    geometry_json: str
    geoproperty: str
    max_distance: float | None = None
    min_distance: float | None = None

    @property
    def geometry(self) -> dict[str, Any]:
        """The reference geometry as a GeoJSON object."""
        out: dict[str, Any] = orjson.loads(self.geometry_json)
        return out


def _parse_georel(georel: str) -> tuple[str, float | None, float | None]:
    parts = georel.split(";")
    rel = parts[0]
    if rel not in GEORELS:
        raise BadRequestData(f"georel {rel!r} is not one of {', '.join(sorted(GEORELS))}")
    max_d = min_d = None
    for extra in parts[1:]:
        m = _DISTANCE.match(extra)
        if m is None or rel != "near":
            raise BadRequestData(
                f"georel modifier {extra!r} is not maxDistance==N or minDistance==N"
            )
        if m.group(1) == "maxDistance":
            max_d = float(m.group(2))
        else:
            min_d = float(m.group(2))
    if rel == "near" and max_d is None and min_d is None:
        raise BadRequestData("georel near needs ;maxDistance==N or ;minDistance==N (metres)")
    return rel, max_d, min_d


def _parse_coordinates(coordinates: Any) -> Any:
    if not isinstance(coordinates, str):
        return coordinates
    text = coordinates.strip()
    if not text.startswith("["):
        text = "[" + text + "]"
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadRequestData(f"coordinates {coordinates!r} is not a JSON array") from None


def parse_geoq(
    georel: Any,
    geometry: Any,
    coordinates: Any,
    geoproperty: str,
    max_points: int = 10_000,
) -> GeoQuery:
    """Check and combine the parts of a geo-query; every part is required."""
    missing = [
        n
        for n, v in (("georel", georel), ("geometry", geometry), ("coordinates", coordinates))
        if v in (None, "")
    ]
    if missing:
        raise BadRequestData(f"geo-query is missing {', '.join(missing)}")
    if not isinstance(georel, str) or not isinstance(geometry, str):
        raise BadRequestData("georel and geometry must be strings")
    rel, max_d, min_d = _parse_georel(georel)
    if geometry not in _QUERY_GEOMETRIES:
        raise BadRequestData(f"geometry {geometry!r} is not a GeoJSON geometry type")
    coords = _parse_coordinates(coordinates)
    if _count_numbers(coords) > 3 * max_points:
        raise BadRequestData(f"coordinates have more than {max_points} positions")
    geo = check_geojson({"type": geometry, "coordinates": coords}, "geo-query geometry")
    if rel == "near" and geometry != "Point":
        raise BadRequestData("georel near needs a Point geometry")
    text = orjson.dumps(geo).decode()
    return GeoQuery(rel, text, geoproperty, max_d, min_d)


#: Deeper coordinates than any GeoJSON geometry has (a MultiPolygon nests 4 lists).
_MAX_NESTING = 8


def _count_numbers(value: Any) -> int:
    """The leaves of nested coordinate lists, counted without recursion (a thousand
    brackets would exhaust the stack); nesting deeper than GeoJSON's is refused."""
    count, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if level > _MAX_NESTING:
            raise BadRequestData("coordinates are nested deeper than any GeoJSON geometry")
        if isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
        else:
            count += 1
    return count


@functools.lru_cache(maxsize=256)
def _reference(geometry_json: str) -> BaseGeometry:
    return shape(orjson.loads(geometry_json))


def query_bbox(q: GeoQuery) -> tuple[float, float, float, float] | None:
    """A lon/lat box that holds every match, for an R-tree; None when none exists."""
    if q.georel == "disjoint" or (q.georel == "near" and q.max_distance is None):
        return None
    minx, miny, maxx, maxy = _reference(q.geometry_json).bounds
    if q.georel == "near" and q.max_distance is not None:
        dlat = q.max_distance / _M_PER_DEG
        coslat = math.cos(math.radians(max(abs(miny), abs(maxy))))
        dlon = 360.0 if coslat < 1e-6 else dlat / coslat
        return (minx - dlon, miny - dlat, maxx + dlon, maxy + dlat)
    return (minx, miny, maxx, maxy)


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def distance_m(reference: BaseGeometry, target: BaseGeometry) -> float:
    """Distance in metres between a reference point and any geometry."""
    lon0, lat0 = reference.x, reference.y
    if target.geom_type == "Point":
        return _haversine(lon0, lat0, target.x, target.y)
    k = math.cos(math.radians(lat0)) * _M_PER_DEG

    def project(coords: Any) -> Any:
        c = coords.copy()
        c[:, 0] = (c[:, 0] - lon0) * k
        c[:, 1] = (c[:, 1] - lat0) * _M_PER_DEG
        return c

    projected = shapely.transform(target, project)
    return float(projected.distance(shapely.Point(0.0, 0.0)))


def geo_matches(q: GeoQuery, target: BaseGeometry) -> bool:
    """Whether a stored geometry satisfies the geo-query (the exact predicate)."""
    ref = _reference(q.geometry_json)
    rel = q.georel
    if rel == "near":
        d = distance_m(ref, target)
        if q.max_distance is not None and d > q.max_distance:
            return False
        return not (q.min_distance is not None and d < q.min_distance)
    if rel == "within":
        return bool(target.within(ref))
    if rel == "contains":
        return bool(target.contains(ref))
    if rel == "intersects":
        return bool(target.intersects(ref))
    if rel == "equals":
        return bool(target.equals(ref))
    if rel == "disjoint":
        return bool(target.disjoint(ref))
    if rel == "overlaps":
        return bool(target.overlaps(ref))
    raise InvalidRequest(f"georel {rel!r} is not supported")
