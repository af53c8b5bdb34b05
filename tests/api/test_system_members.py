"""q and orderBy on the system members of attributes (createdAt, modifiedAt), which the
stores evaluate on each entity instead of through index rows."""

from __future__ import annotations

import asyncio

import httpx

API = "/ngsi-ld/v1"


async def _room(client: httpx.AsyncClient, n: int) -> None:
    body = {"id": f"urn:ngsi-ld:Room:{n}", "type": "Room", "name": {"type": "Property", "value": n}}
    assert (await client.post(f"{API}/entities", json=body)).status_code == 201


async def _ids(client: httpx.AsyncClient, **params: str) -> list[str]:
    resp = await client.get(f"{API}/entities", params={"type": "Room", **params})
    assert resp.status_code == 200, resp.text
    return [e["id"] for e in resp.json()]


async def test_order_by_an_attributes_creation_time(client: httpx.AsyncClient) -> None:
    for n in (2, 1, 3):
        await _room(client, n)
        await asyncio.sleep(0.003)  # distinct milliseconds
    created = ["urn:ngsi-ld:Room:2", "urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:3"]
    assert await _ids(client, orderBy="name.createdAt") == created
    assert await _ids(client, orderBy="name.createdAt;desc") == created[::-1]


async def test_q_on_an_attributes_modification_time(client: httpx.AsyncClient) -> None:
    for n in (1, 2):
        await _room(client, n)
    await asyncio.sleep(0.01)
    resp = await client.get(f"{API}/entities/urn:ngsi-ld:Room:1", params={"options": "sysAttrs"})
    before = resp.json()["name"]["modifiedAt"]
    await asyncio.sleep(0.01)
    patch = await client.patch(f"{API}/entities/urn:ngsi-ld:Room:2/attrs/name", json={"value": 9})
    assert patch.status_code == 204
    assert await _ids(client, q=f"name.modifiedAt>{before}") == ["urn:ngsi-ld:Room:2"]
    assert await _ids(client, q=f"name.modifiedAt<={before}") == ["urn:ngsi-ld:Room:1"]


async def test_q_on_a_sub_attributes_creation_time(client: httpx.AsyncClient) -> None:
    stamps = []
    for n in (1, 2, 3):
        body = {
            "id": f"urn:ngsi-ld:Room:{n}",
            "type": "Room",
            "name": {"type": "Property", "value": n, "since": {"type": "Property", "value": n}},
        }
        assert (await client.post(f"{API}/entities", json=body)).status_code == 201
        got = await client.get(
            f"{API}/entities/urn:ngsi-ld:Room:{n}", params={"options": "sysAttrs"}
        )
        stamps.append(got.json()["name"]["since"]["createdAt"])
        await asyncio.sleep(0.003)  # distinct milliseconds
    assert await _ids(client, q=f"name.since.createdAt>{stamps[0]}") == [
        "urn:ngsi-ld:Room:2",
        "urn:ngsi-ld:Room:3",
    ]
    assert await _ids(client, q=f"name.since.createdAt=={stamps[1]}") == ["urn:ngsi-ld:Room:2"]
    assert await _ids(client, q=f"name.since.createdAt!={stamps[1]}") == [
        "urn:ngsi-ld:Room:1",
        "urn:ngsi-ld:Room:3",
    ]
    # A range, and a time given with an offset instead of Z.
    within = f"{stamps[0]}..{stamps[1]}"
    assert await _ids(client, q=f"name.since.createdAt=={within}") == [
        "urn:ngsi-ld:Room:1",
        "urn:ngsi-ld:Room:2",
    ]
    assert await _ids(client, q="name.since.createdAt<2000-01-01T07:00:00+07:00") == []
    assert await _ids(client, q="name.createdAt") == [f"urn:ngsi-ld:Room:{n}" for n in (1, 2, 3)]
    assert await _ids(client, orderBy="name.since.createdAt;desc") == [
        f"urn:ngsi-ld:Room:{n}" for n in (3, 2, 1)
    ]
