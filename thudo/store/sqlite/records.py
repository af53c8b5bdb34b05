"""The record-keeping half of the SQLite store: hosted @contexts, subscriptions, the
notification outbox and other documents (alerts, reports), each a small table written
through the writer thread and read on the reader threads."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import orjson

from thudo.errors import AlreadyExists, ResourceNotFound
from thudo.ngsild.validate import now_iso
from thudo.store.base import (
    ContextRecord,
    DeliveryOutcome,
    Outbound,
    PendingNotification,
    SubscriptionRecord,
)
from thudo.store.sqlite import outbox
from thudo.store.sqlite.outbox import insert_outbound
from thudo.store.sqlite.writer import Writer

__all__ = ["SqliteRecords"]


class SqliteRecords:
    """Part of ``SqliteStore`` (store.py), which provides the writer, the reader
    connections and the tenant numbers declared here."""

    _writer: Writer
    _outbox_written: bool

    def _reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _tenant_for_read(self, conn: sqlite3.Connection, name: str) -> int:
        raise NotImplementedError

    def _tenant_for_write(self, conn: sqlite3.Connection, name: str) -> int:
        raise NotImplementedError

    # --- contexts ---------------------------------------------------------------------
    async def save_context(self, rec: ContextRecord) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO contexts"
                " (id, url, kind, body, created_at, last_usage, hits)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rec.id, rec.url, rec.kind, rec.body, rec.created_at, rec.last_usage, rec.hits),
            )

        await self._writer.submit(job)

    async def load_contexts(self) -> list[ContextRecord]:
        rows = self._reader().execute(
            "SELECT id, url, kind, body, created_at, last_usage, hits FROM contexts"
        )
        return [ContextRecord(*r) for r in rows]

    async def delete_context(self, context_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            return conn.execute("DELETE FROM contexts WHERE id = ?", (context_id,)).rowcount > 0

        deleted: bool = await self._writer.submit(job)
        return deleted

    async def touch_contexts(self, usage: dict[str, tuple[int, str]]) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE contexts SET hits = hits + ?, last_usage = ? WHERE id = ?",
                [(hits, last, cid) for cid, (hits, last) in usage.items()],
            )

        await self._writer.submit(job)

    # --- subscriptions and the outbox -------------------------------------------------
    async def save_subscription(self, rec: SubscriptionRecord, create: bool) -> None:
        def job(conn: sqlite3.Connection) -> None:
            tid = self._tenant_for_write(conn, rec.tenant)
            if not outbox.save_subscription(conn, tid, rec, create):
                sub_id = rec.doc["id"]
                if create:
                    raise AlreadyExists(f"subscription {sub_id!r} already exists")
                raise ResourceNotFound(f"subscription {sub_id!r} does not exist")

        await self._writer.submit(job)

    async def get_subscription(self, tenant: str, sub_id: str) -> SubscriptionRecord | None:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        found = outbox.read_subscriptions(conn, tid, sub_id)
        return found[0] if found else None

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int
    ) -> tuple[list[SubscriptionRecord], int]:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        total = conn.execute(
            "SELECT count(*) FROM subscriptions WHERE tenant = ?", (tid,)
        ).fetchone()[0]
        return outbox.read_subscriptions(conn, tid, None, limit, offset), int(total)

    async def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            tid = self._tenant_for_read(conn, tenant)
            return outbox.delete_subscription(conn, tid, sub_id)

        deleted: bool = await self._writer.submit(job)
        return deleted

    async def all_subscriptions(self) -> list[SubscriptionRecord]:
        return outbox.read_subscriptions(self._reader())

    async def subscriptions_version(self) -> int:
        row = (
            self._reader()
            .execute("SELECT value FROM meta WHERE key = 'subscriptions_version'")
            .fetchone()
        )
        return int(row[0]) if row else 0

    async def enqueue(self, tenant: str, items: list[Outbound]) -> None:
        def job(conn: sqlite3.Connection) -> None:
            tid = self._tenant_for_write(conn, tenant)
            insert_outbound(conn, tid, items, now_iso(), time.time())
            self._outbox_written = True

        await self._writer.submit(job)

    async def claim_notifications(self, limit: int, lease_s: float) -> list[PendingNotification]:
        def job(conn: sqlite3.Connection) -> list[PendingNotification]:
            return outbox.claim(conn, limit, lease_s, time.time())

        claimed: list[PendingNotification] = await self._writer.submit(job)
        return claimed

    async def settle_notifications(self, outcomes: list[DeliveryOutcome]) -> None:
        await self._writer.submit(lambda conn: outbox.settle(conn, outcomes))

    async def claim_periodic(self, tenant: str, sub_id: str, now: float, interval: float) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            tid = self._tenant_for_write(conn, tenant)
            return outbox.claim_period(conn, tid, sub_id, now, interval)

        claimed: bool = await self._writer.submit(job)
        return claimed

    async def outbox_counts(self) -> dict[str, int]:
        return outbox.counts(self._reader())

    # --- other documents --------------------------------------------------------------
    async def save_document(
        self, kind: str, tenant: str, doc: dict[str, Any], create: bool
    ) -> None:
        def job(conn: sqlite3.Connection) -> None:
            tid = self._tenant_for_write(conn, tenant)
            data = orjson.dumps(doc)
            if create:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO documents (kind, tenant, id, doc) VALUES (?, ?, ?, ?)",
                    (kind, tid, doc["id"], data),
                )
                if not cur.rowcount:
                    raise AlreadyExists(f"{doc['id']!r} already exists")
                return
            cur = conn.execute(
                "UPDATE documents SET doc = ? WHERE kind = ? AND tenant = ? AND id = ?",
                (data, kind, tid, doc["id"]),
            )
            if not cur.rowcount:
                raise ResourceNotFound(f"{doc['id']!r} does not exist")

        await self._writer.submit(job)

    async def get_document(self, kind: str, tenant: str, doc_id: str) -> dict[str, Any] | None:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        row = conn.execute(
            "SELECT doc FROM documents WHERE kind = ? AND tenant = ? AND id = ?",
            (kind, tid, doc_id),
        ).fetchone()
        found: dict[str, Any] | None = orjson.loads(row[0]) if row else None
        return found

    async def list_documents(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        rows = conn.execute(
            "SELECT doc FROM documents WHERE kind = ? AND tenant = ? ORDER BY rowid", (kind, tid)
        )
        return [orjson.loads(r[0]) for r in rows]

    async def delete_document(self, kind: str, tenant: str, doc_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            tid = self._tenant_for_read(conn, tenant)
            cur = conn.execute(
                "DELETE FROM documents WHERE kind = ? AND tenant = ? AND id = ?",
                (kind, tid, doc_id),
            )
            return cur.rowcount > 0

        deleted: bool = await self._writer.submit(job)
        return deleted
