"""Device payloads (IoT Agent JSON) to measures: values checked, timestamps bounded.

A payload is a JSON object of ``object_id: value`` with an optional ``TimeInstant`` (or
``observedAt``), or a list of such objects, each with its own time. One bad measure is
rejected and counted; the rest of the payload goes on. Only a payload that is not JSON at all,
or too large, is rejected whole.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from thudo.errors import BadRequestData, PayloadTooLarge
from thudo.ingest.devices import Device, MappedAttribute
from thudo.ngsild.model import INSTANCE_MEMBERS
from thudo.ngsild.validate import check_name, parse_datetime

__all__ = ["TIME_KEYS", "Limits", "Measure", "Parsed", "parse_payload"]

#: Payload keys that carry the observation time rather than a measure.
TIME_KEYS = ("TimeInstant", "observedAt", "timestamp")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a payload may hold (from the settings)."""

    max_bytes: int = 64 * 1024
    max_measures: int = 1000
    max_future_s: float = 600.0
    max_age_s: float = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class Measure:
    """One value of one attribute at one time (``observed_at`` in UTC, ISO 8601, ms)."""

    attr: MappedAttribute
    value: Any
    observed_at: str


@dataclass(slots=True)
class Parsed:
    """The measures of a payload and why the others were dropped."""

    measures: list[Measure] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)


def parse_payload(body: bytes, device: Device, now: float, limits: Limits) -> Parsed:
    """The measures of one device payload; BadRequestData if it is not a JSON object/list."""
    if len(body) > limits.max_bytes:
        raise PayloadTooLarge(f"the device payload is larger than {limits.max_bytes} bytes")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestData(f"the device payload is not valid JSON: {exc}") from None
    groups = doc if isinstance(doc, list) else [doc]
    if not groups or not all(isinstance(g, dict) for g in groups):
        raise BadRequestData("the device payload must be a JSON object or a list of objects")
    out = Parsed()
    default_time = _format(now)
    for group in groups:
        _parse_group(group, device, now, default_time, limits, out)
        if len(out.measures) > limits.max_measures:
            raise BadRequestData(f"more than {limits.max_measures} measures in one payload")
    return out


def _parse_group(
    group: dict[str, Any],
    device: Device,
    now: float,
    default_time: str,
    limits: Limits,
    out: Parsed,
) -> None:
    observed = _observed_at(group, now, default_time, limits, out)
    if observed is None:
        return
    for key, raw in group.items():
        if key in TIME_KEYS:
            continue
        attr = _attribute(device, key)
        if attr is None:
            out.rejected["unknown_attribute"] += 1
            continue
        value = _value(attr.kind, raw)
        if value is None:
            out.rejected["bad_value"] += 1
            continue
        out.measures.append(Measure(attr, value, observed))


def _observed_at(
    group: dict[str, Any], now: float, default: str, limits: Limits, out: Parsed
) -> str | None:
    raw = next((group[k] for k in TIME_KEYS if k in group), None)
    if raw is None:
        return default
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        out.rejected["bad_timestamp"] += _count_values(group)
        return None
    at = moment.timestamp()
    if at > now + limits.max_future_s:
        out.rejected["future_timestamp"] += _count_values(group)
        return None
    if at < now - limits.max_age_s:
        out.rejected["old_timestamp"] += _count_values(group)
        return None
    return _format(at)


def _count_values(group: dict[str, Any]) -> int:
    return sum(1 for k in group if k not in TIME_KEYS)


def _format(at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _attribute(device: Device, key: str) -> MappedAttribute | None:
    attr = device.by_object_id.get(key)
    if attr is not None or device.attributes:
        return attr
    # A device provisioned without any mapping takes measures under their own names.
    if key in INSTANCE_MEMBERS or key in ("id", "type", "scope", "@context"):
        return None
    try:
        check_name(key)
    except BadRequestData:
        return None
    return MappedAttribute(key, key, "any")


def _value(kind: str, raw: Any) -> Any:
    if kind == "number":
        return _number(raw)
    if kind == "text":
        return raw if isinstance(raw, str) and len(raw) <= 1024 else None
    if kind == "boolean":
        return raw if isinstance(raw, bool) else {"true": True, "false": False}.get(str(raw))
    if kind == "geo":
        return _point(raw)
    if isinstance(raw, bool) or (isinstance(raw, str) and len(raw) <= 1024):
        return raw
    return _number(raw)


def _number(raw: Any) -> float | int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if abs(raw) < 2**53 else None
    if isinstance(raw, str) and len(raw) <= 64:
        try:
            raw = float(raw)
        except ValueError:
            return None
    if isinstance(raw, float) and math.isfinite(raw):
        return raw
    return None


def _point(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str):
        lat, sep, lon = raw.partition(",")
        coords = [_number(lon.strip()), _number(lat.strip())] if sep else [None]
    elif isinstance(raw, dict) and raw.get("type") == "Point":
        given = raw.get("coordinates")
        coords = [_number(c) for c in given] if isinstance(given, list) else [None]
    elif isinstance(raw, list):
        coords = [_number(c) for c in raw]
    else:
        return None
    if len(coords) != 2 or any(c is None for c in coords):
        return None
    lon_v, lat_v = float(coords[0] or 0), float(coords[1] or 0)
    if not (-180 <= lon_v <= 180 and -90 <= lat_v <= 90):
        return None
    return {"type": "Point", "coordinates": [lon_v, lat_v]}
