"""Which entities need their analytics recomputed: fed by the store as changes commit.

The store calls ``seen`` inside each write transaction and ``committed`` after it, on its
writer thread. Only entities of the watched types count, and only when something other than
the pipeline's own attributes changed, so writing results back does not start it again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable

from thudo.ngsild.jsonld import core_context
from thudo.ngsild.model import Entity
from thudo.pipeline.derive import DERIVED
from thudo.store.base import ChangeObserver

__all__ = ["WATCHED_TYPES", "ChangeWatch", "Pending"]

#: What is queued for an entity: its type, and its state when a change left one.
Pending = tuple[str, Entity | None]
WATCHED_TYPES = ("AirQualityObserved", "WaterObserved", "FloodMonitoring", "WeatherObserved")


class ChangeWatch(ChangeObserver):
    """Collects (tenant, entity id, type) of changed entities; the pipeline takes them."""

    def __init__(self) -> None:
        ctx = core_context()
        self._types = {ctx.expand(t): t for t in WATCHED_TYPES}
        self._derived = frozenset(ctx.expand(name) for name in DERIVED)
        self._lock = threading.Lock()
        # (tenant, entity id) → (type, the entity as the change left it, or None: read it)
        self._seen: dict[tuple[str, str], Pending] = {}
        self._ready: dict[tuple[str, str], Pending] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.wake = asyncio.Event()

    def watch_types(self, extra: Iterable[str]) -> None:
        """Watch these entity types too (those alert rules name)."""
        ctx = core_context()
        names = dict.fromkeys((*WATCHED_TYPES, *extra))
        self._types = {ctx.expand(t): t for t in names}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop to wake when changes commit."""
        self._loop = loop

    def wants(self, tenant: str, types: list[str]) -> bool:
        return any(t in self._types for t in types)

    def seen(self, tenant: str, before: Entity | None, after: Entity | None) -> None:
        if after is None or not self._touches_inputs(before, after):
            return
        kind = next((self._types[t] for t in after["type"] if t in self._types), None)
        if kind is not None:
            with self._lock:
                # The new state is kept, so the pipeline need not read it back; the store
                # builds a fresh one for every change, so nothing alters it afterwards.
                self._seen[(tenant, after["id"])] = (kind, after)

    def _touches_inputs(self, before: Entity | None, after: Entity) -> bool:
        old = before["attrs"] if before is not None else {}
        for iri, instances in after["attrs"].items():
            if iri not in self._derived and old.get(iri) != instances:
                return True
        return False

    def committed(self) -> None:
        with self._lock:
            if not self._seen:
                return
            self._ready.update(self._seen)
            self._seen.clear()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.wake.set)

    def add(self, tenant: str, entity_id: str, kind: str, entity: Entity | None = None) -> None:
        """Queue an entity directly (the start-up sweep, a deferred one); a newer state
        already queued wins."""
        with self._lock:
            self._ready.setdefault((tenant, entity_id), (kind, entity))
        self.wake.set()

    def take(self) -> dict[tuple[str, str], Pending]:
        """Everything committed since the last call."""
        with self._lock:
            ready, self._ready = self._ready, {}
        self.wake.clear()
        return ready
