"""The temporal representation (clause 4.5.7-4.5.9, 5.7.3-5.7.4): time filters, durations,
aggregation methods and the rendering of temporal entities."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thudo.errors import BadRequestData
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.model import VALUE_MEMBER, Instance
from thudo.ngsild.render import RenderOptions, render_attribute
from thudo.ngsild.validate import normalize_datetime

__all__ = [
    "AGGREGATION_METHODS",
    "Aggregation",
    "TemporalEntity",
    "TimeFilter",
    "cut_to_range",
    "parse_aggregation",
    "parse_duration",
    "parse_time_filter",
    "render_temporal",
]

AGGREGATION_METHODS = (
    "totalCount",
    "distinctCount",
    "sum",
    "avg",
    "min",
    "max",
    "stddev",
    "sumsq",
)
_TIME_PROPERTIES = frozenset({"observedAt", "createdAt", "modifiedAt", "deletedAt"})
_DURATION = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
# Calendar units are taken as fixed lengths (a month as 30 days, a year as 365 days).
_UNIT_SECONDS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)
_VALUES_KEY = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs",
    "JsonProperty": "jsons",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
}


@dataclass(frozen=True, slots=True)
class TimeFilter:
    """``timerel``/``timeAt``/``endTimeAt`` on a time property, and ``lastN``."""

    timerel: str | None = None
    time_at: str | None = None
    end_time_at: str | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None

    def bounds(self) -> tuple[str | None, str | None]:
        """The half-open interval [start, end) that instances must fall in."""
        if self.timerel == "after":
            return self.time_at, None
        if self.timerel == "before":
            return None, self.time_at
        if self.timerel == "between":
            return self.time_at, self.end_time_at
        return None, None


def _stamp(params: Mapping[str, Any], name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    stamp = normalize_datetime(str(raw))
    if stamp is None:
        raise BadRequestData(f"{name} {raw!r} is not an ISO 8601 date-time")
    return stamp


#: lastN: a plain decimal number of at most nine digits.
_LAST_N = re.compile(r"[0-9]{1,9}")
#: The longest aggregation period: 1,000 years (the calendar ends in 9999).
MAX_PERIOD_SECONDS = 1000 * 366 * 86400.0


def parse_time_filter(params: Mapping[str, Any], required: bool = False) -> TimeFilter:
    """The time filter of a temporal query (clause 4.11)."""
    timerel = params.get("timerel")
    time_at = _stamp(params, "timeAt")
    end = _stamp(params, "endTimeAt")
    prop = params.get("timeproperty", "observedAt")
    if prop not in _TIME_PROPERTIES:
        raise BadRequestData(f"timeproperty {prop!r} is not one of {sorted(_TIME_PROPERTIES)}")
    if timerel is None:
        if required:
            raise BadRequestData("a temporal query needs timerel and timeAt")
        if time_at is not None:
            raise BadRequestData("timeAt needs timerel")
    elif timerel not in ("before", "after", "between"):
        raise BadRequestData(f"timerel {timerel!r} is not before, after or between")
    elif time_at is None:
        raise BadRequestData(f"timerel={timerel} needs timeAt")
    elif timerel == "between" and (end is None or end <= time_at):
        raise BadRequestData("timerel=between needs an endTimeAt later than timeAt")
    last_n = params.get("lastN")
    n: int | None = None
    if last_n is not None:
        # isdigit() alone lets "²" and thousands of digits through to int().
        if not _LAST_N.fullmatch(str(last_n)) or int(last_n) < 1:
            raise BadRequestData(f"lastN must be a positive integer, got {last_n!r}")
        n = int(last_n)
    return TimeFilter(timerel, time_at, end, str(prop), n)


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as ``PT1H`` or ``P1D``."""
    m = _DURATION.match(text)
    if m is None or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestData(f"aggrPeriodDuration {text!r} is not an ISO 8601 duration")
    seconds = sum(float(v) * u for v, u in zip(m.groups(), _UNIT_SECONDS, strict=True) if v)
    if seconds <= 0:
        raise BadRequestData(f"aggrPeriodDuration {text!r} must be longer than zero")
    if not seconds <= MAX_PERIOD_SECONDS:  # also NaN and infinity, from hundreds of digits
        raise BadRequestData(f"aggrPeriodDuration {text!r} is longer than 1,000 years")
    return seconds


@dataclass(frozen=True, slots=True)
class Aggregation:
    """``aggrMethods`` over periods of ``aggrPeriodDuration`` (clause 4.5.19)."""

    methods: tuple[str, ...]
    period_s: float | None = None


def parse_aggregation(params: Mapping[str, Any]) -> Aggregation:
    """The aggregation asked for with options=aggregatedValues."""
    raw = params.get("aggrMethods")
    if not raw:
        raise BadRequestData("aggregatedValues needs aggrMethods")
    methods = tuple(m.strip() for m in str(raw).split(",") if m.strip())
    unknown = [m for m in methods if m not in AGGREGATION_METHODS]
    if unknown or not methods:
        raise BadRequestData(f"aggrMethods {unknown} are not among {list(AGGREGATION_METHODS)}")
    duration = params.get("aggrPeriodDuration")
    period = parse_duration(str(duration)) if duration not in (None, "P0D", "PT0S") else None
    return Aggregation(methods, period)


@dataclass(slots=True)
class TemporalEntity:
    """An entity's history: attribute instances by attribute, oldest first."""

    id: str
    types: list[str]
    scope: list[str] | None = None
    created_at: str | None = None
    modified_at: str | None = None
    deleted_at: str | None = None
    attrs: dict[str, list[Instance]] = field(default_factory=dict)
    aggregates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    truncated: bool = False


def _simplified(instances: list[Instance], ctx: ActiveContext) -> list[dict[str, Any]]:
    """temporalValues (clause 4.5.9): one object per datasetId with [value, time] pairs."""
    groups: dict[str | None, list[Instance]] = {}
    for inst in instances:
        groups.setdefault(inst.get("datasetId"), []).append(inst)
    out = []
    for ds, group in groups.items():
        kind = group[0].get("type", "Property")
        member = VALUE_MEMBER.get(kind, "value")
        obj: dict[str, Any] = {
            "type": kind,
            _VALUES_KEY.get(kind, "values"): [
                [_simple(kind, member, i.get(member), ctx), _when(i)] for i in group
            ],
        }
        if ds is not None:
            obj["datasetId"] = ds
        out.append(obj)
    return out


def _when(inst: Instance) -> Any:
    return inst.get("observedAt") or inst.get("deletedAt") or inst.get("modifiedAt")


def _simple(kind: str, member: str, value: Any, ctx: ActiveContext) -> Any:
    """One value of temporalValues: wrapped in its member for the newer attribute types."""
    if kind in ("LanguageProperty", "JsonProperty", "VocabProperty", "ListRelationship"):
        if kind == "VocabProperty" and value != "urn:ngsi-ld:null":
            value = (
                [ctx.compact(v) for v in value] if isinstance(value, list) else ctx.compact(value)
            )
        return {member: value}
    return value


def render_temporal(
    entity: TemporalEntity, ctx: ActiveContext, opts: RenderOptions, mode: str
) -> dict[str, Any]:
    """A temporal entity as normalized, temporalValues or aggregatedValues."""
    out: dict[str, Any] = {}
    if _keep_member("id", opts):
        out["id"] = entity.id
    types = [ctx.compact(t) for t in entity.types]
    if _keep_member("type", opts):
        out["type"] = types[0] if len(types) == 1 else types
    if entity.scope:
        out["scope"] = entity.scope[0] if len(entity.scope) == 1 else entity.scope
    if opts.sys_attrs and entity.created_at:
        out["createdAt"] = entity.created_at
        out["modifiedAt"] = entity.modified_at
    if mode == "aggregatedValues":
        for iri, groups in entity.aggregates.items():
            out[ctx.compact(iri)] = groups[0] if len(groups) == 1 else groups
        return out
    for iri, instances in entity.attrs.items():
        if opts.dataset_ids is not None:
            instances = [i for i in instances if i.get("datasetId") in opts.dataset_ids]
            if not instances and not entity.truncated:
                continue
        name = ctx.compact(iri)
        if not _keep_member(iri, opts):
            continue
        if not instances:
            out[name] = {"type": "Property", "values": []} if mode == "temporalValues" else []
            continue
        if mode == "temporalValues":
            parts = _simplified(instances, ctx)
            out[name] = parts[0] if len(parts) == 1 else parts
        else:
            rendered = render_attribute(instances, ctx, opts)
            out[name] = rendered if isinstance(rendered, list) else [rendered]
    if (
        opts.dataset_ids is not None
        and entity.attrs
        and not any(ctx.compact(iri) in out for iri in entity.attrs)
    ):
        return {}  # the datasetId filter left nothing of this entity
    return out


def _keep_member(name: str, opts: RenderOptions) -> bool:
    if opts.pick is not None and name not in opts.pick:
        return False
    return not (opts.omit is not None and name in opts.omit)


def stddev(count: int, total: float, sumsq: float) -> float:
    """Population standard deviation from count, sum and sum of squares."""
    if count == 0:
        return 0.0
    mean = total / count
    return math.sqrt(max(0.0, sumsq / count - mean * mean))


def _ts(inst: Instance, prop: str) -> str:
    raw = inst.get(prop) if prop != "observedAt" else inst.get("observedAt")
    return normalize_datetime(str(raw)) or "" if raw else ""


def _display(stamp: str) -> str:
    """A normalized time stamp without needless fractional zeros."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    frac = frac.rstrip("0")
    return head + ("." + frac if frac else "") + "Z"


def cut_to_range(
    entities: list[TemporalEntity], truncated: list[tuple[int, str]], time: TimeFilter
) -> str:
    """Trim every attribute to the range covered by the truncated ones (clause 6.3.10) and
    return the Content-Range header, ``date-time <start>-<end>/<size>``.

    Without lastN the range runs forward from the start and ends at the earliest last
    instance kept among the truncated attributes; with lastN it runs backwards.
    """
    prop = time.timeproperty
    kept_edges = []
    for index, attr in truncated:
        instances = entities[index].attrs[attr]
        edge = instances[-1] if time.last_n is None else instances[0]
        kept_edges.append(_ts(edge, prop))
    end = min(kept_edges) if time.last_n is None else max(kept_edges)
    for entity in entities:
        entity.truncated = True
        for attr, instances in entity.attrs.items():
            if time.last_n is None:
                entity.attrs[attr] = [i for i in instances if _ts(i, prop) <= end]
            else:
                entity.attrs[attr] = [i for i in instances if _ts(i, prop) >= end]
    returned = [_ts(i, prop) for e in entities for insts in e.attrs.values() for i in insts]
    start = _range_start(time, returned)
    size = "*" if time.last_n is None else str(time.last_n)
    return f"date-time {_display(start)}-{_display(end)}/{size}"


def _range_start(time: TimeFilter, returned: list[str]) -> str:
    if time.last_n is None:
        if time.timerel in ("after", "between") and time.time_at:
            return time.time_at
        return min(returned) if returned else ""
    if time.timerel == "before" and time.time_at:
        return time.time_at
    if time.timerel == "between" and time.end_time_at:
        return time.end_time_at
    return max(returned) if returned else ""
