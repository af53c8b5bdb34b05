"""Flood levels: the Red River alarm levels BĐ I-III (Decision 05/2020/QĐ-TTg, levels from
DOMAIN.md) at every edge, and street gauges against their own alert and danger depths."""

from __future__ import annotations

import math

import pytest

from thudo.analytics.flood import (
    LONG_BIEN,
    SON_TAY,
    THUONG_CAT,
    RiverGauge,
    StreetFlood,
    StreetThresholds,
    river_alarm,
    street_flood_status,
)


@pytest.mark.parametrize(
    ("level", "alarm", "label"),
    [
        (5.0, 0, "none"),
        (9.49, 0, "none"),
        (9.5, 1, "BĐ I"),  # reaching the level is enough
        (10.49, 1, "BĐ I"),
        (10.5, 2, "BĐ II"),
        (11.49, 2, "BĐ II"),
        (11.5, 3, "BĐ III"),
        (13.0, 3, "BĐ III"),
    ],
)
def test_long_bien_alarm_levels(level: float, alarm: int, label: str) -> None:
    status = river_alarm(level)
    assert (status.alarm, status.label, status.gauge) == (alarm, label, LONG_BIEN)


def test_the_september_2024_flood_was_above_bd_ii() -> None:
    # 10.76 m on 11 Sep 2024: 0.26 m above BĐ II (10.5), 0.74 m below BĐ III (11.5).
    status = river_alarm(10.76)
    assert (status.label, status.above_m, status.to_next_m) == ("BĐ II", 0.26, 0.74)


def test_distances_at_the_ends_of_the_scale() -> None:
    below = river_alarm(9.0)
    top = river_alarm(12.0)
    assert (below.above_m, below.to_next_m) == (None, 0.5)
    assert (top.above_m, top.to_next_m) == (0.5, None)


@pytest.mark.parametrize(
    ("gauge", "levels"),
    [(SON_TAY, (12.4, 13.4, 14.4)), (THUONG_CAT, (9.0, 10.0, 11.0))],
)
def test_other_gauges(gauge: RiverGauge, levels: tuple[float, float, float]) -> None:
    for alarm, level in enumerate(levels, start=1):
        assert river_alarm(level, gauge).alarm == alarm
        assert river_alarm(level - 0.01, gauge).alarm == alarm - 1


def test_gauge_levels_must_rise_and_readings_be_numbers() -> None:
    with pytest.raises(ValueError, match="must rise"):
        RiverGauge("x", (10.0, 9.0, 11.0))
    with pytest.raises(ValueError, match="NaN"):
        river_alarm(math.nan)


THRESHOLDS = StreetThresholds(alert_cm=10, danger_cm=30)


@pytest.mark.parametrize(
    ("depth", "status"),
    [
        (0, StreetFlood.NORMAL),
        (9.9, StreetFlood.NORMAL),
        (10, StreetFlood.ALERT),
        (29.9, StreetFlood.ALERT),
        (30, StreetFlood.DANGER),
        (80, StreetFlood.DANGER),
    ],
)
def test_street_gauge_edges(depth: float, status: StreetFlood) -> None:
    result = street_flood_status(depth, THRESHOLDS)
    assert result.status is status
    assert result.status.value in {"Normal", "Alert", "Danger"}  # FloodMonitoring's words


@pytest.mark.parametrize(
    ("alert", "danger"), [(30, 10), (10, 10), (0, 10), (-5, 10), (math.nan, 10)]
)
def test_street_thresholds_are_checked(alert: float, danger: float) -> None:
    with pytest.raises(ValueError):
        StreetThresholds(alert, danger)


def test_negative_depth_is_rejected() -> None:
    with pytest.raises(ValueError, match="depth_cm is negative"):
        street_flood_status(-1, THRESHOLDS)
