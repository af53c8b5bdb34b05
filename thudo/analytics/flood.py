"""Flood levels in Hanoi: river gauges against the alarm levels BĐ I-III of Decision
05/2020/QĐ-TTg, and street gauges against their own alert and danger depths.

A level that reaches an alarm level (is equal to it or above) is at that alarm level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from thudo.analytics._numbers import check_number

__all__ = [
    "LONG_BIEN",
    "SON_TAY",
    "THUONG_CAT",
    "RiverGauge",
    "RiverStatus",
    "StreetFlood",
    "StreetStatus",
    "StreetThresholds",
    "river_alarm",
    "street_flood_status",
]

_LABELS = ("none", "BĐ I", "BĐ II", "BĐ III")


@dataclass(frozen=True, slots=True)
class RiverGauge:
    """A river gauge and its alarm levels BĐ I, BĐ II and BĐ III, in metres."""

    name: str
    alarm_levels_m: tuple[float, float, float]

    def __post_init__(self) -> None:
        first, second, third = self.alarm_levels_m
        if not first < second < third:
            raise ValueError(f"{self.name}: alarm levels must rise, got {self.alarm_levels_m}")


# Decision 05/2020/QĐ-TTg. The Red River reached 10.76 m at Long Biên on 11 Sep 2024.
LONG_BIEN = RiverGauge("Sông Hồng tại Hà Nội (Long Biên)", (9.5, 10.5, 11.5))
SON_TAY = RiverGauge("Sông Hồng tại Sơn Tây", (12.4, 13.4, 14.4))
THUONG_CAT = RiverGauge("Sông Đuống tại Thượng Cát", (9.0, 10.0, 11.0))


@dataclass(frozen=True, slots=True)
class RiverStatus:
    """A river level and the alarm level it reaches: ``alarm`` 0 (none) to 3 (BĐ III).

    ``above_m`` is how far the level is above the alarm level reached (``None`` below BĐ I),
    ``to_next_m`` how far it is below the next one (``None`` at BĐ III).
    """

    gauge: RiverGauge
    level_m: float
    alarm: int
    label: str
    above_m: float | None
    to_next_m: float | None


def river_alarm(level_m: float, gauge: RiverGauge = LONG_BIEN) -> RiverStatus:
    """The alarm level (none, BĐ I, BĐ II, BĐ III) a water level reaches at ``gauge``."""
    level = check_number(level_m, f"{gauge.name} level")
    levels = gauge.alarm_levels_m
    alarm = sum(level >= threshold for threshold in levels)
    above = None if alarm == 0 else round(level - levels[alarm - 1], 3)
    to_next = None if alarm == len(levels) else round(levels[alarm] - level, 3)
    return RiverStatus(gauge, level, alarm, _LABELS[alarm], above, to_next)


class StreetFlood(StrEnum):
    """A street gauge's state, named as FloodMonitoring's ``floodLevelStatus``."""

    NORMAL = "Normal"
    ALERT = "Alert"
    DANGER = "Danger"


@dataclass(frozen=True, slots=True)
class StreetThresholds:
    """A street gauge's alert and danger depths in cm (FloodMonitoring alertLevel/dangerLevel).

    They are per gauge and have no city-wide default: the domain notes give none.
    """

    alert_cm: float
    danger_cm: float

    def __post_init__(self) -> None:
        alert = check_number(self.alert_cm, "alert_cm")
        danger = check_number(self.danger_cm, "danger_cm")
        if not 0 < alert < danger:
            raise ValueError(f"need 0 < alert_cm < danger_cm, got {alert} and {danger}")


@dataclass(frozen=True, slots=True)
class StreetStatus:
    """A street gauge's water depth and the state it puts the street in."""

    depth_cm: float
    status: StreetFlood
    thresholds: StreetThresholds


def street_flood_status(depth_cm: float, thresholds: StreetThresholds) -> StreetStatus:
    """Normal, Alert (depth reaches ``alert_cm``) or Danger (depth reaches ``danger_cm``)."""
    depth = check_number(depth_cm, "depth_cm")
    if depth < 0:
        raise ValueError(f"depth_cm is negative ({depth}); a water depth cannot be below 0")
    if depth >= thresholds.danger_cm:
        status = StreetFlood.DANGER
    elif depth >= thresholds.alert_cm:
        status = StreetFlood.ALERT
    else:
        status = StreetFlood.NORMAL
    return StreetStatus(depth, status, thresholds)
