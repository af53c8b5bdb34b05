"""Checks on the building blocks of NGSI-LD payloads: URIs, names, dates, GeoJSON.

Each check raises a ``thudo.errors`` error whose message names the offending part.
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, datetime
from typing import Any

from thudo.errors import BadRequestData

__all__ = [
    "GEOJSON_TYPES",
    "check_datetime",
    "check_geojson",
    "check_name",
    "check_uri",
    "is_uri",
    "normalize_datetime",
    "now_iso",
]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]+$")
# Clause 4.6.2: attribute and type names may not contain these characters.
_FORBIDDEN_NAME = re.compile(r"[\s<>\"'=;()\x00-\x1f\x7f\\]")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
GEOJSON_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)


def is_uri(value: Any) -> bool:
    """True if ``value`` is an absolute URI (a scheme, a colon and no forbidden character)."""
    return isinstance(value, str) and len(value) < 2048 and _URI.match(value) is not None


def check_uri(value: Any, what: str) -> str:
    """Return ``value`` if it is an absolute URI, else raise BadRequestData naming ``what``."""
    if not is_uri(value):
        raise BadRequestData(f"{what} must be an absolute URI, got {_show(value)}")
    return str(value)


def check_name(name: str, what: str = "attribute name") -> str:
    """Check an attribute or type name for the characters clause 4.6.2 forbids."""
    if not name:
        raise BadRequestData(f"{what} must not be empty")
    if len(name) > 1024:
        raise BadRequestData(f"{what} is longer than 1024 characters")
    bad = _FORBIDDEN_NAME.search(name)
    if bad is not None:
        raise BadRequestData(f"{what} {_show(name)} contains the forbidden character {bad[0]!r}")
    return name


def parse_datetime(value: str) -> datetime | None:
    """Parse an ISO 8601 date-time; None if it is not one."""
    m = _DATETIME.match(value)
    if m is None:
        return None
    text = value.replace(" ", "T").replace(",", ".")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac = m.group(7)
    if frac is not None and len(frac) > 6:
        text = text.replace("." + frac, "." + frac[:6])
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return dt


def check_datetime(value: Any, what: str) -> str:
    """Return ``value`` if it is an ISO 8601 date-time string, else raise BadRequestData."""
    if not isinstance(value, str) or parse_datetime(value) is None:
        raise BadRequestData(f"{what} must be an ISO 8601 date-time, got {_show(value)}")
    return value


# Cached: on the write path the same system timestamp is normalized for every attribute.
@functools.lru_cache(maxsize=8192)
def normalize_datetime(value: str) -> str | None:
    """The UTC form ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` of a date-time, which sorts as text."""
    dt = parse_datetime(value)
    if dt is None:
        return None
    try:
        # isoformat writes four-digit years: strftime("%Y") writes 999 for 0999, which
        # then sorts after 2024 as text.
        return dt.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds") + "Z"
    except (OverflowError, ValueError):
        return None  # beyond the calendar once moved to UTC


# (second, "YYYY-MM-DDTHH:MM:SS") of the last call: formatting a time costs microseconds
# and runs several times per write, so the date and time part is formatted once a second.
_last_second: tuple[int, str] = (-1, "")
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def now_iso() -> str:
    """The current time as NGSI-LD writes system times (UTC, milliseconds)."""
    global _last_second
    now = time.time()
    second = int(now)
    cached = _last_second
    if cached[0] != second:
        cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _last_second = cached  # one tuple, swapped atomically: safe across threads
    return cached[1] + _MILLIS[int((now - second) * 1000)]


def _is_position(p: Any) -> bool:
    return (
        isinstance(p, list)
        and 2 <= len(p) <= 3
        and all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
        and -180.0 <= p[0] <= 180.0
        and -90.0 <= p[1] <= 90.0
    )


def _check_ring(ring: Any, what: str) -> None:
    if not isinstance(ring, list) or len(ring) < 4 or not all(_is_position(p) for p in ring):
        raise BadRequestData(f"{what}: a polygon ring needs at least 4 [lon, lat] positions")
    if ring[0] != ring[-1]:
        raise BadRequestData(f"{what}: a polygon ring must end where it starts")


def _check_coordinates(kind: str, coords: Any, what: str) -> None:
    if kind == "Point":
        ok = _is_position(coords)
    elif kind in ("MultiPoint", "LineString"):
        ok = isinstance(coords, list) and all(_is_position(p) for p in coords)
        ok = ok and (kind == "MultiPoint" or len(coords) >= 2)
    elif kind == "MultiLineString":
        ok = isinstance(coords, list) and all(
            isinstance(line, list) and len(line) >= 2 and all(_is_position(p) for p in line)
            for line in coords
        )
    elif kind == "Polygon":
        if not isinstance(coords, list) or not coords:
            raise BadRequestData(f"{what}: Polygon coordinates must be a list of rings")
        for ring in coords:
            _check_ring(ring, what)
        return
    else:  # MultiPolygon
        if not isinstance(coords, list):
            raise BadRequestData(f"{what}: MultiPolygon coordinates must be a list of polygons")
        for poly in coords:
            _check_coordinates("Polygon", poly, what)
        return
    if not ok:
        raise BadRequestData(f"{what}: invalid coordinates for a {kind}")


def check_geojson(value: Any, what: str, depth: int = 0) -> dict[str, Any]:
    """Check that ``value`` is a GeoJSON geometry (RFC 7946) with lon/lat in range."""
    if not isinstance(value, dict):
        raise BadRequestData(f"{what} must be a GeoJSON geometry object")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in GEOJSON_TYPES:
        raise BadRequestData(f"{what} has an unknown GeoJSON type {_show(kind)}")
    if kind == "GeometryCollection":
        parts = value.get("geometries")
        if not isinstance(parts, list) or depth > 4:
            raise BadRequestData(f"{what}: GeometryCollection needs a list of geometries")
        for part in parts:
            check_geojson(part, what, depth + 1)
        return value
    if "coordinates" not in value:
        raise BadRequestData(f"{what}: a {kind} needs coordinates")
    _check_coordinates(str(kind), value["coordinates"], what)
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
