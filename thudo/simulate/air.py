"""Hanoi air quality: PM2.5, PM10, NO2, SO2, O3 and CO at a station (µg/m³).

Calibrated to DOMAIN.md section 3: monthly PM2.5 medians about 60-65 in December-January
and about 20 in June-July, highest 02:00-08:00 and lowest around 14:00-15:00 Hanoi time,
and several episodes above 100 each winter. A city-wide synoptic term makes stations move
together; each station adds its own offset and noise.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from functools import lru_cache

from thudo.simulate.noise import gauss, smooth, unit
from thudo.simulate.rain import RainField
from thudo.simulate.seasons import DAY, HOUR, LOCAL_OFFSET, hourly, local_hour, monthly, year_of

__all__ = ["AirQuality", "Episode", "winter_episodes"]

# Monthly PM2.5 level (µg/m³) before episodes and noise; the mean lands near the medians.
_PM25 = (58, 49, 42, 36, 28, 20, 19, 22, 28, 38, 49, 58)
# Hour-of-day factor (local time): night and morning high, early afternoon low.
_PM_HOURS = (
    1.10, 1.15, 1.20, 1.23, 1.25, 1.27, 1.27, 1.24, 1.16, 1.03, 0.92, 0.84,
    0.78, 0.73, 0.70, 0.71, 0.76, 0.84, 0.94, 1.01, 1.05, 1.07, 1.08, 1.09,
)  # fmt: skip
# Traffic-driven NO2 and CO: morning and evening rush hours.
_RUSH_HOURS = (
    0.70, 0.62, 0.58, 0.56, 0.60, 0.75, 1.00, 1.30, 1.40, 1.20, 1.00, 0.95,
    0.92, 0.90, 0.92, 1.00, 1.15, 1.35, 1.40, 1.25, 1.10, 0.95, 0.85, 0.77,
)  # fmt: skip
_WINTER = (1.3, 1.25, 1.1, 1.0, 0.85, 0.75, 0.72, 0.75, 0.85, 1.0, 1.15, 1.3)
_OZONE_SEASON = (0.7, 0.8, 0.95, 1.15, 1.25, 1.1, 1.0, 1.0, 1.15, 1.2, 1.0, 0.8)
_K_SYNOPTIC, _K_LOCAL, _K_SITE, _K_RATIO, _K_NO2, _K_SO2, _K_O3, _K_CO = range(401, 409)


@dataclass(frozen=True, slots=True)
class Episode:
    """A winter pollution episode: PM multiplied by up to ``peak`` around ``centre``."""

    centre: float
    half_width: float
    peak: float

    def factor(self, t: float) -> float:
        """The multiplier this episode adds at ``t`` (1 far from it)."""
        x = (t - self.centre) / self.half_width
        return 1.0 + (self.peak - 1.0) * math.exp(-x * x) if abs(x) < 4.0 else 1.0


@lru_cache(maxsize=64)
def winter_episodes(seed: int, winter: int) -> tuple[Episode, ...]:
    """The episodes of the winter that starts in October of year ``winter`` (4 to 7)."""
    origin = calendar.timegm((winter, 10, 1, 0, 0, 0)) - LOCAL_OFFSET
    count = 4 + int(4 * unit(seed, 411, winter))
    episodes = []
    for i in range(count):
        index = winter * 16 + i
        centre = origin + (14 + 151 * unit(seed, 412, index)) * DAY
        half_width = (1.0 + 1.5 * unit(seed, 413, index)) * DAY
        episodes.append(Episode(centre, half_width, 1.8 + 0.8 * unit(seed, 414, index)))
    return tuple(episodes)


class AirQuality:
    """The pollutant fields at a station (``key``, ``centre_km`` from Hoàn Kiếm) and an instant."""

    def __init__(self, rain: RainField) -> None:
        self.rain = rain
        self.seed = rain.seed

    def episode_factor(self, t: float) -> float:
        """The strongest winter episode's multiplier at ``t`` (1 outside episodes)."""
        year = year_of(t)
        factor = 1.0
        for winter in (year - 1, year):
            for episode in winter_episodes(self.seed, winter):
                factor = max(factor, episode.factor(t))
        return factor

    def site_factor(self, key: int, centre_km: float) -> float:
        """A station's level against the city's: higher in the dense centre."""
        urban = max(0.75, min(1.15, 1.12 - 0.012 * centre_km))
        return urban * (0.9 + 0.2 * unit(self.seed, key, _K_SITE))

    def pm25(self, key: int, centre_km: float, t: float) -> float:
        """PM2.5 in µg/m³."""
        level = monthly(_PM25, t) * hourly(_PM_HOURS, t) * self.episode_factor(t)
        synoptic = 0.25 * smooth(self.seed, _K_SYNOPTIC, t, 18 * HOUR)
        local = 0.12 * smooth(self.seed, key ^ _K_LOCAL, t, 2 * HOUR)
        washout = 1.0 / (1.0 + self.rain.weighted(key, t, 6 * HOUR, DAY) / 25.0)
        jitter = 1.0 + 0.04 * gauss(self.seed, key, int(t))
        return (
            level * self.site_factor(key, centre_km) * math.exp(synoptic + local) * washout * jitter
        )

    def pm10(self, key: int, pm25: float, t: float) -> float:
        """PM10 in µg/m³: 1.5 to 2 times PM2.5 (coarse dust from roads and building sites)."""
        ratio = 1.5 + 0.45 * unit(self.seed, key, _K_RATIO) + 0.08 * smooth(self.seed, key, t, DAY)
        return pm25 * max(1.3, ratio)

    def no2(self, key: int, centre_km: float, t: float) -> float:
        """NO2 in µg/m³: traffic, rush-hour peaks, higher in winter and in the centre."""
        base = 30.0 * monthly(_WINTER, t) * hourly(_RUSH_HOURS, t)
        noise = math.exp(0.2 * smooth(self.seed, key ^ _K_NO2, t, 3 * HOUR))
        return base * max(0.6, 1.2 - 0.02 * centre_km) * noise

    def so2(self, key: int, t: float) -> float:
        """SO2 in µg/m³: low, a little higher in winter."""
        return 2.0 + 8.0 * monthly(_WINTER, t) * math.exp(
            0.3 * smooth(self.seed, key ^ _K_SO2, t, 6 * HOUR)
        )

    def o3(self, key: int, t: float) -> float:
        """O3 in µg/m³: photochemical, peaking in the afternoon, lowest at night."""
        sun = math.pow(max(0.0, math.sin(math.pi * (local_hour(t) - 8.0) / 12.0)), 1.3)
        level = (12.0 + 85.0 * sun) * monthly(_OZONE_SEASON, t)
        return level * math.exp(0.2 * smooth(self.seed, key ^ _K_O3, t, 4 * HOUR))

    def co(self, key: int, pm25: float, t: float) -> float:
        """CO in µg/m³: combustion, following PM2.5 and traffic."""
        traffic = 300.0 * hourly(_RUSH_HOURS, t)
        return (traffic + 14.0 * pm25) * math.exp(0.1 * smooth(self.seed, key ^ _K_CO, t, 2 * HOUR))
