"""VN_AQI (Decision 1459/QĐ-TCMT of 12 Nov 2019): sub-indices at every breakpoint, half-up
rounding, the hourly and daily index, the band and the dominant pollutant.

The breakpoint table below is transcribed from DOMAIN.md by hand, separately from the one in
the module, and the expected values are worked from the Decision's formula
AQI_x = (I_(i+1) - I_i) / (BP_(i+1) - BP_i) * (C_x - BP_i) + I_i; each test says how.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.analytics.vnaqi import (
    BANDS,
    Column,
    band_for,
    daily_vn_aqi,
    hourly_vn_aqi,
    vn_sub_index,
)

LEVELS = [0, 50, 100, 150, 200, 300, 400, 500]
TABLE: dict[Column, list[int]] = {
    "o3_1h": [0, 160, 200, 300, 400, 800, 1000, 1200],
    "o3_8h": [0, 100, 120, 170, 210, 400],
    "co": [0, 10000, 30000, 45000, 60000, 90000, 120000, 150000],
    "so2": [0, 125, 350, 550, 800, 1600, 2100, 2630],
    "no2": [0, 100, 200, 700, 1200, 2350, 3100, 3850],
    "pm10": [0, 50, 150, 250, 350, 420, 500, 600],
    "pm25": [0, 25, 50, 80, 150, 250, 350, 500],
}
EDGES = [(column, i) for column, points in TABLE.items() for i in range(len(points))]
DECISION_PM25 = [26.9, 24.7, 20.5, 23.5, 19.5, 16.5, 19.0, 16.5, 20.3, 22.4, 19.6, 20.6]


@pytest.mark.parametrize(("column", "i"), EDGES)
def test_at_each_breakpoint_the_index_is_its_level(column: Column, i: int) -> None:
    sub = vn_sub_index(column, TABLE[column][i])
    assert sub.value == LEVELS[i]
    assert sub.aqi == LEVELS[i]
    assert not sub.capped


@pytest.mark.parametrize(("column", "i"), [(c, i) for c, i in EDGES if i < len(TABLE[c]) - 1])
def test_just_above_each_breakpoint_the_next_segment_starts_without_a_gap(
    column: Column, i: int
) -> None:
    # The intervals are contiguous: 0.1 above BP_i the index is I_i + slope * 0.1 (under half a
    # point for every segment), so it still rounds to I_i. A US-style gapped table would jump to
    # I_i + 1 (e.g. PM2.5 25.1 -> 51).
    points = TABLE[column]
    slope = Fraction(LEVELS[i + 1] - LEVELS[i], points[i + 1] - points[i])
    expected = LEVELS[i] + slope * Fraction(1, 10)
    sub = vn_sub_index(column, points[i] + 0.1)
    assert sub.value == pytest.approx(float(expected))
    assert sub.value > LEVELS[i]
    assert sub.aqi == LEVELS[i]


@pytest.mark.parametrize("column", [c for c in TABLE if c != "o3_8h"])
def test_above_the_top_breakpoint_the_index_is_capped_at_500_and_flagged(column: Column) -> None:
    sub = vn_sub_index(column, TABLE[column][-1] + 0.1)
    assert (sub.value, sub.aqi, sub.capped) == (500.0, 500, True)


def test_o3_8h_above_400_has_no_sub_index() -> None:
    assert vn_sub_index("o3_8h", 400).aqi == 300
    with pytest.raises(ValueError, match="above 400"):
        vn_sub_index("o3_8h", 400.1)


@pytest.mark.parametrize(
    ("column", "concentration", "expected"),
    [
        ("pm10", 100, 75),  # 50 + 50/100 * 50
        ("pm25", 65, 125),  # 100 + 50/30 * 15
        ("co", 20000, 75),  # 50 + 50/20000 * 10000
        ("so2", 237.5, 75),  # 50 + 50/225 * 112.5
        ("o3_1h", 600, 250),  # 200 + 100/400 * 200
        ("no2", 3475, 450),  # 400 + 100/750 * 375
    ],
)
def test_midpoints_worked_by_hand(column: Column, concentration: float, expected: int) -> None:
    assert vn_sub_index(column, concentration).aqi == expected


@pytest.mark.parametrize(
    ("column", "concentration", "exact", "expected"),
    [
        ("pm25", 12.25, 24.5, 25),  # 2 * 12.25; round() would give 24
        ("pm10", 51, 50.5, 51),  # 50 + 0.5 * 1; round() would give 50
        ("no2", 1, 0.5, 1),  # 0.5 * 1; round() would give 0
        ("pm25", 55.7, 109.5, 110),  # the daily worked example: 100 + 50/30 * 5.7
    ],
)
def test_halves_round_up(column: Column, concentration: float, exact: float, expected: int) -> None:
    sub = vn_sub_index(column, concentration)
    assert sub.value == pytest.approx(exact)
    assert sub.aqi == expected


@given(st.integers(0, 1000))
def test_rounding_is_half_up_like_decimal(tenths: int) -> None:
    # NO2 below 100 µg/m³: AQI = C / 2, so C = tenths/10 gives tenths/20 exactly.
    expected = (Decimal(tenths) / 20).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert vn_sub_index("no2", tenths / 10).aqi == int(expected)


@pytest.mark.parametrize(
    ("bad", "message"), [(-0.1, "negative"), (math.nan, "NaN"), (math.inf, "infinite")]
)
def test_bad_concentrations_are_rejected_with_the_column_named(bad: float, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        vn_sub_index("pm10", bad)
    assert "pm10" in str(info.value)


def test_unknown_column_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown VN_AQI column 'o3'"):
        vn_sub_index("o3", 10)  # type: ignore[arg-type]


def test_the_decisions_hourly_worked_example() -> None:
    result = hourly_vn_aqi(pm25=DECISION_PM25, o3=136.1, no2=118.7)
    assert result is not None
    subs = {sub.column: sub for sub in result.sub_indices}
    assert subs["o3_1h"].aqi == 43  # 50/160 * 136.1 = 42.53
    assert subs["pm25"].aqi == 41  # NowCast 20.3: 50/25 * 20.3 = 40.6
    assert subs["pm25"].basis == "NowCast"
    # The Decision prints 60 for NO2 118.7, a known erratum: 50 + 50/100 * 18.7 = 59.35 -> 59,
    # so the hourly AQI is 59, not the printed 60.
    assert subs["no2"].value == pytest.approx(59.35)
    assert subs["no2"].aqi == 59
    assert (result.aqi, result.dominant, result.period) == (59, "no2", "hour")
    assert result.band.name_en == "Moderate"
    assert result.scale == "VN_AQI"


def test_the_decisions_daily_worked_example() -> None:
    result = daily_vn_aqi(pm25=55.7, o3_max_1h=114.6, o3_max_8h=89.3, no2_max_1h=130.8)
    assert result is not None
    subs = {sub.pollutant: sub for sub in result.sub_indices}
    # O3: 8 h 89.3 -> 50/100 * 89.3 = 44.65 -> 45 beats 1 h 114.6 -> 50/160 * 114.6 = 35.8 -> 36.
    assert (subs["o3"].column, subs["o3"].aqi) == ("o3_8h", 45)
    assert subs["no2"].aqi == 65  # 50 + 0.5 * 30.8 = 65.4
    assert subs["pm25"].aqi == 110  # 100 + 50/30 * 5.7 = 109.5
    assert (result.aqi, result.dominant, result.period) == (110, "pm25", "day")
    assert (result.band.name_vi, result.band.name_en) == ("Kém", "Poor")
    assert result.band.rgb == (255, 126, 0)


def test_daily_o3_takes_the_1h_sub_index_when_it_is_larger() -> None:
    # 1 h 300 -> 150; 8 h 100 -> 50.
    result = daily_vn_aqi(pm25=1, o3_max_1h=300, o3_max_8h=100)
    assert result is not None
    o3 = next(sub for sub in result.sub_indices if sub.pollutant == "o3")
    assert (o3.column, o3.aqi) == ("o3_1h", 150)


def test_daily_o3_skips_the_8h_sub_index_above_400() -> None:
    # 8 h 450 has no sub-index; the 1 h 160 -> 50 stands. At 400 the 8 h gives 300.
    skipped = daily_vn_aqi(pm25=1, o3_max_1h=160, o3_max_8h=450)
    kept = daily_vn_aqi(pm25=1, o3_max_1h=160, o3_max_8h=400)
    assert skipped is not None and kept is not None
    assert (skipped.aqi, skipped.dominant) == (50, "o3")
    assert kept.aqi == 300


def test_pm25_or_pm10_is_required() -> None:
    assert hourly_vn_aqi(o3=100, no2=50) is None
    assert hourly_vn_aqi(pm25=[10.0, None, None], o3=100) is None  # NowCast not valid
    assert daily_vn_aqi(o3_max_1h=100, no2_max_1h=50) is None
    pm10_only = hourly_vn_aqi(pm10=[100.0, 100.0])
    assert pm10_only is not None and (pm10_only.aqi, pm10_only.dominant) == (75, "pm10")


def test_capped_index_is_hazardous_and_flagged() -> None:
    result = hourly_vn_aqi(pm25=[800.0] * 12)
    assert result is not None
    assert (result.aqi, result.capped, result.band.name_en) == (500, True, "Hazardous")


def test_ties_name_pm25_as_dominant() -> None:
    # PM2.5 25 -> 50 and NO2 100 -> 50 exactly: the documented order puts PM2.5 first.
    result = daily_vn_aqi(pm25=25, no2_max_1h=100)
    assert result is not None and result.dominant == "pm25"


def test_hourly_input_errors_name_the_pollutant_and_hour() -> None:
    with pytest.raises(ValueError, match=r"pm25\[1\] is negative"):
        hourly_vn_aqi(pm25=[10.0, -3.0, 10.0])
    with pytest.raises(ValueError, match="no2 is NaN"):
        hourly_vn_aqi(pm25=[10.0, 10.0], no2=math.nan)
    with pytest.raises(ValueError, match="pm10 must be a sequence"):
        hourly_vn_aqi(pm10=42.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("aqi", "name_vi", "name_en", "hex_colour"),
    [
        (0, "Tốt", "Good", "#00E400"),
        (50, "Tốt", "Good", "#00E400"),
        (51, "Trung bình", "Moderate", "#FFFF00"),
        (100, "Trung bình", "Moderate", "#FFFF00"),
        (101, "Kém", "Poor", "#FF7E00"),
        (150, "Kém", "Poor", "#FF7E00"),
        (151, "Xấu", "Bad", "#FF0000"),
        (200, "Xấu", "Bad", "#FF0000"),
        (201, "Rất xấu", "Very bad", "#8F3F97"),
        (300, "Rất xấu", "Very bad", "#8F3F97"),
        (301, "Nguy hại", "Hazardous", "#7E0023"),
        (500, "Nguy hại", "Hazardous", "#7E0023"),
    ],
)
def test_band_boundaries(aqi: int, name_vi: str, name_en: str, hex_colour: str) -> None:
    band = band_for(aqi)
    assert (band.name_vi, band.name_en, band.hex) == (name_vi, name_en, hex_colour)
    assert band.hex == "#{:02X}{:02X}{:02X}".format(*band.rgb)
    assert band.advice_general and band.advice_sensitive


@pytest.mark.parametrize("bad", [-1, 501, 50.5, True])
def test_band_for_rejects_what_is_not_an_index(bad: object) -> None:
    with pytest.raises(ValueError, match="integer from 0 to 500"):
        band_for(bad)  # type: ignore[arg-type]


def test_band_boundary_reached_through_a_concentration() -> None:
    # PM2.5 25.24 -> 50.48 -> 50 (Good); 25.25 -> 50.5 -> 51 (Moderate).
    assert band_for(vn_sub_index("pm25", 25.24).aqi).name_en == "Good"
    assert band_for(vn_sub_index("pm25", 25.25).aqi).name_en == "Moderate"


def test_bands_cover_0_to_500_without_gaps() -> None:
    assert BANDS[0].low == 0 and BANDS[-1].high == 500
    for lower, upper in pairwise(BANDS):
        assert upper.low == lower.high + 1


def _top(column: Column) -> float:
    return TABLE[column][-1] * 1.2 if column != "o3_8h" else 400


@given(st.sampled_from(list(TABLE)), st.data())
def test_sub_index_is_monotone_in_concentration(column: Column, data: st.DataObject) -> None:
    a = data.draw(st.floats(0, _top(column), allow_nan=False))
    b = data.draw(st.floats(0, _top(column), allow_nan=False))
    low, high = sorted((a, b))
    assert vn_sub_index(column, low).value <= vn_sub_index(column, high).value
    assert vn_sub_index(column, low).aqi <= vn_sub_index(column, high).aqi


@given(st.sampled_from(list(TABLE)), st.data())
def test_sub_index_stays_within_its_segment(column: Column, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(TABLE[column]) - 2))
    points = TABLE[column]
    concentration = data.draw(st.floats(points[i], points[i + 1], allow_nan=False))
    sub = vn_sub_index(column, concentration)
    assert LEVELS[i] <= sub.value <= LEVELS[i + 1]
    assert LEVELS[i] <= sub.aqi <= LEVELS[i + 1]
    assert band_for(sub.aqi).low <= sub.aqi <= band_for(sub.aqi).high


@given(
    st.floats(0, 600, allow_nan=False),
    st.floats(0, 1500, allow_nan=False),
    st.floats(0, 4000, allow_nan=False),
)
def test_hourly_index_is_the_largest_sub_index(pm25: float, o3: float, no2: float) -> None:
    result = hourly_vn_aqi(pm25=[pm25, pm25], o3=o3, no2=no2)
    assert result is not None
    aqis = [sub.aqi for sub in result.sub_indices]
    assert result.aqi == max(aqis)
    assert result.band == band_for(result.aqi)
    assert result.dominant in {sub.pollutant for sub in result.sub_indices if sub.aqi == result.aqi}


@given(st.floats(0, 600, allow_nan=False), st.floats(0, 600, allow_nan=False))
def test_hourly_index_is_monotone_in_pm25(a: float, b: float) -> None:
    low, high = sorted((a, b))
    first = hourly_vn_aqi(pm25=[low] * 12, no2=80)
    second = hourly_vn_aqi(pm25=[high] * 12, no2=80)
    assert first is not None and second is not None
    assert first.aqi <= second.aqi
