"""What only the PostgreSQL backend has: its migrations ledger, 503 then recovery when
the database goes away, and what lets several processes share one database (LISTEN for
subscription changes, throttling decided in the database)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import pytest

from tests.store.test_store import create, make
from thudo.config import Settings, load_settings
from thudo.errors import ServiceUnavailable
from thudo.store import open_store
from thudo.store.admin import schema_status, upgrade_schema
from thudo.store.base import Outbound, SubscriptionRecord
from thudo.store.postgres.schema import SCHEMA_VERSION

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(postgres_url: str, store_settings: Callable[..., Settings]) -> Settings:
    return store_settings()


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


async def test_the_store_recovers_when_its_connections_are_cut(pg_settings: Settings) -> None:
    store = open_store(pg_settings)
    await store.start()
    try:
        await store.ping()
        dbname = pg_settings.database_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_settings.database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )
        # The pool checks a connection before lending it and replaces a dead one.
        await store.ping()
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
    pg_settings: Settings,
) -> None:
    stores = [open_store(pg_settings) for _ in range(2)]
    for store in stores:
        await store.start()
    sub = {"id": "urn:ngsi-ld:Subscription:t", "type": "Subscription", "throttling": 60}
    try:
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
    finally:
        for store in stores:
            await store.close()
