"""Fixtures shared by the whole suite: settings on a fresh database, the app, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ContextServer
from thudo.api.app import ThudoApp
from thudo.config import Settings, load_settings

SettingsFactory = Callable[..., Settings]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings on a fresh SQLite file in tmp_path, with the given overrides."""

    def build(**overrides: Any) -> Settings:
        db = tmp_path / "t.db"
        return load_settings(environ={}, database_url=f"sqlite:///{db}", **overrides)

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
