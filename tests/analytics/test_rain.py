"""Rain against the drains: a rolling 2-hour total against the 50 mm the inner-city drains
handle in 2 hours (DOMAIN.md); 50-100 mm floods the known hotspots."""

from __future__ import annotations

import math

import pytest

from thudo.analytics.rain import RainStatus, rain_window, rolling_rain


@pytest.mark.parametrize(
    ("hours", "status", "over"),
    [
        ([0.0, 0.0], RainStatus.WITHIN_CAPACITY, False),
        ([25.1, 24.9], RainStatus.WITHIN_CAPACITY, False),  # exactly 50: the drains cope
        ([25.1, 25.0], RainStatus.HOTSPOTS_FLOOD, True),  # 50.1
        ([60.0, 40.0], RainStatus.HOTSPOTS_FLOOD, True),  # 100
        ([60.0, 40.1], RainStatus.EXTREME, True),  # 100.1
    ],
)
def test_two_hour_total_against_the_limits(
    hours: list[float], status: RainStatus, over: bool
) -> None:
    window = rain_window(hours)
    assert (window.status, window.over_limit, window.missing) == (status, over, 0)
    assert window.total_mm == pytest.approx(sum(hours))


def test_only_the_last_two_hours_count() -> None:
    # 80 mm three hours ago is out of the window: 10 + 20 = 30.
    window = rain_window([80.0, 10.0, 20.0])
    assert (window.total_mm, window.samples) == (30.0, 2)


def test_ten_minute_samples_make_a_window_of_twelve() -> None:
    # 13 samples of 5 mm: the window holds the last 12, 60 mm, 10 mm over the limit.
    window = rain_window([5.0] * 13, step_minutes=10)
    assert (window.total_mm, window.samples, window.excess_mm) == (60.0, 12, 10.0)
    assert window.status is RainStatus.HOTSPOTS_FLOOD


def test_missing_samples_make_the_total_a_lower_bound() -> None:
    short = rain_window([30.0])  # one of two hours known
    assert (short.missing, short.status, short.over_limit) == (1, None, None)
    gap = rain_window([None, 60.0])  # already over the limit with one hour missing
    assert (gap.missing, gap.status, gap.over_limit) == (1, None, True)


def test_rolling_windows_end_at_each_sample_with_a_full_window() -> None:
    # Hours 10, 30, 30, 5: windows end at hours 2, 3, 4 with 40, 60, 35 mm.
    windows = rolling_rain([10.0, 30.0, 30.0, 5.0])
    assert [w.total_mm for w in windows] == [40.0, 60.0, 35.0]
    assert [w.over_limit for w in windows] == [False, True, False]
    assert rolling_rain([10.0]) == ()


@pytest.mark.parametrize("step", [0, 7, -10, 180])
def test_step_must_divide_two_hours(step: int) -> None:
    with pytest.raises(ValueError, match="step_minutes"):
        rain_window([1.0], step_minutes=step)


@pytest.mark.parametrize(("bad", "message"), [(-0.5, "negative"), (math.nan, "NaN")])
def test_bad_amounts_are_rejected(bad: float, message: str) -> None:
    with pytest.raises(ValueError, match=rf"amounts_mm\[1\] is {message}"):
        rain_window([1.0, bad])
