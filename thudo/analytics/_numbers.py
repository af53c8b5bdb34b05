"""Exact arithmetic, half-up rounding and input checks shared by the analytics modules.

Concentrations arrive as floats. They are read as the decimal they print as (``repr``), so
``55.7`` is exactly 557/10, and interpolation and rounding run on fractions: a sub-index
that is exactly ``x.5`` by the Decision's formula rounds up, whatever the float error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

__all__: list[str] = []

HALF = Fraction(1, 2)


def exact(value: float) -> Fraction:
    """The decimal that ``value`` prints as, as an exact fraction."""
    if isinstance(value, int):
        return Fraction(value)
    return Fraction(repr(float(value)))


def round_half_up(value: Fraction) -> int:
    """Round to the nearest integer, halves away from zero for the non-negative values used here
    (Python's ``round`` rounds halves to even)."""
    return math.floor(value + HALF)


def check_number(value: object, what: str) -> float:
    """``value`` as a finite float, or a ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"{what} is NaN; leave the hour out (None) instead")
    if math.isinf(number):
        raise ValueError(f"{what} is infinite ({number})")
    return number


def check_concentration(value: object, what: str) -> float:
    """A finite, non-negative concentration, or a ValueError naming ``what``."""
    number = check_number(value, what)
    if number < 0:
        raise ValueError(f"{what} is negative ({number}); concentrations cannot be below 0")
    return number


def check_series(values: Sequence[float | None], what: str) -> list[float | None]:
    """Each present value checked as a concentration; ``None`` (a missing hour) kept."""
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise ValueError(f"{what} must be a sequence of hourly values, got {values!r}")
    return [
        None if value is None else check_concentration(value, f"{what}[{index}]")
        for index, value in enumerate(values)
    ]
