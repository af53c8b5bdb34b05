"""Data-quality screening: missing, invalid, out-of-range and flat-lined readings are flagged
and left out of the averages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.analytics.averages import nowcast
from thudo.analytics.quality import Flag, screen


def test_each_kind_of_bad_reading_gets_its_flag() -> None:
    result = screen([12.0, None, math.nan, math.inf, -1.0, 1200.0, "7", True, 13.0], high=1000)
    assert result.flags == (
        Flag.OK,
        Flag.MISSING,
        Flag.INVALID,
        Flag.INVALID,
        Flag.OUT_OF_RANGE,
        Flag.OUT_OF_RANGE,
        Flag.INVALID,
        Flag.INVALID,
        Flag.OK,
    )
    assert result.values == (12.0, None, None, None, None, None, None, None, 13.0)
    assert result.usable == 2


def test_range_bounds_are_inclusive() -> None:
    assert screen([0.0, 500.0, 500.1], high=500).flags == (Flag.OK, Flag.OK, Flag.OUT_OF_RANGE)
    assert screen([4.9, 5.0], low=5, high=10).flags == (Flag.OUT_OF_RANGE, Flag.OK)


def test_a_run_of_n_identical_readings_is_a_flat_line() -> None:
    # With flatline_run=4: a run of 4 is flagged in full, a run of 3 is not.
    four = screen([5.0, 20.0, 20.0, 20.0, 20.0, 6.0], high=1000, flatline_run=4)
    three = screen([5.0, 20.0, 20.0, 20.0, 6.0], high=1000, flatline_run=4)
    assert four.flags == (Flag.OK,) + (Flag.FLATLINE,) * 4 + (Flag.OK,)
    assert four.values == (5.0, None, None, None, None, 6.0)
    assert Flag.FLATLINE not in three.flags


def test_a_flat_line_at_the_end_of_the_series_is_caught() -> None:
    result = screen([1.0, 2.0, 2.0, 2.0], high=100, flatline_run=3)
    assert result.flags == (Flag.OK, Flag.FLATLINE, Flag.FLATLINE, Flag.FLATLINE)


def test_missing_readings_break_a_run() -> None:
    result = screen([20.0, 20.0, None, 20.0, 20.0], high=100, flatline_run=3)
    assert Flag.FLATLINE not in result.flags


def test_flat_line_check_can_be_turned_off_for_rain() -> None:
    assert screen([0.0] * 24, high=300, flatline_run=None).usable == 24
    assert screen([0.0] * 24, high=300).usable == 0  # default run of 6


def test_screened_values_feed_the_nowcast_as_missing_hours() -> None:
    # A spike of 5000 (out of range) in c1 and a dropout (NaN) in c2 leave only c3: no NowCast.
    raw = [30.0] * 9 + [35.0, math.nan, 5000.0]
    screened = screen(raw, high=1000)
    assert screened.values[-2:] == (None, None)
    assert nowcast(screened.values) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"high": 0.0}, "low < high"),
        ({"high": math.nan}, "high is NaN"),
        ({"high": 10.0, "flatline_run": 1}, "flatline_run"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        screen([1.0], **kwargs)  # type: ignore[arg-type]


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=40))
def test_screening_never_raises_and_keeps_only_ok_readings(readings: list[float | None]) -> None:
    result = screen(readings, high=1000)
    assert len(result.flags) == len(result.values) == len(readings)
    for reading, flag, value in zip(readings, result.flags, result.values, strict=True):
        if flag is Flag.OK:
            assert value == reading and value is not None and 0 <= value <= 1000
        else:
            assert value is None
