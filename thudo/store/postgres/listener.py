"""LISTEN for subscription changes made by other processes on the same database.

One dedicated connection (outside the pool: a pooled connection is shared, and a LISTEN
only hears while its session lives) waits for ``NOTIFY thudo_subscriptions``. When the
connection fails it is opened again after a growing pause; the callback is then called
once, since changes made meanwhile were not heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

from thudo.store.postgres.outbox import CHANNEL

__all__ = ["ChangeWatcher"]

log = logging.getLogger(__name__)

# How long a quiet connection waits before checking that it is still alive.
_IDLE_CHECK = 15.0
_RETRY_FIRST, _RETRY_MAX = 0.5, 30.0


class ChangeWatcher:
    """Calls ``callback`` (on the event loop) after each change of the subscriptions."""

    def __init__(self, url: str, callback: Callable[[], None], connect_timeout: float) -> None:
        self._url = url
        self._callback = callback
        self._connect_timeout = max(1, round(connect_timeout))
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while a LISTEN is in place

    def start(self) -> None:
        """Start listening in a background task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="thudo-pg-listen")

    def stop(self) -> None:
        """Stop listening (close() waits until the connection is closed)."""
        if self._task is not None:
            self._task.cancel()

    async def close(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = _RETRY_FIRST
        first = True
        while True:
            try:
                await self._listen(missed=not first)
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN %s failed (%s); reconnecting in %.1f s", CHANNEL, exc, delay)
            except Exception:
                log.exception("LISTEN %s failed; reconnecting in %.1f s", CHANNEL, delay)
            if self.listening.is_set():
                delay = _RETRY_FIRST  # it worked for a while: start the pauses afresh
            self.listening.clear()
            first = False
            await asyncio.sleep(delay)
            delay = min(_RETRY_MAX, delay * 2)

    async def _listen(self, missed: bool) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            application_name="thudo-listen",
        )
        async with conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self.listening.set()
            log.info("listening for subscription changes on %s", CHANNEL)
            if missed:
                self._notify()
            while True:
                async for _ in conn.notifies(timeout=_IDLE_CHECK):
                    self._notify()
                # Every _IDLE_CHECK seconds, make sure the connection still answers, so
                # that one the network dropped silently is replaced.
                await conn.execute("SELECT 1")

    def _notify(self) -> None:
        try:
            self._callback()
        except Exception:
            log.exception("the subscription change callback failed")
