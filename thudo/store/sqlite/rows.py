"""An entity's rows in the SQLite store: the entity row with its document, and its type,
scope, attribute-index and geo rows, gathered per write job and inserted together."""

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
from thudo.store.sqlite.paths import PathIds

__all__ = ["INSERT_ATTR", "Rows", "delete_entity_rows", "insert_entity", "update_entity"]

INSERT_ATTR = "INSERT INTO attrs (tenant, pid, root, kind, val, eid) VALUES (?, ?, ?, ?, ?, ?)"


class Rows:
    """Index and history rows gathered over the changes of one job, inserted together:
    one executemany per table instead of several per entity."""

    __slots__ = ("attrs", "history", "scopes", "types")

    def __init__(self) -> None:
        self.attrs: list[tuple[Any, ...]] = []
        self.types: list[tuple[Any, ...]] = []
        self.scopes: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []

    def flush(self, conn: sqlite3.Connection) -> None:
        """Insert what was gathered."""
        if self.types:
            conn.executemany("INSERT INTO etypes (tenant, type, eid) VALUES (?, ?, ?)", self.types)
        if self.scopes:
            conn.executemany(
                "INSERT INTO escopes (tenant, scope, eid) VALUES (?, ?, ?)", self.scopes
            )
        if self.attrs:
            conn.executemany(INSERT_ATTR, self.attrs)
        temporal.insert_rows(conn, self.history)
        self.attrs, self.types, self.scopes, self.history = [], [], [], []


def insert_entity(conn: sqlite3.Connection, tid: int, entity: Entity, rows: Rows) -> int:
    cur = conn.execute(
        "INSERT INTO entities (tenant, id, created_at, modified_at, doc) VALUES (?, ?, ?, ?, ?)",
        (tid, entity["id"], entity["createdAt"], entity["modifiedAt"], orjson.dumps(entity)),
    )
    eid = cur.lastrowid
    assert eid is not None
    _insert_types(tid, eid, entity, rows)
    _insert_geo(conn, tid, eid, entity)
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


def _insert_geo(conn: sqlite3.Connection, tid: int, eid: int, entity: Entity) -> None:
    for path, geojson in geo_values(entity):
        wkb, bounds = _wkb_and_bounds(geojson)
        cur = conn.execute(
            "INSERT INTO geo (tenant, path, eid, wkb) VALUES (?, ?, ?, ?)",
            (tid, path, eid, wkb),
        )
        minx, miny, maxx, maxy = bounds
        conn.execute(
            "INSERT INTO geo_rtree (gid, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)",
            (cur.lastrowid, minx, maxx, miny, maxy),
        )


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
        _insert_geo(conn, tid, eid, new)
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
