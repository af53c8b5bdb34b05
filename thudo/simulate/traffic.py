"""Traffic on Hanoi's main roads: rush hours 7-9 and 17-19, about 90% motorbikes.

The load (0 to about 1) follows the hour of the day, lighter at the weekend and heavier in
the rain; speed falls and occupancy rises with the load.
"""

from __future__ import annotations

from thudo.simulate.noise import gauss, smooth
from thudo.simulate.rain import RainField
from thudo.simulate.seasons import HOUR, hourly, weekday

__all__ = ["MOTORBIKE_SHARE", "TrafficFlow"]

MOTORBIKE_SHARE = 0.9
_WEEKDAY = (
    0.08, 0.05, 0.04, 0.04, 0.07, 0.20, 0.50, 0.92, 1.00, 0.75, 0.60, 0.62,
    0.55, 0.55, 0.60, 0.65, 0.75, 0.95, 1.00, 0.80, 0.60, 0.45, 0.30, 0.15,
)  # fmt: skip
_WEEKEND = (
    0.10, 0.06, 0.04, 0.04, 0.06, 0.12, 0.28, 0.50, 0.62, 0.66, 0.66, 0.64,
    0.58, 0.55, 0.58, 0.62, 0.68, 0.74, 0.76, 0.72, 0.62, 0.50, 0.36, 0.20,
)  # fmt: skip
_K_LOAD, _K_COUNT, _K_SPEED = 501, 502, 503


class TrafficFlow:
    """The traffic fields at a counter (``key``) with a peak ``capacity`` in vehicles a minute."""

    def __init__(self, rain: RainField) -> None:
        self.rain = rain
        self.seed = rain.seed

    def load(self, key: int, t: float) -> float:
        """How busy the road is, 0 (empty) to about 1 (rush hour)."""
        table = _WEEKEND if weekday(t) >= 5 else _WEEKDAY
        wet = min(0.15, 0.02 * self.rain.fallen(key, t - HOUR, t))
        busy = hourly(table, t) * (1.0 + 0.08 * smooth(self.seed, key ^ _K_LOAD, t, 1800.0))
        return max(0.0, busy + wet)

    def measures(
        self, key: int, capacity: float, free_speed: float, t: float, interval: float
    ) -> dict[str, float]:
        """intensity (vehicles in the interval), averageVehicleSpeed, occupancy, congested."""
        load = self.load(key, t)
        minutes = interval / 60.0
        count = capacity * load * minutes * (1.0 + 0.05 * gauss(self.seed, key ^ _K_COUNT, int(t)))
        raining = self.rain.fallen(key, t - interval, t) > 0.1
        speed = free_speed * (1.0 - 0.78 * min(load, 1.05) ** 2.5) * (0.85 if raining else 1.0)
        speed *= 1.0 + 0.04 * gauss(self.seed, key ^ _K_SPEED, int(t))
        occupancy = min(0.95, 0.03 + 0.55 * load**2)
        return {
            "intensity": float(max(0, round(count))),
            "averageVehicleSpeed": round(max(5.0, speed), 1),
            "occupancy": round(occupancy, 3),
            "congested": 1.0 if speed < 0.4 * free_speed else 0.0,
        }
