"""The write engine of the PostgreSQL store: tenants, transactions, and applying a change
to an entity with its index rows, history and outbox rows."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from thudo.config import Settings
from thudo.errors import NonexistentTenant
from thudo.ngsild.model import Entity
from thudo.ngsild.validate import now_iso
from thudo.store.base import DELETE, UNCHANGED, Change, ChangeListener, ChangeObserver
from thudo.store.postgres import outbox, temporal
from thudo.store.postgres.database import Conn, Database
from thudo.store.postgres.entities import (
    IndexRows,
    delete_entity,
    fetch_for_update,
    insert_entity,
    update_entity,
)

__all__ = ["PostgresCore", "Tx"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Tx:
    """What one write transaction did, for the work that follows its commit."""

    rows: IndexRows = field(default_factory=IndexRows)
    tenants: dict[str, int] = field(default_factory=dict)
    observed: bool = False
    outbox: bool = False


class PostgresCore:
    """Tenants and the write path shared by the entity and history halves of the store."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._db = Database(settings)
        self._listener: ChangeListener | None = None
        self._wants: Callable[[str, list[str]], bool] | None = None
        self._on_commit: Callable[[], None] | None = None
        self._observer: ChangeObserver | None = None
        self._tenants: dict[str, int] = {"": 0}

    # --- tenants ----------------------------------------------------------------------
    async def _tenant_if_any(self, conn: Conn, name: str) -> int | None:
        tid = self._tenants.get(name)
        if tid is not None:
            return tid
        cur = await conn.execute("SELECT tid FROM tenants WHERE name = %s", (name,))
        row = await cur.fetchone()
        if row is None:
            return None
        self._tenants[name] = int(row[0])
        return int(row[0])

    async def _tenant_for_read(self, conn: Conn, name: str) -> int:
        tid = await self._tenant_if_any(conn, name)
        if tid is None:
            raise NonexistentTenant(f"tenant {name!r} does not exist")
        return tid

    async def _tenant_for_write(self, conn: Conn, name: str, tx: Tx) -> int:
        tid = self._tenants.get(name) or tx.tenants.get(name)
        if tid is not None or name == "":
            return tid or 0
        await conn.execute(
            "INSERT INTO tenants (name, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (name, now_iso()),
        )
        cur = await conn.execute("SELECT tid FROM tenants WHERE name = %s", (name,))
        row = await cur.fetchone()
        assert row is not None
        # Cached only after the commit: a rolled-back write creates no tenant.
        tx.tenants[name] = int(row[0])
        return int(row[0])

    # --- writes -----------------------------------------------------------------------
    async def _write(self, job: Callable[[Conn, Tx], Any]) -> Any:
        """Run a write job in one transaction, then tell who waits for commits."""
        tx = Tx()

        async def run(conn: Conn) -> Any:
            tx.rows, tx.tenants, tx.observed, tx.outbox = IndexRows(), {}, False, False
            return await job(conn, tx)

        result = await self._db.write(run)
        self._tenants.update(tx.tenants)
        if tx.observed and self._observer is not None:
            self._observer.committed()
        if tx.outbox and self._on_commit is not None:
            self._on_commit()
        return result

    async def _flush(self, conn: Conn, tx: Tx) -> None:
        await tx.rows.flush(conn)
        if tx.rows.history:
            await temporal.insert_rows(conn, tx.rows.history)
            tx.rows.history = []

    async def _apply(
        self, conn: Conn, tx: Tx, tenant: str, entity_id: str, fn: Change, history: bool = True
    ) -> Any:
        known = self._tenants.get(tenant, tx.tenants.get(tenant))
        if known is None:
            known = await self._tenant_if_any(conn, tenant)
        row = await fetch_for_update(conn, known, entity_id) if known is not None else None
        # The change works on its own copy; ``before`` stays as stored.
        current: Entity | None = orjson.loads(row[1]) if row is not None else None
        before: Entity | None = orjson.loads(row[1]) if row is not None else None
        new, result = fn(current)
        if new is UNCHANGED or (row is None and new is DELETE):
            return result
        tid = known if known is not None else await self._tenant_for_write(conn, tenant, tx)
        if new is DELETE:
            assert row is not None
            await delete_entity(conn, row[0])
        else:
            assert isinstance(new, dict)
            if row is None:
                await insert_entity(conn, tid, new, tx.rows)
            else:
                await update_entity(conn, tid, row[0], before, new, tx.rows)
        after = new if isinstance(new, dict) else None
        if history:
            await self._record(conn, tx, tid, before, after)
        await self._notify(conn, tx, tid, tenant, before, after)
        return result

    async def _record(
        self, conn: Conn, tx: Tx, tid: int, before: Entity | None, after: Entity | None
    ) -> None:
        if after is not None:
            tx.rows.history.extend(temporal.history_values(tid, before, after, now_iso()))
        elif before is not None:
            # Deleting an entity deletes its history (delete_temporal_on_core_delete).
            await temporal.delete_history(conn, tid, before["id"])

    async def _notify(
        self,
        conn: Conn,
        tx: Tx,
        tid: int,
        tenant: str,
        before: Entity | None,
        after: Entity | None,
    ) -> None:
        """Tell the observer, match the change against subscriptions, write the outbox."""
        types = (before["type"] if before is not None else []) + (
            after["type"] if after is not None else []
        )
        observer = self._observer
        if observer is not None and observer.wants(tenant, types):
            observer.seen(tenant, before, after)
            tx.observed = True
        if self._listener is None:
            return
        if self._wants is not None and not self._wants(tenant, types):
            return
        items = self._listener(tenant, before, after)
        if any(item.throttling for item in items):
            items = await outbox.admit_throttled(conn, tid, items)
        if items:
            await outbox.insert_outbound(conn, tid, items, now_iso(), time.time())
            tx.outbox = True
