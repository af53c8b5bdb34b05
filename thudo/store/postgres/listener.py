"""LISTEN for changes made by other processes on the same database: subscriptions
(``NOTIFY thudo_subscriptions``) and stored @contexts (``NOTIFY thudo_contexts``).

One dedicated connection (outside the pool: a pooled connection is shared, and a LISTEN
only hears while its session lives) waits for the channels it has callbacks for. When the
connection fails it is opened again after a growing pause; every callback is then called
once, since changes made meanwhile were not heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import psycopg
from psycopg import sql

__all__ = ["ChangeWatcher"]

log = logging.getLogger(__name__)

# How long a quiet connection waits before checking that it is still alive.
_IDLE_CHECK = 15.0
_RETRY_FIRST, _RETRY_MAX = 0.5, 30.0


class ChangeWatcher:
    """Calls a channel's callback (on the event loop) after each NOTIFY on it."""

    def __init__(
        self, url: str, callbacks: Mapping[str, Callable[[], None]], connect_timeout: float
    ) -> None:
        self._url = url
        self._callbacks = dict(callbacks)
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
                log.warning("LISTEN failed (%s); reconnecting in %.1f s", exc, delay)
            except Exception:
                log.exception("LISTEN failed; reconnecting in %.1f s", delay)
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
            for channel in self._callbacks:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.listening.set()
            log.info("listening for changes on %s", ", ".join(self._callbacks))
            if missed:
                for channel in self._callbacks:
                    self._notify(channel)
            while True:
                async for notice in conn.notifies(timeout=_IDLE_CHECK):
                    self._notify(notice.channel)
                # Every _IDLE_CHECK seconds, make sure the connection still answers, so
                # that one the network dropped silently is replaced.
                await conn.execute("SELECT 1")

    def _notify(self, channel: str) -> None:
        callback = self._callbacks.get(channel)
        if callback is None:
            return
        try:
            callback()
        except Exception:
            log.exception("the callback for %s failed", channel)
