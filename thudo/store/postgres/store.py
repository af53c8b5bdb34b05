"""The PostgreSQL store: a connection pool, one transaction per write, PostGIS geometries.

Each write locks the rows of the entities it changes (``FOR UPDATE``), runs the pure change
functions, and writes the entities, their index rows, history and outbox rows in the same
transaction, a few set-based statements sent together (thudo/store/postgres/core.py); an
update of one entity is written in one statement if nothing changed it since it was read.
Observers hear of a write only after its commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from thudo.config import Settings
from thudo.errors import AlreadyExists, ResourceNotFound
from thudo.ngsild.model import Entity
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.validate import now_iso
from thudo.store.base import (
    AttributeInfo,
    Change,
    ChangeListener,
    ChangeObserver,
    ContextRecord,
    DeliveryOutcome,
    EntityPage,
    Outbound,
    PendingNotification,
    Store,
    SubscriptionRecord,
    TypeInfo,
)
from thudo.store.postgres import discovery, documents, outbox
from thudo.store.postgres.core import BULK_CHANGES, Tx
from thudo.store.postgres.database import Conn
from thudo.store.postgres.filters import compile_order, compile_selection
from thudo.store.postgres.history import HistoryStore
from thudo.store.postgres.listener import ChangeWatcher
from thudo.store.postgres.schema import ensure_partitions, migrate

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)


class PostgresStore(HistoryStore, Store):
    """Entities, index rows, history and the outbox in a PostgreSQL database."""

    shared_throttling = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._watcher: ChangeWatcher | None = None
        self._stopping: list[ChangeWatcher] = []  # stopped, to be awaited by close()
        self._heard: dict[str, Callable[[], None]] = {}  # NOTIFY channel -> callback

    # --- life cycle -------------------------------------------------------------------
    async def start(self) -> None:
        await self._db.open()
        try:
            async with self._db.connection() as conn:
                await migrate(conn)
                await ensure_partitions(conn)
                cur = await conn.execute("SELECT tid, name FROM tenants")
                self._tenants.update({name: int(tid) for tid, name in await cur.fetchall()})
        except BaseException:
            await self._db.close()
            raise

    async def close(self) -> None:
        self._heard.clear()
        self._rewatch()
        for watcher in self._stopping:
            await watcher.close()
        self._stopping.clear()
        await self._db.close()

    def watch_changes(self, callback: Callable[[], None] | None) -> None:
        """LISTEN on a dedicated connection; ``callback`` runs on each subscription change."""
        self._listen(outbox.CHANNEL, callback)

    def watch_contexts(self, callback: Callable[[], None] | None) -> None:
        """``callback`` runs when any process stores, reloads or deletes an @context."""
        self._listen(documents.CONTEXTS_CHANNEL, callback)

    def _listen(self, channel: str, callback: Callable[[], None] | None) -> None:
        if callback is None:
            self._heard.pop(channel, None)
        else:
            self._heard[channel] = callback
        self._rewatch()

    def _rewatch(self) -> None:
        """One listening connection for every channel with a callback."""
        if self._watcher is not None:
            self._watcher.stop()
            self._stopping.append(self._watcher)
            self._watcher = None
        if self._heard:
            s = self._settings
            self._watcher = ChangeWatcher(s.database_url, self._heard, s.postgres_connect_timeout)
            self._watcher.start()

    async def ping(self) -> None:
        async def job(conn: Conn) -> None:
            await conn.execute("SELECT 1")

        await self._db.read(job)

    async def tenants(self) -> list[str]:
        async def job(conn: Conn) -> list[str]:
            cur = await conn.execute("SELECT name FROM tenants WHERE tid != 0 ORDER BY name")
            return [r[0] for r in await cur.fetchall()]

        return await self._db.read(job)

    async def change(self, tenant: str, entity_id: str, fn: Change) -> Any:
        async def in_place(conn: Conn, tx: Tx) -> tuple[bool, Any]:
            return await self._change_in_place(conn, tx, tenant, entity_id, fn)

        done, result = await self._write_in_place(in_place)
        if done:
            return result

        async def job(conn: Conn, tx: Tx) -> Any:
            result = await self._apply(conn, tx, tenant, entity_id, fn)
            await self._flush(conn, tx)
            return result

        return await self._write(job, pipeline=True)

    async def change_many(self, tenant: str, changes: Sequence[tuple[str, Change]]) -> list[Any]:
        items = list(changes)

        bulk = len(items) >= BULK_CHANGES

        async def job(conn: Conn, tx: Tx) -> list[Any]:
            tx.bulk = bulk
            out = await self._apply_all(conn, tx, tenant, items, keep_errors=True)
            await self._flush(conn, tx)
            return out

        results: list[Any] = await self._write(job, pipeline=not bulk)
        return results

    def set_change_listener(
        self,
        listener: ChangeListener | None,
        wants: Callable[[str, list[str]], bool] | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._listener = listener
        self._wants = wants
        self._on_commit = on_commit

    def set_change_observer(self, observer: ChangeObserver | None) -> None:
        self._observer = observer

    # --- reads ------------------------------------------------------------------------
    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        async def job(conn: Conn) -> Entity | None:
            tid = await self._tenant_for_read(conn, tenant)
            cur = await conn.execute(
                "SELECT doc FROM entities WHERE tenant = %s AND id = %s", (tid, entity_id)
            )
            row = await cur.fetchone()
            found: Entity | None = orjson.loads(row[0]) if row is not None else None
            return found

        return await self._db.read(job)

    async def query_entities(self, tenant: str, sel: EntitySelection) -> EntityPage:
        async def job(conn: Conn) -> EntityPage:
            tid = await self._tenant_for_read(conn, tenant)
            where = compile_selection(tid, sel)
            order, order_params = compile_order(sel)
            # The SQL text comes from compile_selection/compile_order; every value is bound.
            cur = await conn.execute(
                f"SELECT e.doc FROM entities e WHERE {where.sql()} ORDER BY {order}"
                " LIMIT %s OFFSET %s",
                [*where.params, *order_params, sel.limit, sel.offset],
            )
            entities = [orjson.loads(r[0]) for r in await cur.fetchall()]
            count = None
            if sel.count:
                cur = await conn.execute(
                    f"SELECT count(*) FROM entities e WHERE {where.sql()}", where.params
                )
                found = await cur.fetchone()
                count = int(found[0]) if found else 0
            return EntityPage(entities, count)

        return await self._db.read(job)

    # --- discovery --------------------------------------------------------------------
    async def entity_types(self, tenant: str, with_attributes: bool) -> list[TypeInfo]:
        async def job(conn: Conn) -> list[TypeInfo]:
            tid = await self._tenant_for_read(conn, tenant)
            return await discovery.entity_types(conn, tid, with_attributes)

        return await self._db.read(job)

    async def attributes(self, tenant: str, name: str | None = None) -> list[AttributeInfo]:
        async def job(conn: Conn) -> list[AttributeInfo]:
            tid = await self._tenant_for_read(conn, tenant)
            return await discovery.attributes(conn, tid, name)

        return await self._db.read(job)

    # --- contexts ---------------------------------------------------------------------
    async def save_context(self, rec: ContextRecord) -> None:
        await self._db.write(lambda conn: documents.save_context(conn, rec))

    async def load_contexts(self) -> list[ContextRecord]:
        return await self._db.read(documents.load_contexts)

    async def delete_context(self, context_id: str) -> bool:
        return await self._db.write(lambda conn: documents.delete_context(conn, context_id))

    async def touch_contexts(self, usage: dict[str, tuple[int, str]]) -> None:
        await self._db.write(lambda conn: documents.touch_contexts(conn, usage))

    # --- subscriptions and the outbox -------------------------------------------------
    async def save_subscription(self, rec: SubscriptionRecord, create: bool) -> None:
        async def job(conn: Conn, tx: Tx) -> None:
            tid = await self._tenant_for_write(conn, rec.tenant, tx)
            if not await outbox.save_subscription(conn, tid, rec, create):
                sub_id = rec.doc["id"]
                if create:
                    raise AlreadyExists(f"subscription {sub_id!r} already exists")
                raise ResourceNotFound(f"subscription {sub_id!r} does not exist")

        await self._write(job)

    async def get_subscription(self, tenant: str, sub_id: str) -> SubscriptionRecord | None:
        async def job(conn: Conn) -> SubscriptionRecord | None:
            tid = await self._tenant_for_read(conn, tenant)
            found = await outbox.read_subscriptions(conn, tid, sub_id)
            return found[0] if found else None

        return await self._db.read(job)

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int
    ) -> tuple[list[SubscriptionRecord], int]:
        async def job(conn: Conn) -> tuple[list[SubscriptionRecord], int]:
            tid = await self._tenant_for_read(conn, tenant)
            cur = await conn.execute("SELECT count(*) FROM subscriptions WHERE tenant = %s", (tid,))
            row = await cur.fetchone()
            subs = await outbox.read_subscriptions(conn, tid, None, limit, offset)
            return subs, int(row[0]) if row else 0

        return await self._db.read(job)

    async def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        async def job(conn: Conn) -> bool:
            tid = await self._tenant_for_read(conn, tenant)
            return await outbox.delete_subscription(conn, tid, sub_id)

        return await self._db.write(job)

    async def all_subscriptions(self) -> list[SubscriptionRecord]:
        return await self._db.read(outbox.read_subscriptions)

    async def subscriptions_version(self) -> int:
        return await self._db.read(outbox.version)

    async def enqueue(self, tenant: str, items: list[Outbound]) -> None:
        async def job(conn: Conn, tx: Tx) -> None:
            tid = await self._tenant_for_write(conn, tenant, tx)
            await outbox.insert_outbound(conn, [(tid, i) for i in items], now_iso(), time.time())
            tx.outbox = True

        await self._write(job)

    async def claim_notifications(self, limit: int, lease_s: float) -> list[PendingNotification]:
        return await self._db.write(lambda conn: outbox.claim(conn, limit, lease_s, time.time()))

    async def settle_notifications(self, outcomes: list[DeliveryOutcome]) -> None:
        await self._db.write(lambda conn: outbox.settle(conn, outcomes))

    async def claim_periodic(self, tenant: str, sub_id: str, now: float, interval: float) -> bool:
        async def job(conn: Conn) -> bool:
            tid = await self._tenant_if_any(conn, tenant)
            return tid is not None and await outbox.claim_period(conn, tid, sub_id, now, interval)

        return await self._db.write(job)

    async def outbox_counts(self) -> dict[str, int]:
        return await self._db.read(outbox.counts)

    # --- other documents --------------------------------------------------------------
    async def save_document(
        self, kind: str, tenant: str, doc: dict[str, Any], create: bool
    ) -> None:
        async def job(conn: Conn, tx: Tx) -> None:
            tid = await self._tenant_for_write(conn, tenant, tx)
            await documents.save_document(conn, kind, tid, doc, create)

        await self._write(job)

    async def get_document(self, kind: str, tenant: str, doc_id: str) -> dict[str, Any] | None:
        async def job(conn: Conn) -> dict[str, Any] | None:
            tid = await self._tenant_for_read(conn, tenant)
            return await documents.get_document(conn, kind, tid, doc_id)

        return await self._db.read(job)

    async def list_documents(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        async def job(conn: Conn) -> list[dict[str, Any]]:
            tid = await self._tenant_for_read(conn, tenant)
            return await documents.list_documents(conn, kind, tid)

        return await self._db.read(job)

    async def delete_document(self, kind: str, tenant: str, doc_id: str) -> bool:
        async def job(conn: Conn) -> bool:
            tid = await self._tenant_for_read(conn, tenant)
            return await documents.delete_document(conn, kind, tid, doc_id)

        return await self._db.write(job)
