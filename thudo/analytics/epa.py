"""The US EPA AQI for PM2.5, with the breakpoints as revised in 2024 (in force 6 May 2024).

Every result carries ``scale = "US EPA"``: the same concentration gives a very different
number on VN_AQI (20.3 µg/m³ is US AQI 72 but VN_AQI 41), so an unlabelled index misleads.
Only PM2.5 is covered; it is the only EPA table in the project's domain notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from thudo.analytics._numbers import check_concentration, exact, round_half_up

__all__ = ["EPA_PM25_2024", "EpaAqi", "epa_category", "epa_pm25_aqi"]

# (C_low, C_high, I_low, I_high) in µg/m³, 24-hour PM2.5, as revised in 2024. The 2012 table
# (12.0 as the top of Good, 500.4 as the top of the scale) is no longer in force.
EPA_PM25_2024: tuple[tuple[float, float, int, int], ...] = (
    (0.0, 9.0, 0, 50),
    (9.1, 35.4, 51, 100),
    (35.5, 55.4, 101, 150),
    (55.5, 125.4, 151, 200),
    (125.5, 225.4, 201, 300),
    (225.5, 325.4, 301, 500),
)
_CATEGORIES = (
    (50, "Good"),
    (100, "Moderate"),
    (150, "Unhealthy for Sensitive Groups"),
    (200, "Unhealthy"),
    (300, "Very Unhealthy"),
    (500, "Hazardous"),
)
_TOP = 500


@dataclass(frozen=True, slots=True)
class EpaAqi:
    """A US EPA AQI for PM2.5.

    ``concentration`` is the value after truncation to 0.1 µg/m³. ``beyond_index`` marks a
    concentration above 325.4 µg/m³, "beyond the AQI"; ``aqi`` is then held at 500.
    """

    aqi: int
    concentration: float
    category: str
    beyond_index: bool
    pollutant: str = "pm25"
    scale: str = "US EPA"
    table: str = "2024"


def epa_category(aqi: int) -> str:
    """The EPA category name of an integer AQI from 0 to 500."""
    if isinstance(aqi, bool) or not isinstance(aqi, int) or not 0 <= aqi <= _TOP:
        raise ValueError(f"a US EPA AQI is an integer from 0 to {_TOP}, got {aqi!r}")
    return next(name for high, name in _CATEGORIES if aqi <= high)


def epa_pm25_aqi(concentration: float) -> EpaAqi:
    """The US EPA AQI of a PM2.5 concentration (µg/m³) on the 2024 table.

    The concentration is truncated to 0.1 µg/m³, then ``I = (I_hi - I_lo) / (C_hi - C_lo) *
    (C - C_lo) + I_lo`` is rounded to the nearest integer, halves up.
    """
    number = check_concentration(concentration, "pm25")
    truncated = Fraction(math.floor(exact(number) * 10), 10)
    for c_low, c_high, i_low, i_high in EPA_PM25_2024:
        low, high = exact(c_low), exact(c_high)
        if truncated <= high:
            value = Fraction(i_high - i_low) / (high - low) * (truncated - low) + i_low
            aqi = round_half_up(value)
            return EpaAqi(aqi, float(truncated), epa_category(aqi), False)
    return EpaAqi(_TOP, float(truncated), epa_category(_TOP), True)
