"""The embedded SQLite store: one file, WAL, one writer thread with group commit, and
short-lived read connections (one per reader thread)."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from thudo.config import Settings
from thudo.errors import (
    NgsiError,
    NonexistentTenant,
    ResourceNotFound,
    ServiceUnavailable,
)
from thudo.ngsild.history import HistoryRow, latest_state, scope_rows
from thudo.ngsild.model import Entity, Instance
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import Aggregation, TemporalEntity, cut_to_range
from thudo.ngsild.temporal import TimeFilter as TemporalTime
from thudo.ngsild.validate import now_iso
from thudo.ngsild.values import K_ATTR, attribute_rows
from thudo.store.base import (
    DELETE,
    UNCHANGED,
    AttributeInfo,
    Change,
    ChangeListener,
    ChangeObserver,
    EntityPage,
    Store,
    TypeInfo,
)
from thudo.store.sqlite import series, temporal
from thudo.store.sqlite.checkpoint import Checkpointer
from thudo.store.sqlite.connection import FunctionFailure, open_connection
from thudo.store.sqlite.filters import compile_order, compile_selection
from thudo.store.sqlite.outbox import outbound_rows
from thudo.store.sqlite.paths import PathIds
from thudo.store.sqlite.records import SqliteRecords
from thudo.store.sqlite.rows import RowIds, Rows, delete_entity_rows, insert_entity, update_entity
from thudo.store.sqlite.schema import migrate
from thudo.store.sqlite.writer import Merge, Writer

__all__ = ["SqliteStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: ``_apply``'s ``stored`` for an entity known not to exist.
_ABSENT: tuple[int, bytes] = (-1, b"")


class SqliteStore(SqliteRecords, Store):
    """Entities, index rows and contexts in one SQLite database file."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._path = settings.sqlite_path
        self._paths = PathIds()
        self._row_ids = RowIds()
        self._writer = Writer(
            self._connect_writer,
            settings.sqlite_group_commit_max,
            self._after_commit,
            self._rolled_back,
        )
        self._checkpointer = Checkpointer(
            lambda: self._connect(readonly=False),
            max_bytes=settings.sqlite_wal_max_mib << 20,
            exclusive=self._writer.run_between,
        )
        self._listener: ChangeListener | None = None
        self._wants: Callable[[str, list[str]], bool] | None = None
        self._on_commit: Callable[[], None] | None = None
        self._outbox_written = False
        self._observer: ChangeObserver | None = None
        self._observed = False
        self._tenants: dict[str, int] = {"": 0}
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(
            max_workers=settings.sqlite_readers, thread_name_prefix="thudo-sqlite-read"
        )
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # --- life cycle -------------------------------------------------------------------
    def _connect(self, readonly: bool) -> sqlite3.Connection:
        s = self._settings
        return open_connection(self._path, s.sqlite_busy_timeout_ms, s.sqlite_cache_mib, readonly)

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect(readonly=False)
        # The checkpointer thread does this, so that commits never wait for it.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        return conn

    async def start(self) -> None:
        if not self._path.startswith((":memory:", "file:")):
            Path(self._path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect(readonly=False)
        try:
            migrate(conn)
        finally:
            conn.close()
        # The writer thread hands results back to the event loop many times a second; with
        # the default 5 ms GIL switch interval each hand-off can wait that long.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self._writer.start()
        self._checkpointer.start()
        for tid, name in self._reader().execute("SELECT tid, name FROM tenants"):
            self._tenants[name] = tid

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)
        self._executor.shutdown(wait=True)
        await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.stop)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()

    async def ping(self) -> None:
        try:
            self._reader().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise ServiceUnavailable("the database does not answer") from exc

    def _reader(self) -> sqlite3.Connection:
        """The read connection of the current thread, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    async def _read(self, fn: Any, *args: Any) -> Any:
        """Run a read in the reader pool, mapping SQLite failures to problems."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(_guard, fn, *args))

    # --- tenants ----------------------------------------------------------------------
    def _tenant_for_read(self, conn: sqlite3.Connection, name: str) -> int:
        tid = self._tenants.get(name)
        if tid is not None:
            return tid
        row = conn.execute("SELECT tid FROM tenants WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NonexistentTenant(f"tenant {name!r} does not exist")
        self._tenants[name] = int(row[0])
        return int(row[0])

    def _tenant_if_any(self, conn: sqlite3.Connection, name: str) -> int | None:
        tid = self._tenants.get(name)
        if tid is not None:
            return tid
        row = conn.execute("SELECT tid FROM tenants WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row is not None else None

    def _tenant_for_write(self, conn: sqlite3.Connection, name: str) -> int:
        tid = self._tenants.get(name)
        if tid is not None:
            return tid
        conn.execute(
            "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", (name, now_iso())
        )
        # Not cached here: if this write is rolled back, so is the tenant. Reads cache
        # tenants once they are committed.
        return int(conn.execute("SELECT tid FROM tenants WHERE name = ?", (name,)).fetchone()[0])

    async def tenants(self) -> list[str]:
        rows = self._reader().execute("SELECT name FROM tenants WHERE tid != 0 ORDER BY name")
        return [r[0] for r in rows]

    # --- writes -----------------------------------------------------------------------
    async def change(self, tenant: str, entity_id: str, fn: Change) -> Any:
        job = functools.partial(self._apply, tenant, entity_id, fn)
        # Changes of one tenant queued together run as one _apply_many (see writer.py).
        merge = Merge(tenant, self._apply_merged, (entity_id, fn))
        return await self._writer.submit(job, merge=merge)

    def _apply_merged(
        self, conn: sqlite3.Connection, tenant: str, changes: list[tuple[str, Change]]
    ) -> list[Any]:
        return self._apply_many(tenant, changes, conn)

    async def change_many(self, tenant: str, changes: Sequence[tuple[str, Change]]) -> list[Any]:
        job = functools.partial(self._apply_many, tenant, list(changes))
        results: list[Any] = await self._writer.submit(job, atomic=True)
        return results

    def _apply_many(
        self, tenant: str, changes: list[tuple[str, Change]], conn: sqlite3.Connection
    ) -> list[Any]:
        out: list[Any] = []
        rows = Rows(self._row_ids)
        found = self._stored(conn, tenant, [entity_id for entity_id, _ in changes])
        seen: set[str] = set()
        for entity_id, fn in changes:
            again = entity_id in seen
            if again:
                rows.flush(conn)  # its earlier rows must be in place before they change
            seen.add(entity_id)
            stored = None if again else found.get(entity_id, _ABSENT)
            # _apply writes nothing until the change has succeeded, so a failed item
            # needs no savepoint to undo.
            try:
                out.append(self._apply(tenant, entity_id, fn, conn, rows=rows, stored=stored))
            except NgsiError as exc:
                out.append(exc)
        rows.flush(conn)
        return out

    def _stored(
        self, conn: sqlite3.Connection, tenant: str, ids: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """The row numbers and documents of those of ``ids`` that exist, in one query."""
        known = self._tenant_if_any(conn, tenant)
        if known is None:
            return {}
        rows = conn.execute(
            "SELECT id, eid, doc FROM entities WHERE tenant = ?"
            " AND id IN (SELECT value FROM json_each(?))",
            (known, orjson.dumps(ids)),
        ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def _apply(
        self,
        tenant: str,
        entity_id: str,
        fn: Change,
        conn: sqlite3.Connection,
        history: bool = True,
        rows: Rows | None = None,
        stored: tuple[int, bytes] | None = None,
    ) -> Any:
        """Apply one change; ``stored`` is the entity's row if the caller read it already
        (``_ABSENT``: it does not exist)."""
        own = rows is None
        buf = rows if rows is not None else Rows(self._row_ids)
        known = self._tenant_if_any(conn, tenant)
        row = None
        if stored is not None:
            row = None if stored is _ABSENT else stored
        elif known is not None:
            row = conn.execute(
                "SELECT eid, doc FROM entities WHERE tenant = ? AND id = ?", (known, entity_id)
            ).fetchone()
        # The change works on its own copy; ``before`` stays as stored, for the index,
        # history and notifications to compare with.
        current: Entity | None = orjson.loads(row[1]) if row is not None else None
        before: Entity | None = orjson.loads(row[1]) if row is not None else None
        types = list(before["type"]) if before is not None else []
        new, result = fn(current)
        if new is UNCHANGED or (known is None and new is DELETE):
            return result
        # Only now, with a change to write, is a new tenant created.
        tid = known if known is not None else self._tenant_for_write(conn, tenant)
        if new is DELETE:
            if row is not None:
                delete_entity_rows(conn, row[0])
        else:
            assert isinstance(new, dict)
            if row is None:
                eid = insert_entity(conn, tid, new, buf)
                buf.attrs.extend(self._attr_params(conn, tid, eid, new))
            else:
                changed = update_entity(conn, tid, row[0], before, new, buf, self._paths)
                if changed:
                    part = {"attrs": {a: new["attrs"][a] for a in changed}}
                    buf.attrs.extend(self._attr_params(conn, tid, row[0], part))
        after = new if isinstance(new, dict) else None
        if history:
            temporal.record_change(conn, tid, before, after, now_iso(), buf.history)
        self._notify(conn, tid, tenant, before, after, types, buf)
        if own:
            buf.flush(conn)
        return result

    def _notify(
        self,
        conn: sqlite3.Connection,
        tid: int,
        tenant: str,
        before: Entity | None,
        after: Entity | None,
        types: list[str],
        buf: Rows,
    ) -> None:
        """Tell the observer, match the change against subscriptions, gather the outbox
        rows (``buf`` inserts them)."""
        all_types = types + (after["type"] if after is not None else [])
        observer = self._observer
        if observer is not None and observer.wants(tenant, all_types):
            observer.seen(tenant, before, after)
            self._observed = True
        if self._listener is None:
            return
        if self._wants is not None and not self._wants(tenant, all_types):
            return
        items = self._listener(tenant, before, after)
        if items:
            buf.outbox.extend(outbound_rows(tid, items, now_iso(), time.time()))
            self._outbox_written = True

    def _attr_params(
        self, conn: sqlite3.Connection, tid: int, eid: int, entity: Entity
    ) -> list[tuple[Any, ...]]:
        """attrs rows: path numbers, and a number or else a text in the one ``val`` column."""
        pid = self._paths.for_write
        out = []
        for iri, instances in entity["attrs"].items():
            root = pid(conn, iri)
            for path, kind, num, txt in attribute_rows(iri, instances):
                value = num if num is not None else txt
                out.append((tid, root if path == iri else pid(conn, path), root, kind, value, eid))
        return out

    def _rolled_back(self) -> None:
        self._paths.rolled_back()
        self._row_ids.reset()

    def _after_commit(self) -> None:
        self._paths.committed()
        self._row_ids.reset()
        if self._observed:
            self._observed = False
            if self._observer is not None:
                self._observer.committed()
        if self._outbox_written:
            self._outbox_written = False
            if self._on_commit is not None:
                self._on_commit()

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
        conn = self._reader()
        try:
            tid = self._tenant_for_read(conn, tenant)
            row = conn.execute(
                "SELECT doc FROM entities WHERE tenant = ? AND id = ?", (tid, entity_id)
            ).fetchone()
        except sqlite3.Error as exc:
            raise ServiceUnavailable("the database does not answer") from exc
        if row is None:
            return None
        found: Entity = orjson.loads(row[0])
        return found

    async def query_entities(self, tenant: str, sel: EntitySelection) -> EntityPage:
        page: EntityPage = await self._read(self._query, tenant, sel)
        return page

    def _query(self, tenant: str, sel: EntitySelection) -> EntityPage:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        pid = functools.partial(self._paths.for_read, conn)
        where = compile_selection(tid, sel, pid)
        order, order_params = compile_order(sel, pid)
        # The SQL text comes from compile_selection/compile_order; every value is bound.
        sql = f"SELECT e.doc FROM entities e WHERE {where.sql()} ORDER BY {order} LIMIT ? OFFSET ?"
        rows = conn.execute(sql, [*where.params, *order_params, sel.limit, sel.offset]).fetchall()
        count = None
        if sel.count:
            csql = f"SELECT count(*) FROM entities e WHERE {where.sql()}"
            count = int(conn.execute(csql, where.params).fetchone()[0])
        return EntityPage([orjson.loads(r[0]) for r in rows], count)

    # --- discovery --------------------------------------------------------------------
    async def entity_types(self, tenant: str, with_attributes: bool) -> list[TypeInfo]:
        infos: list[TypeInfo] = await self._read(self._types, tenant, with_attributes)
        return infos

    def _types(self, tenant: str, with_attributes: bool) -> list[TypeInfo]:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        counts = conn.execute(
            "SELECT type, count(*) FROM etypes WHERE tenant = ? GROUP BY type ORDER BY type",
            (tid,),
        ).fetchall()
        infos = {t: TypeInfo(t, n) for t, n in counts}
        if with_attributes:
            rows = conn.execute(
                "SELECT DISTINCT t.type, p.path, a.val FROM etypes t "
                "JOIN attrs a ON a.eid = t.eid JOIN paths p ON p.pid = a.pid "
                f"WHERE t.tenant = ? AND a.tenant = ? AND a.kind = {K_ATTR}",
                (tid, tid),
            )
            for t, path, kind in rows:
                infos[t].attributes.setdefault(path, set()).add(kind)
        return list(infos.values())

    async def attributes(self, tenant: str, name: str | None = None) -> list[AttributeInfo]:
        infos: list[AttributeInfo] = await self._read(self._attributes, tenant, name)
        return infos

    def _attributes(self, tenant: str, name: str | None) -> list[AttributeInfo]:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        sql = (
            "SELECT p.path, a.val, t.type, a.eid FROM attrs a JOIN etypes t ON t.eid = a.eid "
            "JOIN paths p ON p.pid = a.pid "
            f"WHERE a.tenant = ? AND a.kind = {K_ATTR}"
        )
        params: list[Any] = [tid]
        if name is not None:
            sql += " AND a.pid = ?"
            params.append(self._paths.for_read(conn, name))
        infos: dict[str, tuple[set[int], set[str], set[str]]] = {}
        for path, kind, etype, eid in conn.execute(sql, params):
            eids, types, kinds = infos.setdefault(path, (set(), set(), set()))
            eids.add(eid)
            types.add(etype)
            kinds.add(kind)
        return [
            AttributeInfo(path, len(eids), types, kinds)
            for path, (eids, types, kinds) in sorted(infos.items())
        ]

    # --- history (temporal API) -------------------------------------------------------
    async def temporal_query(
        self,
        tenant: str,
        sel: EntitySelection,
        time: TemporalTime,
        instance_limit: int,
        aggregation: Aggregation | None = None,
    ) -> tuple[list[TemporalEntity], int | None, str | None]:
        found: tuple[list[TemporalEntity], int | None, str | None] = await self._read(
            self._temporal_query, tenant, sel, time, instance_limit, aggregation
        )
        return found

    def _temporal_query(
        self,
        tenant: str,
        sel: EntitySelection,
        time: TemporalTime,
        instance_limit: int,
        aggregation: Aggregation | None,
    ) -> tuple[list[TemporalEntity], int | None, str | None]:
        conn = self._reader()
        tid = self._tenant_for_read(conn, tenant)
        if sel.ids is not None and len(sel.ids) == 1 and sel.types is None and sel.attrs is None:
            one = temporal.one_entity(conn, tid, sel.ids[0])
            entities, count = ([one] if one else []), None
        else:
            entities, count = temporal.select_entities(conn, tid, sel, time)
        attrs = sorted(sel.attrs) if sel.attrs is not None else None
        cut: list[tuple[int, str]] = []
        for index, entity in enumerate(entities):
            if aggregation is not None:
                entity.aggregates = temporal.aggregate(
                    conn, tid, entity.id, attrs, time, aggregation
                )
            else:
                entity.attrs, truncated = temporal.instances(
                    conn, tid, entity.id, attrs, time, instance_limit
                )
                cut.extend((index, a) for a in sorted(truncated))
        return entities, count, cut_to_range(entities, cut, time) if cut else None

    async def hourly_means(
        self, tenant: str, entity_id: str, attrs: Sequence[str], since: str
    ) -> dict[str, dict[str, float]]:
        def read() -> dict[str, dict[str, float]]:
            conn = self._reader()
            tid = self._tenant_if_any(conn, tenant)
            if tid is None:
                return {attr: {} for attr in attrs}
            return series.hourly_means(conn, tid, entity_id, attrs, since)

        found: dict[str, dict[str, float]] = await self._read(read)
        return found

    async def recent_values(
        self, tenant: str, entity_id: str, attr: str, since: str
    ) -> list[tuple[str, float]]:
        def read() -> list[tuple[str, float]]:
            conn = self._reader()
            tid = self._tenant_if_any(conn, tenant)
            return [] if tid is None else series.recent_values(conn, tid, entity_id, attr, since)

        found: list[tuple[str, float]] = await self._read(read)
        return found

    async def optimize(self) -> None:
        def job(conn: sqlite3.Connection) -> None:
            # Approximate statistics (analysis_limit) are enough for the planner, and cheap.
            conn.execute("PRAGMA analysis_limit = 1000")
            conn.execute("ANALYZE")

        await self._writer.submit(job)

    async def purge_history(self, before: str, limit: int) -> int:
        def job(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM tinstances WHERE iid IN (SELECT iid FROM tinstances"
                " WHERE coalesce(observed_at, created_at) < ? LIMIT ?)",
                (before, limit),
            ).rowcount

        deleted: int = await self._writer.submit(job)
        return deleted

    async def purge_failed_notifications(self, before: str) -> int:
        def job(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM outbox WHERE failed = 1 AND created_at < ?", (before,)
            ).rowcount

        deleted: int = await self._writer.submit(job)
        return deleted

    async def temporal_append(
        self,
        tenant: str,
        entity_id: str,
        types: list[str] | None,
        scope: list[str] | None,
        attrs: dict[str, list[Instance]],
    ) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            tid = self._tenant_for_write(conn, tenant)
            created = not temporal.entity_exists(conn, tid, entity_id)
            if types is None and created:
                raise ResourceNotFound(f"temporal entity {entity_id!r} does not exist")
            now = now_iso()
            temporal.append_instances(conn, tid, entity_id, attrs, now)
            scope_change: list[HistoryRow] = []

            def change(current: Entity | None) -> tuple[Entity, Any]:
                old_scope = current.get("scope") if current is not None else None
                entity, result = latest_state(entity_id, types, scope, attrs, now, current)
                scope_change.extend(scope_rows(old_scope, entity.get("scope")))
                return entity, result

            # The core entity follows its history: it holds the latest instances.
            self._apply(tenant, entity_id, change, conn, history=False)
            temporal.insert_history(conn, tid, entity_id, scope_change, now)
            return created

        created: bool = await self._writer.submit(job)
        return created

    async def temporal_delete(self, tenant: str, entity_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            tid = self._tenant_for_read(conn, tenant)
            row = conn.execute(
                "SELECT eid FROM entities WHERE tenant = ? AND id = ?", (tid, entity_id)
            ).fetchone()
            if row is not None:
                delete_entity_rows(conn, row[0])
            return temporal.delete_history(conn, tid, entity_id) or row is not None

        deleted: bool = await self._writer.submit(job)
        return deleted

    async def temporal_delete_attribute(
        self, tenant: str, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> int:
        def job(conn: sqlite3.Connection) -> int:
            tid = self._tenant_for_read(conn, tenant)
            if not temporal.entity_exists(conn, tid, entity_id):
                raise ResourceNotFound(f"temporal entity {entity_id!r} does not exist")
            return temporal.delete_attribute(conn, tid, entity_id, attr, dataset_id, delete_all)

        count: int = await self._writer.submit(job)
        return count

    async def temporal_modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, fragment: Instance
    ) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            tid = self._tenant_for_read(conn, tenant)
            return temporal.modify_instance(
                conn, tid, entity_id, attr, instance_id, fragment, now_iso()
            )

        changed: bool = await self._writer.submit(job)
        return changed

    async def temporal_delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            tid = self._tenant_for_read(conn, tenant)
            return temporal.delete_instance(conn, tid, entity_id, attr, instance_id)

        deleted: bool = await self._writer.submit(job)
        return deleted


def _guard(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except sqlite3.OperationalError as exc:
        reported = FunctionFailure.take()
        if reported is not None:
            raise reported from None
        log.error("SQLite read failed: %s", exc)
        raise ServiceUnavailable("the database could not answer the query; retry later") from exc
