"""Hanoi weather: temperature, humidity, wind, pressure and rain at a station.

Calibrated to DOMAIN.md section 3: annual mean 23.2 °C (about 17 in winter, 29 in summer)
and about 1,800 mm of rain a year, heaviest in July to September.
"""

from __future__ import annotations

import math

from thudo.simulate.noise import smooth, unit
from thudo.simulate.rain import RainField
from thudo.simulate.seasons import DAY, HOUR, annual_cosine, local_hour, monthly

__all__ = ["Weather"]

_TWO_PI = 2.0 * math.pi
# Relative humidity (%) by month: the damp spring drizzle season, a drier autumn.
_HUMIDITY = (80, 84, 87, 87, 83, 82, 83, 85, 83, 79, 77, 76)
_K_TEMP, _K_RH, _K_WIND, _K_GUST, _K_PRESSURE, _K_OFFSET = 301, 302, 303, 304, 305, 306


class Weather:
    """The meteorological fields, at a device (``key``) and an instant."""

    def __init__(self, rain: RainField) -> None:
        self.rain = rain
        self.seed = rain.seed

    def temperature(self, key: int, t: float) -> float:
        """Air temperature in °C."""
        seasonal = 23.2 + 6.2 * annual_cosine(t)
        diurnal = 3.0 * math.cos(_TWO_PI * (local_hour(t) - 14.5) / 24.0)
        synoptic = 1.6 * smooth(self.seed, _K_TEMP, t, 3 * DAY)
        local = 0.8 * (unit(self.seed, key, _K_OFFSET) - 0.5) + 0.25 * smooth(
            self.seed, key, t, HOUR
        )
        cooling = min(4.0, 0.25 * self.rain.weighted(key, t, 2 * HOUR, 8 * HOUR))
        return seasonal + diurnal + synoptic + local - cooling

    def humidity(self, key: int, t: float) -> float:
        """Relative humidity in percent."""
        diurnal = -9.0 * math.cos(_TWO_PI * (local_hour(t) - 14.5) / 24.0)
        spells = 6.0 * smooth(self.seed, _K_RH, t, 2 * DAY) + 1.5 * smooth(self.seed, key, t, HOUR)
        wet = min(15.0, 1.5 * self.rain.weighted(key, t, 3 * HOUR, 12 * HOUR))
        return max(35.0, min(100.0, monthly(_HUMIDITY, t) + diurnal + spells + wet))

    def wind_speed(self, key: int, t: float) -> float:
        """Wind speed in m/s: light most of the time, gusty under a storm."""
        mean = 2.0 + 0.8 * smooth(self.seed, _K_WIND, t, 6 * HOUR)
        gust = 0.6 * abs(smooth(self.seed, key ^ _K_GUST, t, 600.0))
        storm = min(8.0, 0.2 * self.rain.weighted(key, t, HOUR, 4 * HOUR))
        return max(0.0, mean + gust + storm)

    def pressure(self, key: int, t: float) -> float:
        """Atmospheric pressure in hPa: high in the winter monsoon, low in summer."""
        seasonal = 1012.5 - 7.5 * annual_cosine(t)
        tide = 1.2 * math.cos(2.0 * _TWO_PI * (local_hour(t) - 10.0) / 24.0)
        synoptic = 3.5 * smooth(self.seed, _K_PRESSURE, t, 3 * DAY)
        return seasonal + tide + synoptic + 0.3 * (unit(self.seed, key, _K_PRESSURE) - 0.5)

    def precipitation(self, key: int, t: float, interval: float) -> float:
        """Rain in mm that fell during the reporting interval ending at ``t``."""
        return self.rain.fallen(key, t - interval, t)
