"""The Hanoi model: deterministic, and calibrated to DOMAIN.md section 3."""

from __future__ import annotations

import calendar
import statistics

import pytest

from thudo.simulate.air import winter_episodes
from thudo.simulate.fleet import AIR, FLOOD, RIVER, TRAFFIC, WEATHER, Device, build_fleet
from thudo.simulate.model import HanoiModel
from thudo.simulate.rain import RainField, storm
from thudo.simulate.seasons import HOUR, local_hour
from thudo.simulate.sensor import SensorFaults

FLEET = build_fleet(1)
AIR_STATIONS = [d for d in FLEET if d.type is AIR]
GAUGES = [d for d in FLEET if d.type is FLOOD]
WEATHER_STATIONS = [d for d in FLEET if d.type is WEATHER]
PERFECT = SensorFaults.none()


def utc(*parts: int) -> float:
    return float(calendar.timegm((*parts, 0, 0, 0)[:6]))


def _fleet_pm25(model: HanoiModel, start: float, end: float, step: float) -> list[float]:
    values = []
    t = start
    while t < end:
        values.append(statistics.mean(model.truth(d, t)["pm25"] for d in AIR_STATIONS))
        t += step
    return values


def test_same_seed_same_values_different_seed_different_values() -> None:
    times = [utc(2026, 1, 15, 3), utc(2026, 7, 20, 14, 30), utc(2025, 9, 1, 23, 59)]
    first, again, other = HanoiModel(1), HanoiModel(1), HanoiModel(2)
    readings = [[first.reading(d, t) for d in FLEET] for t in times]
    assert readings == [[again.reading(d, t) for d in FLEET] for t in times]
    assert readings != [[other.reading(d, t) for d in FLEET] for t in times]
    pm = [first.truth(d, times[0])["pm25"] for d in AIR_STATIONS]
    assert len(set(pm)) > len(pm) // 2, "stations should differ from one another"


def test_readings_do_not_depend_on_the_order_they_are_asked_in() -> None:
    times = [utc(2026, 6, d, h) for d in range(1, 29, 3) for h in (0, 13)]
    forward, backward = HanoiModel(5), HanoiModel(5)
    ahead = {(d.device_id, t): forward.reading(d, t) for t in times for d in FLEET}
    behind = {(d.device_id, t): backward.reading(d, t) for t in reversed(times) for d in FLEET}
    assert ahead == behind


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pm25_is_seasonal(seed: int) -> None:
    model = HanoiModel(seed, faults=PERFECT)
    winter = _fleet_pm25(model, utc(2025, 12, 1), utc(2026, 2, 1), 11 * HOUR)
    summer = _fleet_pm25(model, utc(2026, 6, 1), utc(2026, 8, 1), 11 * HOUR)
    assert 55 <= statistics.mean(winter) <= 75
    assert 15 <= statistics.mean(summer) <= 28


def test_pm25_is_highest_at_night_and_lowest_early_afternoon() -> None:
    model = HanoiModel(1, faults=PERFECT)
    night, afternoon = [], []
    for day in range(1, 29):
        for hour in range(24):
            t = utc(2026, 1, day, hour) - 7 * HOUR  # Hanoi time
            if 2 <= local_hour(t) < 8:
                night.append(model.truth(AIR_STATIONS[day % 30], t)["pm25"])
            elif 14 <= local_hour(t) < 15:
                afternoon.append(model.truth(AIR_STATIONS[day % 30], t)["pm25"])
    assert len(night) == 6 * 28 and len(afternoon) == 28
    assert statistics.mean(night) > 1.3 * statistics.mean(afternoon)


def test_ozone_peaks_in_the_afternoon() -> None:
    model = HanoiModel(1, faults=PERFECT)
    station = AIR_STATIONS[0]
    days = range(1, 29)
    noon = [model.truth(station, utc(2026, 4, d, 14) - 7 * HOUR)["o3"] for d in days]
    dawn = [model.truth(station, utc(2026, 4, d, 5) - 7 * HOUR)["o3"] for d in days]
    assert statistics.mean(noon) > 2 * statistics.mean(dawn)


@pytest.mark.parametrize("seed", [1, 4])
def test_several_winter_episodes_pass_100(seed: int) -> None:
    model = HanoiModel(seed, faults=PERFECT)
    episodes = winter_episodes(seed, 2025)
    assert len(episodes) >= 4
    above = 0
    for episode in episodes:
        around = _fleet_pm25(model, episode.centre - 12 * HOUR, episode.centre + 12 * HOUR, HOUR)
        above += max(around) > 100
    assert above >= 3


def test_pm10_is_one_and_a_half_to_two_times_pm25() -> None:
    model = HanoiModel(1, faults=PERFECT)
    ratios = [
        v["pm10"] / v["pm25"]
        for d in AIR_STATIONS
        for t in (utc(2026, 1, 10, 2), utc(2026, 7, 10, 8))
        if (v := model.truth(d, t))["pm25"] > 5
    ]
    assert 1.5 <= statistics.mean(ratios) <= 2.0
    assert min(ratios) >= 1.25 and max(ratios) <= 2.3


def test_temperature_follows_hanoi_climate() -> None:
    model = HanoiModel(1, faults=PERFECT)
    station = WEATHER_STATIONS[0]

    def mean(month: int) -> float:
        days = range(1, 29)
        return statistics.mean(
            model.truth(station, utc(2026, month, d, h))["temperature"]
            for d in days
            for h in (0, 6, 12, 18)
        )

    assert 14 <= mean(1) <= 20
    assert 27 <= mean(7) <= 32


@pytest.mark.parametrize("seed", [1, 2])
def test_rain_is_about_1800_mm_a_year_heaviest_in_summer(seed: int) -> None:
    rain = RainField(seed)
    months = [
        rain.fallen(0, utc(2025, m, 1), utc(2025 + m // 12, m % 12 + 1, 1)) for m in range(1, 13)
    ]
    assert 1300 <= sum(months) <= 2400
    assert sum(months[6:9]) > 3 * sum(months[0:3])


def _storm_model() -> tuple[HanoiModel, float]:
    start = utc(2026, 1, 20, 3)
    return HanoiModel(1, (storm(start),), PERFECT), start


def test_a_storm_floods_several_hotspots_for_well_over_five_minutes() -> None:
    model, start = _storm_model()
    depth = {
        d.device_id: [model.truth(d, start + m * 60)["currentLevel"] for m in range(0, 91)]
        for d in GAUGES
    }
    flooded = [name for name, series in depth.items() if max(series[:75]) > 0.3]
    assert len(flooded) >= 5
    for name in flooded:
        above = [m for m, level in enumerate(depth[name]) if level > 0.3]
        first = above[0]
        assert all(level > 0.3 for level in depth[name][first : first + 15]), name


def test_a_storm_shows_in_the_weather_stations_precipitation() -> None:
    model, start = _storm_model()
    for station in WEATHER_STATIONS:
        total = sum(
            model.truth(station, start + m * 60, 60)["precipitation"] for m in range(1, 121)
        )
        assert total >= 50, station.device_id
    before = [
        model.truth(WEATHER_STATIONS[0], start - m * 60, 60)["precipitation"] for m in range(60)
    ]
    assert sum(before) < 5


def test_flood_water_drains_within_a_few_hours_after_the_storm() -> None:
    model, start = _storm_model()
    later = [model.truth(d, start + 6 * HOUR)["currentLevel"] for d in GAUGES]
    assert later == [0.0] * len(GAUGES)


def test_gauges_are_dry_without_rain() -> None:
    model = HanoiModel(3, faults=PERFECT)
    dry = 0
    for i in range(400):
        t = utc(2025, 1, 1) + i * 21.7 * HOUR
        for gauge in GAUGES[:5]:
            if model.rain.fallen(gauge.key, t - 12 * HOUR, t) == 0:
                dry += 1
                assert model.truth(gauge, t)["currentLevel"] == 0.0
    assert dry >= 500


def test_river_levels_stay_in_hanoi_ranges() -> None:
    model = HanoiModel(1, faults=PERFECT)
    long_bien, to_lich = [d for d in FLEET if d.type is RIVER]
    dry = [model.truth(long_bien, utc(2026, 2, d))["waterLevel"] for d in range(1, 28)]
    wet = [model.truth(long_bien, utc(2026, 8, d))["waterLevel"] for d in range(1, 28)]
    assert 0.5 <= statistics.mean(dry) <= 4.5
    assert statistics.mean(wet) > statistics.mean(dry) + 2.5
    assert max(wet) < 13.0
    level = [model.truth(to_lich, utc(2026, 3, d))["waterLevel"] for d in range(1, 28)]
    assert all(3.0 <= x <= 5.2 for x in level)


def test_traffic_has_rush_hours() -> None:
    model = HanoiModel(1, faults=PERFECT)
    counter = next(d for d in FLEET if d.type is TRAFFIC)
    tuesday = utc(2026, 3, 10) - 7 * HOUR  # midnight, Hanoi time

    def at(hour: float) -> dict[str, float]:
        return model.truth(counter, tuesday + hour * HOUR, 60)

    for rush in (8, 18):
        assert at(rush)["intensity"] > 5 * at(3)["intensity"]
        assert at(rush)["averageVehicleSpeed"] < at(3)["averageVehicleSpeed"]
        assert at(rush)["occupancy"] > at(3)["occupancy"]
    assert at(3)["congested"] == 0.0


def _series(model: HanoiModel, device: Device, days: int) -> list[dict[str, float] | None]:
    start = utc(2026, 1, 1)
    return [model.reading(device, start + i * 600, 600) for i in range(days * 144)]


def test_sensors_skip_reports_and_report_faults_at_a_low_rate() -> None:
    model = HanoiModel(1)
    readings = [r for d in AIR_STATIONS[:10] for r in _series(model, d, 20)]
    missed = sum(r is None for r in readings) / len(readings)
    assert 0.003 <= missed <= 0.03
    negatives = sum(1 for r in readings if r is not None and min(r.values()) < 0)
    assert 1 <= negatives <= len(readings) * 0.003


def test_some_station_flat_lines_for_hours() -> None:
    model = HanoiModel(1)
    faults = model.faults
    windows = {
        (d.device_id, since)
        for d in AIR_STATIONS
        for hour in range(60 * 24)
        if (since := faults.stuck_since(1, d.key, utc(2026, 1, 1) + hour * HOUR)) is not None
    }
    assert 3 <= len(windows) <= 60
    device_id, since = min(windows)
    station = next(d for d in AIR_STATIONS if d.device_id == device_id)
    stuck = [model.reading(station, since + i * 600, 600) for i in range(13)]
    values = {r["pm25"] for r in stuck if r is not None}
    truths = {model.truth(station, since + i * 600, 600)["pm25"] for i in range(13)}
    assert len(values) == 1  # two hours of the same value
    assert len(truths) > 5
