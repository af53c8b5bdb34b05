"""The averages VN_AQI is computed from (Decision 1459/QĐ-TCMT, 2019): the PM NowCast, the
24-hour mean, the day's maximum 1-hour mean and the maximum 8-hour rolling mean.

Every function takes hourly means oldest first, newest last, with ``None`` for a missing hour,
and returns ``None`` rather than a value made up from too few hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from thudo.analytics._numbers import HALF, check_series, exact

__all__ = [
    "DAY_HOURS",
    "NOWCAST_HOURS",
    "NowCast",
    "daily_max",
    "daily_mean",
    "max_rolling_mean",
    "nowcast",
]

NOWCAST_HOURS = 12
DAY_HOURS = 24
# The Decision gives no completeness rule for the daily statistics or the 8-hour windows; 75 %
# of the hours is our choice (the usual rule in air-quality statistics), overridable per call.
_DAY_MIN_HOURS = 18
_WINDOW_MIN_HOURS = 6


@dataclass(frozen=True, slots=True)
class NowCast:
    """A PM NowCast: the value, the weight ``w`` used and how many of the 12 hours were present."""

    value: float
    weight: float
    hours: int


def nowcast(hourly: Sequence[float | None], *, what: str = "hourly") -> NowCast | None:
    """The NowCast of the last 12 hourly PM means (Decision 1459/QĐ-TCMT, hourly AQI).

    ``hourly`` is oldest first, so its last item is c1, the current hour. Fewer than 12 items
    count as missing hours. The result is ``None`` unless at least 2 of c1, c2, c3 are present.
    The weighted mean is normalised (divided by the sum of the weights used), which stays
    correct when hours are missing.
    """
    values = check_series(hourly, what)[-NOWCAST_HOURS:]
    recent = list(reversed(values))  # recent[0] is c1
    if sum(value is not None for value in recent[:3]) < 2:
        return None
    present = [(age, exact(value)) for age, value in enumerate(recent) if value is not None]
    low = min(value for _, value in present)
    high = max(value for _, value in present)
    # All hours at 0: every ratio of equal values is 1, and the mean is 0 for any weight.
    ratio = low / high if high > 0 else Fraction(1)
    weight = max(ratio, HALF)
    # Horner's rule from the oldest hour: the same exact sums as sum(w**age * c), without
    # the powers (this runs for every station at every reading).
    numerator, denominator = Fraction(0), Fraction(0)
    for value in reversed(recent):
        numerator *= weight
        denominator *= weight
        if value is not None:
            numerator += exact(value)
            denominator += 1
    return NowCast(float(numerator / denominator), float(weight), len(present))


def daily_mean(
    hours: Sequence[float | None], *, min_hours: int = _DAY_MIN_HOURS, what: str = "hours"
) -> float | None:
    """The 24-hour mean of one day's hourly means (01:00 to 00:00 of the next day), used for
    the daily PM2.5 and PM10 sub-indices; ``None`` with fewer than ``min_hours`` present."""
    present = _day(hours, min_hours, what)
    if present is None:
        return None
    return float(sum(present, Fraction(0)) / len(present))


def daily_max(
    hours: Sequence[float | None], *, min_hours: int = _DAY_MIN_HOURS, what: str = "hours"
) -> float | None:
    """The day's maximum 1-hour mean (01:00 to 00:00 of the next day), used for the daily SO2,
    NO2, CO and O3 1 h sub-indices; ``None`` with fewer than ``min_hours`` present."""
    present = _day(hours, min_hours, what)
    if present is None:
        return None
    return float(max(present))


def max_rolling_mean(
    hourly: Sequence[float | None],
    *,
    window: int = 8,
    min_hours: int = _WINDOW_MIN_HOURS,
    what: str = "hourly",
) -> float | None:
    """The largest mean over every run of ``window`` consecutive hours that has at least
    ``min_hours`` present (the daily O3 8 h statistic); ``None`` if no window qualifies.

    Windows lie wholly inside ``hourly``: to give each hour of the day its 8-hour window, put
    the previous day's last 7 hours in front.
    """
    if window < 1 or not 1 <= min_hours <= window:
        raise ValueError(f"need 1 <= min_hours <= window, got {min_hours} and {window}")
    values = check_series(hourly, what)
    best: Fraction | None = None
    for start in range(len(values) - window + 1):
        present = [exact(v) for v in values[start : start + window] if v is not None]
        if len(present) >= min_hours:
            mean = sum(present, Fraction(0)) / len(present)
            best = mean if best is None else max(best, mean)
    return None if best is None else float(best)


def _day(hours: Sequence[float | None], min_hours: int, what: str) -> list[Fraction] | None:
    if not 1 <= min_hours <= DAY_HOURS:
        raise ValueError(f"min_hours must be between 1 and {DAY_HOURS}, got {min_hours}")
    values = check_series(hours, what)
    if len(values) != DAY_HOURS:
        raise ValueError(
            f"{what} must hold the {DAY_HOURS} hourly means from 01:00 to 00:00, got {len(values)}"
        )
    present = [exact(value) for value in values if value is not None]
    return present if len(present) >= min_hours else None
