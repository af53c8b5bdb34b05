"""Periodic upkeep of the store: history retention and old failed notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from thudo.config import Settings
from thudo.store.base import Store

__all__ = ["Housekeeper"]

log = logging.getLogger(__name__)

_BATCH = 10_000


def _cutoff(days: float) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Housekeeper:
    """Runs the retention rules every ``housekeeping_interval`` seconds."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background task."""
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        """Stop the background task."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        # Statistics soon after start, when data may have been loaded, then at each round.
        await asyncio.sleep(min(60.0, self.settings.housekeeping_interval))
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("housekeeping failed; it runs again later")
            await asyncio.sleep(self.settings.housekeeping_interval)

    async def run_once(self) -> int:
        """Apply the retention rules now; returns how many rows were removed."""
        removed = 0
        if self.settings.temporal_retention_days > 0:
            before = _cutoff(self.settings.temporal_retention_days)
            while True:
                # Small batches, so that writes are never held up for long.
                deleted = await self.store.purge_history(before, _BATCH)
                removed += deleted
                if deleted < _BATCH:
                    break
                await asyncio.sleep(0)
        if self.settings.notify_failed_retention_days > 0:
            before = _cutoff(self.settings.notify_failed_retention_days)
            removed += await self.store.purge_failed_notifications(before)
        if removed:
            log.info("housekeeping removed %s rows", removed)
        await self.store.optimize()
        return removed
