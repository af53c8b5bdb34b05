"""Context source registrations (clauses 5.9, 5.10): create, retrieve, query by type, id
and attribute, update, delete, and the errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import API, assert_problem

CSR = f"{API}/csourceRegistrations"
REG = "urn:ngsi-ld:ContextSourceRegistration:1"
SOURCE = "http://127.0.0.1:9/source"


def _reg(
    reg_id: str | None = REG, information: list[dict[str, Any]] | None = None, **members: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "ContextSourceRegistration",
        "information": information
        or [{"entities": [{"type": "Room"}], "propertyNames": ["temperature"]}],
        "endpoint": SOURCE,
    }
    if reg_id is not None:
        body["id"] = reg_id
    body.update(members)
    return body


async def _create(client: httpx.AsyncClient, body: dict[str, Any], **kw: Any) -> httpx.Response:
    resp = await client.post(CSR, json=body, **kw)
    assert resp.status_code == 201, resp.text
    return resp


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    resp = await client.get(CSR, params=params)
    assert resp.status_code == 200, resp.text
    return sorted(r["id"] for r in resp.json())


async def test_create_and_retrieve(client: httpx.AsyncClient) -> None:
    body = _reg(registrationName="sensors", mode="inclusive")
    resp = await _create(client, body)
    assert resp.headers["location"] == f"{CSR}/{REG}"
    got = await client.get(f"{CSR}/{REG}")
    assert got.status_code == 200
    doc = got.json()
    assert doc["id"] == REG
    assert doc["type"] == "ContextSourceRegistration"
    assert doc["endpoint"] == SOURCE
    assert doc["information"] == body["information"]
    assert doc["registrationName"] == "sensors"
    assert doc["mode"] == "inclusive"


async def test_create_without_id_makes_one(client: httpx.AsyncClient) -> None:
    resp = await _create(client, _reg(None))
    reg_id = resp.headers["location"].removeprefix(CSR + "/")
    assert ":" in reg_id
    assert (await client.get(f"{CSR}/{reg_id}")).json()["id"] == reg_id


async def test_sys_attrs_on_request(client: httpx.AsyncClient) -> None:
    await _create(client, _reg())
    assert "createdAt" not in (await client.get(f"{CSR}/{REG}")).json()
    doc = (await client.get(f"{CSR}/{REG}", params={"options": "sysAttrs"})).json()
    assert "createdAt" in doc and "modifiedAt" in doc


@pytest.fixture
async def registered(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Three registrations: all rooms, one building, and rooms of a pattern."""
    await _create(client, _reg("urn:ngsi-ld:ContextSourceRegistration:rooms"))
    await _create(
        client,
        _reg(
            "urn:ngsi-ld:ContextSourceRegistration:b1",
            [{"entities": [{"type": "Building", "id": "urn:ngsi-ld:Building:1"}]}],
        ),
    )
    await _create(
        client,
        _reg(
            "urn:ngsi-ld:ContextSourceRegistration:east",
            [
                {
                    "entities": [{"type": "Room", "idPattern": "^urn:ngsi-ld:Room:east"}],
                    "propertyNames": ["humidity"],
                }
            ],
        ),
    )
    return client


async def test_query_by_type(registered: httpx.AsyncClient) -> None:
    assert await _ids(registered, type="Room") == [
        "urn:ngsi-ld:ContextSourceRegistration:east",
        "urn:ngsi-ld:ContextSourceRegistration:rooms",
    ]
    assert await _ids(registered, type="Building") == ["urn:ngsi-ld:ContextSourceRegistration:b1"]
    assert await _ids(registered, type="Garage") == []


async def test_query_by_id(registered: httpx.AsyncClient) -> None:
    assert await _ids(registered, type="Building", id="urn:ngsi-ld:Building:1") == [
        "urn:ngsi-ld:ContextSourceRegistration:b1"
    ]
    assert await _ids(registered, type="Building", id="urn:ngsi-ld:Building:2") == []
    assert await _ids(registered, type="Room", id="urn:ngsi-ld:Room:east-7") == [
        "urn:ngsi-ld:ContextSourceRegistration:east",
        "urn:ngsi-ld:ContextSourceRegistration:rooms",
    ]


async def test_query_by_attribute(registered: httpx.AsyncClient) -> None:
    assert await _ids(registered, type="Room", attrs="humidity") == [
        "urn:ngsi-ld:ContextSourceRegistration:east"
    ]
    assert await _ids(registered, type="Room", attrs="temperature") == [
        "urn:ngsi-ld:ContextSourceRegistration:rooms"
    ]


async def test_query_pages_and_counts(registered: httpx.AsyncClient) -> None:
    first = await registered.get(CSR, params={"limit": 2, "count": "true"})
    second = await registered.get(CSR, params={"limit": 2, "offset": 2})
    assert first.headers["ngsild-results-count"] == "3"
    ids = [r["id"] for r in first.json() + second.json()]
    assert len(first.json()) == 2
    assert sorted(ids) == await _ids(registered)
    assert len(set(ids)) == 3


async def test_update(client: httpx.AsyncClient) -> None:
    await _create(client, _reg())
    resp = await client.patch(f"{CSR}/{REG}", json={"endpoint": "http://127.0.0.1:9/other"})
    assert resp.status_code == 204, resp.text
    assert (await client.get(f"{CSR}/{REG}")).json()["endpoint"] == "http://127.0.0.1:9/other"


async def test_delete(client: httpx.AsyncClient) -> None:
    await _create(client, _reg())
    assert (await client.delete(f"{CSR}/{REG}")).status_code == 204
    assert_problem(await client.get(f"{CSR}/{REG}"), 404, "ResourceNotFound")
    assert_problem(await client.delete(f"{CSR}/{REG}"), 404, "ResourceNotFound")
    assert await _ids(client) == []


async def test_duplicate_id_is_409(client: httpx.AsyncClient) -> None:
    await _create(client, _reg())
    assert_problem(await client.post(CSR, json=_reg()), 409, "AlreadyExists")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_registration_is_404(client: httpx.AsyncClient, method: str) -> None:
    await _create(client, _reg())
    body = {"endpoint": SOURCE} if method == "PATCH" else None
    resp = await client.request(method, f"{CSR}/urn:ngsi-ld:ContextSourceRegistration:x", json=body)
    assert_problem(resp, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({k: v for k, v in _reg().items() if k != "information"}, id="no-information"),
        pytest.param({k: v for k, v in _reg().items() if k != "endpoint"}, id="no-endpoint"),
        pytest.param(_reg(endpoint="not a uri"), id="endpoint-not-uri"),
        pytest.param({**_reg(), "type": "Registration"}, id="wrong-type"),
        pytest.param(_reg(information=[{"entities": [{"id": "urn:x:1"}]}]), id="entity-no-type"),
        pytest.param(_reg(information=[{}]), id="empty-information"),
        pytest.param(_reg(expiresAt="2000-01-01T00:00:00Z"), id="past-expiresAt"),
        pytest.param(_reg(mode="sometimes"), id="bad-mode"),
        pytest.param(_reg("not a uri"), id="id-not-uri"),
        pytest.param(_reg(colour="red"), id="unknown-member"),
    ],
)
async def test_invalid_registrations_are_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_problem(await client.post(CSR, json=body), 400)
    assert await _ids(client) == []


async def test_tenants_are_isolated(client: httpx.AsyncClient) -> None:
    a, b = {"NGSILD-Tenant": "a"}, {"NGSILD-Tenant": "b"}
    await _create(client, _reg(), headers=a)
    await _create(client, _reg("urn:ngsi-ld:ContextSourceRegistration:b"), headers=b)
    resp = await client.get(CSR, headers=b)
    assert [r["id"] for r in resp.json()] == ["urn:ngsi-ld:ContextSourceRegistration:b"]
    assert_problem(await client.get(f"{CSR}/{REG}", headers=b), 404)
