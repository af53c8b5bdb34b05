"""Rain intensity against Hanoi's inner-city drainage: a rolling 2-hour total against the
about 50 mm the drains handle in 2 hours.

Rain of 50-100 mm in 2 hours floods the known hotspots (Nguyễn Khuyến, Trường Chinh, …); above
100 mm is labelled ``extreme``, a band the domain notes do not describe further.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from thudo.analytics._numbers import check_series, exact

__all__ = [
    "DRAINAGE_LIMIT_MM",
    "HOTSPOT_LIMIT_MM",
    "WINDOW_MINUTES",
    "RainStatus",
    "RainWindow",
    "rain_window",
    "rolling_rain",
]

WINDOW_MINUTES = 120
DRAINAGE_LIMIT_MM = 50.0
HOTSPOT_LIMIT_MM = 100.0


class RainStatus(StrEnum):
    """What a 2-hour rain total means for the drains."""

    WITHIN_CAPACITY = "within_capacity"
    HOTSPOTS_FLOOD = "hotspots_flood"
    EXTREME = "extreme"


@dataclass(frozen=True, slots=True)
class RainWindow:
    """The rain over one 2-hour window.

    ``total_mm`` sums the samples present; with ``missing`` samples it is only a lower bound, so
    ``status`` is ``None`` and ``over_limit`` is ``None`` unless the partial total already
    exceeds the drainage limit. ``excess_mm`` is the part of the total above the limit.
    """

    total_mm: float
    samples: int
    missing: int
    over_limit: bool | None
    excess_mm: float
    status: RainStatus | None


def rain_window(amounts_mm: Sequence[float | None], *, step_minutes: int = 60) -> RainWindow:
    """The 2-hour window ending with the newest sample.

    ``amounts_mm`` are rain amounts per ``step_minutes`` interval, oldest first, ``None`` for a
    missing interval; fewer samples than the window holds count as missing.
    """
    size = _window_size(step_minutes)
    values = check_series(amounts_mm, "amounts_mm")
    recent = values[-size:]
    return _summarise(recent, missing=size - len(recent))


def rolling_rain(
    amounts_mm: Sequence[float | None], *, step_minutes: int = 60
) -> tuple[RainWindow, ...]:
    """One 2-hour window ending at each sample that has a full window of samples before it."""
    size = _window_size(step_minutes)
    values = check_series(amounts_mm, "amounts_mm")
    return tuple(
        _summarise(values[end - size : end], missing=0) for end in range(size, len(values) + 1)
    )


def _window_size(step_minutes: int) -> int:
    if isinstance(step_minutes, bool) or not isinstance(step_minutes, int) or step_minutes < 1:
        raise ValueError(f"step_minutes must be a positive integer, got {step_minutes!r}")
    if WINDOW_MINUTES % step_minutes:
        raise ValueError(f"step_minutes must divide {WINDOW_MINUTES}, got {step_minutes}")
    return WINDOW_MINUTES // step_minutes


def _summarise(window: list[float | None], *, missing: int) -> RainWindow:
    present = [exact(value) for value in window if value is not None]
    missing += len(window) - len(present)
    total = sum(present, Fraction(0))
    excess = max(total - exact(DRAINAGE_LIMIT_MM), Fraction(0))
    # The drains handle the limit itself; only rain above it overwhelms them.
    over: bool | None = excess > 0
    status: RainStatus | None = _status(total)
    if missing:
        status = None
        over = True if over else None
    return RainWindow(float(total), len(present), missing, over, float(excess), status)


def _status(total: Fraction) -> RainStatus:
    if total <= exact(DRAINAGE_LIMIT_MM):
        return RainStatus.WITHIN_CAPACITY
    if total <= exact(HOTSPOT_LIMIT_MM):
        return RainStatus.HOTSPOTS_FLOOD
    return RainStatus.EXTREME
