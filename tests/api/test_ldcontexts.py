"""The @context resource (clause 5.13): add, list, serve and delete @contexts."""

from __future__ import annotations

import httpx
import orjson

from tests.support import API, CORE_URL, ENTITIES, ContextServer, assert_problem, link, room

CONTEXTS = f"{API}/jsonldContexts"
DOC = {"@context": {"temperature": "https://example.org/t"}}


async def _add(client: httpx.AsyncClient, doc: dict = DOC) -> str:
    resp = await client.post(CONTEXTS, json=doc)
    assert resp.status_code == 201, resp.text
    return resp.headers["location"]


async def test_add_then_serve_a_hosted_context(client: httpx.AsyncClient) -> None:
    location = await _add(client)
    assert location.startswith(CONTEXTS + "/")
    resp = await client.get(location)
    assert resp.status_code == 200
    assert resp.json() == DOC


async def test_list_gives_urls_and_details(client: httpx.AsyncClient) -> None:
    location = await _add(client)
    local_id = location.rsplit("/", 1)[1]
    urls = (await client.get(CONTEXTS)).json()
    assert urls == [f"http://broker.test{location}"]
    details = (await client.get(CONTEXTS, params={"details": "true"})).json()
    assert details[0]["localId"] == local_id
    assert details[0]["kind"] == "Hosted"
    assert details[0]["URL"] == urls[0]
    one = (await client.get(location, params={"details": "true"})).json()
    assert one["localId"] == local_id


async def test_list_by_kind(client: httpx.AsyncClient) -> None:
    await _add(client)
    assert len((await client.get(CONTEXTS, params={"kind": "Hosted"})).json()) == 1
    assert (await client.get(CONTEXTS, params={"kind": "Cached"})).json() == []
    assert_problem(await client.get(CONTEXTS, params={"kind": "Other"}), 400, "BadRequestData")


async def test_a_hosted_context_can_be_used_in_a_link(client: httpx.AsyncClient) -> None:
    location = await _add(client)
    url = f"http://broker.test{location}"
    resp = await client.post(ENTITIES, json=room(temperature=3), headers={"Link": link(url)})
    assert resp.status_code == 201
    got = (await client.get(f"{ENTITIES}/urn:ngsi-ld:Room:1")).json()
    assert got["https://example.org/t"]["value"] == 3


async def test_delete_a_hosted_context(client: httpx.AsyncClient) -> None:
    location = await _add(client)
    assert (await client.delete(location)).status_code == 204
    assert_problem(await client.get(location), 404, "ResourceNotFound")
    assert (await client.get(CONTEXTS)).json() == []
    assert_problem(await client.delete(location), 404, "ResourceNotFound")


async def test_serve_the_core_context(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"{CONTEXTS}/{CORE_URL.replace('/', '%2F')}")
    assert resp.status_code == 200
    assert "@context" in resp.json()
    assert resp.json()["@context"]["Property"]


async def test_the_core_context_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    resp = await client.delete(f"{CONTEXTS}/{CORE_URL.replace('/', '%2F')}")
    assert_problem(resp, 400, "BadRequestData")


async def test_a_fetched_context_is_listed_as_cached(
    client: httpx.AsyncClient, context_server: ContextServer
) -> None:
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    url = context_server.url("/c.jsonld")
    await client.post(ENTITIES, json=room(temperature=1), headers={"Link": link(url)})
    details = (await client.get(CONTEXTS, params={"details": "true", "kind": "Cached"})).json()
    assert [d["URL"] for d in details] == [url]
    served = await client.get(f"{CONTEXTS}/{details[0]['localId']}")
    assert served.json() == DOC


async def test_a_cached_context_is_fetched_once(
    client: httpx.AsyncClient, context_server: ContextServer
) -> None:
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    url = context_server.url("/c.jsonld")
    for i in range(3):
        rid = f"urn:ngsi-ld:Room:{i}"
        assert (
            await client.post(ENTITIES, json=room(rid), headers={"Link": link(url)})
        ).status_code == 201
    assert context_server.hits == ["/c.jsonld"]


async def test_reload_refetches_a_cached_context(
    client: httpx.AsyncClient, context_server: ContextServer
) -> None:
    context_server.documents["/c.jsonld"] = orjson.dumps(DOC)
    url = context_server.url("/c.jsonld")
    await client.get(f"{ENTITIES}", params={"type": "Room"}, headers={"Link": link(url)})
    context_server.documents["/c.jsonld"] = orjson.dumps(
        {"@context": {"temperature": "https://example.org/new"}}
    )
    resp = await client.delete(f"{CONTEXTS}/{url.replace('/', '%2F')}", params={"reload": "true"})
    assert resp.status_code == 204
    assert context_server.hits == ["/c.jsonld", "/c.jsonld"]
    await client.post(ENTITIES, json=room(temperature=1), headers={"Link": link(url)})
    got = (await client.get(f"{ENTITIES}/urn:ngsi-ld:Room:1")).json()
    assert "https://example.org/new" in got


async def test_add_refuses_a_document_without_context(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(CONTEXTS, json={"x": 1}), 400, "InvalidRequest")
    assert_problem(
        await client.post(CONTEXTS, content=b"{", headers={"Content-Type": "application/json"}),
        400,
        "InvalidRequest",
    )
    assert (await client.get(CONTEXTS)).json() == []


async def test_unknown_context_id_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"{CONTEXTS}/nothing"), 404, "ResourceNotFound")


async def test_inline_contexts_get_an_implicit_url(client: httpx.AsyncClient) -> None:
    body = {**room(temperature=1), "@context": [{"temperature": "https://example.org/t"}, CORE_URL]}
    await client.post(ENTITIES, json=body, headers={"Content-Type": "application/ld+json"})
    resp = await client.post(
        f"{API}/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "Room"}], "@context": body["@context"]},
        headers={"Content-Type": "application/ld+json", "Accept": "application/json"},
    )
    assert resp.status_code == 200
    url = resp.headers["link"].split(">")[0].lstrip("<")
    assert url.startswith(f"http://broker.test{CONTEXTS}/")
    assert resp.json()[0]["temperature"]["value"] == 1
    served = await client.get(url)
    assert served.json() == {"@context": body["@context"]}
