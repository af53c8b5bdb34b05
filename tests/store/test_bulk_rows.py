"""Batches large enough to span several multi-row INSERTs (thudo/store/sqlite/bulk.py), and
batches that mix new, stored and repeated entities: every row must reach its entity."""

from __future__ import annotations

from typing import Any

import pytest

from thudo.ngsild.geoquery import parse_geoq
from thudo.ngsild.jsonld import core_context
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import ParseOptions, parse_entity
from thudo.ngsild.qlang import parse_q
from thudo.ngsild.render import LOCATION
from thudo.ngsild.selection import EntitySelection
from thudo.store.base import Outcome, Store
from thudo.store.sqlite.bulk import insert_many

CTX = core_context()
NOW = "2024-01-01T00:00:00.000Z"


def station(n: int, aqi: int | None = None) -> Entity:
    body = {
        "id": f"urn:s:{n}",
        "type": "Station",
        "aqi": {"type": "Property", "value": n % 7 if aqi is None else aqi},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [n / 10, 1]}},
    }
    return parse_entity(body, CTX, NOW, ParseOptions())


def upsert(entity: Entity) -> Any:
    def change(current: Entity | None) -> Outcome:
        return entity, current is None

    return change


async def ids(store: Store, **sel: Any) -> list[str]:
    page = await store.query_entities("", EntitySelection(**{"limit": 1000, **sel}))
    return sorted(e["id"] for e in page.entities)


async def test_a_batch_of_many_entities_indexes_each_one(store: Store) -> None:
    batch = [station(n) for n in range(1, 1201)]
    results = await store.change_many("", [(e["id"], upsert(e)) for e in batch])
    assert results == [True] * 1200
    assert await ids(store, q=parse_q("aqi==3", CTX.expand)) == sorted(
        f"urn:s:{n}" for n in range(1, 1201) if n % 7 == 3
    )
    near = parse_geoq("near;maxDistance==2000", "Point", "[107.7, 1]", LOCATION)
    assert await ids(store, geo=near) == ["urn:s:1077"]


async def test_a_batch_mixing_stored_new_and_repeated_entities(store: Store) -> None:
    await store.change_many("", [(e["id"], upsert(e)) for e in map(station, (1, 2))])
    items = [station(2, aqi=40), station(3, aqi=41), station(3, aqi=42), station(4, aqi=43)]
    results = await store.change_many("", [(e["id"], upsert(e)) for e in items])
    assert results == [False, True, False, True]
    assert await ids(store, q=parse_q("aqi>=40", CTX.expand)) == ["urn:s:2", "urn:s:3", "urn:s:4"]
    assert await ids(store, q=parse_q("aqi==41", CTX.expand)) == []
    stored = await store.get_entity("", "urn:s:3")
    assert stored is not None
    assert stored["attrs"][CTX.expand("aqi")][0]["value"] == 42
    near = parse_geoq("near;maxDistance==2000", "Point", "[0.3, 1]", LOCATION)
    assert await ids(store, geo=near) == ["urn:s:3"]


@pytest.mark.parametrize("count", [0, 1, 499, 500, 501, 1234])
def test_insert_many_inserts_every_row_in_order(count: int) -> None:
    import sqlite3

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b, c BLOB)")
    rows = [(i, f"v{i}" if i % 2 else float(i), bytes([i % 256])) for i in range(count)]
    insert_many(conn, "INSERT INTO t (a, b, c)", 3, rows)
    assert conn.execute("SELECT a, b, c FROM t ORDER BY rowid").fetchall() == rows
