"""Data-quality screening of raw sensor readings before they are averaged.

Each reading gets one flag. Readings flagged as anything but ``ok`` become ``None`` in the
screened series, so NowCast, daily means and rain totals treat them as missing hours instead of
averaging them in. Unlike the index functions, screening never raises on a bad reading: NaN,
infinite and negative readings are what it is there to catch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from thudo.analytics._numbers import check_number

__all__ = ["Flag", "Screened", "screen"]


class Flag(StrEnum):
    """Why a reading is or is not usable."""

    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"
    OUT_OF_RANGE = "out_of_range"
    FLATLINE = "flatline"


@dataclass(frozen=True, slots=True)
class Screened:
    """The screened series: ``values`` with every flagged reading replaced by ``None``, and the
    ``flags``, one per reading, in the same order."""

    values: tuple[float | None, ...]
    flags: tuple[Flag, ...]

    @property
    def usable(self) -> int:
        """How many readings passed."""
        return sum(flag is Flag.OK for flag in self.flags)


def screen(
    readings: Sequence[object],
    *,
    high: float,
    low: float = 0.0,
    flatline_run: int | None = 6,
) -> Screened:
    """Flag each reading: ``missing`` (None), ``invalid`` (not a finite number),
    ``out_of_range`` (outside ``[low, high]``) or ``flatline``.

    A flat line is a run of at least ``flatline_run`` consecutive in-range readings that are
    all identical, the signature of a stuck sensor; the whole run is flagged. Any other reading
    ends a run. Pass ``flatline_run=None`` for series where long identical runs are normal, such
    as rain amounts (zero for hours).
    """
    low_bound = check_number(low, "low")
    high_bound = check_number(high, "high")
    if not low_bound < high_bound:
        raise ValueError(f"need low < high, got {low_bound} and {high_bound}")
    if flatline_run is not None and (isinstance(flatline_run, bool) or flatline_run < 2):
        raise ValueError(f"flatline_run must be at least 2 (or None), got {flatline_run!r}")
    if isinstance(readings, str | bytes):
        raise ValueError("readings must be a sequence of numbers, got a string")
    flags = [_flag(reading, low_bound, high_bound) for reading in readings]
    if flatline_run is not None:
        _flag_flat_runs(readings, flags, flatline_run)
    values = tuple(
        _value(reading) if flag is Flag.OK else None
        for reading, flag in zip(readings, flags, strict=True)
    )
    return Screened(values, tuple(flags))


def _flag(reading: object, low: float, high: float) -> Flag:
    if reading is None:
        return Flag.MISSING
    if isinstance(reading, bool) or not isinstance(reading, int | float):
        return Flag.INVALID
    if not math.isfinite(reading):
        return Flag.INVALID
    return Flag.OK if low <= reading <= high else Flag.OUT_OF_RANGE


def _value(reading: object) -> float | None:
    return float(reading) if isinstance(reading, int | float) else None


def _flag_flat_runs(readings: Sequence[object], flags: list[Flag], run: int) -> None:
    start = 0
    for end in range(1, len(readings) + 1):
        same = (
            end < len(readings)
            and flags[end] is Flag.OK
            and flags[start] is Flag.OK
            and readings[end] == readings[start]
        )
        if same:
            continue
        if flags[start] is Flag.OK and end - start >= run:
            flags[start:end] = [Flag.FLATLINE] * (end - start)
        start = end
