"""Sensor realism: missed reports, spikes, negative readings and stuck (flat-lined) values.

Every fault is a hash of (seed, device, time), so it is as deterministic as the model, at
low rates: a report is missed 1% of the time; an air-quality reading spikes 0.1% of the
time and goes negative 0.05% of the time; a station's PM sensor sticks for 2 to 8 hours on
about one day in 80.
"""

from __future__ import annotations

from dataclasses import dataclass

from thudo.simulate.noise import unit
from thudo.simulate.seasons import DAY, HOUR

__all__ = ["STUCK_ATTRIBUTES", "SensorFaults"]

STUCK_ATTRIBUTES = ("pm25", "pm10")
_K_GAP, _K_SPIKE, _K_NEGATIVE, _K_WHICH, _K_SIZE = 601, 602, 603, 604, 605
_K_STUCK, _K_STUCK_AT, _K_STUCK_FOR = 606, 607, 608


@dataclass(frozen=True, slots=True)
class SensorFaults:
    """Fault rates: the defaults are realistic, ``SensorFaults.none()`` is a perfect sensor."""

    gap: float = 0.01
    spike: float = 0.001
    negative: float = 0.0005
    stuck_per_day: float = 0.0125

    @classmethod
    def none(cls) -> SensorFaults:
        """Sensors that never fail."""
        return cls(0.0, 0.0, 0.0, 0.0)

    def missed(self, seed: int, key: int, t: float) -> bool:
        """Whether the device silently skips its report at ``t``."""
        return unit(seed, key ^ _K_GAP, int(t)) < self.gap

    def stuck_since(self, seed: int, key: int, t: float) -> float | None:
        """The start of a stuck window containing ``t``, if any (windows start on the hour)."""
        today = int(t // DAY)
        for day in (today, today - 1):
            if unit(seed, key ^ _K_STUCK, day) >= self.stuck_per_day:
                continue
            start = day * DAY + int(24 * unit(seed, key ^ _K_STUCK_AT, day)) * HOUR
            length = (2 + int(7 * unit(seed, key ^ _K_STUCK_FOR, day))) * HOUR
            if start <= t < start + length:
                return start
        return None

    def corrupt(self, seed: int, key: int, t: float, values: dict[str, float]) -> None:
        """Turn one reading into a spike or a negative value, at the configured rates."""
        draw = unit(seed, key ^ _K_SPIKE, int(t))
        if draw >= self.spike + self.negative:
            return
        names = sorted(values)
        name = names[int(len(names) * unit(seed, key ^ _K_WHICH, int(t)))]
        size = unit(seed, key ^ _K_SIZE, int(t))
        if draw < self.spike:
            values[name] = round(values[name] * (4.0 + 6.0 * size) + 50.0, 1)
        else:
            values[name] = -round(1.0 + 20.0 * size, 1)
