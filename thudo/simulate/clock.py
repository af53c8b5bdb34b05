"""The simulated clock: it runs ``speed`` times faster than real time, never ahead of it.

``sim = min(start + speed * elapsed_real, now)``: a fast clock started in the past catches up
with the real one and then keeps real time, because receivers reject future timestamps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["SimClock", "format_instant", "parse_duration", "parse_instant"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90m``, ``6h``, ``2d``, ``365d`` or ``45`` (seconds)."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use a number and s, m, h, d or w, e.g. 6h)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_instant(text: str) -> float:
    """Epoch seconds of an ISO 8601 date or datetime; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 datetime: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_instant(t: float) -> str:
    """``t`` as an ISO 8601 UTC timestamp with a Z, to the second (``2026-11-26T08:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class SimClock:
    """Simulated time from ``start`` at ``speed``, capped at the wall clock.

    ``wall`` and ``monotonic`` are injectable so that tests can drive the clock.
    """

    def __init__(
        self,
        start: float,
        speed: float,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.start = start
        self.speed = speed
        self._wall = wall
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> float:
        """The current simulated time (epoch seconds), never later than the real time."""
        elapsed = self._monotonic() - self._origin
        return min(self.start + self.speed * elapsed, self._wall())

    def delay_until(self, t: float) -> float:
        """Real seconds to wait until the simulated clock reaches ``t`` (0 if it has)."""
        elapsed = self._monotonic() - self._origin
        by_speed = (t - self.start) / self.speed - elapsed
        by_wall = t - self._wall()
        return max(0.0, by_speed, by_wall)
