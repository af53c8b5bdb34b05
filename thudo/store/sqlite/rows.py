"""An entity's rows in the SQLite store: the entity row with its document, and its type,
scope, attribute-index and geo rows, gathered per write job and inserted together.

New entities and geometries get their row numbers here (the largest one plus one, as
SQLite would pick them): the writer holds the write lock, so no one else takes them, and
the rows can wait in memory for one multi-row INSERT per table (see ``bulk``)."""

from __future__ import annotations

import sqlite3
import struct
from typing import Any

import orjson
import shapely
from shapely.geometry import shape

from thudo.ngsild.model import Entity
from thudo.ngsild.values import geo_values
from thudo.store.sqlite import temporal
from thudo.store.sqlite.bulk import insert_many
from thudo.store.sqlite.outbox import INSERT_OUTBOX
from thudo.store.sqlite.paths import PathIds

__all__ = ["INSERT_ATTR", "RowIds", "Rows", "delete_entity_rows", "insert_entity", "update_entity"]

INSERT_ATTR = "INSERT INTO attrs (tenant, pid, root, kind, val, eid) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_ATTRS = "INSERT INTO attrs (tenant, pid, root, kind, val, eid)"
_INSERT_ENTITY = "INSERT INTO entities (eid, tenant, id, created_at, modified_at, doc)"


class RowIds:
    """The next row numbers of entities and geometries within the writer's transaction:
    read once per transaction, then counted on, and forgotten when it ends."""

    __slots__ = ("_eid", "_gid")

    def __init__(self) -> None:
        self._eid: int | None = None
        self._gid: int | None = None

    def new_eid(self, conn: sqlite3.Connection) -> int:
        """The row number of a new entity."""
        if self._eid is None:
            self._eid = _max(conn, "SELECT max(eid) FROM entities")
        self._eid += 1
        return self._eid

    def new_gid(self, conn: sqlite3.Connection) -> int:
        """The row number of a new geometry."""
        if self._gid is None:
            self._gid = _max(conn, "SELECT max(gid) FROM geo")
        self._gid += 1
        return self._gid

    def reset(self) -> None:
        """The transaction ended (committed or rolled back): read them again next time."""
        self._eid = self._gid = None


class Rows:
    """Entity, index and history rows gathered over the changes of one job, inserted
    together: a few multi-row INSERTs per table instead of several statements per entity."""

    __slots__ = ("attrs", "entities", "geo", "history", "ids", "outbox", "scopes", "types")

    def __init__(self, ids: RowIds | None = None) -> None:
        self.ids = ids if ids is not None else RowIds()
        self.entities: list[tuple[Any, ...]] = []
        self.geo: list[tuple[Any, ...]] = []
        self.attrs: list[tuple[Any, ...]] = []
        self.types: list[tuple[Any, ...]] = []
        self.scopes: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []
        self.outbox: list[tuple[Any, ...]] = []

    def flush(self, conn: sqlite3.Connection) -> None:
        """Insert what was gathered."""
        insert_many(conn, _INSERT_ENTITY, 6, self.entities)
        if self.geo:
            places = [g[:5] for g in self.geo]
            insert_many(conn, "INSERT INTO geo (gid, tenant, path, eid, wkb)", 5, places)
            boxes = [(g[0], *g[5:]) for g in self.geo]
            insert_many(conn, "INSERT INTO geo_rtree (gid, minx, maxx, miny, maxy)", 5, boxes)
            self.geo = []
        insert_many(conn, "INSERT INTO etypes (tenant, type, eid)", 3, self.types)
        insert_many(conn, "INSERT INTO escopes (tenant, scope, eid)", 3, self.scopes)
        insert_many(conn, _INSERT_ATTRS, 6, self.attrs)
        temporal.insert_rows(conn, self.history)
        # Outbox rows keep the order of the changes: their numbers are the sending order.
        insert_many(conn, INSERT_OUTBOX, 7, self.outbox)
        self.entities, self.attrs, self.types, self.scopes, self.history = [], [], [], [], []
        self.outbox = []


def _max(conn: sqlite3.Connection, sql: str) -> int:
    found = conn.execute(sql).fetchone()[0]
    return int(found) if found is not None else 0


def insert_entity(conn: sqlite3.Connection, tid: int, entity: Entity, rows: Rows) -> int:
    """Gather a new entity's rows; returns its row number."""
    eid = rows.ids.new_eid(conn)
    rows.entities.append(
        (eid, tid, entity["id"], entity["createdAt"], entity["modifiedAt"], orjson.dumps(entity))
    )
    _insert_types(tid, eid, entity, rows)
    _insert_geo(conn, tid, eid, entity, rows)
    return eid


def _insert_types(tid: int, eid: int, entity: Entity, rows: Rows) -> None:
    rows.types.extend((tid, t, eid) for t in entity["type"])
    rows.scopes.extend((tid, s, eid) for s in entity.get("scope") or ())


def _wkb_and_bounds(geojson: dict[str, Any]) -> tuple[bytes, tuple[float, ...]]:
    coords = geojson.get("coordinates")
    if geojson.get("type") == "Point" and isinstance(coords, list) and len(coords) == 2:
        # Points are most geometries; packing them directly skips shapely on the write path.
        x, y = float(coords[0]), float(coords[1])
        return struct.pack("<BIdd", 1, 1, x, y), (x, y, x, y)
    geom = shape(geojson)
    return shapely.to_wkb(geom), tuple(geom.bounds)


def _insert_geo(conn: sqlite3.Connection, tid: int, eid: int, entity: Entity, rows: Rows) -> None:
    for path, geojson in geo_values(entity):
        wkb, bounds = _wkb_and_bounds(geojson)
        minx, miny, maxx, maxy = bounds
        rows.geo.append((rows.ids.new_gid(conn), tid, path, eid, wkb, minx, maxx, miny, maxy))


def _delete_geo(conn: sqlite3.Connection, eid: int) -> None:
    conn.execute("DELETE FROM geo_rtree WHERE gid IN (SELECT gid FROM geo WHERE eid = ?)", (eid,))
    conn.execute("DELETE FROM geo WHERE eid = ?", (eid,))


def delete_entity_rows(conn: sqlite3.Connection, eid: int) -> None:
    conn.execute("DELETE FROM entities WHERE eid = ?", (eid,))
    conn.execute("DELETE FROM etypes WHERE eid = ?", (eid,))
    conn.execute("DELETE FROM escopes WHERE eid = ?", (eid,))
    conn.execute("DELETE FROM attrs WHERE eid = ?", (eid,))
    _delete_geo(conn, eid)


def update_entity(
    conn: sqlite3.Connection,
    tid: int,
    eid: int,
    old: Entity | None,
    new: Entity,
    rows: Rows,
    paths: PathIds,
) -> list[str]:
    """Update an entity's row and indexes; returns the attributes whose index rows the
    caller must write anew."""
    conn.execute(
        "UPDATE entities SET modified_at = ?, doc = ? WHERE eid = ?",
        (new["modifiedAt"], orjson.dumps(new), eid),
    )
    if old is None or old["type"] != new["type"] or old.get("scope") != new.get("scope"):
        conn.execute("DELETE FROM etypes WHERE eid = ?", (eid,))
        conn.execute("DELETE FROM escopes WHERE eid = ?", (eid,))
        _insert_types(tid, eid, new, rows)
    if old is None or geo_values(old) != geo_values(new):
        _delete_geo(conn, eid)
        _insert_geo(conn, tid, eid, new, rows)
    old_attrs = old["attrs"] if old is not None else {}
    new_attrs = new["attrs"]
    changed = [a for a in new_attrs if old_attrs.get(a) != new_attrs[a]]
    gone = [a for a in old_attrs if a not in new_attrs]
    # Only the index rows of the attributes that changed are rewritten.
    conn.executemany(
        "DELETE FROM attrs WHERE eid = ? AND root = ?",
        [(eid, paths.for_write(conn, a)) for a in (*changed, *gone)],
    )
    return changed
