"""The @context registry: resolution with caching, single fetches, stored contexts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from tests.support import ContextServer, free_port
from thudo.config import Settings, load_settings
from thudo.contexts.registry import ContextRegistry
from thudo.errors import BadRequestData, LdContextNotAvailable, NgsiError, ResourceNotFound
from thudo.ngsild.jsonld import CORE_CONTEXT_URL, core_context
from thudo.store import open_store
from thudo.store.base import Store

DOC = {"@context": {"temperature": "https://ex.org/temperature"}}


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        return load_settings(environ={}, database_url=f"sqlite:///{tmp_path / 'r.db'}", **overrides)

    return build


@pytest.fixture
async def store(settings_for: Callable[..., Settings]) -> AsyncIterator[Store]:
    s = open_store(settings_for())
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def registry(
    settings_for: Callable[..., Settings], store: Store
) -> AsyncIterator[ContextRegistry]:
    reg = ContextRegistry(settings_for(), store)
    await reg.start()
    yield reg
    await reg.close()


async def test_no_context_is_the_core_context(registry: ContextRegistry) -> None:
    assert await registry.resolve(None) is core_context()
    ctx = await registry.resolve(CORE_CONTEXT_URL)
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"


async def test_remote_context_is_fetched_once_even_when_asked_concurrently(
    registry: ContextRegistry, context_server: ContextServer
) -> None:
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    url = context_server.url("/c.jsonld")
    results = await asyncio.gather(*(registry.resolve(url) for _ in range(8)))
    assert {r.expand("temperature") for r in results} == {"https://ex.org/temperature"}
    assert context_server.hits == ["/c.jsonld"]
    assert [r.url for r in registry.list("Cached")] == [url]


async def test_cached_contexts_work_offline_after_a_restart(
    settings_for: Callable[..., Settings], store: Store, context_server: ContextServer
) -> None:
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    url = context_server.url("/c.jsonld")
    first = ContextRegistry(settings_for(), store)
    await first.start()
    await first.resolve(url)
    await first.close()
    context_server.stop()
    second = ContextRegistry(settings_for(context_allow_remote=False), store)
    await second.start()
    try:
        ctx = await second.resolve(url)
        assert ctx.expand("temperature") == "https://ex.org/temperature"
    finally:
        await second.close()


async def test_a_failed_fetch_is_not_cached(
    registry: ContextRegistry, context_server: ContextServer
) -> None:
    url = context_server.url("/late.jsonld")
    with pytest.raises(LdContextNotAvailable):
        await registry.resolve(url)
    context_server.documents["/late.jsonld"] = orjson.dumps(DOC)
    assert (await registry.resolve(url)).expand("temperature") == "https://ex.org/temperature"


async def test_hosted_contexts(registry: ContextRegistry) -> None:
    rec = await registry.add_hosted(DOC, "http://broker")
    assert rec.kind == "Hosted"
    assert rec.url == f"http://broker/ngsi-ld/v1/jsonldContexts/{rec.id}"
    assert registry.find(rec.id) is rec
    assert registry.find(rec.url) is rec
    ctx = await registry.resolve(rec.url)
    assert ctx.expand("temperature") == "https://ex.org/temperature"
    await registry.delete(rec.id, reload=False)
    with pytest.raises(ResourceNotFound):
        registry.find(rec.id)


async def test_hosted_context_must_be_resolvable(registry: ContextRegistry) -> None:
    url = f"http://127.0.0.1:{free_port()}/c.jsonld"
    with pytest.raises(NgsiError) as info:
        await registry.add_hosted({"@context": url}, "http://broker")
    assert url in info.value.detail
    assert registry.list("Hosted") == []


async def test_implicit_contexts_are_created_once(registry: ContextRegistry) -> None:
    value = [{"temperature": "https://ex.org/temperature"}, CORE_CONTEXT_URL]
    first = await registry.implicit_url(value, "http://broker")
    assert await registry.implicit_url(value, "http://broker") == first
    assert [r.kind for r in registry.list("ImplicitlyCreated")] == ["ImplicitlyCreated"]


async def test_usage_is_counted_and_saved(
    registry: ContextRegistry, store: Store, context_server: ContextServer
) -> None:
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    url = context_server.url("/c.jsonld")
    for _ in range(3):
        await registry.resolve(url)
    await registry.flush_usage()
    [rec] = [r for r in await store.load_contexts() if r.url == url]
    assert rec.hits == 3
    assert rec.last_usage


def test_unknown_kind_is_refused(registry: ContextRegistry) -> None:
    with pytest.raises(BadRequestData, match="Other"):
        registry.list("Other")
