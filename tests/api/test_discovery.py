"""Discovery (clauses 5.7.5-5.7.10): /types, /types/{type}, /attributes, /attributes/{attr}."""

from __future__ import annotations

import httpx
import pytest

from tests.support import API, DEFAULT_VOCAB, ENTITIES, assert_problem, link, point

TYPES = f"{API}/types"
ATTRIBUTES = f"{API}/attributes"


@pytest.fixture
async def data(client: httpx.AsyncClient) -> httpx.AsyncClient:
    payload = [
        {"id": "urn:R:1", "type": "Room", "temperature": 1, "location": point(1.0, 1.0)},
        {"id": "urn:R:2", "type": "Room", "temperature": 2, "isIn": {"object": "urn:B:1"}},
        {"id": "urn:S:1", "type": "Sensor", "temperature": 3},
        {"id": "urn:B:1", "type": "Building", "name": {"languageMap": {"en": "A"}}},
    ]
    resp = await client.post(f"{API}/entityOperations/create", json=payload)
    assert resp.status_code == 201
    return client


async def test_types_lists_every_type(data: httpx.AsyncClient) -> None:
    resp = await data.get(TYPES)
    assert resp.status_code == 200
    body = resp.json()
    assert body["type"] == "EntityTypeList"
    assert body["id"].startswith("urn:ngsi-ld:EntityTypeList:")
    assert sorted(body["typeList"]) == ["Building", "Room", "Sensor"]


async def test_types_with_details(data: httpx.AsyncClient) -> None:
    body = (await data.get(TYPES, params={"details": "true"})).json()
    by_name = {t["typeName"]: t for t in body}
    assert set(by_name) == {"Building", "Room", "Sensor"}
    room = by_name["Room"]
    assert room["type"] == "EntityType"
    assert room["id"] == DEFAULT_VOCAB + "Room"
    assert room["attributeNames"] == ["isIn", "location", "temperature"]


async def test_one_type_gives_counts_and_attribute_details(data: httpx.AsyncClient) -> None:
    body = (await data.get(f"{TYPES}/Room")).json()
    assert body["type"] == "EntityTypeInfo"
    assert body["typeName"] == "Room"
    assert body["entityCount"] == 2
    details = {a["attributeName"]: a["attributeTypes"] for a in body["attributeDetails"]}
    assert details == {
        "temperature": ["Property"],
        "location": ["GeoProperty"],
        "isIn": ["Relationship"],
    }


async def test_one_type_by_iri(data: httpx.AsyncClient) -> None:
    resp = await data.get(f"{TYPES}/{DEFAULT_VOCAB.replace('/', '%2F')}Sensor")
    assert resp.status_code == 200
    assert resp.json()["entityCount"] == 1


async def test_unknown_type_is_404(data: httpx.AsyncClient) -> None:
    assert_problem(await data.get(f"{TYPES}/Nothing"), 404, "ResourceNotFound")


async def test_types_on_an_empty_broker(client: httpx.AsyncClient) -> None:
    assert (await client.get(TYPES)).json()["typeList"] == []


async def test_attributes_lists_every_attribute(data: httpx.AsyncClient) -> None:
    body = (await data.get(ATTRIBUTES)).json()
    assert body["type"] == "AttributeList"
    assert sorted(body["attributeList"]) == ["isIn", "location", "name", "temperature"]


async def test_attributes_with_details(data: httpx.AsyncClient) -> None:
    body = (await data.get(ATTRIBUTES, params={"details": "true"})).json()
    by_name = {a["attributeName"]: a for a in body}
    assert by_name["temperature"]["typeNames"] == ["Room", "Sensor"]
    assert by_name["temperature"]["type"] == "Attribute"
    assert by_name["name"]["typeNames"] == ["Building"]


async def test_one_attribute(data: httpx.AsyncClient) -> None:
    body = (await data.get(f"{ATTRIBUTES}/temperature")).json()
    assert body == {
        "id": DEFAULT_VOCAB + "temperature",
        "type": "Attribute",
        "attributeName": "temperature",
        "attributeCount": 3,
        "attributeTypes": ["Property"],
        "typeNames": ["Room", "Sensor"],
    }


async def test_unknown_attribute_is_404(data: httpx.AsyncClient) -> None:
    assert_problem(await data.get(f"{ATTRIBUTES}/pressure"), 404, "ResourceNotFound")


async def test_discovery_compacts_with_the_request_context(
    data: httpx.AsyncClient, context_server
) -> None:
    context_server.documents["/c.jsonld"] = (
        b'{"@context": {"T": "%sRoom"}}' % DEFAULT_VOCAB.encode()
    )
    resp = await data.get(TYPES, headers={"Link": link(context_server.url("/c.jsonld"))})
    assert sorted(resp.json()["typeList"]) == ["Building", "Sensor", "T"]


async def test_discovery_deleted_entities_disappear(data: httpx.AsyncClient) -> None:
    await data.delete(f"{ENTITIES}/urn:S:1")
    assert sorted((await data.get(TYPES)).json()["typeList"]) == ["Building", "Room"]
    body = (await data.get(f"{ATTRIBUTES}/temperature")).json()
    assert body["attributeCount"] == 2
    assert body["typeNames"] == ["Room"]


async def test_details_must_be_a_boolean(data: httpx.AsyncClient) -> None:
    assert_problem(await data.get(TYPES, params={"details": "maybe"}), 400)
