"""The write engine of the PostgreSQL store: tenants, transactions, and applying changes
to entities with their index rows, history and outbox rows.

A transaction locks the rows of the entities it changes (one ``SELECT ... FOR UPDATE``),
runs the pure change functions in memory, then writes what they did set-based, whatever
the number of entities: a DELETE of the deleted entities, an INSERT of the new ones, and
one statement for everything else (updates, index rows, history, rollups, outbox). An
entity that a concurrent transaction creates meanwhile makes the insert skip it
(``ON CONFLICT DO NOTHING``): the transaction then starts again, and sees it. No advisory
lock is needed for ids that do not exist yet.

An update of one existing entity first goes without a transaction: it reads the entity,
runs the change, and writes everything in one statement that does nothing unless the row
is still the version read (``_change_in_place``); otherwise it takes the path above.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from thudo.config import Settings
from thudo.errors import NgsiError, NonexistentTenant
from thudo.ngsild.model import Entity
from thudo.ngsild.validate import now_iso
from thudo.store.base import (
    DELETE,
    UNCHANGED,
    Change,
    ChangeListener,
    ChangeObserver,
    Outbound,
)
from thudo.store.postgres import outbox, temporal
from thudo.store.postgres.database import Conn, Database, WriteConflict, copy_rows
from thudo.store.postgres.entities import (
    IndexRows,
    Statement,
    delete_entities,
    fetch_current,
    fetch_for_update,
    insert_entities,
    run_guarded,
    run_together,
    update_entities,
    update_unchanged,
)

__all__ = ["BULK_CHANGES", "PostgresCore", "Tx"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Tx:
    """What one write transaction did, for the statements and the work that follow."""

    rows: IndexRows = field(default_factory=IndexRows)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    forget: list[tuple[int, str]] = field(default_factory=list)  # histories that go
    outbound: list[tuple[int, Outbound]] = field(default_factory=list)
    tenants: dict[str, int] = field(default_factory=dict)
    seen: list[tuple[str, Entity | None, Entity | None]] = field(default_factory=list)
    outbox: bool = False
    bulk: bool = False  # index and history rows go by COPY (not in pipeline mode)


#: A batch of at least this many changes runs outside psycopg's pipeline, which has no
#: COPY, and writes its index and history rows with COPY: for a 1,000-entity batch a few
#: round trips more cost far less than the JSON the server would otherwise take apart.
BULK_CHANGES = 50


@dataclass(slots=True)
class _Slot:
    """One entity id over the changes of a transaction."""

    stored: tuple[int, str] | None  # its key and document in the database
    doc: str | None  # its document now (None: no entity)
    entity: Entity | None = None  # the last version a change made
    created: int = -1  # when it needs a new row: its place among the new rows
    dropped: bool = False  # the stored row goes
    changed: bool = False

    def move(self, after: Entity | None, order: int) -> None:
        """Take the result of a change: the new version, or None for a deletion."""
        self.changed = True
        if after is None:
            self.dropped = self.stored is not None
            self.doc, self.entity, self.created = None, None, -1
            return
        if self.doc is None:
            self.created = order
        self.doc, self.entity = orjson.dumps(after).decode(), after


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
    async def _write(self, job: Callable[[Conn, Tx], Any], pipeline: bool = False) -> Any:
        """Run a write job in one transaction, then tell who waits for commits."""
        tx = Tx()

        async def run(conn: Conn) -> Any:
            nonlocal tx
            tx = Tx()  # each attempt starts afresh
            return await job(conn, tx)

        result = await self._db.write(run, pipeline)
        self._committed(tx)
        return result

    async def _write_in_place(
        self, job: Callable[[Conn, Tx], Awaitable[tuple[bool, Any]]]
    ) -> tuple[bool, Any]:
        """Run a write job that writes in one statement, without a transaction; it
        returns whether it did, and its result."""
        tx = Tx()

        async def run(conn: Conn) -> tuple[bool, Any]:
            nonlocal tx
            tx = Tx()  # each attempt starts afresh
            return await job(conn, tx)

        done, result = await self._db.write(run, atomic=False)
        if done:
            self._committed(tx)
        return done, result

    def _committed(self, tx: Tx) -> None:
        """Tell who waits for commits what the committed transaction did."""
        self._tenants.update(tx.tenants)
        observer = self._observer
        if tx.seen and observer is not None:
            # Told only now, not inside the transaction: another write's commit must not
            # send the analytics after a change before its own commit.
            for tenant, before, after in tx.seen:
                observer.seen(tenant, before, after)
            observer.committed()
        if tx.outbox and self._on_commit is not None:
            self._on_commit()

    async def _flush(self, conn: Conn, tx: Tx) -> None:
        """Write the history and the outbox rows gathered so far."""
        await self._forget(conn, tx)
        for sql, params in self._gathered(tx):
            await conn.execute(sql, params)

    async def _forget(self, conn: Conn, tx: Tx) -> None:
        """Delete the history of the entities deleted so far."""
        for tid, entity_id in sorted(set(tx.forget)):
            await temporal.delete_history(conn, tid, entity_id)
        tx.forget = []

    def _gathered(self, tx: Tx) -> list[Statement]:
        """The statements that write the history and outbox rows gathered so far."""
        out = temporal.insert_statements(tx.history)
        if tx.outbound:
            out += outbox.outbound_statements(tx.outbound, now_iso(), time.time())
            tx.outbox = True
        tx.history, tx.outbound = [], []
        return out

    async def _apply(
        self, conn: Conn, tx: Tx, tenant: str, entity_id: str, fn: Change, history: bool = True
    ) -> Any:
        """Apply one change and write the entity, its index rows and the history and outbox
        rows gathered so far."""
        return (await self._apply_all(conn, tx, tenant, [(entity_id, fn)], history))[0]

    async def _apply_all(
        self,
        conn: Conn,
        tx: Tx,
        tenant: str,
        changes: Sequence[tuple[str, Change]],
        history: bool = True,
        keep_errors: bool = False,
    ) -> list[Any]:
        """Apply changes in order (an id may come more than once) and write the entities,
        their index rows and the history and outbox rows; with ``keep_errors`` a change
        that fails is reported in its place and the others go on (it wrote nothing:
        nothing needs undoing)."""
        known = self._tenants.get(tenant, tx.tenants.get(tenant))
        if known is None:
            known = await self._tenant_if_any(conn, tenant)
        ids = list(dict.fromkeys(entity_id for entity_id, _ in changes))
        stored = await fetch_for_update(conn, known, ids) if known is not None else {}
        slots = {i: _Slot(stored.get(i), stored[i][1] if i in stored else None) for i in ids}
        out: list[Any] = []
        for order, (entity_id, fn) in enumerate(changes):
            try:
                result = await self._change(conn, tx, tenant, slots[entity_id], order, fn, history)
            except NgsiError as exc:
                if not keep_errors:
                    raise
                result = exc
            out.append(result)
        if any(slot.changed for slot in slots.values()):
            await self._write_entities(
                conn, tx, await self._tenant_for_write(conn, tenant, tx), slots
            )
        return out

    async def _change(
        self, conn: Conn, tx: Tx, tenant: str, slot: _Slot, order: int, fn: Change, history: bool
    ) -> Any:
        # The change works on its own copy; ``before`` stays as it was.
        current: Entity | None = orjson.loads(slot.doc) if slot.doc is not None else None
        before: Entity | None = orjson.loads(slot.doc) if slot.doc is not None else None
        new, result = fn(current)
        if new is UNCHANGED or (before is None and new is DELETE):
            return result
        assert new is DELETE or isinstance(new, dict)
        tid = await self._tenant_for_write(conn, tenant, tx)
        after = new if isinstance(new, dict) else None
        slot.move(after, order)
        if history:
            self._record(tx, tid, before, after)
        await self._notify(conn, tx, tid, tenant, before, after)
        return result

    async def _write_entities(self, conn: Conn, tx: Tx, tid: int, slots: dict[str, _Slot]) -> None:
        """Write the entity rows, their index rows and the gathered history and outbox
        rows as the changes left them."""
        dropped: list[int] = []
        updated: list[tuple[int, str, str]] = []
        new: list[tuple[int, str, Entity, str]] = []
        for entity_id, slot in slots.items():
            if slot.stored is not None and slot.dropped:
                dropped.append(slot.stored[0])
            entity, doc = slot.entity, slot.doc
            if not slot.changed or entity is None or doc is None:
                continue
            if slot.created >= 0:
                new.append((slot.created, entity_id, entity, doc))
            elif slot.stored is not None:
                eid, old = slot.stored
                tx.rows.add_update(tid, eid, orjson.loads(old), entity)
                updated.append((eid, entity["modifiedAt"], doc))
        await delete_entities(conn, dropped)
        await self._forget(conn, tx)
        if new:
            new.sort(key=lambda n: n[0])
            rows = [(i, e["createdAt"], e["modifiedAt"], d) for _, i, e, d in new]
            eids = await insert_entities(conn, tid, rows)
            if len(eids) < len(new):
                # A concurrent transaction created one of them: start again, to see it.
                raise WriteConflict()
            for _, entity_id, entity, _ in new:
                tx.rows.add_entity(tid, eids[entity_id], entity)
        # The updates, the index rows to delete and insert, the history and outbox rows:
        # one statement (none of them touches a row that another one does). In bulk, the
        # index and history rows follow by COPY, after the deletions.
        copies, history = (tx.rows.take_copies(), tx.history) if tx.bulk else ([], [])
        if tx.bulk:
            tx.history = []
        statements = [*update_entities(updated), *tx.rows.statements(), *self._gathered(tx)]
        await run_together(conn, statements)
        for table, columns, rows in copies:
            await copy_rows(conn, table, columns, rows)
        await temporal.copy_instances(conn, history)

    def _record(self, tx: Tx, tid: int, before: Entity | None, after: Entity | None) -> None:
        if after is not None:
            tx.history.extend(temporal.history_values(tid, before, after, now_iso()))
        elif before is not None:
            # Deleting an entity deletes its history (delete_temporal_on_core_delete),
            # also the instances this transaction had recorded.
            entity_id = before["id"]
            tx.history = [r for r in tx.history if r[0] != tid or r[1] != entity_id]
            tx.forget.append((tid, entity_id))

    async def _notify(
        self,
        conn: Conn,
        tx: Tx,
        tid: int,
        tenant: str,
        before: Entity | None,
        after: Entity | None,
    ) -> None:
        """Tell the observer, match the change against subscriptions, gather outbox rows."""
        seen, items = self._matched(tenant, before, after)
        if seen:
            tx.seen.append((tenant, before, after))
        if any(item.throttling for item in items):
            items = await outbox.admit_throttled(conn, tid, items)
        tx.outbound.extend((tid, item) for item in items)

    def _matched(
        self, tenant: str, before: Entity | None, after: Entity | None
    ) -> tuple[bool, list[Outbound]]:
        """Whether the observer wants the change, and the notifications it matches."""
        types = (before["type"] if before is not None else []) + (
            after["type"] if after is not None else []
        )
        observer = self._observer
        seen = observer is not None and observer.wants(tenant, types)
        if self._listener is None:
            return seen, []
        if self._wants is not None and not self._wants(tenant, types):
            return seen, []
        return seen, self._listener(tenant, before, after)

    async def _change_in_place(
        self, conn: Conn, tx: Tx, tenant: str, entity_id: str, fn: Change
    ) -> tuple[bool, Any]:
        """Apply a change to an existing entity without a transaction: read it, then write
        it and its other rows in one statement if it is still the version read: two
        statements, no BEGIN, lock or COMMIT (psycopg's pipeline and a transaction cost
        the worker twice the CPU time). Returns (False, None), having written
        nothing, for the changes that need a transaction (creations, deletions, throttled
        notifications) and when the entity changed meanwhile: the transaction, which locks
        it, then waits its turn."""
        tid = self._tenants.get(tenant)
        found = await fetch_current(conn, tid, entity_id) if tid is not None else None
        if tid is None or found is None:
            return False, None
        eid, doc, version = found
        before: Entity = orjson.loads(doc)
        new, result = fn(orjson.loads(doc))
        if new is UNCHANGED:
            return True, result
        if not isinstance(new, dict):
            return False, None
        seen, items = self._matched(tenant, before, new)
        if any(item.throttling for item in items):
            return False, None
        if seen:
            tx.seen.append((tenant, before, new))
        tx.outbound.extend((tid, item) for item in items)
        self._record(tx, tid, before, new)
        tx.rows.add_update(tid, eid, before, new)
        guard = update_unchanged(eid, version, new["modifiedAt"], orjson.dumps(new).decode())
        if not await run_guarded(conn, guard, [*tx.rows.statements(), *self._gathered(tx)]):
            return False, None
        return True, result
