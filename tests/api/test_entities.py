"""The entity resource: create, retrieve, replace, merge and delete (clauses 5.6.1, 5.6.6,
5.6.17, 5.6.18, 5.7.1)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.support import ENTITIES, assert_problem, point, room

RID = "urn:ngsi-ld:Room:1"


async def _get(client: httpx.AsyncClient, eid: str = RID, **params: str) -> httpx.Response:
    return await client.get(f"{ENTITIES}/{quote(eid, safe=':')}", params=params)


async def test_create_answers_201_with_location(client: httpx.AsyncClient) -> None:
    resp = await client.post(ENTITIES, json=room(temperature=21))
    assert resp.status_code == 201
    assert resp.headers["location"] == f"{ENTITIES}/{RID}"
    assert resp.content == b""


async def test_created_entity_is_retrieved_in_normalized_form(client: httpx.AsyncClient) -> None:
    sent = room(
        temperature={"type": "Property", "value": 21.5, "unitCode": "CEL"},
        isIn={"type": "Relationship", "object": "urn:ngsi-ld:Building:A"},
        location=point(105.85, 21.03),
    )
    await client.post(ENTITIES, json=sent)
    resp = await _get(client)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == sent


async def test_create_twice_is_409_already_exists(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1))
    body = assert_problem(
        await client.post(ENTITIES, json=room(temperature=2)), 409, "AlreadyExists"
    )
    assert RID in body["detail"]
    assert (await _get(client)).json()["temperature"]["value"] == 1


async def test_create_without_type_is_bad_request_data(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post(ENTITIES, json={"id": RID}), 400, "BadRequestData")
    assert "type" in body["detail"]


async def test_create_without_id_is_bad_request_data(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(ENTITIES, json={"type": "Room"}), 400, "BadRequestData")


async def test_create_with_a_json_array_is_invalid_request(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(ENTITIES, json=[room()]), 400, "InvalidRequest")


async def test_concise_payload_is_stored_as_normalized(client: httpx.AsyncClient) -> None:
    await client.post(
        ENTITIES,
        json={
            "id": RID,
            "type": "Room",
            "temperature": 20,
            "isIn": {"object": "urn:ngsi-ld:Building:A"},
            "location": {"type": "Point", "coordinates": [1.0, 2.0]},
        },
    )
    got = (await _get(client)).json()
    assert got["temperature"] == {"type": "Property", "value": 20}
    assert got["isIn"] == {"type": "Relationship", "object": "urn:ngsi-ld:Building:A"}
    assert got["location"] == point(1.0, 2.0)


async def test_retrieve_missing_entity_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await _get(client, "urn:ngsi-ld:Room:none"), 404, "ResourceNotFound")


async def test_retrieve_with_an_id_that_is_not_a_uri_is_400(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get(f"{ENTITIES}/not-a-uri"), 400, "BadRequestData")
    assert "not-a-uri" in body["detail"]


async def test_entity_id_with_an_encoded_slash_round_trips(client: httpx.AsyncClient) -> None:
    eid = "urn:ngsi-ld:Room:floor/1"
    assert (await client.post(ENTITIES, json=room(eid, temperature=3))).status_code == 201
    resp = await client.get(f"{ENTITIES}/{quote(eid, safe=':')}")
    assert resp.status_code == 200
    assert resp.json()["id"] == eid


async def test_multiple_types_are_kept(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json={"id": RID, "type": ["Room", "Space"]})
    assert (await _get(client)).json()["type"] == ["Room", "Space"]


async def test_scope_is_stored_and_returned(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json={**room(), "scope": ["/Hanoi/BaDinh", "/Hanoi"]})
    assert (await _get(client)).json()["scope"] == ["/Hanoi/BaDinh", "/Hanoi"]


async def test_sys_attrs_give_creation_and_modification_times(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1))
    got = (await _get(client, options="sysAttrs")).json()
    assert got["createdAt"].endswith("Z")
    assert got["modifiedAt"] >= got["createdAt"]
    assert got["temperature"]["createdAt"] == got["createdAt"]


# --- replace (PUT) ------------------------------------------------------------------------


async def test_replace_swaps_every_attribute_and_keeps_created_at(
    client: httpx.AsyncClient,
) -> None:
    await client.post(ENTITIES, json=room(temperature=1, humidity=40))
    before = (await _get(client, options="sysAttrs")).json()
    resp = await client.put(f"{ENTITIES}/{RID}", json={"type": "Room", "pressure": 1013})
    assert resp.status_code == 204
    after = (await _get(client, options="sysAttrs")).json()
    assert "temperature" not in after and "humidity" not in after
    assert after["pressure"]["value"] == 1013
    assert after["createdAt"] == before["createdAt"]


async def test_replace_missing_entity_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.put(f"{ENTITIES}/urn:x:none", json={"type": "Room"})
    assert_problem(resp, 404, "ResourceNotFound")


async def test_replace_with_a_different_id_in_the_body_is_400(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1))
    resp = await client.put(f"{ENTITIES}/{RID}", json=room("urn:ngsi-ld:Room:2", temperature=2))
    assert_problem(resp, 400, "BadRequestData")
    assert (await _get(client)).json()["temperature"]["value"] == 1


# --- merge (PATCH) --------------------------------------------------------------------------


async def test_merge_adds_updates_and_keeps_other_attributes(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1, humidity=40))
    resp = await client.patch(f"{ENTITIES}/{RID}", json={"temperature": 2, "pressure": 1000})
    assert resp.status_code == 204
    got = (await _get(client)).json()
    assert got["temperature"]["value"] == 2
    assert got["humidity"]["value"] == 40
    assert got["pressure"]["value"] == 1000


async def test_merge_with_ngsi_ld_null_deletes_the_attribute(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1, humidity=40))
    resp = await client.patch(f"{ENTITIES}/{RID}", json={"humidity": "urn:ngsi-ld:null"})
    assert resp.status_code == 204
    assert "humidity" not in (await _get(client)).json()


async def test_merge_keeps_sub_attributes_not_mentioned(client: httpx.AsyncClient) -> None:
    temp = {"type": "Property", "value": 1, "accuracy": {"type": "Property", "value": 0.5}}
    await client.post(ENTITIES, json=room(temperature=temp))
    await client.patch(f"{ENTITIES}/{RID}", json={"temperature": {"type": "Property", "value": 9}})
    got = (await _get(client)).json()["temperature"]
    assert got == {"type": "Property", "value": 9, "accuracy": {"type": "Property", "value": 0.5}}


async def test_merge_accepts_merge_patch_content_type(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1))
    resp = await client.patch(
        f"{ENTITIES}/{RID}",
        content=b'{"temperature": 5}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert resp.status_code == 204
    assert (await _get(client)).json()["temperature"]["value"] == 5


async def test_merge_missing_entity_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.patch(f"{ENTITIES}/urn:x:none", json={"temperature": 1})
    assert_problem(resp, 404, "ResourceNotFound")


# --- delete -----------------------------------------------------------------------------------


async def test_delete_answers_204_then_the_entity_is_gone(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1))
    assert (await client.delete(f"{ENTITIES}/{RID}")).status_code == 204
    assert_problem(await _get(client), 404, "ResourceNotFound")


async def test_delete_missing_entity_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete(f"{ENTITIES}/urn:x:none"), 404, "ResourceNotFound")


async def test_an_entity_can_be_created_again_after_delete(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1))
    await client.delete(f"{ENTITIES}/{RID}")
    assert (await client.post(ENTITIES, json=room(temperature=2))).status_code == 201
    assert (await _get(client)).json()["temperature"]["value"] == 2


@pytest.mark.parametrize(
    "eid", ["urn:ngsi-ld:Room:a/b", "urn:ngsi-ld:Room:x?y=1", "urn:ngsi-ld:Room:p%41", "urn:x:a#b"]
)
async def test_the_location_header_leads_back_to_the_entity(
    client: httpx.AsyncClient, eid: str
) -> None:
    """The Location (clause 6.3) is a URI reference: the id must be encoded as one segment."""
    created = await client.post(ENTITIES, json=room(eid, temperature=1))
    assert created.status_code == 201
    resp = await client.get(created.headers["location"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == eid
