"""Water: street flooding at the hotspots, the Red River at Long Biên and the Tô Lịch.

A street gauge is a bucket: rain on its catchment fills it, the drains empty it at a fixed
rate (about 25 mm an hour: "the drains handle about 50 mm in 2 hours"), and the water depth
on the street is the excess stored. The rivers answer slowly: a seasonal level, a yearly
flood wave on the Red River, and a lagged response to recent rain.
"""

from __future__ import annotations

import math

from thudo.simulate.noise import smooth, unit
from thudo.simulate.rain import RainField
from thudo.simulate.seasons import DAY, HOUR, day_fraction, monthly, year_of

__all__ = ["red_river_level", "street_depth", "to_lich_level"]

_STEP = 300.0
_WINDOW = 12 * HOUR
# Long Biên monthly mean levels (m): a few metres in the dry season, highest in Jul-Aug.
_RED_RIVER = (2.4, 2.1, 2.0, 2.2, 3.0, 4.6, 6.4, 7.0, 6.0, 4.3, 3.3, 2.7)


def street_depth(rain: RainField, key: int, t: float) -> float:
    """Water depth on the street at a hotspot gauge at ``t``, in metres (0 when dry)."""
    events = rain.events(t - _WINDOW, t)
    if not events:
        return 0.0
    drain = (20.0 + 8.0 * unit(rain.seed, key, 201)) * _STEP / HOUR
    depth_per_mm = 0.012 + 0.006 * unit(rain.seed, key, 202)
    factors = [(e, rain.local_factor(key, e)) for e in events]
    start = max(t - _WINDOW, min(e.start for e in events))
    stored = 0.0
    a = start
    while a < t:
        b = min(a + _STEP, t)
        inflow = sum((e.fallen(b) - e.fallen(a)) * f for e, f in factors)
        stored = max(0.0, stored + inflow - drain * (b - a) / _STEP)
        a = b
    return stored * depth_per_mm


def red_river_level(rain: RainField, key: int, t: float) -> float:
    """The Red River at Long Biên, in metres (alarm levels 9.5 / 10.5 / 11.5)."""
    seasonal = monthly(_RED_RIVER, t)
    wave = _flood_wave(rain.seed, t)
    recent = rain.weighted(key, t - 12 * HOUR, 3 * DAY, 10 * DAY)
    wander = 0.35 * smooth(rain.seed, key, t, 4 * DAY)
    return seasonal + wave + 0.012 * recent + wander


def _flood_wave(seed: int, t: float) -> float:
    # One main flood wave a year between mid-July and mid-September, 0.5 to 3.5 m high.
    year = year_of(t)
    centre = 0.54 + 0.17 * unit(seed, 211, year)
    height = 0.5 + 3.0 * math.pow(unit(seed, 212, year), 1.5)
    width = (4.0 + 4.0 * unit(seed, 213, year)) / 365.0
    x = (day_fraction(t) - centre) / width
    return height * math.exp(-x * x)


def to_lich_level(rain: RainField, key: int, t: float) -> float:
    """The Tô Lịch river, in metres: kept near 3.5 m, up to about 4.7 m in big floods."""
    recent = rain.weighted(key, t, 10 * HOUR, 3 * DAY)
    pumped = 3.4 + 0.08 * smooth(rain.seed, key, t, DAY)
    return pumped + 1.5 * (1.0 - math.exp(-recent / 150.0))
