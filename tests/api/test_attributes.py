"""Attributes of one entity: append, update, partial update, replace and delete
(clauses 5.6.2-5.6.5, 5.6.19), with datasetId and deleteAll."""

from __future__ import annotations

import httpx
import pytest

from tests.support import DEFAULT_VOCAB, ENTITIES, assert_problem, room

RID = "urn:ngsi-ld:Room:1"
ATTRS = f"{ENTITIES}/{RID}/attrs"


async def _entity(client: httpx.AsyncClient, **params: str) -> dict:
    resp = await client.get(f"{ENTITIES}/{RID}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
async def stored(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A broker holding one Room with temperature 20 and humidity 40."""
    resp = await client.post(ENTITIES, json=room(RID, temperature=20, humidity=40))
    assert resp.status_code == 201
    return client


def _names(items: list) -> set[str]:
    """Attribute names of an UpdateResult, short or expanded, reduced to the short form."""
    return {n.removeprefix(DEFAULT_VOCAB) for n in items}


# --- append (POST /attrs) ----------------------------------------------------------------


async def test_append_adds_and_overwrites(stored: httpx.AsyncClient) -> None:
    resp = await stored.post(ATTRS, json={"temperature": 25, "co2": 410})
    assert resp.status_code == 204
    got = await _entity(stored)
    assert got["temperature"]["value"] == 25
    assert got["co2"]["value"] == 410
    assert got["humidity"]["value"] == 40


async def test_append_no_overwrite_answers_207_update_result(stored: httpx.AsyncClient) -> None:
    resp = await stored.post(
        ATTRS, params={"options": "noOverwrite"}, json={"temperature": 99, "co2": 410}
    )
    assert resp.status_code == 207
    body = resp.json()
    assert _names(body["updated"]) == {"co2"}
    assert [_names([n["attributeName"]]) for n in body["notUpdated"]] == [{"temperature"}]
    assert all(n["reason"] for n in body["notUpdated"])
    got = await _entity(stored)
    assert got["temperature"]["value"] == 20
    assert got["co2"]["value"] == 410


async def test_append_no_overwrite_of_new_attributes_only_is_204(
    stored: httpx.AsyncClient,
) -> None:
    resp = await stored.post(ATTRS, params={"options": "noOverwrite"}, json={"co2": 410})
    assert resp.status_code == 204


async def test_append_a_second_dataset_instance(stored: httpx.AsyncClient) -> None:
    frag = {"temperature": {"type": "Property", "value": 30, "datasetId": "urn:ds:sensor2"}}
    assert (await stored.post(ATTRS, json=frag)).status_code == 204
    temp = (await _entity(stored))["temperature"]
    assert isinstance(temp, list)
    assert sorted(i["value"] for i in temp) == [20, 30]
    assert {i.get("datasetId") for i in temp} == {None, "urn:ds:sensor2"}


async def test_append_to_missing_entity_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(ATTRS, json={"co2": 1}), 404, "ResourceNotFound")


# --- update (PATCH /attrs) ---------------------------------------------------------------


async def test_update_existing_attributes_is_204(stored: httpx.AsyncClient) -> None:
    resp = await stored.patch(ATTRS, json={"temperature": {"type": "Property", "value": 22}})
    assert resp.status_code == 204
    got = await _entity(stored)
    assert got["temperature"]["value"] == 22
    assert got["humidity"]["value"] == 40


async def test_update_with_null_deleting_nothing_reports_not_updated(
    stored: httpx.AsyncClient,
) -> None:
    resp = await stored.patch(ATTRS, json={"temperature": 21, "ghost": "urn:ngsi-ld:null"})
    assert resp.status_code == 207
    body = resp.json()
    assert _names(body["updated"]) == {"temperature"}
    assert _names(n["attributeName"] for n in body["notUpdated"]) == {"ghost"}


async def test_update_with_null_deletes_the_attribute(stored: httpx.AsyncClient) -> None:
    resp = await stored.patch(ATTRS, json={"humidity": "urn:ngsi-ld:null"})
    assert resp.status_code == 204
    assert "humidity" not in await _entity(stored)


async def test_update_of_missing_entity_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.patch(ATTRS, json={"co2": 1}), 404, "ResourceNotFound")


# --- partial update (PATCH /attrs/{attr}) --------------------------------------------------


async def test_partial_update_merges_members(client: httpx.AsyncClient) -> None:
    temp = {"type": "Property", "value": 20, "unitCode": "CEL"}
    await client.post(ENTITIES, json=room(RID, temperature=temp))
    resp = await client.patch(
        f"{ATTRS}/temperature", json={"value": 21, "observedAt": "2024-05-01T10:00:00Z"}
    )
    assert resp.status_code == 204
    got = (await _entity(client))["temperature"]
    assert got == {
        "type": "Property",
        "value": 21,
        "unitCode": "CEL",
        "observedAt": "2024-05-01T10:00:00Z",
    }


async def test_partial_update_of_missing_attribute_is_404(stored: httpx.AsyncClient) -> None:
    resp = await stored.patch(f"{ATTRS}/co2", json={"value": 1})
    assert_problem(resp, 404, "ResourceNotFound")


async def test_partial_update_of_one_dataset_instance(client: httpx.AsyncClient) -> None:
    temp = [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:ds:b"},
    ]
    await client.post(ENTITIES, json=room(RID, temperature=temp))
    resp = await client.patch(f"{ATTRS}/temperature", json={"value": 5, "datasetId": "urn:ds:b"})
    assert resp.status_code == 204
    got = {i.get("datasetId"): i["value"] for i in (await _entity(client))["temperature"]}
    assert got == {None: 1, "urn:ds:b": 5}


async def test_partial_update_of_missing_dataset_instance_is_404(
    stored: httpx.AsyncClient,
) -> None:
    resp = await stored.patch(f"{ATTRS}/temperature", json={"value": 5, "datasetId": "urn:ds:x"})
    assert_problem(resp, 404, "ResourceNotFound")


# --- replace (PUT /attrs/{attr}) ----------------------------------------------------------


async def test_replace_attribute_drops_old_members(client: httpx.AsyncClient) -> None:
    temp = {"type": "Property", "value": 20, "unitCode": "CEL"}
    await client.post(ENTITIES, json=room(RID, temperature=temp))
    resp = await client.put(f"{ATTRS}/temperature", json={"type": "Property", "value": 70})
    assert resp.status_code == 204
    assert (await _entity(client))["temperature"] == {"type": "Property", "value": 70}


async def test_replace_missing_attribute_is_404(stored: httpx.AsyncClient) -> None:
    resp = await stored.put(f"{ATTRS}/co2", json={"type": "Property", "value": 1})
    assert_problem(resp, 404, "ResourceNotFound")


async def test_replace_scope_is_bad_request(stored: httpx.AsyncClient) -> None:
    resp = await stored.put(f"{ATTRS}/scope", json={"type": "Property", "value": "/a"})
    assert_problem(resp, 400, "BadRequestData")


# --- delete (DELETE /attrs/{attr}) --------------------------------------------------------


async def test_delete_attribute(stored: httpx.AsyncClient) -> None:
    assert (await stored.delete(f"{ATTRS}/humidity")).status_code == 204
    got = await _entity(stored)
    assert "humidity" not in got
    assert got["temperature"]["value"] == 20


async def test_delete_missing_attribute_is_404(stored: httpx.AsyncClient) -> None:
    assert_problem(await stored.delete(f"{ATTRS}/co2"), 404, "ResourceNotFound")


async def test_delete_attribute_of_missing_entity_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete(f"{ATTRS}/co2"), 404, "ResourceNotFound")


@pytest.fixture
async def two_instances(client: httpx.AsyncClient) -> httpx.AsyncClient:
    temp = [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": "urn:ds:b"},
        {"type": "Property", "value": 3, "datasetId": "urn:ds:c"},
    ]
    await client.post(ENTITIES, json=room(RID, temperature=temp))
    return client


async def test_delete_one_dataset_instance(two_instances: httpx.AsyncClient) -> None:
    resp = await two_instances.delete(f"{ATTRS}/temperature", params={"datasetId": "urn:ds:b"})
    assert resp.status_code == 204
    left = (await _entity(two_instances))["temperature"]
    assert {i.get("datasetId") for i in left} == {None, "urn:ds:c"}


async def test_delete_the_default_instance_keeps_the_others(
    two_instances: httpx.AsyncClient,
) -> None:
    assert (await two_instances.delete(f"{ATTRS}/temperature")).status_code == 204
    left = (await _entity(two_instances))["temperature"]
    assert {i.get("datasetId") for i in left} == {"urn:ds:b", "urn:ds:c"}


async def test_delete_all_instances(two_instances: httpx.AsyncClient) -> None:
    resp = await two_instances.delete(f"{ATTRS}/temperature", params={"deleteAll": "true"})
    assert resp.status_code == 204
    assert "temperature" not in await _entity(two_instances)


async def test_delete_missing_dataset_instance_is_404(two_instances: httpx.AsyncClient) -> None:
    resp = await two_instances.delete(f"{ATTRS}/temperature", params={"datasetId": "urn:ds:z"})
    assert_problem(resp, 404, "ResourceNotFound")
    assert len((await _entity(two_instances))["temperature"]) == 3


async def test_delete_with_a_bad_delete_all_flag_is_400(two_instances: httpx.AsyncClient) -> None:
    resp = await two_instances.delete(f"{ATTRS}/temperature", params={"deleteAll": "yes"})
    assert_problem(resp, 400, "BadRequestData")
    assert len((await _entity(two_instances))["temperature"]) == 3


async def test_retrieve_with_dataset_id_filters_instances(two_instances: httpx.AsyncClient) -> None:
    got = await _entity(two_instances, datasetId="urn:ds:c")
    assert got["temperature"] == {"type": "Property", "value": 3, "datasetId": "urn:ds:c"}
