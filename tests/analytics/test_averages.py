"""The averages behind VN_AQI (Decision 1459/QĐ-TCMT): the PM NowCast and its validity rule,
the daily mean and maximum, and the 8-hour rolling mean.

Expected values are worked by hand from the Decision's formulas as given in DOMAIN.md; each
test says how.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.analytics.averages import daily_max, daily_mean, max_rolling_mean, nowcast

# The Decision's worked example, 09:00 to 20:00, oldest first (so c1 = 20.6).
DECISION_PM25 = [26.9, 24.7, 20.5, 23.5, 19.5, 16.5, 19.0, 16.5, 20.3, 22.4, 19.6, 20.6]


def test_nowcast_of_the_decisions_worked_example() -> None:
    cast = nowcast(DECISION_PM25)
    assert cast is not None
    # The Decision: w* = 16.5 / 26.9 ≈ 0.61 and NowCast = 20.3 (to one decimal).
    assert cast.weight == pytest.approx(16.5 / 26.9)
    assert round(cast.weight, 2) == 0.61
    assert round(cast.value, 1) == 20.3
    assert cast.hours == 12


def test_nowcast_with_a_gap_is_normalised_over_the_hours_present() -> None:
    # c1 = 20, c2 missing, c3 = 10: w* = 10/20 = 0.5, so w = 0.5, and
    # NowCast = (1 * 20 + 0.5² * 10) / (1 + 0.5²) = 22.5 / 1.25 = 18.
    cast = nowcast([None] * 9 + [10.0, None, 20.0])
    assert cast is not None
    assert cast.value == pytest.approx(18.0)
    assert (cast.weight, cast.hours) == (0.5, 2)


def test_nowcast_weight_is_clamped_at_one_half() -> None:
    # w* = 1/100 ≤ 0.5, so w = 0.5: (100 + 0.5 * 1) / 1.5 = 67.
    cast = nowcast([1.0, 100.0])
    assert cast is not None
    assert (cast.weight, cast.value) == (0.5, pytest.approx(67.0))


def test_nowcast_weight_above_one_half_is_kept() -> None:
    # w* = 30/40 = 0.75: (40 + 0.75 * 30) / 1.75 = 62.5 / 1.75.
    cast = nowcast([30.0, 40.0])
    assert cast is not None
    assert (cast.weight, cast.value) == (0.75, pytest.approx(62.5 / 1.75))


@pytest.mark.parametrize(
    ("last_three", "valid"),
    [
        ((1.0, 2.0, 3.0), True),
        ((None, 2.0, 3.0), True),  # c3 missing
        ((1.0, None, 3.0), True),  # c2 missing
        ((1.0, 2.0, None), True),  # c1 missing
        ((None, None, 3.0), False),  # only c1
        ((None, 2.0, None), False),  # only c2
        ((1.0, None, None), False),  # only c3
        ((None, None, None), False),
    ],
)
def test_nowcast_needs_two_of_the_three_latest_hours(
    last_three: tuple[float | None, ...], valid: bool
) -> None:
    # The other nine hours are all present: they cannot rescue a NowCast without c1..c3.
    cast = nowcast([5.0] * 9 + list(last_three))
    assert (cast is not None) is valid


def test_nowcast_on_short_series_counts_the_absent_hours_as_missing() -> None:
    assert nowcast([]) is None
    assert nowcast([7.0]) is None
    assert nowcast([None, 7.0]) is None
    two = nowcast([6.0, 6.0])
    assert two is not None and two.value == 6.0


def test_nowcast_uses_only_the_last_twelve_hours() -> None:
    cast = nowcast([1000.0] + [10.0] * 12)
    assert cast is not None
    assert cast.value == pytest.approx(10.0)
    assert cast.hours == 12


def test_nowcast_of_clean_air_is_zero() -> None:
    cast = nowcast([0.0] * 12)
    assert cast is not None and cast.value == 0.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [(-1.0, "negative"), (math.nan, "NaN"), (math.inf, "infinite"), ("12", "number")],
)
def test_nowcast_rejects_bad_values_naming_the_hour(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        nowcast([1.0, 2.0, bad, 4.0], what="pm25")  # type: ignore[list-item]
    assert "pm25[2]" in str(info.value)


@given(
    st.lists(
        st.one_of(st.none(), st.floats(0, 1000, allow_nan=False)),
        min_size=3,
        max_size=20,
    )
)
def test_nowcast_lies_between_the_smallest_and_largest_hour_used(
    hours: list[float | None],
) -> None:
    cast = nowcast(hours)
    used = [h for h in hours[-12:] if h is not None]
    if sum(h is not None for h in hours[-3:]) < 2:
        assert cast is None
        return
    assert cast is not None
    assert min(used) - 1e-9 <= cast.value <= max(used) + 1e-9
    assert 0.5 <= cast.weight <= 1


@given(st.floats(0, 1000, allow_nan=False), st.integers(2, 12))
def test_nowcast_of_a_constant_is_that_constant(level: float, hours: int) -> None:
    cast = nowcast([level] * hours)
    assert cast is not None
    assert cast.value == pytest.approx(level)


def test_daily_mean_and_max_over_a_full_day() -> None:
    day = [float(hour) for hour in range(1, 25)]  # 1..24: mean 12.5, max 24
    assert daily_mean(day) == 12.5
    assert daily_max(day) == 24.0


def test_daily_statistics_need_enough_hours() -> None:
    # Our completeness rule (the Decision gives none): 18 of the 24 hours by default.
    eighteen = [10.0] * 18 + [None] * 6
    seventeen = [10.0] * 17 + [None] * 7
    assert daily_mean(eighteen) == 10.0
    assert daily_mean(seventeen) is None
    assert daily_max(seventeen) is None
    assert daily_mean(seventeen, min_hours=17) == 10.0


def test_daily_statistics_need_the_24_hours_of_the_day() -> None:
    with pytest.raises(ValueError, match="24 hourly means"):
        daily_mean([1.0] * 23)
    with pytest.raises(ValueError, match="min_hours"):
        daily_max([1.0] * 24, min_hours=25)


def test_max_rolling_mean_over_eight_hours() -> None:
    # Hours 0..9 hold 0,0,8,8,8,8,8,8,8,8: the best window is the last eight, mean 8; the first,
    # 0,0,8,8,8,8,8,8, has mean 48/8 = 6.
    hours = [0.0, 0.0] + [8.0] * 8
    assert max_rolling_mean(hours) == 8.0
    assert max_rolling_mean(hours[:8]) == 6.0
    assert max_rolling_mean(hours[:7]) is None  # no full window


def test_max_rolling_mean_skips_windows_with_too_few_hours() -> None:
    # Five of eight present is below our 6-of-8 rule; six is enough: (6 * 9) / 6 = 9.
    assert max_rolling_mean([9.0] * 5 + [None] * 3) is None
    assert max_rolling_mean([9.0] * 6 + [None] * 2) == 9.0
    with pytest.raises(ValueError, match="min_hours"):
        max_rolling_mean([1.0] * 8, min_hours=9)
