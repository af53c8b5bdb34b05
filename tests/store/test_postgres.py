"""What only the PostgreSQL backend has: its migrations ledger, 503 then recovery when
the database goes away, and what lets several processes share one database (LISTEN for
subscription changes, throttling decided in the database, creation races), and the
set-based writes of a batch that names one id several times."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from tests.store.test_store import CTX, VOCAB, create, ids, make, put
from thudo.config import Settings, load_settings
from thudo.errors import AlreadyExists, ServiceUnavailable
from thudo.ngsild.model import Entity
from thudo.ngsild.qlang import parse_q
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.typeexpr import TypeName
from thudo.store import open_store
from thudo.store.admin import schema_status, upgrade_schema
from thudo.store.base import (
    DELETE,
    UNCHANGED,
    Change,
    Outbound,
    Outcome,
    Store,
    SubscriptionRecord,
)
from thudo.store.postgres.schema import SCHEMA_VERSION

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(postgres_url: str, store_settings: Callable[..., Settings]) -> Settings:
    return store_settings()


@pytest.fixture
async def stores(pg_settings: Settings) -> AsyncIterator[list[Store]]:
    """Two started stores on one database, as two processes would have."""
    started = [open_store(pg_settings) for _ in range(2)]
    for store in started:
        await store.start()
    yield started
    for store in started:
        await store.close()


@pytest.fixture
def store_backend() -> str:
    return "postgres"


def test_upgrade_applies_every_migration_once(pg_settings: Settings) -> None:
    assert schema_status(pg_settings).pending == list(range(1, SCHEMA_VERSION + 1))
    before, after = upgrade_schema(pg_settings)
    assert (before.current, after.current, after.pending) == (0, SCHEMA_VERSION, [])
    assert upgrade_schema(pg_settings)[0].current == SCHEMA_VERSION


async def test_an_unreachable_database_is_a_503() -> None:
    settings = load_settings(
        environ={},
        database_url="postgresql://postgres@127.0.0.1:1/none",
        postgres_connect_timeout=1.0,
    )
    store = open_store(settings)
    with pytest.raises(ServiceUnavailable):
        await store.start()


_OTHERS = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"


async def _end_connections(url: str, wait: bool) -> None:
    """End every other connection to the database of ``url`` (as a server restart would);
    with ``wait``, until the server has closed them all."""
    with psycopg.connect(url, autocommit=True) as admin:
        dbname = url.rsplit("/", 1)[1]
        admin.execute("SELECT pg_terminate_backend(pid) " + _OTHERS, (dbname,))
        for _ in range(100 if wait else 0):
            left = admin.execute("SELECT count(*) " + _OTHERS, (dbname,)).fetchone()
            if left is not None and left[0] == 0:
                return
            await asyncio.sleep(0.02)


async def test_the_store_recovers_when_its_connections_are_cut(pg_settings: Settings) -> None:
    store = open_store(pg_settings)
    await store.start()
    try:
        await store.ping()
        await _end_connections(pg_settings.database_url, wait=False)
        # The pool checks a connection before lending it and replaces a dead one.
        await store.ping()
        assert await store.tenants() == []
    finally:
        await store.close()


async def test_a_read_lent_a_connection_ended_unnoticed_runs_again(
    store_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool lends a connection without a round trip when its socket is quiet; if the
    server ended it an instant earlier, the read fails on it and must run once more on a
    new connection instead of answering 503."""
    settings = store_settings(postgres_pool_min=1, postgres_pool_max=1)
    store = open_store(settings)
    await store.start()
    try:
        await store.ping()
        # The lending check does not see the server's goodbye (as when it has not arrived yet).
        monkeypatch.setattr("thudo.store.postgres.database._readable", lambda fd: False)
        await _end_connections(settings.database_url, wait=True)
        assert await store.tenants() == []
    finally:
        await store.close()


async def test_a_subscription_change_by_another_store_is_heard(pg_settings: Settings) -> None:
    mine, other = open_store(pg_settings), open_store(pg_settings)
    await mine.start()
    await other.start()
    heard = asyncio.Event()
    try:
        mine.watch_changes(heard.set)
        await asyncio.wait_for(mine._watcher.listening.wait(), 5)  # type: ignore[attr-defined]
        sub = {"id": "urn:ngsi-ld:Subscription:w", "type": "Subscription"}
        await other.save_subscription(SubscriptionRecord("", sub, {}), True)
        await asyncio.wait_for(heard.wait(), 5)
    finally:
        await other.close()
        await mine.close()


async def test_throttling_lets_one_notification_through_per_window(
    stores: list[Store],
) -> None:
    sub = {"id": "urn:ngsi-ld:Subscription:t", "type": "Subscription", "throttling": 60}
    await stores[0].save_subscription(SubscriptionRecord("", sub, {}), True)
    for store in stores:
        store.set_change_listener(
            lambda tenant, before, after: [
                Outbound(sub["id"], (after or before or {})["id"], "entityCreated", {}, 60)
            ]
        )
    # Two stores (as two processes would) write at once: one notification in the window.
    await asyncio.gather(*(create(store, make(f"urn:a:{i}")) for i, store in enumerate(stores)))
    await create(stores[1], make("urn:a:9"))
    assert (await stores[0].outbox_counts())["pending"] == 1


async def test_two_processes_creating_one_id_make_one_entity(stores: list[Store]) -> None:
    # No lock guards an id that does not exist yet: the losing insert starts its
    # transaction again and then sees the entity the other one created.
    entity = make("urn:a:race", n=1)
    results = await asyncio.gather(
        *(store.change_many("", [("urn:a:race", put(entity))]) for store in stores * 4)
    )
    flat = [r for batch in results for r in batch]
    assert flat.count("created") == 1
    assert all(isinstance(r, AlreadyExists) for r in flat if r != "created")
    page = await stores[0].query_entities("", EntitySelection(ids=("urn:a:race",), count=True))
    assert page.count == 1


async def test_concurrent_batches_over_the_same_ids_all_commit(stores: list[Store]) -> None:
    def inc(current: Entity | None) -> Outcome:
        if current is None:
            return make("urn:a:x", n=1), None
        current["attrs"][VOCAB + "n"][0]["value"] += 1
        return current, None

    ids = [f"urn:a:{i}" for i in range(20)]
    batches = [ids, list(reversed(ids))] * 3
    await asyncio.gather(
        *(
            stores[k % 2].change_many("", [(i, _renamed(inc, i)) for i in batch])
            for k, batch in enumerate(batches)
        )
    )
    for entity_id in ids:
        got = await stores[1].get_entity("", entity_id)
        assert got is not None and got["attrs"][VOCAB + "n"][0]["value"] == len(batches)


def _renamed(change: Callable[[Entity | None], Outcome], entity_id: str) -> Change:
    def renamed(current: Entity | None) -> Outcome:
        new, result = change(current)
        if isinstance(new, dict):
            new["id"] = entity_id
        return new, result

    return renamed


async def test_one_id_many_times_in_a_batch(pg_settings: Settings) -> None:
    store = open_store(pg_settings)
    await store.start()
    try:
        await create(store, make("urn:a:1", n=1), make("urn:a:2", n=1))
        results = await store.change_many(
            "",
            [
                ("urn:a:1", lambda cur: (DELETE, "deleted")),
                ("urn:a:1", put(make("urn:a:1", n=7))),
                ("urn:a:3", put(make("urn:a:3", n=3))),
                ("urn:a:3", lambda cur: (DELETE, "deleted")),
                ("urn:a:2", lambda cur: (make("urn:a:2", n=5), "replaced")),
                ("urn:a:2", lambda cur: (UNCHANGED, "same")),
            ],
        )
        assert results == ["deleted", "created", "created", "deleted", "replaced", "same"]
        assert await ids(store, types=TypeName(VOCAB + "Room")) == ["urn:a:1", "urn:a:2"]
        for entity_id, n in (("urn:a:1", 7), ("urn:a:2", 5)):
            hits = await ids(store, q=parse_q(f"n=={n}", CTX.expand))
            assert entity_id in hits
        assert await ids(store, q=parse_q("n==1", CTX.expand)) == []
        # The recreated entity comes after the others, as a new one does.
        page = await store.query_entities("", EntitySelection(types=TypeName(VOCAB + "Room")))
        assert [e["id"] for e in page.entities] == ["urn:a:2", "urn:a:1"]
    finally:
        await store.close()


@pytest.mark.parametrize(("wait", "shown"), [(True, "on"), (False, "off")])
async def test_commits_wait_for_the_disk_unless_told_not_to(
    store_settings: Callable[..., Settings], postgres_url: str, wait: bool, shown: str
) -> None:
    store = open_store(store_settings(postgres_synchronous_commit=wait))
    await store.start()
    try:

        async def setting(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> object:
            cur = await conn.execute("SHOW synchronous_commit")
            row = await cur.fetchone()
            return row[0] if row else None

        assert await store._db.read(setting) == shown  # type: ignore[attr-defined]
        await create(store, make("urn:a:1", n=1))
        assert await ids(store) == ["urn:a:1"]
    finally:
        await store.close()
