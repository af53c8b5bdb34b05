"""@contexts stored, reloaded or deleted through one broker process are seen at once by the
others on the same PostgreSQL database (LISTEN/NOTIFY), not only after a miss or a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import orjson
import pytest

from tests import pgtest
from tests.support import API, ENTITIES, ContextServer, assert_problem, link, room
from thudo.api.app import ThudoApp
from thudo.config import load_settings

pytestmark = pytest.mark.postgres

CONTEXTS = f"{API}/jsonldContexts"
DOC = {"@context": {"temperature": "https://example.org/t"}}


@pytest.fixture
async def two() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two started brokers (as two processes would be) on one new database."""
    if not pgtest.reachable():
        pytest.skip(pgtest.SKIP_REASON)
    name, url = pgtest.create_database()
    apps = [ThudoApp(load_settings(environ={}, database_url=url)) for _ in range(2)]
    clients = []
    try:
        for app in apps:
            await app.startup()
            transport = httpx.ASGITransport(app=app)
            clients.append(httpx.AsyncClient(transport=transport, base_url="http://broker.test"))
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()
        for app in apps:
            await app.shutdown()
        pgtest.drop_database(name)


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not seen in time"
        await asyncio.sleep(0.05)


async def test_a_context_deleted_in_one_process_is_gone_from_the_other(
    two: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    a, b = two
    resp = await a.post(CONTEXTS, json=DOC)
    assert resp.status_code == 201, resp.text
    location = resp.headers["location"]
    assert (await b.get(location)).json() == DOC
    assert len((await b.get(CONTEXTS)).json()) == 1

    assert (await a.delete(location)).status_code == 204

    async def gone() -> bool:
        return (await b.get(location)).status_code == 404

    await _eventually(gone)
    assert_problem(await b.get(location), 404, "ResourceNotFound")
    assert (await b.get(CONTEXTS)).json() == []


async def test_a_context_reloaded_in_one_process_is_reloaded_in_the_other(
    two: tuple[httpx.AsyncClient, httpx.AsyncClient], context_server: ContextServer
) -> None:
    a, b = two
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    url = context_server.url("/c.jsonld")
    await a.get(ENTITIES, params={"type": "Room"}, headers={"Link": link(url)})
    escaped = f"{CONTEXTS}/{url.replace('/', '%2F')}"
    assert (await b.get(escaped)).json() == DOC
    new = {"@context": {"temperature": "https://example.org/new"}}
    context_server.documents["/c.jsonld"] = orjson.dumps(new)

    assert (await a.delete(escaped, params={"reload": "true"})).status_code == 204

    async def reloaded() -> bool:
        got = await b.get(escaped)
        return bool(got.status_code == 200 and got.json() == new)

    await _eventually(reloaded)
    await b.post(ENTITIES, json=room(temperature=1), headers={"Link": link(url)})
    got = (await b.get(f"{ENTITIES}/urn:ngsi-ld:Room:1")).json()
    assert "https://example.org/new" in got
