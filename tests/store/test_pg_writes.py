"""The PostgreSQL write path: index rows without foreign keys (migration 5) go with their
entity on every delete path, and an update written without a transaction is all or
nothing when the entity changes between its read and its write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from tests.store.test_store import CTX, NOW, VOCAB, create, ids, make
from thudo.config import Settings
from thudo.ngsild.geoquery import parse_geoq
from thudo.ngsild.model import SUB_SEP, Entity
from thudo.ngsild.qlang import QNode, parse_q
from thudo.ngsild.render import LOCATION
from thudo.ngsild.values import attribute_rows
from thudo.store import open_store
from thudo.store.base import DELETE, Outcome, Store
from thudo.store.postgres.database import ident
from thudo.store.postgres.entities import IndexRows
from thudo.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION

pytestmark = pytest.mark.postgres

INDEX_TABLES = ("etypes", "escopes", "attrs", "geo")
NONE_LEFT = dict.fromkeys(INDEX_TABLES, 0)
POINT = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [105.8, 21.0]}}


@pytest.fixture
def store_backend() -> str:
    return "postgres"


@pytest.fixture
def url(store_settings: Callable[..., Settings]) -> str:
    """The emptied test database."""
    return store_settings().database_url


def _rows(
    url: str, query: str | sql.Composed, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _count(url: str, query: str | sql.Composed) -> int:
    return int(_rows(url, query)[0][0])


def _in(table: str, orphans: bool = False) -> sql.Composed:
    """Counts the rows of an index table, or those whose entity is gone."""
    where = sql.SQL(" WHERE eid NOT IN (SELECT eid FROM entities)" if orphans else "")
    return sql.SQL("SELECT count(*) FROM {}{}").format(ident(table), where)


def _orphans(url: str) -> dict[str, int]:
    """Index rows whose entity is gone, by table."""
    return {t: _count(url, _in(t, orphans=True)) for t in INDEX_TABLES}


def _full(entity_id: str, n: int) -> Entity:
    """An entity with rows in every index table."""
    return make(entity_id, n=n, location=POINT, scope="/hanoi/hoankiem")


def _delete(_: Entity | None) -> Outcome:
    return DELETE, None


def _q(text: str) -> QNode:
    return parse_q(text, CTX.expand)


async def _near(store: Store) -> list[str]:
    return await ids(
        store, geo=parse_geoq("near;maxDistance==1000", "Point", "[105.8,21]", LOCATION)
    )


async def test_every_delete_path_removes_the_index_rows(store: Store, url: str) -> None:
    await create(store, *(_full(f"urn:a:{i}", i) for i in range(5)))
    assert all(_count(url, _in(t)) > 0 for t in INDEX_TABLES)

    await store.change("", "urn:a:0", _delete)
    await store.change_many("", [("urn:a:1", _delete), ("urn:a:2", _delete)])
    assert await store.temporal_delete("", "urn:a:3")

    assert _orphans(url) == NONE_LEFT
    assert await ids(store, q=_q("n>=0")) == ["urn:a:4"]
    assert await _near(store) == ["urn:a:4"]


async def test_deleted_then_created_again_in_one_batch_keeps_only_new_rows(
    store: Store, url: str
) -> None:
    await create(store, _full("urn:a:1", 1))

    def again(_: Entity | None) -> Outcome:
        return _full("urn:a:1", 2), "created"

    await store.change_many("", [("urn:a:1", _delete), ("urn:a:1", again)])
    assert _orphans(url) == NONE_LEFT
    assert await ids(store, q=_q("n==2")) == ["urn:a:1"]
    assert await ids(store, q=_q("n==1")) == []


async def test_an_update_raced_by_another_write_is_written_once_after_it(
    store: Store, url: str
) -> None:
    await create(store, make("urn:a:1", n=1))
    seen: list[int] = []

    def add_ten(current: Entity | None) -> Outcome:
        assert current is not None
        seen.append(current["attrs"][VOCAB + "n"][0]["value"])
        if len(seen) == 1:
            # Another writer changes the row between this change's read and its write.
            _rows(url, "UPDATE entities SET doc = doc WHERE id = 'urn:a:1' RETURNING eid")
        current["attrs"][VOCAB + "n"][0]["value"] += 10
        return current, None

    await store.change("", "urn:a:1", add_ten)

    assert seen == [1, 1]  # the first attempt was undone, the second one written
    got = await store.get_entity("", "urn:a:1")
    assert got is not None and got["attrs"][VOCAB + "n"][0]["value"] == 11
    assert await ids(store, q=_q("n==11")) == ["urn:a:1"]
    assert await ids(store, q=_q("n==1")) == []
    history = _rows(url, "SELECT num FROM tinstances WHERE attr = %s ORDER BY num", (VOCAB + "n",))
    assert history == [(1.0,), (11.0,)]


def _at_version_4(url: str, entities: list[Entity]) -> None:
    """The schema of version 4 (with the foreign keys) holding these entities, their rows
    written as that version wrote them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE thudo_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in MIGRATIONS[:4]:
            for statement in migration.statements:
                conn.execute(statement.encode())
            conn.execute(
                "INSERT INTO thudo_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        rows = IndexRows()
        for entity in entities:
            row = conn.execute(
                "INSERT INTO entities (tenant, id, created_at, modified_at, doc)"
                " VALUES (0, %s, %s, %s, %s) RETURNING eid",
                (
                    entity["id"],
                    entity["createdAt"],
                    entity["modifiedAt"],
                    orjson.dumps(entity).decode(),
                ),
            ).fetchone()
            assert row is not None
            rows.add_entity(0, row[0], entity)
            # Version 4 wrote index rows for the member times createdAt and modifiedAt too.
            for iri, instances in entity["attrs"].items():
                for path, kind, num, txt in attribute_rows(iri, instances, system_times=True):
                    if path.endswith((SUB_SEP + "createdAt", SUB_SEP + "modifiedAt")):
                        conn.execute(
                            "INSERT INTO attrs (tenant, path, root, kind, num, txt, eid)"
                            " VALUES (0, %s, %s, %s, %s, %s, %s)",
                            (path, iri, kind, num, txt, row[0]),
                        )
        for statement, params in rows.statements():
            conn.execute(statement.encode(), params)


async def test_a_version_4_database_is_upgraded_with_its_entities(
    store_settings: Callable[..., Settings], url: str
) -> None:
    _at_version_4(url, [_full(f"urn:a:{i}", i) for i in range(3)])
    foreign = "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
    assert _count(url, foreign) == 4
    member_times = (
        "SELECT count(*) FROM attrs WHERE kind = 4 AND strpos(path, chr(31)) > 0"
        " AND right(path, 2) = 'At'"
    )
    assert _count(url, member_times) == 3 * 2 * 2  # createdAt, modifiedAt of n and location

    store = open_store(store_settings())
    await store.start()
    try:
        assert _count(url, "SELECT max(version) FROM thudo_migrations") == SCHEMA_VERSION
        assert _count(url, foreign) == 0
        assert _count(url, member_times) == 0
        created = _q(f"n.createdAt=={NOW}")
        assert await ids(store, q=created) == ["urn:a:0", "urn:a:1", "urn:a:2"]
        by_eid = "SELECT indexdef FROM pg_indexes WHERE indexname = 'attrs_by_eid'"
        assert _rows(url, by_eid)[0][0].endswith("USING btree (eid)")
        at_index = "SELECT indexdef FROM pg_indexes WHERE indexname = 'tinstances_at'"
        assert _rows(url, at_index)[0][0].endswith("USING brin (at)")  # migration 7
        assert await ids(store, q=_q("n>=1")) == ["urn:a:1", "urn:a:2"]

        def add_ten(current: Entity | None) -> Outcome:
            assert current is not None
            current["attrs"][VOCAB + "n"][0]["value"] += 10
            return current, None

        await store.change("", "urn:a:1", add_ten)
        await store.change("", "urn:a:0", _delete)
        assert _orphans(url) == NONE_LEFT
        assert await ids(store, q=_q("n>=1")) == ["urn:a:1", "urn:a:2"]
        assert await ids(store, q=_q("n==11")) == ["urn:a:1"]
        assert await _near(store) == ["urn:a:1", "urn:a:2"]
    finally:
        await store.close()
