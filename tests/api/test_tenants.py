"""Tenants (clause 4.14): NGSILD-Tenant creates a tenant on first write, an unknown tenant
is a 404 NonexistentTenant on reads, and tenants never see each other's data."""

from __future__ import annotations

import httpx
import pytest

from tests.support import API, ENTITIES, assert_problem, room

RID = "urn:ngsi-ld:Room:1"


def _tenant(name: str) -> dict[str, str]:
    return {"NGSILD-Tenant": name}


async def test_first_write_creates_the_tenant(client: httpx.AsyncClient) -> None:
    resp = await client.post(ENTITIES, json=room(temperature=1), headers=_tenant("hanoi"))
    assert resp.status_code == 201
    assert resp.headers["ngsild-tenant"] == "hanoi"
    got = await client.get(f"{ENTITIES}/{RID}", headers=_tenant("hanoi"))
    assert got.status_code == 200
    assert got.headers["ngsild-tenant"] == "hanoi"


@pytest.mark.parametrize(
    "path",
    [
        f"{ENTITIES}/{RID}",
        f"{ENTITIES}?type=Room",
        f"{API}/types",
        f"{API}/types/Room",
        f"{API}/attributes",
        f"{API}/attributes/temperature",
    ],
)
async def test_reading_an_unknown_tenant_is_404(client: httpx.AsyncClient, path: str) -> None:
    body = assert_problem(
        await client.get(path, headers=_tenant("nobody")), 404, "NonexistentTenant"
    )
    assert "nobody" in body["detail"]


async def test_query_post_and_purge_on_an_unknown_tenant_are_404(client: httpx.AsyncClient) -> None:
    query = {"type": "Query", "entities": [{"type": "Room"}]}
    resp = await client.post(f"{API}/entityOperations/query", json=query, headers=_tenant("x"))
    assert_problem(resp, 404, "NonexistentTenant")
    resp = await client.delete(ENTITIES, params={"type": "Room"}, headers=_tenant("y"))
    assert_problem(resp, 404, "NonexistentTenant")


async def test_tenants_are_isolated(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1), headers=_tenant("a"))
    await client.post(ENTITIES, json=room(temperature=2), headers=_tenant("b"))
    await client.post(ENTITIES, json=room(temperature=3))
    for headers, value in ((_tenant("a"), 1), (_tenant("b"), 2), ({}, 3)):
        got = await client.get(f"{ENTITIES}/{RID}", headers=headers)
        assert got.json()["temperature"]["value"] == value


async def test_queries_and_discovery_stay_within_the_tenant(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1), headers=_tenant("a"))
    await client.post(
        ENTITIES, json={"id": "urn:x:1", "type": "Car", "speed": 5}, headers=_tenant("b")
    )
    resp = await client.get(ENTITIES, params={"type": "Room,Car"}, headers=_tenant("a"))
    assert [e["id"] for e in resp.json()] == [RID]
    types = await client.get(f"{API}/types", headers=_tenant("b"))
    assert types.json()["typeList"] == ["Car"]
    attrs = await client.get(f"{API}/attributes", headers=_tenant("a"))
    assert attrs.json()["attributeList"] == ["temperature"]


async def test_delete_in_one_tenant_leaves_the_other(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=1), headers=_tenant("a"))
    await client.post(ENTITIES, json=room(temperature=2), headers=_tenant("b"))
    assert (await client.delete(f"{ENTITIES}/{RID}", headers=_tenant("a"))).status_code == 204
    assert (await client.get(f"{ENTITIES}/{RID}", headers=_tenant("b"))).status_code == 200


async def test_a_failed_first_write_does_not_create_the_tenant(client: httpx.AsyncClient) -> None:
    resp = await client.patch(f"{ENTITIES}/{RID}", json={"t": 1}, headers=_tenant("ghost"))
    assert_problem(resp, 404, "ResourceNotFound")
    got = await client.get(f"{ENTITIES}/{RID}", headers=_tenant("ghost"))
    assert_problem(got, 404, "NonexistentTenant")


async def test_tenants_stay_isolated_after_a_failed_first_write(client: httpx.AsyncClient) -> None:
    await client.patch(f"{ENTITIES}/{RID}", json={"t": 1}, headers=_tenant("ghost"))
    secret = {"id": RID, "type": "Secret", "pin": 1234}
    assert (await client.post(ENTITIES, json=secret, headers=_tenant("other"))).status_code == 201
    got = await client.get(f"{ENTITIES}/{RID}", headers=_tenant("ghost"))
    assert got.status_code == 404, got.text
    types = await client.get(f"{API}/types", headers=_tenant("ghost"))
    assert types.status_code == 404 or types.json()["typeList"] == [], types.text


async def test_an_empty_tenant_header_is_the_default_tenant(client: httpx.AsyncClient) -> None:
    await client.post(ENTITIES, json=room(temperature=4))
    got = await client.get(f"{ENTITIES}/{RID}", headers=_tenant(""))
    assert got.json()["temperature"]["value"] == 4
