"""What the analytics say about one entity, as NGSI-LD attributes to write back.

The functions here take plain inputs (hourly means, a level, a rain total) and return
attributes in short-name normalized form; ``writeback`` expands and writes them. Every time is
the observation time of the data, not the clock, so history backfilled or simulated at speed
gets the index of its own hour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from thudo.analytics.averages import daily_max, daily_mean, max_rolling_mean, nowcast
from thudo.analytics.cap import HANOI
from thudo.analytics.epa import epa_pm25_aqi
from thudo.analytics.flood import (
    LONG_BIEN,
    SON_TAY,
    THUONG_CAT,
    RiverGauge,
    StreetThresholds,
    river_alarm,
    street_flood_status,
)
from thudo.analytics.qcvn import qcvn_exceedances
from thudo.analytics.rain import DRAINAGE_LIMIT_MM, HOTSPOT_LIMIT_MM
from thudo.analytics.vnaqi import VnAqi, daily_vn_aqi, hourly_vn_aqi

__all__ = [
    "DERIVED",
    "POLLUTANTS",
    "Attrs",
    "air_quality",
    "hour_key",
    "means_24h",
    "rain",
    "river",
    "street_flood",
]

Attrs = dict[str, dict[str, Any]]
POLLUTANTS = ("pm25", "pm10", "no2", "so2", "o3", "co")
#: Attributes the pipeline writes: a change to only these does not start it again.
DERIVED = frozenset(
    {
        "airQualityIndex",
        "airQualityLevel",
        "vnAqiHourly",
        "vnAqiDaily",
        "epaAqi",
        "qcvnExceedances",
        "floodLevelStatus",
        "alarmLevel",
        "precipitation2h",
    }
)
_HOUR = timedelta(hours=1)
# Street gauges without their own alertLevel/dangerLevel (metres) use these.
_STREET_DEFAULT = StreetThresholds(alert_cm=15, danger_cm=30)
_RIVER_GAUGES: dict[str, RiverGauge] = {
    "long-bien": LONG_BIEN,
    "son-tay": SON_TAY,
    "thuong-cat": THUONG_CAT,
}


def hour_key(moment: datetime) -> int:
    """The hour of a moment, as hours since the epoch (how ``means`` are keyed)."""
    return int(moment.timestamp()) // 3600


# Hours are numbered rather than formatted: the daily index alone looks up ~200 of them.
def _series(means: Mapping[int, float], last_hour: int, hours: int) -> list[float | None]:
    """``hours`` hourly means ending with ``last_hour``'s, oldest first, None when missing."""
    return [means.get(last_hour - i) for i in range(hours - 1, -1, -1)]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _index_attr(index: VnAqi, observed_at: str, period: str) -> dict[str, Any]:
    subs = {s.column: s.aqi for s in index.sub_indices}
    return {
        "type": "Property",
        "value": index.aqi,
        "observedAt": observed_at,
        "scale": {"type": "Property", "value": "VN_AQI"},
        "period": {"type": "Property", "value": period},
        "dominantPollutant": {"type": "Property", "value": index.dominant},
        "subIndices": {"type": "JsonProperty", "json": subs},
    }


def air_quality(
    means: Mapping[str, Mapping[int, float]],
    at: datetime,
    observed_at: str,
    daily: bool = True,
    day_means: Mapping[str, float] | None = None,
) -> Attrs:
    """VN_AQI (hourly and, with ``daily``, daily), US EPA AQI and QCVN exceedances.

    ``means`` maps pollutant → hour (``hour_key``) → mean for at least the last 48 hours
    before ``at``, the time of the newest reading; ``day_means`` the 24-hour means
    (``means_24h``), computed here when not given. Nothing is returned for what lacks data.
    """
    last = hour_key(at)
    pm25 = _series(means.get("pm25", {}), last, 12)
    pm10 = _series(means.get("pm10", {}), last, 12)
    now = {p: means.get(p, {}).get(last) for p in ("o3", "no2", "so2", "co")}
    out: Attrs = {}
    hourly = hourly_vn_aqi(pm25=pm25, pm10=pm10, **now)
    if hourly is not None:
        out.update(_hourly_attrs(hourly, observed_at))
    cast = nowcast(pm25, what="pm25")
    if cast is not None:
        epa = epa_pm25_aqi(cast.value)
        out["epaAqi"] = {
            "type": "Property",
            "value": epa.aqi,
            "observedAt": observed_at,
            "scale": {"type": "Property", "value": f"{epa.scale} AQI (PM2.5, {epa.table} table)"},
            "category": {"type": "Property", "value": epa.category},
        }
    if daily:
        out.update(_daily_attrs(means, at))
    if day_means is None:
        day_means = means_24h(means, at)
    out["qcvnExceedances"] = _qcvn(means, last, at, observed_at, day_means)
    return out


def _hourly_attrs(index: VnAqi, observed_at: str) -> Attrs:
    band = index.band
    return {
        "airQualityIndex": _index_attr(index, observed_at, "PT1H"),
        "vnAqiHourly": _index_attr(index, observed_at, "PT1H"),
        "airQualityLevel": {
            "type": "Property",
            "value": band.name_vi,
            "observedAt": observed_at,
            "nameEn": {"type": "Property", "value": band.name_en},
            "colour": {"type": "Property", "value": band.hex},
            "healthAdvice": {"type": "Property", "value": band.advice_general},
            "sensitiveGroupsAdvice": {"type": "Property", "value": band.advice_sensitive},
        },
    }


def _daily_attrs(means: Mapping[str, Mapping[int, float]], at: datetime) -> Attrs:
    """The daily VN_AQI of the local (Hanoi) day of ``at`` if it has enough hours, else of
    the day before."""
    local = at.astimezone(HANOI)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    for day in (today, today - timedelta(days=1)):
        index = _daily(means, day)
        if index is not None:
            attr = _index_attr(index, _iso(min(day + timedelta(days=1), at)), "P1D")
            attr["date"] = {"type": "Property", "value": day.date().isoformat()}
            return {"vnAqiDaily": attr}
    return {}


def _daily(means: Mapping[str, Mapping[int, float]], day: datetime) -> VnAqi | None:
    first = hour_key(day)
    hours = range(first, first + 24)

    def day_of(p: str) -> list[float | None]:
        series = means.get(p, {})
        return [series.get(h) for h in hours]

    o3_window = [means.get("o3", {}).get(first - i) for i in range(7, 0, -1)]
    return daily_vn_aqi(
        pm25=daily_mean(day_of("pm25"), what="pm25"),
        pm10=daily_mean(day_of("pm10"), what="pm10"),
        o3_max_1h=daily_max(day_of("o3"), what="o3"),
        o3_max_8h=max_rolling_mean(o3_window + day_of("o3"), what="o3"),
        no2_max_1h=daily_max(day_of("no2"), what="no2"),
        so2_max_1h=daily_max(day_of("so2"), what="so2"),
        co_max_1h=daily_max(day_of("co"), what="co"),
    )


def means_24h(means: Mapping[str, Mapping[int, float]], at: datetime) -> dict[str, float]:
    """The 24-hour means (to the hour of ``at``) QCVN 05:2023 limits, where there are enough
    hours; they move little within an hour, so callers may keep them for the hour."""
    last = hour_key(at)
    out: dict[str, float] = {}
    for pollutant in ("pm25", "pm10", "so2", "no2"):
        mean = daily_mean(_series(means.get(pollutant, {}), last, 24), what=pollutant)
        if mean is not None:
            out[pollutant] = mean
    return out


def _qcvn(
    means: Mapping[str, Mapping[int, float]],
    last: int,
    moment: datetime,
    at: str,
    day_means: Mapping[str, float],
) -> dict[str, Any]:
    averages: dict[str, dict[str, float]] = {}
    for pollutant in ("so2", "no2", "o3", "co"):
        value = means.get(pollutant, {}).get(last)
        if value is not None:
            averages.setdefault(pollutant, {})["1h"] = value
    for pollutant, mean in day_means.items():
        averages.setdefault(pollutant, {})["24h"] = mean
    found = qcvn_exceedances(averages, on=moment.astimezone(HANOI).date())
    listed = [
        {
            "pollutant": c.pollutant,
            "period": c.period,
            "concentration": round(c.concentration, 1),
            "limit": c.limit,
            "ratio": round(c.ratio, 2),
        }
        for c in found
    ]
    return {
        "type": "JsonProperty",
        "json": listed,
        "observedAt": at,
        "standard": {"type": "Property", "value": "QCVN 05:2023/BTNMT"},
    }


def street_flood(depth_m: float, alert_m: float | None, danger_m: float | None, at: str) -> Attrs:
    """Normal, Alert or Danger for a street gauge's water depth."""
    thresholds = _STREET_DEFAULT
    if alert_m is not None and danger_m is not None and 0 < alert_m < danger_m:
        thresholds = StreetThresholds(alert_cm=alert_m * 100, danger_cm=danger_m * 100)
    status = street_flood_status(max(depth_m, 0.0) * 100, thresholds)
    return {"floodLevelStatus": {"type": "Property", "value": str(status.status), "observedAt": at}}


def river(entity_id: str, level_m: float, levels: Any, at: str) -> Attrs:
    """The BĐ alarm level of a river gauge: a known Hanoi gauge, or ``alarmLevels`` given."""
    gauge = next((g for key, g in _RIVER_GAUGES.items() if entity_id.endswith(key)), None)
    if isinstance(levels, list) and len(levels) == 3:
        with contextlib.suppress(TypeError, ValueError):
            gauge = RiverGauge(entity_id, (float(levels[0]), float(levels[1]), float(levels[2])))
    if gauge is None:
        return {}
    status = river_alarm(level_m, gauge)
    return {
        "alarmLevel": {
            "type": "Property",
            "value": status.alarm,
            "observedAt": at,
            "label": {"type": "Property", "value": status.label},
        }
    }


def rain(total_mm: float, at: str) -> Attrs:
    """The 2-hour rain total against the drains' ~50 mm in 2 hours."""
    if total_mm > HOTSPOT_LIMIT_MM:
        status = "extreme"
    elif total_mm > DRAINAGE_LIMIT_MM:
        status = "hotspots_flood"
    else:
        status = "within_capacity"
    return {
        "precipitation2h": {
            "type": "Property",
            "value": round(total_mm, 2),
            "unitCode": "MMT",
            "observedAt": at,
            "rainStatus": {"type": "Property", "value": status},
        }
    }
