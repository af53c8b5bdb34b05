"""Delivers the outbox: claims due notifications, sends them, records the outcome.

Writes never wait for delivery. The outbox is written in the transaction of the change,
so a notification survives a crash between the write and the send; the dispatcher of
any process picks it up (rows are leased, so two processes do not send the same one).
Failures are retried with exponential backoff, then counted as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from thudo.config import Settings
from thudo.contexts.registry import ContextRegistry
from thudo.errors import NgsiError, ServiceUnavailable
from thudo.ngsild.matching import CompiledSubscription
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.validate import now_iso
from thudo.notify.matcher import Matcher
from thudo.notify.payload import notification_body
from thudo.notify.senders import DeliveryError, HttpSender, MqttSender
from thudo.store.base import (
    DeliveryOutcome,
    Outbound,
    PendingNotification,
    Store,
    SubscriptionRecord,
)

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)

# How long close() waits for the background tasks to finish after cancelling them.
_CLOSE_TIMEOUT = 5.0


@dataclass(slots=True)
class _Counters:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class _Outage:
    """Logs a store outage once, as a warning without a traceback, and its end: each loop
    would otherwise log every failed attempt (several a second while the database is away)."""

    def __init__(self) -> None:
        self.since: float | None = None

    def report(self, what: str, exc: ServiceUnavailable) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s failed: %s; retrying until the store answers", what, exc)

    def clear(self) -> None:
        if self.since is not None:
            log.warning("the store answers again after %.1f s", time.monotonic() - self.since)
            self.since = None


class Dispatcher:
    """The notification side of one process: index refresh, delivery and periodic runs."""

    def __init__(
        self, settings: Settings, store: Store, contexts: ContextRegistry, matcher: Matcher
    ) -> None:
        self.settings = settings
        self.store = store
        self.contexts = contexts
        self.matcher = matcher
        self.counters = _Counters()
        self._outage = _Outage()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()  # another process changed the subscriptions
        self._tasks: list[asyncio.Task[None]] = []
        self._http = HttpSender(settings.notify_timeout)
        self._mqtt = MqttSender(settings.notify_timeout)
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy: dict[tuple[str, str], int] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._flushes: set[asyncio.Task[None]] = set()
        self._settled = asyncio.Condition()
        self._closing = False
        self._refill_at = max(1, settings.notify_batch // 4)
        # The subscriptions as of the last refresh, so that a delivery needs no read.
        self._records: dict[tuple[str, str], SubscriptionRecord] = {}
        self._to_settle: list[tuple[DeliveryOutcome, asyncio.Future[None]]] = []

    async def wait_settled(self, tenant: str, sub_id: str, timeout: float = 1.0) -> None:
        """Wait (a little) for deliveries of a subscription that are under way, so that
        reading the subscription right after a notification shows its outcome."""
        key = (tenant, sub_id)
        if not self._busy.get(key):
            return
        async with self._settled:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._settled.wait_for(lambda: not self._busy.get(key))

    async def start(self) -> None:
        """Load the subscriptions and start the background tasks."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self.matcher.throttle_locally = not self.store.shared_throttling
        await self.refresh(force=True)
        self.store.set_change_listener(self.matcher, self.matcher.wants, self.wake_threadsafe)
        self.store.watch_changes(self._changed.set)
        for coro in (self._deliver_loop(), self._periodic_loop(), self._refresh_loop()):
            self._tasks.append(asyncio.create_task(coro))

    async def close(self) -> None:
        """Stop the background tasks and close the connections."""
        self._closing = True
        self.store.set_change_listener(None)
        self.store.watch_changes(None)
        # Deliveries under way are abandoned: their rows stay leased in the outbox and are
        # sent again after the lease, by this process after a restart or by another one.
        tasks = [*self._tasks, *self._inflight, *self._flushes]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT)
            for task in stuck:
                log.error("notification task %s did not stop within %ss", task, _CLOSE_TIMEOUT)
        self._tasks.clear()
        self._inflight.clear()
        self._flushes.clear()
        await self._http.close()
        await self._mqtt.close()

    def wake_threadsafe(self) -> None:
        """Wake the delivery loop (callable from the store's writer thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def refresh(self, force: bool = False) -> None:
        """Rebuild the matching index if any process changed a subscription."""
        version = await self.store.subscriptions_version()
        if force or version != self.matcher.version:
            records = await self.store.all_subscriptions()
            self.matcher.reload(records, version)
            self._records = {(r.tenant, r.doc["id"]): r for r in records}

    # --- loops ----------------------------------------------------------------------------
    async def _refresh_loop(self) -> None:
        """Refresh when the store reports a change (watch_changes), else every poll."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.notify_poll_interval):
                    await self._changed.wait()
            self._changed.clear()
            try:
                await self.refresh()
            except ServiceUnavailable as exc:
                self._outage.report("reloading the subscriptions", exc)
            except Exception:
                log.exception("reloading the subscriptions failed")
            else:
                self._outage.clear()

    async def _deliver_loop(self) -> None:
        """Keep up to ``notify_batch`` deliveries in flight. Each settles on its own, so
        one slow endpoint holds up only its own notifications, never the others."""
        inflight = self._inflight
        while not self._closing:
            capacity = self.settings.notify_batch - len(inflight)
            claimed = 0
            # Claim in batches: each claim is a write transaction that reads the head of
            # the outbox, so refilling one slot at a time would cost one per notification.
            if capacity > 0 and (not inflight or capacity >= self._refill_at):
                try:
                    batch = await self.store.claim_notifications(
                        capacity, self.settings.notify_lease
                    )
                except ServiceUnavailable as exc:
                    self._outage.report("claiming notifications", exc)
                    batch = []
                except Exception:
                    log.exception("claiming notifications failed; retrying shortly")
                    batch = []
                else:
                    self._outage.clear()
                claimed = len(batch)
                for item in batch:
                    task = asyncio.create_task(self._deliver_one(item))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
            if claimed and claimed == capacity:
                await asyncio.sleep(0)
                continue  # more may be due at once
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a
            # cancellation that arrives just as the event is set, and close() then hangs.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.notify_poll_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def _deliver_one(self, item: PendingNotification) -> None:
        key = (item.tenant, item.sub_id)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            outcome = await self._deliver(item, await self._subscription(*key))
            await self._settle(outcome)
        except Exception:
            log.exception("delivering notification %s failed", item.nid)
        finally:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]
            async with self._settled:
                self._settled.notify_all()
            self._wake.set()  # a slot is free, and an order-bound successor may be due

    async def _settle(self, outcome: DeliveryOutcome) -> None:
        """Record an outcome; the outcomes of one loop iteration share a write."""
        done = asyncio.get_running_loop().create_future()
        self._to_settle.append((outcome, done))
        if len(self._to_settle) == 1:
            task = asyncio.create_task(self._flush_settled())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        await done

    async def _flush_settled(self) -> None:
        await asyncio.sleep(0)  # let the deliveries finishing in this iteration join
        batch, self._to_settle = self._to_settle, []
        try:
            await self.store.settle_notifications([outcome for outcome, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        except BaseException:
            for _, done in batch:
                done.cancel()
            raise
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _subscription(self, tenant: str, sub_id: str) -> SubscriptionRecord | None:
        rec = self._records.get((tenant, sub_id))
        if rec is not None:
            return rec
        try:
            return await self.store.get_subscription(tenant, sub_id)
        except NgsiError:
            return None

    def _limit(self, uri: str) -> asyncio.Semaphore:
        key = urlsplit(uri).netloc
        sem = self._limits.get(key)
        if sem is None:
            sem = self._limits[key] = asyncio.Semaphore(self.settings.notify_endpoint_concurrency)
        return sem

    async def _deliver(
        self, item: PendingNotification, rec: SubscriptionRecord | None
    ) -> DeliveryOutcome:
        now = now_iso()
        if rec is None or not rec.doc.get("isActive", True):
            # The subscription is gone or paused: nothing to deliver.
            return DeliveryOutcome(item.nid, True, now)
        endpoint = rec.doc["notification"]["endpoint"]
        try:
            ctx_url = self._context_url(rec)
            ctx = await self.contexts.resolve(ctx_url if ctx_url is not None else rec.context)
            body = await notification_body(
                rec.doc, [item], ctx, ctx_url, now, self._fetcher(item.tenant)
            )
            sender = self._mqtt if endpoint["uri"].startswith("mqtt") else self._http
            async with self._limit(endpoint["uri"]):
                await sender.send(endpoint, body, ctx_url, item.tenant)
        except (DeliveryError, NgsiError) as exc:
            return self._failure(item, now, str(exc), getattr(exc, "permanent", False))
        self.counters.sent += 1
        return DeliveryOutcome(item.nid, True, now)

    @staticmethod
    def _context_url(rec: SubscriptionRecord) -> str | None:
        """The @context URL notifications name: jsonldContext, or the single @context URL."""
        url = rec.doc.get("jsonldContext")
        if isinstance(url, str):
            return url
        ctx = rec.context
        if isinstance(ctx, list) and len(ctx) == 1:
            ctx = ctx[0]
        return ctx if isinstance(ctx, str) else None

    def _fetcher(self, tenant: str) -> Any:
        async def fetch(entity_id: str) -> Any:
            return await self.store.get_entity(tenant, entity_id)

        return fetch

    def _failure(
        self, item: PendingNotification, now: str, error: str, permanent: bool
    ) -> DeliveryOutcome:
        attempts = item.attempts + 1
        if permanent or attempts >= self.settings.notify_max_attempts:
            self.counters.failed += 1
            log.warning("notification %s of %s failed for good: %s", item.nid, item.sub_id, error)
            return DeliveryOutcome(item.nid, False, now, None, error)
        delay = min(
            self.settings.notify_backoff_max,
            self.settings.notify_backoff_base * 2 ** (attempts - 1),
        )
        self.counters.retried += 1
        retry_at = time.time() + delay * (0.8 + 0.4 * random.random())
        return DeliveryOutcome(item.nid, False, now, retry_at, error)

    # --- periodic subscriptions -----------------------------------------------------------
    async def _periodic_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.settings.notify_poll_interval))
            for sub in list(self.matcher.index.periodic):
                try:
                    await self._run_periodic(sub)
                except ServiceUnavailable as exc:
                    self._outage.report(f"periodic subscription {sub.id}", exc)
                except Exception:
                    log.exception("periodic subscription %s failed", sub.id)

    async def _run_periodic(self, sub: CompiledSubscription) -> None:
        if not sub.live(now_iso()) or sub.time_interval is None:
            return
        if not await self.store.claim_periodic(sub.tenant, sub.id, time.time(), sub.time_interval):
            return
        entities: list[Any] = []
        for selector in sub.selectors or (None,):
            sel = EntitySelection(
                ids=(selector.id,) if selector and selector.id else None,
                id_pattern=selector.id_pattern if selector else None,
                types=selector.types if selector else None,
                q=sub.q,
                geo=sub.geo,
                scope=sub.scope,
                limit=self.settings.max_page_size,
            )
            page = await self.store.query_entities(sub.tenant, sel)
            entities.extend(e for e in page.entities if all(e["id"] != x["id"] for x in entities))
        if entities:
            item = Outbound(sub.id, "*", "timeInterval", {"entities": entities})
            await self.store.enqueue(sub.tenant, [item])
