"""Ambient air limits of QCVN 05:2023/BTNMT (in force 12 Sep 2023) and their exceedances.

Limits are in µg/Nm³; averages are compared as given. A limit is exceeded when the average
is above it: an average equal to the limit complies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from thudo.analytics._numbers import check_concentration, exact

__all__ = [
    "QCVN_LIMITS",
    "LimitCheck",
    "Period",
    "check_qcvn",
    "qcvn_exceedances",
    "qcvn_limit",
]

Period = Literal["1h", "8h", "24h", "year"]
_PERIODS: tuple[Period, ...] = ("1h", "8h", "24h", "year")

QCVN_LIMITS: dict[str, dict[Period, float]] = {
    "so2": {"1h": 350, "24h": 125, "year": 50},
    "co": {"1h": 30000, "8h": 10000},
    "no2": {"1h": 200, "24h": 100, "year": 40},
    "o3": {"1h": 200, "8h": 120},
    "tsp": {"1h": 300, "24h": 200, "year": 100},
    "pm10": {"24h": 100, "year": 50},
    "pm25": {"24h": 50, "year": 25},
}
# The 24-hour PM2.5 limit drops from 50 to 45 µg/Nm³ on 1 Jan 2026.
_PM25_24H_2026 = 45.0
_PM25_STEP = dt.date(2026, 1, 1)


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One average against its limit: whether it exceeds it, by how much and how many times."""

    pollutant: str
    period: Period
    concentration: float
    limit: float
    exceeded: bool
    excess: float
    ratio: float


def qcvn_limit(pollutant: str, period: str, *, on: dt.date) -> float:
    """The QCVN 05:2023 limit for ``pollutant`` over ``period`` in force on the date ``on``."""
    limits = QCVN_LIMITS.get(pollutant)
    if limits is None:
        raise ValueError(
            f"QCVN 05:2023 has no limits for {pollutant!r}; expected one of {sorted(QCVN_LIMITS)}"
        )
    known = _as_period(period)
    if known not in limits:
        raise ValueError(
            f"QCVN 05:2023 sets no {period!r} limit for {pollutant}; it sets {sorted(limits)}"
        )
    if not isinstance(on, dt.date):
        raise ValueError(f"on must be a date, got {on!r}")
    day = on.date() if isinstance(on, dt.datetime) else on
    if pollutant == "pm25" and known == "24h" and day >= _PM25_STEP:
        return _PM25_24H_2026
    return float(limits[known])


def check_qcvn(
    averages: Mapping[str, Mapping[str, float]], *, on: dt.date
) -> tuple[LimitCheck, ...]:
    """Every given average checked against its limit, e.g. ``{"pm25": {"24h": 52.0}}``."""
    checks: list[LimitCheck] = []
    for pollutant, by_period in averages.items():
        for period, value in by_period.items():
            limit = qcvn_limit(pollutant, period, on=on)
            known = _as_period(period)
            number = check_concentration(value, f"{pollutant} {period}")
            excess = exact(number) - exact(limit)
            checks.append(
                LimitCheck(
                    pollutant=pollutant,
                    period=known,
                    concentration=number,
                    limit=limit,
                    exceeded=excess > 0,
                    excess=float(max(excess, Fraction(0))),
                    ratio=number / limit,
                )
            )
    return tuple(checks)


def qcvn_exceedances(
    averages: Mapping[str, Mapping[str, float]], *, on: dt.date
) -> tuple[LimitCheck, ...]:
    """Only the averages that exceed their QCVN 05:2023 limit."""
    return tuple(check for check in check_qcvn(averages, on=on) if check.exceeded)


def _as_period(period: str) -> Period:
    for known in _PERIODS:
        if period == known:
            return known
    raise ValueError(f"unknown averaging period {period!r}; expected one of {list(_PERIODS)}")
