"""Fixtures shared by the whole suite: settings on a fresh database, the app, a client,
local HTTP servers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import pgtest
from tests.receiver import Receiver
from tests.support import ContextServer
from thudo.api.app import ThudoApp
from thudo.config import Settings, load_settings

SettingsFactory = Callable[..., Settings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


#: THUDO_TEST_BACKEND=postgres runs the tests that use make_settings on PostgreSQL (opt-in).
TEST_BACKEND = os.environ.get("THUDO_TEST_BACKEND", "sqlite")


@pytest.fixture(scope="session")
def session_postgres_url() -> Iterator[str]:
    """A PostgreSQL database (with PostGIS) for this session, dropped at its end."""
    yield from pgtest.database()


@pytest.fixture
def make_settings(tmp_path: Path, request: pytest.FixtureRequest) -> SettingsFactory:
    """Settings on a fresh database (an SQLite file in tmp_path, or with
    THUDO_TEST_BACKEND=postgres an emptied PostgreSQL database), with the given overrides."""
    if TEST_BACKEND == "postgres":
        url = request.getfixturevalue("session_postgres_url")
        pgtest.empty_database(url)
    else:
        url = f"sqlite:///{tmp_path / 't.db'}"

    def build(**overrides: Any) -> Settings:
        return load_settings(environ={}, database_url=url, **overrides)

    return build


@pytest.fixture
async def make_client(make_settings: SettingsFactory) -> AsyncIterator[ClientFactory]:
    """Build started apps with custom settings and in-process clients for them."""
    apps: list[ThudoApp] = []
    clients: list[httpx.AsyncClient] = []

    async def build(**overrides: Any) -> httpx.AsyncClient:
        app = ThudoApp(make_settings(**overrides))
        await app.startup()
        apps.append(app)
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://broker.test")
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
    for app in apps:
        await app.shutdown()


@pytest.fixture
async def client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client of a broker with the default settings on a fresh database."""
    return await make_client()


@pytest.fixture
def context_server() -> Iterator[ContextServer]:
    """A local HTTP server for remote @context documents."""
    server = ContextServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started HTTP receiver of notifications."""
    server = Receiver()
    server.start()
    yield server
    server.stop()
