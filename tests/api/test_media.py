"""Media types and @context placement (clauses 6.3.4-6.3.6): Accept negotiation, Content-Type
checks, Link headers versus inline @context, and GeoJSON (clause 4.5.16)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import (
    API,
    CORE_URL,
    ENTITIES,
    ContextServer,
    assert_problem,
    context_document,
    link,
    point,
    room,
)

RID = "urn:ngsi-ld:Room:1"
TEMP_IRI = "https://example.org/vocab/temperature"
ROOM_IRI = "https://example.org/vocab/Room"


@pytest.fixture
async def stored(client: httpx.AsyncClient) -> httpx.AsyncClient:
    resp = await client.post(ENTITIES, json=room(RID, temperature=21, location=point(105.8, 21.0)))
    assert resp.status_code == 201
    return client


@pytest.fixture
def user_context(context_server: ContextServer) -> str:
    context_server.documents["/ctx.jsonld"] = context_document(
        {"temperature": TEMP_IRI, "Room": ROOM_IRI}
    )
    return context_server.url("/ctx.jsonld")


# --- Accept -----------------------------------------------------------------------------------


async def test_default_answer_is_json_with_the_core_context_link(
    stored: httpx.AsyncClient,
) -> None:
    resp = await stored.get(f"{ENTITIES}/{RID}")
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["link"] == link(CORE_URL)
    assert "@context" not in resp.json()


async def test_json_ld_answer_carries_the_context_in_the_body(stored: httpx.AsyncClient) -> None:
    resp = await stored.get(f"{ENTITIES}/{RID}", headers={"Accept": "application/ld+json"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/ld+json"
    assert "link" not in resp.headers
    assert resp.json()["@context"] == CORE_URL


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/ld+json;q=0.5, application/json;q=0.9", "application/json"),
        ("application/json;q=0.1, application/ld+json", "application/ld+json"),
        ("text/html, application/geo+json", "application/geo+json"),
    ],
)
async def test_accept_negotiation(stored: httpx.AsyncClient, accept: str, expected: str) -> None:
    resp = await stored.get(f"{ENTITIES}/{RID}", headers={"Accept": accept})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == expected


@pytest.mark.parametrize("accept", ["text/csv", "application/xml", "application/json;q=0"])
async def test_unacceptable_accept_is_406(stored: httpx.AsyncClient, accept: str) -> None:
    resp = await stored.get(f"{ENTITIES}/{RID}", headers={"Accept": accept})
    body = assert_problem(resp, 406, "NotAcceptable")
    assert accept in body["detail"]


async def test_discovery_does_not_offer_geo_json(stored: httpx.AsyncClient) -> None:
    resp = await stored.get(f"{API}/types", headers={"Accept": "application/geo+json"})
    assert_problem(resp, 406, "NotAcceptable")


# --- Content-Type ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "multipart/form-data"])
async def test_unsupported_content_type_is_415(client: httpx.AsyncClient, ctype: str) -> None:
    resp = await client.post(
        ENTITIES, content=b'{"id": "urn:a:b", "type": "Room"}', headers={"Content-Type": ctype}
    )
    body = assert_problem(resp, 415, "UnsupportedMediaType")
    assert ctype in body["detail"]
    assert (await client.get(f"{ENTITIES}/urn:a:b")).status_code == 404


async def test_missing_content_type_is_415(client: httpx.AsyncClient) -> None:
    resp = await client.post(ENTITIES, content=b'{"id": "urn:a:b", "type": "Room"}')
    assert_problem(resp, 415, "UnsupportedMediaType")


async def test_merge_patch_content_type_is_refused_on_create(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        ENTITIES,
        content=b'{"id": "urn:a:b", "type": "Room"}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert_problem(resp, 415, "UnsupportedMediaType")


async def test_content_type_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        ENTITIES,
        content=b'{"id": "urn:a:b", "type": "Room"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert resp.status_code == 201


# --- @context: Link header versus inline ---------------------------------------------------------


async def test_json_with_link_header_expands_with_that_context(
    client: httpx.AsyncClient, user_context: str
) -> None:
    resp = await client.post(
        ENTITIES, json=room(RID, temperature=5), headers={"Link": link(user_context)}
    )
    assert resp.status_code == 201
    plain = (await client.get(f"{ENTITIES}/{RID}")).json()
    assert plain["type"] == ROOM_IRI
    assert plain[TEMP_IRI]["value"] == 5
    same = await client.get(f"{ENTITIES}/{RID}", headers={"Link": link(user_context)})
    assert same.json()["temperature"]["value"] == 5
    assert same.headers["link"] == link(user_context)


async def test_json_ld_with_inline_context_expands_with_it(client: httpx.AsyncClient) -> None:
    body = {**room(RID, temperature=7), "@context": [{"temperature": TEMP_IRI}, CORE_URL]}
    resp = await client.post(ENTITIES, json=body, headers={"Content-Type": "application/ld+json"})
    assert resp.status_code == 201
    got = (await client.get(f"{ENTITIES}/{RID}")).json()
    assert got[TEMP_IRI]["value"] == 7
    assert got["type"] == "Room"


async def test_json_ld_answer_repeats_the_request_link_context(
    stored: httpx.AsyncClient, user_context: str
) -> None:
    resp = await stored.get(
        f"{ENTITIES}/{RID}",
        headers={"Accept": "application/ld+json", "Link": link(user_context)},
    )
    assert resp.json()["@context"] == user_context


async def test_json_ld_body_without_context_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        ENTITIES, json=room(RID), headers={"Content-Type": "application/ld+json"}
    )
    body = assert_problem(resp, 400, "BadRequestData")
    assert "@context" in body["detail"]


async def test_json_body_with_inline_context_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.post(ENTITIES, json={**room(RID), "@context": CORE_URL})
    assert_problem(resp, 400, "BadRequestData")
    assert (await client.get(f"{ENTITIES}/{RID}")).status_code == 404


async def test_json_ld_body_with_a_link_header_is_400(
    client: httpx.AsyncClient, user_context: str
) -> None:
    resp = await client.post(
        ENTITIES,
        json={**room(RID), "@context": CORE_URL},
        headers={"Content-Type": "application/ld+json", "Link": link(user_context)},
    )
    assert_problem(resp, 400, "BadRequestData")


async def test_two_context_links_are_400(client: httpx.AsyncClient, user_context: str) -> None:
    header = f"{link(user_context)}, {link(CORE_URL)}"
    resp = await client.post(ENTITIES, json=room(RID), headers={"Link": header})
    assert_problem(resp, 400, "BadRequestData")


async def test_link_with_another_rel_is_ignored(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        ENTITIES, json=room(RID, temperature=1), headers={"Link": '<http://x/y>; rel="next"'}
    )
    assert resp.status_code == 201
    assert (await client.get(f"{ENTITIES}/{RID}")).json()["temperature"]["value"] == 1


# --- GeoJSON --------------------------------------------------------------------------------------


async def test_entity_as_a_geojson_feature(stored: httpx.AsyncClient) -> None:
    resp = await stored.get(f"{ENTITIES}/{RID}", headers={"Accept": "application/geo+json"})
    assert resp.headers["content-type"] == "application/geo+json"
    feature = resp.json()
    assert feature["type"] == "Feature"
    assert feature["id"] == RID
    assert feature["geometry"] == {"type": "Point", "coordinates": [105.8, 21.0]}
    assert feature["properties"]["type"] == "Room"
    assert feature["properties"]["temperature"]["value"] == 21
    assert feature["@context"] == CORE_URL


async def test_query_as_a_geojson_feature_collection(stored: httpx.AsyncClient) -> None:
    await stored.post(ENTITIES, json=room("urn:ngsi-ld:Room:2", temperature=3))
    resp = await stored.get(
        ENTITIES, params={"type": "Room"}, headers={"Accept": "application/geo+json"}
    )
    collection = resp.json()
    assert collection["type"] == "FeatureCollection"
    by_id = {f["id"]: f for f in collection["features"]}
    assert set(by_id) == {RID, "urn:ngsi-ld:Room:2"}
    assert by_id[RID]["geometry"]["type"] == "Point"
    assert by_id["urn:ngsi-ld:Room:2"]["geometry"] is None


async def test_geometry_property_chooses_the_geometry(client: httpx.AsyncClient) -> None:
    await client.post(
        ENTITIES,
        json=room(RID, location=point(1.0, 2.0), observationSpace=point(3.0, 4.0)),
    )
    resp = await client.get(
        f"{ENTITIES}/{RID}",
        params={"geometryProperty": "observationSpace"},
        headers={"Accept": "application/geo+json"},
    )
    assert resp.json()["geometry"]["coordinates"] == [3.0, 4.0]


async def test_geojson_in_key_values(stored: httpx.AsyncClient) -> None:
    resp = await stored.get(
        f"{ENTITIES}/{RID}",
        params={"options": "keyValues"},
        headers={"Accept": "application/geo+json"},
    )
    assert resp.json()["properties"]["temperature"] == 21
