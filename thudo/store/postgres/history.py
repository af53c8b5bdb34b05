"""The history half of the PostgreSQL store: temporal queries, appends and deletions,
series for the analytics pipeline, retention and planner statistics."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from thudo.errors import ResourceNotFound
from thudo.ngsild.history import HistoryRow, latest_state, scope_rows
from thudo.ngsild.model import Entity, Instance
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import Aggregation, TemporalEntity, TimeFilter, cut_to_range
from thudo.ngsild.validate import now_iso
from thudo.store.postgres import rollups, temporal
from thudo.store.postgres.core import PostgresCore, Tx
from thudo.store.postgres.database import Conn
from thudo.store.postgres.entities import delete_entity, lock_entities
from thudo.store.postgres.schema import drop_partition, ensure_partitions, old_partitions

__all__ = ["HistoryStore"]

log = logging.getLogger(__name__)

TemporalAnswer = tuple[list[TemporalEntity], int | None, str | None]


class HistoryStore(PostgresCore):
    """The temporal part of the store contract (thudo/store/base.py)."""

    async def temporal_query(
        self,
        tenant: str,
        sel: EntitySelection,
        time: TimeFilter,
        instance_limit: int,
        aggregation: Aggregation | None = None,
    ) -> TemporalAnswer:
        async def job(conn: Conn) -> TemporalAnswer:
            tid = await self._tenant_for_read(conn, tenant)
            return await _temporal_query(conn, tid, sel, time, instance_limit, aggregation)

        return await self._db.read(job)

    async def hourly_means(
        self, tenant: str, entity_id: str, attrs: Sequence[str], since: str
    ) -> dict[str, dict[str, float]]:
        async def job(conn: Conn) -> dict[str, dict[str, float]]:
            tid = await self._tenant_if_any(conn, tenant)
            if tid is None:
                return {attr: {} for attr in attrs}
            return await rollups.hourly_means(conn, tid, entity_id, attrs, since)

        return await self._db.read(job)

    async def recent_values(
        self, tenant: str, entity_id: str, attr: str, since: str
    ) -> list[tuple[str, float]]:
        async def job(conn: Conn) -> list[tuple[str, float]]:
            tid = await self._tenant_if_any(conn, tenant)
            if tid is None:
                return []
            cur = await conn.execute(
                "SELECT observed_at, num FROM tinstances WHERE tenant = %s AND entity_id = %s"
                " AND attr = %s AND observed_at >= %s AND dataset_id = '' AND num IS NOT NULL"
                " AND deleted_at IS NULL ORDER BY observed_at",
                (tid, entity_id, attr, since),
            )
            return [(str(at), float(num)) for at, num in await cur.fetchall()]

        return await self._db.read(job)

    async def optimize(self) -> None:
        async def job(conn: Conn) -> None:
            await ensure_partitions(conn)
            await conn.execute("ANALYZE")

        await self._db.read(job)

    async def purge_history(self, before: str, limit: int) -> int:
        # Whole months first: dropping a partition frees its space at once, where deleting
        # its rows one by one leaves them to VACUUM. What is left (the default partition's
        # imported history, the month that straddles ``before``) is deleted by rows.
        dropped = 0
        for name in await self._db.read(lambda conn: old_partitions(conn, before)):
            dropped += await self._db.write(functools.partial(drop_partition, name=name))
            log.info("history partition %s dropped (retention before %s)", name, before)
        if dropped >= limit:
            return dropped

        async def job(conn: Conn) -> int:
            cur = await conn.execute(
                "DELETE FROM tinstances WHERE (iid, at) IN (SELECT iid, at FROM tinstances"
                " WHERE at < %s LIMIT %s)",
                (before, limit),
            )
            return cur.rowcount

        return dropped + await self._db.write(job)

    async def purge_failed_notifications(self, before: str) -> int:
        async def job(conn: Conn) -> int:
            cur = await conn.execute(
                "DELETE FROM outbox WHERE failed AND created_at < %s", (before,)
            )
            return cur.rowcount

        return await self._db.write(job)

    async def temporal_append(
        self,
        tenant: str,
        entity_id: str,
        types: list[str] | None,
        scope: list[str] | None,
        attrs: dict[str, list[Instance]],
    ) -> bool:
        async def job(conn: Conn, tx: Tx) -> bool:
            await lock_entities(conn, tenant, [entity_id])
            tid = await self._tenant_for_write(conn, tenant, tx)
            created = not await temporal.entity_exists(conn, tid, entity_id)
            if types is None and created:
                raise ResourceNotFound(f"temporal entity {entity_id!r} does not exist")
            now = now_iso()
            await temporal.append_instances(conn, tid, entity_id, attrs, now)
            scope_change: list[HistoryRow] = []

            def change(current: Entity | None) -> tuple[Entity, Any]:
                old_scope = current.get("scope") if current is not None else None
                entity, result = latest_state(entity_id, types, scope, attrs, now, current)
                scope_change.extend(scope_rows(old_scope, entity.get("scope")))
                return entity, result

            # The core entity follows its history: it holds the latest instances.
            await self._apply(conn, tx, tenant, entity_id, change, history=False)
            await self._flush(conn, tx)
            await temporal.insert_history(conn, tid, entity_id, scope_change, now)
            return created

        created: bool = await self._write(job)
        return created

    async def temporal_delete(self, tenant: str, entity_id: str) -> bool:
        async def job(conn: Conn) -> bool:
            tid = await self._tenant_for_read(conn, tenant)
            await lock_entities(conn, tenant, [entity_id])
            had_entity = await delete_entity(conn, tid, entity_id)
            had_history = await temporal.delete_history(conn, tid, entity_id)
            return had_history or had_entity

        return await self._db.write(job)

    async def temporal_delete_attribute(
        self, tenant: str, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        async def job(conn: Conn) -> int:
            tid = await self._tenant_for_read(conn, tenant)
            if not await temporal.entity_exists(conn, tid, entity_id):
                raise ResourceNotFound(f"temporal entity {entity_id!r} does not exist")
            return await temporal.delete_attribute(
                conn, tid, entity_id, attr, dataset_id, delete_all
            )

        return await self._db.write(job)

    async def temporal_modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, fragment: Instance
    ) -> bool:
        async def job(conn: Conn) -> bool:
            tid = await self._tenant_for_read(conn, tenant)
            return await temporal.modify_instance(
                conn, tid, entity_id, attr, instance_id, fragment, now_iso()
            )

        return await self._db.write(job)

    async def temporal_delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> bool:
        async def job(conn: Conn) -> bool:
            tid = await self._tenant_for_read(conn, tenant)
            return await temporal.delete_instance(conn, tid, entity_id, attr, instance_id)

        return await self._db.write(job)


async def _temporal_query(
    conn: Conn,
    tid: int,
    sel: EntitySelection,
    time: TimeFilter,
    instance_limit: int,
    aggregation: Aggregation | None,
) -> TemporalAnswer:
    if sel.ids is not None and len(sel.ids) == 1 and sel.types is None and sel.attrs is None:
        one = await temporal.one_entity(conn, tid, sel.ids[0])
        entities, count = ([one] if one else []), None
    else:
        entities, count = await temporal.select_entities(conn, tid, sel, time)
    attrs = sorted(sel.attrs) if sel.attrs is not None else None
    cut: list[tuple[int, str]] = []
    for index, entity in enumerate(entities):
        if aggregation is not None:
            entity.aggregates = await temporal.aggregate(
                conn, tid, entity.id, attrs, time, aggregation
            )
        else:
            entity.attrs, truncated = await temporal.instances(
                conn, tid, entity.id, attrs, time, instance_limit
            )
            cut.extend((index, a) for a in sorted(truncated))
    return entities, count, cut_to_range(entities, cut, time) if cut else None
