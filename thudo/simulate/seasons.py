"""Hanoi local time and the calendar, as plain numbers for the models (UTC+7, no DST)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

__all__ = [
    "DAY",
    "HOUR",
    "LOCAL_OFFSET",
    "annual_cosine",
    "day_fraction",
    "hourly",
    "local_hour",
    "monthly",
    "weekday",
    "year_of",
]

HOUR = 3600.0
DAY = 86400.0
LOCAL_OFFSET = 7 * HOUR

_TWO_PI = 2.0 * math.pi


def local_hour(t: float) -> float:
    """The hour of the day in Hanoi (0 <= h < 24) at epoch seconds ``t``."""
    return ((t + LOCAL_OFFSET) % DAY) / HOUR


def day_fraction(t: float) -> float:
    """How far through the calendar year ``t`` is (0 at 1 Jan 00:00 Hanoi time, up to 1)."""
    local = t + LOCAL_OFFSET
    tm = time.gmtime(local)
    return (tm.tm_yday - 1 + (local % DAY) / DAY) / (366.0 if _leap(tm.tm_year) else 365.0)


def year_of(t: float) -> int:
    """The calendar year in Hanoi at ``t``."""
    return time.gmtime(t + LOCAL_OFFSET).tm_year


def weekday(t: float) -> int:
    """The day of the week in Hanoi, Monday 0 to Sunday 6."""
    return time.gmtime(t + LOCAL_OFFSET).tm_wday


def monthly(table: Sequence[float], t: float) -> float:
    """A monthly table (January first, values at mid-month) interpolated to ``t``."""
    x = day_fraction(t) * 12.0 - 0.5
    i = math.floor(x)
    w = x - i
    return (1.0 - w) * table[i % 12] + w * table[(i + 1) % 12]


def hourly(table: Sequence[float], t: float) -> float:
    """A 24-hour table (local hour 0 first, values at the full hour) interpolated to ``t``."""
    x = local_hour(t)
    i = math.floor(x)
    w = x - i
    return (1.0 - w) * table[i % 24] + w * table[(i + 1) % 24]


def annual_cosine(t: float, coldest: float = 0.04) -> float:
    """-1 at the coldest point of the year (``coldest`` as a year fraction, mid-January), +1
    half a year later."""
    return -math.cos(_TWO_PI * (day_fraction(t) - coldest))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
