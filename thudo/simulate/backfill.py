"""History before the live start, written fast through the NGSI-LD temporal API.

One ``POST /ngsi-ld/v1/temporal/entities`` per entity and chunk of time (at most a week,
and about 2,000 instances so that a body stays well under the broker's 1 MB limit), several
in flight. Chunks go in time order, so an interrupted backfill leaves a complete recent
history up to where it stopped. 201 (created) and 204 (instances appended) are success.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from thudo.simulate.client import post_json, refuse
from thudo.simulate.fleet import Device
from thudo.simulate.model import HanoiModel
from thudo.simulate.payloads import temporal_body
from thudo.simulate.seasons import DAY

__all__ = ["TEMPORAL_PATH", "Backfill", "chunk_span", "plan_chunks"]

log = logging.getLogger(__name__)

TEMPORAL_PATH = "/ngsi-ld/v1/temporal/entities"
MAX_SPAN = 7 * DAY
MAX_INSTANCES = 2000

Progress = Callable[[float], None]


def chunk_span(interval: float, attributes: int) -> float:
    """How much time one request covers: a week, or less when that would exceed
    ``MAX_INSTANCES`` instances."""
    steps = max(1, MAX_INSTANCES // max(1, attributes))
    return min(MAX_SPAN, steps * interval)


def plan_chunks(start: float, end: float, span: float) -> list[tuple[float, float]]:
    """[start, end) cut into consecutive windows of at most ``span`` seconds."""
    windows = []
    a = start
    while a < end:
        b = min(a + span, end)
        windows.append((a, b))
        a = b
    return windows


@dataclass
class Backfill:
    """A backfill in progress: the plan, and counters readable at any moment."""

    client: httpx.AsyncClient
    model: HanoiModel
    devices: Sequence[Device]
    start: float
    end: float
    interval: float
    concurrency: int = 8
    requests_done: int = 0
    instances_sent: int = 0

    @property
    def span(self) -> float:
        """The time one request covers (the widest device sets the pace)."""
        widest = max((len(d.type.attributes) for d in self.devices), default=1)
        return chunk_span(self.interval, widest)

    @property
    def requests_total(self) -> int:
        """How many requests the whole backfill makes."""
        return len(plan_chunks(self.start, self.end, self.span)) * len(self.devices)

    async def run(
        self, progress: Progress | None = None, stop: asyncio.Event | None = None
    ) -> None:
        """Send every chunk; raises ``SimulateError`` on a refused request or no connection."""
        total = max(1, self.requests_total)
        pending: set[asyncio.Task[int]] = set()
        try:
            for body in self._bodies():
                if stop is not None and stop.is_set():
                    break
                while len(pending) >= self.concurrency:
                    pending = await self._settle(pending, progress, total)
                pending.add(asyncio.create_task(self._post(body)))
            while pending:
                pending = await self._settle(pending, progress, total)
        finally:
            for task in pending:
                task.cancel()

    async def _settle(
        self, pending: set[asyncio.Task[int]], progress: Progress | None, total: int
    ) -> set[asyncio.Task[int]]:
        done, rest = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            self.instances_sent += task.result()
            self.requests_done += 1
        if progress is not None:
            progress(min(1.0, self.requests_done / total))
        return rest

    def _bodies(self) -> Iterator[dict[str, Any]]:
        for a, b in plan_chunks(self.start, self.end, self.span):
            instants = self._instants(a, b)
            for device in self.devices:
                readings = [
                    (t, v) for t in instants if (v := self.model.reading(device, t, self.interval))
                ]
                yield temporal_body(device, readings)

    def _instants(self, a: float, b: float) -> list[float]:
        first = math.ceil(a / self.interval) * self.interval
        return [first + i * self.interval for i in range(math.ceil((b - first) / self.interval))]

    async def _post(self, body: dict[str, Any]) -> int:
        instances = sum(len(v) for k, v in body.items() if k not in ("id", "type"))
        if instances == 0:
            return 0
        response = await post_json(self.client, TEMPORAL_PATH, body)
        if response.status_code not in (201, 204):
            raise refuse(response, f"backfilling {body['id']}")
        return instances
