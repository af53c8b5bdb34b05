"""Batch operations (clauses 5.6.7-5.6.10, 5.6.20): create, upsert, update, merge and delete,
answering 201, 204 or 207 with a BatchOperationResult."""

from __future__ import annotations

import httpx
import pytest

from tests.support import API, ENTITIES, ERRORS, assert_problem, room

OPS = f"{API}/entityOperations"


def rid(n: int) -> str:
    return f"urn:ngsi-ld:Room:{n}"


async def _get(client: httpx.AsyncClient, n: int) -> httpx.Response:
    return await client.get(f"{ENTITIES}/{rid(n)}")


async def _value(client: httpx.AsyncClient, n: int, attr: str) -> object:
    resp = await _get(client, n)
    assert resp.status_code == 200, resp.text
    return resp.json()[attr]["value"]


@pytest.fixture
async def two_rooms(client: httpx.AsyncClient) -> httpx.AsyncClient:
    resp = await client.post(
        f"{OPS}/create", json=[room(rid(1), temperature=10), room(rid(2), temperature=20)]
    )
    assert resp.status_code == 201
    return client


def _assert_result(body: dict, success: list[str], failed: list[str]) -> None:
    """A BatchOperationResult (clause 5.2.16) with these successes and failures."""
    assert sorted(body["success"]) == sorted(success)
    assert sorted(e["entityId"] for e in body["errors"]) == sorted(failed)
    for entry in body["errors"]:
        assert entry["error"]["type"].startswith(ERRORS)
        assert entry["error"]["title"]


# --- create ---------------------------------------------------------------------------------


async def test_create_answers_201_with_the_created_ids(client: httpx.AsyncClient) -> None:
    resp = await client.post(f"{OPS}/create", json=[room(rid(1)), room(rid(2))])
    assert resp.status_code == 201
    assert sorted(resp.json()) == [rid(1), rid(2)]
    assert (await _get(client, 2)).status_code == 200


async def test_create_with_existing_ids_is_207(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/create", json=[room(rid(1), temperature=99), room(rid(3), temperature=30)]
    )
    assert resp.status_code == 207
    body = resp.json()
    _assert_result(body, [rid(3)], [rid(1)])
    assert body["errors"][0]["error"]["type"] == ERRORS + "AlreadyExists"
    assert await _value(two_rooms, 1, "temperature") == 10
    assert await _value(two_rooms, 3, "temperature") == 30


async def test_create_mixing_valid_and_invalid_entities(client: httpx.AsyncClient) -> None:
    payload = [
        room(rid(1), temperature=1),
        {"id": rid(2)},  # no type
        room("not a uri", temperature=3),
        room(rid(4), temperature=4),
    ]
    resp = await client.post(f"{OPS}/create", json=payload)
    assert resp.status_code == 207
    body = resp.json()
    assert sorted(body["success"]) == [rid(1), rid(4)]
    assert len(body["errors"]) == 2
    assert {e["error"]["type"] for e in body["errors"]} == {ERRORS + "BadRequestData"}
    assert (await _get(client, 2)).status_code == 404
    assert await _value(client, 4, "temperature") == 4


async def test_create_with_an_empty_array_is_bad_request(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(f"{OPS}/create", json=[]), 400, "BadRequestData")


async def test_create_with_an_object_is_invalid_request(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(f"{OPS}/create", json=room()), 400, "InvalidRequest")


async def test_batch_larger_than_the_limit_is_413(make_client) -> None:
    client = await make_client(max_batch_entities=2)
    resp = await client.post(f"{OPS}/create", json=[room(rid(i)) for i in range(3)])
    assert_problem(resp, 413, "PayloadTooLarge")
    assert (await _get(client, 0)).status_code == 404


async def test_unknown_operation_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(f"{OPS}/explode", json=[room()]), 404, "ResourceNotFound")


# --- upsert ---------------------------------------------------------------------------------


async def test_upsert_creating_entities_is_201_with_created_ids(
    two_rooms: httpx.AsyncClient,
) -> None:
    resp = await two_rooms.post(
        f"{OPS}/upsert", json=[room(rid(1), temperature=11), room(rid(3), temperature=30)]
    )
    assert resp.status_code == 201
    assert resp.json() == [rid(3)]
    assert await _value(two_rooms, 1, "temperature") == 11


async def test_upsert_updating_only_is_204(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(f"{OPS}/upsert", json=[room(rid(1), humidity=50)])
    assert resp.status_code == 204
    got = (await _get(two_rooms, 1)).json()
    assert "temperature" not in got  # the default is replace
    assert got["humidity"]["value"] == 50


async def test_upsert_replace_option_replaces(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/upsert", params={"options": "replace"}, json=[room(rid(1), humidity=50)]
    )
    assert resp.status_code == 204
    assert "temperature" not in (await _get(two_rooms, 1)).json()


async def test_upsert_update_option_keeps_other_attributes(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/upsert", params={"options": "update"}, json=[room(rid(1), humidity=50)]
    )
    assert resp.status_code == 204
    got = (await _get(two_rooms, 1)).json()
    assert got["temperature"]["value"] == 10
    assert got["humidity"]["value"] == 50


async def test_upsert_with_an_invalid_entity_is_207(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/upsert", json=[room(rid(1), temperature=12), {"id": rid(5), "type": 7}]
    )
    assert resp.status_code == 207
    _assert_result(resp.json(), [rid(1)], [rid(5)])
    assert await _value(two_rooms, 1, "temperature") == 12


# --- update ---------------------------------------------------------------------------------


async def test_update_changes_attributes_is_204(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/update", json=[room(rid(1), temperature=15), room(rid(2), co2=400)]
    )
    assert resp.status_code == 204
    assert await _value(two_rooms, 1, "temperature") == 15
    assert await _value(two_rooms, 2, "temperature") == 20
    assert await _value(two_rooms, 2, "co2") == 400


async def test_update_of_a_missing_entity_is_207(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/update", json=[room(rid(1), temperature=15), room(rid(9), temperature=1)]
    )
    assert resp.status_code == 207
    body = resp.json()
    _assert_result(body, [rid(1)], [rid(9)])
    assert body["errors"][0]["error"]["type"] == ERRORS + "ResourceNotFound"
    assert (await _get(two_rooms, 9)).status_code == 404


async def test_update_no_overwrite_keeps_existing_values(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/update",
        params={"options": "noOverwrite"},
        json=[room(rid(1), temperature=99, co2=400)],
    )
    assert resp.status_code == 207
    assert [e["entityId"] for e in resp.json()["errors"]] == [rid(1)]
    assert await _value(two_rooms, 1, "temperature") == 10
    assert await _value(two_rooms, 1, "co2") == 400


# --- merge ----------------------------------------------------------------------------------


async def test_merge_patches_entities_is_204(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/merge",
        json=[
            {"id": rid(1), "temperature": 16, "co2": 380},
            {"id": rid(2), "temperature": "urn:ngsi-ld:null"},
        ],
    )
    assert resp.status_code == 204
    assert await _value(two_rooms, 1, "temperature") == 16
    assert await _value(two_rooms, 1, "co2") == 380
    assert "temperature" not in (await _get(two_rooms, 2)).json()


async def test_merge_of_a_missing_entity_is_207(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(
        f"{OPS}/merge", json=[{"id": rid(1), "temperature": 16}, {"id": rid(8), "co2": 1}]
    )
    assert resp.status_code == 207
    _assert_result(resp.json(), [rid(1)], [rid(8)])


# --- delete ---------------------------------------------------------------------------------


async def test_delete_removes_entities_is_204(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(f"{OPS}/delete", json=[rid(1), rid(2)])
    assert resp.status_code == 204
    assert (await _get(two_rooms, 1)).status_code == 404
    assert (await _get(two_rooms, 2)).status_code == 404


async def test_delete_with_missing_and_invalid_ids_is_207(two_rooms: httpx.AsyncClient) -> None:
    resp = await two_rooms.post(f"{OPS}/delete", json=[rid(1), rid(7), "bad id"])
    assert resp.status_code == 207
    body = resp.json()
    assert body["success"] == [rid(1)]
    assert sorted(e["entityId"] for e in body["errors"]) == sorted([rid(7), "bad id"])
    assert (await _get(two_rooms, 2)).status_code == 200


async def test_batch_applies_to_the_tenant_of_the_request(client: httpx.AsyncClient) -> None:
    headers = {"NGSILD-Tenant": "hanoi"}
    resp = await client.post(f"{OPS}/create", json=[room(rid(1))], headers=headers)
    assert resp.status_code == 201
    assert resp.headers["ngsild-tenant"] == "hanoi"
    assert (await client.get(f"{ENTITIES}/{rid(1)}", headers=headers)).status_code == 200
    assert (await _get(client, 1)).status_code == 404


# --- large batches ----------------------------------------------------------------------------

#: Texts that a bulk writer must carry unchanged (PostgreSQL copies the rows of a large
#: batch: tabs, newlines and backslashes are its escapes, and \N its null marker).
AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "nul\x00byte", "qu\"o'te", "Hồ 🚦"]
LARGE = 120


def _large_batch(version: int, texts: list[str]) -> list[dict]:
    return [
        room(
            rid(n),
            label=f"v{version}-{n}",
            note=texts[n % len(texts)],
            level={
                "type": "Property",
                "value": version * 1000 + n,
                "unitCode": "MTR",
                "observedAt": f"2026-05-0{version}T08:00:00Z",
            },
        )
        for n in range(LARGE)
    ]


async def _count(client: httpx.AsyncClient, q: str) -> int:
    resp = await client.get(ENTITIES, params={"type": "Room", "q": q, "count": "true", "limit": 0})
    assert resp.status_code == 200, resp.text
    return int(resp.headers["ngsild-results-count"])


@pytest.mark.parametrize("nul", [False, True], ids=["texts", "texts-and-nul"])
async def test_a_large_batch_keeps_every_value_index_and_history_row(
    client: httpx.AsyncClient, nul: bool
) -> None:
    """A batch of many entities, created and then upserted, as the smaller ones: the
    stored values, the rows a query reads and the history are those of the last write.
    (PostgreSQL copies such a batch's rows, in binary unless a text holds a NUL.)"""
    texts = AWKWARD if nul else [t for t in AWKWARD if "\x00" not in t]
    for version in (1, 2):
        resp = await client.post(f"{OPS}/upsert", json=_large_batch(version, texts))
        assert resp.status_code in (201, 204), resp.text
    for n in range(0, LARGE, 17):
        body = (await _get(client, n)).json()
        assert body["note"]["value"] == texts[n % len(texts)]
        assert body["label"]["value"] == f"v2-{n}"
        assert body["level"]["value"] == 2000 + n
    # The index rows of the first version went, those of the second are all there.
    assert await _count(client, "level<2000") == 0
    assert await _count(client, "level>=2000") == LARGE
    assert await _count(client, 'label=="v1-5"') == 0
    assert await _count(client, 'label=="v2-5"') == 1
    assert await _count(client, "level.unitCode==%22MTR%22".replace("%22", '"')) == LARGE
    # Both versions are in the history, in order, with their awkward texts.
    resp = await client.get(f"{API}/temporal/entities/{rid(10)}", params={"attrs": "level,note"})
    assert resp.status_code == 200, resp.text
    history = resp.json()
    assert [i["value"] for i in history["level"]] == [1010, 2010]
    assert {i["value"] for i in _as_list(history["note"])} == {texts[10 % len(texts)]}


def _as_list(value: object) -> list[dict]:
    return value if isinstance(value, list) else [value]  # type: ignore[list-item]
