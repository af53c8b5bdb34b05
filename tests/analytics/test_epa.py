"""The US EPA AQI for PM2.5 on the 2024 table: every breakpoint edge, truncation to 0.1 µg/m³,
"beyond the AQI", and the scale label.

Expected values come from the 2024 table in DOMAIN.md, worked by hand with EPA's formula
I = (I_hi - I_lo) / (C_hi - C_lo) * (C - C_lo) + I_lo.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.analytics.epa import epa_category, epa_pm25_aqi
from thudo.analytics.vnaqi import vn_sub_index


@pytest.mark.parametrize(
    ("concentration", "expected"),
    [
        (0.0, 0),
        (9.0, 50),  # top of Good (12.0 in the superseded 2012 table)
        (9.1, 51),
        (35.4, 100),
        (35.5, 101),
        (55.4, 150),
        (55.5, 151),
        (125.4, 200),
        (125.5, 201),
        (225.4, 300),
        (225.5, 301),
        (325.4, 500),
    ],
)
def test_every_breakpoint_edge(concentration: float, expected: int) -> None:
    result = epa_pm25_aqi(concentration)
    assert result.aqi == expected
    assert not result.beyond_index


@pytest.mark.parametrize(
    ("concentration", "expected"),
    [
        (20.3, 72),  # DOMAIN.md: 49/26.3 * 11.2 + 51 = 71.87
        (12.0, 56),  # 49/26.3 * 2.9 + 51 = 56.40 (the 2012 table gave 50)
        (100.0, 182),  # 49/69.9 * 44.5 + 151 = 182.19
        (300.0, 449),  # 199/99.9 * 74.5 + 301 = 449.40
        (0.89, 4),  # truncated to 0.8: 50/9 * 0.8 = 4.44 (0.89 untruncated would give 4.94 -> 5)
    ],
)
def test_values_worked_by_hand(concentration: float, expected: int) -> None:
    assert epa_pm25_aqi(concentration).aqi == expected


@pytest.mark.parametrize(
    ("concentration", "truncated", "expected"),
    [
        (9.09, 9.0, 50),
        (35.49, 35.4, 100),
        (55.459, 55.4, 150),
        (325.45, 325.4, 500),
    ],
)
def test_concentration_is_truncated_to_a_tenth(
    concentration: float, truncated: float, expected: int
) -> None:
    result = epa_pm25_aqi(concentration)
    assert (result.concentration, result.aqi) == (truncated, expected)


def test_above_325_4_is_beyond_the_aqi() -> None:
    result = epa_pm25_aqi(325.5)
    assert (result.aqi, result.beyond_index) == (500, True)
    assert epa_pm25_aqi(1000).beyond_index


def test_results_are_labelled_with_the_scale() -> None:
    us = epa_pm25_aqi(20.3)
    vn = vn_sub_index("pm25", 20.3)
    assert (us.scale, us.table, us.pollutant) == ("US EPA", "2024", "pm25")
    assert (us.aqi, vn.aqi) == (72, 41)  # DOMAIN.md: the two scales differ a lot


@pytest.mark.parametrize(
    ("aqi", "name"),
    [
        (50, "Good"),
        (51, "Moderate"),
        (101, "Unhealthy for Sensitive Groups"),
        (151, "Unhealthy"),
        (201, "Very Unhealthy"),
        (301, "Hazardous"),
        (500, "Hazardous"),
    ],
)
def test_categories(aqi: int, name: str) -> None:
    assert epa_category(aqi) == name


@pytest.mark.parametrize(("bad", "message"), [(-1.0, "negative"), (math.nan, "NaN")])
def test_bad_concentrations_are_rejected(bad: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        epa_pm25_aqi(bad)
    with pytest.raises(ValueError, match="0 to 500"):
        epa_category(501)


@given(st.floats(0, 400, allow_nan=False), st.floats(0, 400, allow_nan=False))
def test_epa_index_is_monotone(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert epa_pm25_aqi(low).aqi <= epa_pm25_aqi(high).aqi
