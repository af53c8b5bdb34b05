"""The Hanoi model: a device's reading as a pure function of (seed, device, simulated time).

``HanoiModel.truth`` is what the device should measure; ``HanoiModel.reading`` is what it
reports, after sensor faults and rounding, or ``None`` when it skips the report.
"""

from __future__ import annotations

from collections.abc import Callable

from thudo.simulate.air import AirQuality
from thudo.simulate.fleet import AIR, FLOOD, RIVER, TRAFFIC, WEATHER, Device
from thudo.simulate.noise import gauss
from thudo.simulate.rain import RainEvent, RainField
from thudo.simulate.sensor import STUCK_ATTRIBUTES, SensorFaults
from thudo.simulate.traffic import TrafficFlow
from thudo.simulate.water import red_river_level, street_depth, to_lich_level
from thudo.simulate.weather import Weather

__all__ = ["HanoiModel"]

Values = dict[str, float]


class HanoiModel:
    """Readings for every device type from one seed, plus any injected storms."""

    def __init__(
        self, seed: int, storms: tuple[RainEvent, ...] = (), faults: SensorFaults | None = None
    ) -> None:
        self.seed = seed
        self.rain = RainField(seed, storms)
        self.weather = Weather(self.rain)
        self.air = AirQuality(self.rain)
        self.traffic = TrafficFlow(self.rain)
        self.faults = SensorFaults() if faults is None else faults
        self._truths: dict[str, Callable[[Device, float, float], Values]] = {
            AIR.entity_type: self._air,
            WEATHER.entity_type: self._weather,
            FLOOD.entity_type: self._flood,
            RIVER.entity_type: self._river,
            TRAFFIC.entity_type: self._traffic,
        }

    def truth(self, device: Device, t: float, interval: float = 60.0) -> Values:
        """What the device should measure at ``t`` (epoch seconds) over ``interval`` seconds."""
        return self._truths[device.type.entity_type](device, t, interval)

    def reading(self, device: Device, t: float, interval: float = 60.0) -> Values | None:
        """What the device reports at ``t``: ``None`` when it skips, faults included."""
        if self.faults.missed(self.seed, device.key, t):
            return None
        values = self.truth(device, t, interval)
        if device.type.entity_type == AIR.entity_type:
            self._stick(device, t, interval, values)
            self.faults.corrupt(self.seed, device.key, t, values)
        return values

    def _stick(self, device: Device, t: float, interval: float, values: Values) -> None:
        since = self.faults.stuck_since(self.seed, device.key, t)
        if since is not None and since < t:
            frozen = self.truth(device, since, interval)
            for name in STUCK_ATTRIBUTES:
                values[name] = frozen[name]

    def _air(self, device: Device, t: float, interval: float) -> Values:
        key, air = device.key, self.air
        pm25 = air.pm25(key, device.centre_km, t)
        return {
            "pm25": round(pm25, 1),
            "pm10": round(air.pm10(key, pm25, t), 1),
            "no2": round(air.no2(key, device.centre_km, t), 1),
            "so2": round(air.so2(key, t), 1),
            "o3": round(air.o3(key, t), 1),
            "co": round(air.co(key, pm25, t)),
            "temperature": round(self.weather.temperature(key, t), 1),
            "relativeHumidity": round(self.weather.humidity(key, t), 1),
        }

    def _weather(self, device: Device, t: float, interval: float) -> Values:
        key, weather = device.key, self.weather
        return {
            "temperature": round(weather.temperature(key, t), 1),
            "relativeHumidity": round(weather.humidity(key, t), 1),
            "precipitation": round(weather.precipitation(key, t, interval), 2),
            "windSpeed": round(weather.wind_speed(key, t), 1),
            "atmosphericPressure": round(weather.pressure(key, t), 1),
        }

    def _flood(self, device: Device, t: float, interval: float) -> Values:
        depth = street_depth(self.rain, device.key, t)
        if depth > 0.0:
            depth = max(0.0, depth + 0.004 * gauss(self.seed, device.key, int(t)))
        return {"currentLevel": round(depth, 3)}

    def _river(self, device: Device, t: float, interval: float) -> Values:
        if device.device_id == "to-lich":
            level = to_lich_level(self.rain, device.key, t)
        else:
            level = red_river_level(self.rain, device.key, t)
        return {"waterLevel": round(level, 2)}

    def _traffic(self, device: Device, t: float, interval: float) -> Values:
        return self.traffic.measures(device.key, device.capacity, device.free_speed, t, interval)
