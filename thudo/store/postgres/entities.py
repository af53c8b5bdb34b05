"""Entity rows and their index rows (types, scopes, values, geometries) in PostgreSQL.

Index rows gathered over the changes of one transaction are inserted together, one
``executemany`` per table (pipelined by the driver: one round trip).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from thudo.ngsild.model import Entity
from thudo.ngsild.values import attribute_rows, geo_values
from thudo.store.postgres.database import Conn

__all__ = [
    "IndexRows",
    "delete_entity",
    "fetch_for_update",
    "insert_entity",
    "lock_entities",
    "update_entity",
]


def _lock_key(tenant: str, entity_id: str) -> int:
    digest = hashlib.blake2b(f"{tenant}\x00{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_entities(conn: Conn, tenant: str, entity_ids: list[str]) -> None:
    """Take the transaction's locks on these entity ids, existing or not, in a fixed order
    (no deadlocks); a concurrent change of the same id waits for the commit."""
    keys = sorted({_lock_key(tenant, i) for i in entity_ids})
    await conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", (keys,)
    )


async def fetch_for_update(conn: Conn, tid: int, entity_id: str) -> tuple[int, bytes] | None:
    """The key and document of an entity, its row locked until the commit."""
    cur = await conn.execute(
        "SELECT eid, doc FROM entities WHERE tenant = %s AND id = %s FOR UPDATE",
        (tid, entity_id),
    )
    row = await cur.fetchone()
    return (int(row[0]), row[1]) if row is not None else None


class IndexRows:
    """Index rows waiting to be inserted with the transaction's other rows."""

    __slots__ = ("attrs", "geo", "history", "scopes", "types")

    def __init__(self) -> None:
        self.types: list[tuple[Any, ...]] = []
        self.scopes: list[tuple[Any, ...]] = []
        self.attrs: list[tuple[Any, ...]] = []
        self.geo: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []

    def add_entity(self, tid: int, eid: int, entity: Entity, attrs: list[str] | None) -> None:
        """The rows of an entity: types, scopes, geometries, and values (of some attributes
        only, when ``attrs`` is given)."""
        self.types.extend((tid, t, eid) for t in entity["type"])
        self.scopes.extend((tid, s, eid) for s in entity.get("scope") or ())
        self.geo.extend((tid, p, eid, orjson.dumps(g).decode()) for p, g in geo_values(entity))
        for iri in entity["attrs"] if attrs is None else attrs:
            for path, kind, num, txt in attribute_rows(
                iri, entity["attrs"][iri], system_times=True
            ):
                self.attrs.append((tid, path, iri, kind, num, txt, eid))

    async def flush(self, conn: Conn) -> None:
        """Insert what was gathered."""
        async with conn.cursor() as cur:
            if self.types:
                await cur.executemany(
                    "INSERT INTO etypes (tenant, type, eid) VALUES (%s, %s, %s)", self.types
                )
            if self.scopes:
                await cur.executemany(
                    "INSERT INTO escopes (tenant, scope, eid) VALUES (%s, %s, %s)", self.scopes
                )
            if self.attrs:
                await cur.executemany(
                    "INSERT INTO attrs (tenant, path, root, kind, num, txt, eid)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    self.attrs,
                )
            if self.geo:
                await cur.executemany(
                    "INSERT INTO geo (tenant, path, eid, geom)"
                    " VALUES (%s, %s, %s, ST_SetSRID(ST_GeomFromGeoJSON(%s::text), 4326))",
                    self.geo,
                )
        self.types, self.scopes, self.attrs, self.geo = [], [], [], []


async def insert_entity(conn: Conn, tid: int, entity: Entity, rows: IndexRows) -> int:
    """Insert a new entity; its index rows go to ``rows``."""
    cur = await conn.execute(
        "INSERT INTO entities (tenant, id, created_at, modified_at, doc)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING eid",
        (tid, entity["id"], entity["createdAt"], entity["modifiedAt"], _dump(entity)),
    )
    row = await cur.fetchone()
    assert row is not None
    rows.add_entity(tid, int(row[0]), entity, None)
    return int(row[0])


async def update_entity(
    conn: Conn, tid: int, eid: int, old: Entity | None, new: Entity, rows: IndexRows
) -> None:
    """Update an entity's row; only the index rows that changed are rewritten."""
    await conn.execute(
        "UPDATE entities SET modified_at = %s, doc = %s WHERE eid = %s",
        (new["modifiedAt"], _dump(new), eid),
    )
    meta_changed = old is None or old["type"] != new["type"] or old.get("scope") != new.get("scope")
    geo_changed = old is None or geo_values(old) != geo_values(new)
    if meta_changed:
        await conn.execute("DELETE FROM etypes WHERE eid = %s", (eid,))
        await conn.execute("DELETE FROM escopes WHERE eid = %s", (eid,))
    if geo_changed:
        await conn.execute("DELETE FROM geo WHERE eid = %s", (eid,))
    old_attrs = old["attrs"] if old is not None else {}
    changed = [a for a in new["attrs"] if old_attrs.get(a) != new["attrs"][a]]
    gone = [a for a in old_attrs if a not in new["attrs"]]
    if changed or gone:
        await conn.execute(
            "DELETE FROM attrs WHERE eid = %s AND root = ANY(%s)", (eid, [*changed, *gone])
        )
    if meta_changed:
        rows.types.extend((tid, t, eid) for t in new["type"])
        rows.scopes.extend((tid, s, eid) for s in new.get("scope") or ())
    if geo_changed:
        rows.geo.extend((tid, p, eid, orjson.dumps(g).decode()) for p, g in geo_values(new))
    for iri in changed:
        for path, kind, num, txt in attribute_rows(iri, new["attrs"][iri], system_times=True):
            rows.attrs.append((tid, path, iri, kind, num, txt, eid))


async def delete_entity(conn: Conn, eid: int) -> None:
    """Delete an entity; its index rows go with it (ON DELETE CASCADE)."""
    await conn.execute("DELETE FROM entities WHERE eid = %s", (eid,))


def _dump(entity: Entity) -> str:
    return orjson.dumps(entity).decode()
