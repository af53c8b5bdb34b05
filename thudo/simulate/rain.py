"""Rain over Hanoi as discrete events: about 1,800 mm a year, heaviest in July to September.

Time is cut into 3-hour slots; a hash of (seed, slot) decides whether a rain event starts in
the slot, when, for how long and how much falls. Each event is a triangular hyetograph, so the
rain between two instants is exact arithmetic, with no state and no time stepping. Storms can
be added on top (``--storm-at``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from thudo.simulate.noise import unit
from thudo.simulate.seasons import HOUR, monthly

__all__ = ["SLOT", "RainEvent", "RainField", "storm"]

SLOT = 3 * HOUR
_LONGEST = 8 * HOUR
# Monthly totals (mm) and rain events a month, Láng station climate scaled to ~1,800 mm.
_TOTAL_MM = (20, 28, 47, 97, 202, 258, 310, 342, 285, 140, 46, 25)
_EVENTS = (10, 12, 14, 12, 14, 16, 17, 18, 14, 10, 7, 7)
_SLOTS_PER_MONTH = 30.4 * 24 * HOUR / SLOT
_K_START, _K_LENGTH, _K_AMOUNT, _K_PEAK, _K_OCCURS = 101, 102, 103, 104, 105


@dataclass(frozen=True, slots=True)
class RainEvent:
    """A triangular hyetograph: rain from ``start`` for ``duration`` seconds, peaking at
    ``peak`` (a fraction of the duration), ``total_mm`` in all; ``tag`` keys its local variation."""

    start: float
    duration: float
    total_mm: float
    peak: float
    tag: int

    @property
    def end(self) -> float:
        """When the rain stops."""
        return self.start + self.duration

    def fallen(self, t: float) -> float:
        """Rain fallen from the start of the event to ``t``, in mm."""
        x = (t - self.start) / self.duration
        if x <= 0.0:
            return 0.0
        if x >= 1.0:
            return self.total_mm
        p = self.peak
        if x <= p:
            return self.total_mm * x * x / p
        return self.total_mm * (1.0 - (1.0 - x) ** 2 / (1.0 - p))


def storm(start: float, total_mm: float = 80.0, duration: float = 2 * HOUR) -> RainEvent:
    """An injected storm over the whole city: by default 80 mm in 2 hours, peaking early."""
    return RainEvent(start, duration, total_mm, 0.15, -1 - int(start))


class RainField:
    """Rain events from a seed (plus injected storms), with a cache of the slots seen."""

    def __init__(self, seed: int, storms: tuple[RainEvent, ...] = ()) -> None:
        self.seed = seed
        self.storms = storms
        self._slots: dict[int, RainEvent | None] = {}

    def events(self, a: float, b: float) -> list[RainEvent]:
        """The events that rain at some time in [a, b]."""
        found = [s for s in self.storms if s.start <= b and s.end >= a]
        first = math.floor((a - _LONGEST) / SLOT)
        for slot in range(first, math.floor(b / SLOT) + 1):
            event = self._slot(slot)
            if event is not None and event.start <= b and event.end >= a:
                found.append(event)
        return found

    def _slot(self, slot: int) -> RainEvent | None:
        if slot not in self._slots:
            if len(self._slots) > 50_000:
                self._slots.clear()
            self._slots[slot] = self._draw(slot)
        return self._slots[slot]

    def _draw(self, slot: int) -> RainEvent | None:
        start = slot * SLOT
        events = monthly(_EVENTS, start)
        if unit(self.seed, _K_OCCURS, slot) >= events / _SLOTS_PER_MONTH:
            return None
        mean = monthly(_TOTAL_MM, start) / events
        total = -mean * math.log(1.0 - unit(self.seed, _K_AMOUNT, slot))
        hours = 0.5 + 5.5 * unit(self.seed, _K_LENGTH, slot) ** 1.5
        peak = 0.15 + 0.5 * unit(self.seed, _K_PEAK, slot)
        offset = SLOT * unit(self.seed, _K_START, slot)
        return RainEvent(start + offset, min(hours * HOUR, _LONGEST), total, peak, slot)

    def local_factor(self, key: int, event: RainEvent) -> float:
        """How much of an event falls at a device: storms cover the city evenly."""
        if event.tag < 0:
            return 0.95 + 0.1 * unit(self.seed, key, event.tag)
        return 0.75 + 0.5 * unit(self.seed, key, event.tag)

    def fallen(self, key: int, a: float, b: float) -> float:
        """Rain at a device between ``a`` and ``b`` (a < b), in mm."""
        return sum(
            (e.fallen(b) - e.fallen(a)) * self.local_factor(key, e) for e in self.events(a, b)
        )

    def weighted(self, key: int, t: float, tau: float, horizon: float) -> float:
        """Rain before ``t`` (up to ``horizon`` back), each event weighted by exp(-age/tau)."""
        total = 0.0
        for e in self.events(t - horizon, t):
            mid = min(t, e.start + e.peak * e.duration)
            total += e.fallen(t) * self.local_factor(key, e) * math.exp(-(t - mid) / tau)
        return total
