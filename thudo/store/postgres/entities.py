"""Entity rows and their index rows (types, scopes, values, geometries) in PostgreSQL.

The rows of a transaction are gathered first and then written set-based: one statement per
table whatever the number of entities, the rows passed as one JSON parameter (``rows_json``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import errors

from thudo.ngsild.model import Entity
from thudo.ngsild.values import attribute_rows, geo_values
from thudo.store.postgres.database import Conn, rows_json

__all__ = [
    "Copy",
    "IndexRows",
    "Statement",
    "delete_entities",
    "delete_entity",
    "fetch_current",
    "fetch_for_update",
    "insert_entities",
    "lock_entities",
    "run_guarded",
    "run_together",
    "update_entities",
    "update_unchanged",
]


#: SQL text and its parameters.
Statement = tuple[str, Sequence[Any]]


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


async def fetch_for_update(conn: Conn, tid: int, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
    """The keys and documents of those of these entities that exist, by id, their rows
    locked until the commit, in id order (two transactions lock in the same order)."""
    if len(ids) == 1:
        cur = await conn.execute(
            "SELECT id, eid, doc FROM entities WHERE tenant = %s AND id = %s FOR UPDATE",
            (tid, ids[0]),
        )
    else:
        cur = await conn.execute(
            "SELECT id, eid, doc FROM entities WHERE tenant = %s AND id = ANY(%s::text[])"
            " ORDER BY id FOR UPDATE",
            (tid, sorted(set(ids))),
        )
    return {r[0]: (int(r[1]), r[2]) for r in await cur.fetchall()}


async def fetch_current(conn: Conn, tid: int, entity_id: str) -> tuple[int, str, str] | None:
    """The key, document and row version (``xmin``) of an entity, without locking it."""
    cur = await conn.execute(
        "SELECT eid, doc, xmin::text FROM entities WHERE tenant = %s AND id = %s",
        (tid, entity_id),
    )
    row = await cur.fetchone()
    return (int(row[0]), row[1], row[2]) if row is not None else None


def update_unchanged(eid: int, version: str, modified: str, doc: str) -> Statement:
    """The statement that rewrites an entity row if it is still the version read
    (``fetch_current``); it returns the row's key if it did."""
    sql = (
        "UPDATE entities SET modified_at = %s, doc = %s"
        " WHERE eid = %s AND xmin = %s::text::xid RETURNING eid"
    )
    return sql, (modified, doc, eid, version)


async def run_guarded(conn: Conn, guard: Statement, statements: Sequence[Statement]) -> bool:
    """Run data-modifying statements as one, all of them or none (autocommit): the main
    query counts the rows that ``guard`` returns, and none is a serialization failure
    (schema.py, thudo_expect_rows) that undoes every part. Returns whether they ran.
    The main query reads ``guard`` first, so that its row locks come first, as in the
    transactions that lock an entity before writing its other rows."""
    parts = ", ".join(f"w{n} AS ({sql})" for n, (sql, _) in enumerate([guard, *statements]))
    params = [p for _, ps in [guard, *statements] for p in ps]
    try:
        await conn.execute(f"WITH {parts} SELECT thudo_expect_rows(count(*)) FROM w0", params)
    except errors.SerializationFailure:
        return False
    return True


async def insert_entities(
    conn: Conn, tid: int, rows: Sequence[tuple[str, str, str, str]]
) -> dict[str, int]:
    """Insert new entities (id, createdAt, modifiedAt, document), keys taken in this
    order; returns the keys by id. An id that a concurrent transaction created meanwhile
    is left out: the caller must then start again."""
    cur = await conn.execute(
        "INSERT INTO entities (tenant, id, created_at, modified_at, doc)"
        " SELECT %s, r->>0, r->>1, r->>2, r->>3 FROM jsonb_array_elements(%s::jsonb)"
        " WITH ORDINALITY AS u(r, n) ORDER BY n"
        " ON CONFLICT (tenant, id) DO NOTHING RETURNING id, eid",
        (tid, rows_json(rows)),
    )
    return {r[0]: int(r[1]) for r in await cur.fetchall()}


def update_entities(rows: Sequence[tuple[int, str, str]]) -> list[Statement]:
    """The statement that rewrites these entity rows: (key, modifiedAt, document)."""
    if len(rows) == 1:
        eid, modified, doc = rows[0]
        sql = "UPDATE entities SET modified_at = %s, doc = %s WHERE eid = %s"
        return [(sql, (modified, doc, eid))]
    if not rows:
        return []
    sql = (
        "UPDATE entities e SET modified_at = u.r->>1, doc = u.r->>2"
        " FROM jsonb_array_elements(%s::jsonb) AS u(r) WHERE e.eid = (u.r->>0)::bigint"
    )
    return [(sql, (rows_json(rows),))]


async def run_together(conn: Conn, statements: Sequence[Statement]) -> None:
    """Run data-modifying statements as one (each a WITH query of it): one statement to
    send, plan and run. They all see the database as it was before, so they must not
    touch the same rows: here an entity update, the deletion of index rows that it makes
    stale and the insertion of new ones."""
    if len(statements) == 1:
        await conn.execute(*statements[0])
    elif statements:
        parts = ", ".join(f"w{n} AS ({sql})" for n, (sql, _) in enumerate(statements))
        params = [p for _, ps in statements for p in ps]
        await conn.execute(f"WITH {parts} SELECT 1", params)


#: The tables that hold index rows, by entity key; no foreign key deletes them (schema.py).
_INDEX_TABLES = ("etypes", "escopes", "attrs", "geo")


async def delete_entities(conn: Conn, eids: Sequence[int]) -> None:
    """Delete entities and their index rows. The caller holds the entities' row locks
    (``fetch_for_update``): no other transaction adds index rows for them meanwhile."""
    if eids:
        keys = list(eids)
        entities = ("DELETE FROM entities WHERE eid = ANY(%s::bigint[])", (keys,))
        await run_together(conn, [entities, *_index_deletions(keys)])


async def delete_entity(conn: Conn, tid: int, entity_id: str) -> bool:
    """Delete one entity and its index rows; whether it existed. Its index rows are
    deleted by a later statement, which sees those of a transaction that the DELETE
    waited for (READ COMMITTED)."""
    cur = await conn.execute(
        "DELETE FROM entities WHERE tenant = %s AND id = %s RETURNING eid", (tid, entity_id)
    )
    eids = [int(r[0]) for r in await cur.fetchall()]
    if eids:
        await run_together(conn, _index_deletions(eids))
    return bool(eids)


def _index_deletions(eids: list[int]) -> list[Statement]:
    return [(f"DELETE FROM {t} WHERE eid = ANY(%s::bigint[])", (eids,)) for t in _INDEX_TABLES]


_INSERT_TYPES = (
    "INSERT INTO etypes (tenant, type, eid) SELECT (r->>0)::int, r->>1, (r->>2)::bigint"
    " FROM jsonb_array_elements(%s::jsonb) AS r"
)
_INSERT_SCOPES = (
    "INSERT INTO escopes (tenant, scope, eid) SELECT (r->>0)::int, r->>1, (r->>2)::bigint"
    " FROM jsonb_array_elements(%s::jsonb) AS r"
)
_INSERT_ATTRS = (
    "INSERT INTO attrs (tenant, path, root, kind, num, txt, eid) SELECT (r->>0)::int, r->>1,"
    " r->>2, (r->>3)::smallint, (r->>4)::float8, r->>5, (r->>6)::bigint"
    " FROM jsonb_array_elements(%s::jsonb) AS r"
)
_INSERT_GEO = (
    "INSERT INTO geo (tenant, path, eid, geom) SELECT (r->>0)::int, r->>1, (r->>2)::bigint,"
    " ST_SetSRID(ST_GeomFromGeoJSON(r->>3), 4326) FROM jsonb_array_elements(%s::jsonb) AS r"
)


#: Index rows of a table to copy: (table, (column, type) pairs, rows).
Copy = tuple[str, tuple[tuple[str, str], ...], list[tuple[Any, ...]]]

_COPIED: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("etypes", (("tenant", "int4"), ("type", "text"), ("eid", "int8"))),
    ("escopes", (("tenant", "int4"), ("scope", "text"), ("eid", "int8"))),
    (
        "attrs",
        (
            ("tenant", "int4"),
            ("path", "text"),
            ("root", "text"),
            ("kind", "int2"),
            ("num", "float8"),
            ("txt", "text"),
            ("eid", "int8"),
        ),
    ),
)


class IndexRows:
    """Index rows to delete and to insert with the transaction's other rows."""

    __slots__ = ("attrs", "drop_attrs", "drop_geo", "drop_meta", "geo", "scopes", "types")

    def __init__(self) -> None:
        self.types: list[tuple[Any, ...]] = []
        self.scopes: list[tuple[Any, ...]] = []
        self.attrs: list[tuple[Any, ...]] = []
        self.geo: list[tuple[Any, ...]] = []
        self.drop_meta: list[int] = []
        self.drop_geo: list[int] = []
        self.drop_attrs: list[tuple[int, str]] = []

    def add_entity(self, tid: int, eid: int, entity: Entity) -> None:
        """The rows of a new entity."""
        self._add_meta(tid, eid, entity)
        self._add_geo(tid, eid, entity)
        for iri in entity["attrs"]:
            self._add_attr(tid, eid, entity, iri)

    def add_update(self, tid: int, eid: int, old: Entity, new: Entity) -> None:
        """The rows that change when ``old`` becomes ``new``; the others stay."""
        if old["type"] != new["type"] or old.get("scope") != new.get("scope"):
            self.drop_meta.append(eid)
            self._add_meta(tid, eid, new)
        if geo_values(old) != geo_values(new):
            self.drop_geo.append(eid)
            self._add_geo(tid, eid, new)
        old_attrs, new_attrs = old["attrs"], new["attrs"]
        for iri in old_attrs:
            if iri not in new_attrs:
                self.drop_attrs.append((eid, iri))
        for iri, instances in new_attrs.items():
            if old_attrs.get(iri) != instances:
                self.drop_attrs.append((eid, iri))
                self._add_attr(tid, eid, new, iri)

    def _add_meta(self, tid: int, eid: int, entity: Entity) -> None:
        self.types.extend((tid, t, eid) for t in entity["type"])
        self.scopes.extend((tid, s, eid) for s in entity.get("scope") or ())

    def _add_geo(self, tid: int, eid: int, entity: Entity) -> None:
        self.geo.extend((tid, p, eid, orjson.dumps(g).decode()) for p, g in geo_values(entity))

    def _add_attr(self, tid: int, eid: int, entity: Entity, iri: str) -> None:
        for path, kind, num, txt in attribute_rows(iri, entity["attrs"][iri]):
            self.attrs.append((tid, path, iri, kind, num, txt, eid))

    def take_copies(self) -> list[Copy]:
        """The type, scope and value rows gathered so far, to insert with COPY
        (database.copy_rows) after ``statements`` have run: its deletions must not see
        them. Geometries stay with ``statements`` (COPY cannot call ST_GeomFromGeoJSON)."""
        gathered = (self.types, self.scopes, self.attrs)
        out = [(t, cols, rows) for (t, cols), rows in zip(_COPIED, gathered, strict=True) if rows]
        self.types, self.scopes, self.attrs = [], [], []
        return out

    def statements(self) -> list[Statement]:
        """The statements that delete, then insert, what was gathered; gathering starts
        afresh."""
        out = self._deletions()
        for sql, rows in (
            (_INSERT_TYPES, self.types),
            (_INSERT_SCOPES, self.scopes),
            (_INSERT_ATTRS, self.attrs),
            (_INSERT_GEO, self.geo),
        ):
            if rows:
                out.append((sql, (rows_json(rows),)))
        self.types, self.scopes, self.attrs, self.geo = [], [], [], []
        return out

    def _deletions(self) -> list[Statement]:
        out: list[Statement] = []
        if self.drop_meta:
            out.append(("DELETE FROM etypes WHERE eid = ANY(%s::bigint[])", (self.drop_meta,)))
            out.append(("DELETE FROM escopes WHERE eid = ANY(%s::bigint[])", (self.drop_meta,)))
        if self.drop_geo:
            out.append(("DELETE FROM geo WHERE eid = ANY(%s::bigint[])", (self.drop_geo,)))
        drops = self.drop_attrs
        if len(drops) == 1:
            # Not "= ANY(array)": for an array of unknown length the generic plan of a
            # prepared statement expects 25 rows, and every execution is planned again.
            sql = "DELETE FROM attrs WHERE eid = %s AND root = %s"
            out.append((sql, drops[0]))
        elif len({eid for eid, _ in drops}) == 1:
            sql = "DELETE FROM attrs WHERE eid = %s AND root = ANY(%s::text[])"
            out.append((sql, (drops[0][0], [root for _, root in drops])))
        elif drops:
            sql = (
                "DELETE FROM attrs a USING jsonb_array_elements(%s::jsonb) AS d(r)"
                " WHERE a.eid = (d.r->>0)::bigint AND a.root = d.r->>1"
            )
            out.append((sql, (rows_json(drops),)))
        self.drop_meta, self.drop_geo, self.drop_attrs = [], [], []
        return out
