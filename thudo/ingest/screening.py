"""Screening of measures as they arrive: out-of-range and flat-lined sensors.

A flagged measure is not dropped and not averaged in: the ingestor writes it to the
attribute's ``suspect`` dataset (a separate NGSI-LD instance, with a ``qualityFlag``), so it
stays visible in the entity and its history, while the default instance, the rollups and the
indices computed from them carry only good readings. The ranges are physical limits well
beyond anything Hanoi has measured; ``analytics.quality`` does the same screening on series.
"""

from __future__ import annotations

from collections import deque

from thudo.analytics.quality import Flag

__all__ = ["FLATLINE_RUN", "RANGES", "Screener"]

#: Physical ranges by attribute name (µg/m³ for pollutants, °C, %, m, mm per report).
RANGES: dict[str, tuple[float, float]] = {
    "pm25": (0.0, 1000.0),
    "pm10": (0.0, 2000.0),
    "no2": (0.0, 4000.0),
    "so2": (0.0, 3000.0),
    "o3": (0.0, 1500.0),
    "co": (0.0, 200_000.0),
    "temperature": (-20.0, 55.0),
    "relativeHumidity": (0.0, 100.0),
    "precipitation": (0.0, 300.0),
    "currentLevel": (0.0, 10.0),
    "waterLevel": (-10.0, 40.0),
    "windSpeed": (0.0, 90.0),
}
#: Identical consecutive readings that mark a stuck sensor (``analytics.quality``).
FLATLINE_RUN = 6
# Flat lines are looked for only in the noisy pollutant signals, where a stuck sensor is the
# known fault: temperature, humidity (100 % in rain), water levels and rain amounts can
# legitimately repeat for many readings at short reporting intervals.
_FLATLINE = frozenset({"pm25", "pm10", "no2", "so2", "o3", "co"})


class Screener:
    """Flags each new reading of a sensor, remembering the last few per (entity, attribute)."""

    def __init__(self, max_series: int = 100_000) -> None:
        self._recent: dict[tuple[str, str, str], deque[float]] = {}
        self._max_series = max_series

    def flag(self, tenant: str, entity_id: str, name: str, value: object) -> Flag:
        """The flag of this reading given the ones before it (``ok`` for unscreened names)."""
        limits = RANGES.get(name)
        if limits is None or not isinstance(value, int | float) or isinstance(value, bool):
            return Flag.OK
        low, high = limits
        if not low <= value <= high:
            self._recent.pop((tenant, entity_id, name), None)  # it ends a flat run
            return Flag.OUT_OF_RANGE
        if name not in _FLATLINE:
            return Flag.OK
        series = self._series((tenant, entity_id, name))
        series.append(float(value))
        # The last FLATLINE_RUN in-range readings all the same: the flat line of
        # analytics.quality.screen, checked without rescreening the window each time.
        if len(series) == FLATLINE_RUN and series.count(series[0]) == FLATLINE_RUN:
            return Flag.FLATLINE
        return Flag.OK

    def _series(self, key: tuple[str, str, str]) -> deque[float]:
        series = self._recent.get(key)
        if series is None:
            if len(self._recent) >= self._max_series:
                self._recent.clear()  # a bounded memory; screening restarts, nothing is lost
            series = self._recent[key] = deque(maxlen=FLATLINE_RUN)
        return series
