"""QCVN 05:2023/BTNMT ambient limits: which are exceeded and by how much, and the 24-hour
PM2.5 limit that drops from 50 to 45 µg/Nm³ on 1 Jan 2026 (limits from DOMAIN.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from thudo.analytics.qcvn import check_qcvn, qcvn_exceedances, qcvn_limit

DAY = dt.date(2025, 6, 1)


@pytest.mark.parametrize(
    ("pollutant", "period", "limit"),
    [
        ("so2", "1h", 350),
        ("so2", "24h", 125),
        ("so2", "year", 50),
        ("co", "1h", 30000),
        ("co", "8h", 10000),
        ("no2", "1h", 200),
        ("no2", "24h", 100),
        ("no2", "year", 40),
        ("o3", "1h", 200),
        ("o3", "8h", 120),
        ("tsp", "1h", 300),
        ("tsp", "24h", 200),
        ("tsp", "year", 100),
        ("pm10", "24h", 100),
        ("pm10", "year", 50),
        ("pm25", "24h", 50),
        ("pm25", "year", 25),
    ],
)
def test_limits_and_their_edges(pollutant: str, period: str, limit: float) -> None:
    assert qcvn_limit(pollutant, period, on=DAY) == limit
    (at,) = check_qcvn({pollutant: {period: limit}}, on=DAY)
    assert not at.exceeded and at.excess == 0  # equal to the limit complies
    (above,) = check_qcvn({pollutant: {period: limit + 0.1}}, on=DAY)
    assert above.exceeded
    assert above.excess == pytest.approx(0.1)


def test_pm25_24h_limit_drops_to_45_in_2026() -> None:
    averages = {"pm25": {"24h": 48.0}}
    assert qcvn_exceedances(averages, on=dt.date(2025, 12, 31)) == ()
    (check,) = qcvn_exceedances(averages, on=dt.date(2026, 1, 1))
    assert (check.limit, check.excess) == (45.0, 3.0)
    assert check.ratio == pytest.approx(48 / 45)
    assert qcvn_limit("pm25", "24h", on=dt.datetime(2026, 1, 1, 0, 30)) == 45.0
    assert qcvn_limit("pm25", "year", on=dt.date(2026, 1, 1)) == 25.0


def test_exceedances_report_how_much() -> None:
    # Hanoi winter day: PM2.5 24 h 75 is 25 over 50 (1.5 times); NO2 1 h 150 is within 200.
    found = qcvn_exceedances({"pm25": {"24h": 75.0}, "no2": {"1h": 150.0}}, on=DAY)
    assert [(c.pollutant, c.period, c.excess, c.ratio) for c in found] == [
        ("pm25", "24h", 25.0, 1.5)
    ]


@pytest.mark.parametrize(
    ("averages", "message"),
    [
        ({"pm10": {"1h": 10.0}}, "no '1h' limit for pm10"),
        ({"lead": {"24h": 1.0}}, "no limits for 'lead'"),
        ({"pm25": {"month": 1.0}}, "unknown averaging period 'month'"),
        ({"pm25": {"24h": -1.0}}, "pm25 24h is negative"),
    ],
)
def test_bad_input_is_named(averages: dict[str, dict[str, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_qcvn(averages, on=DAY)
