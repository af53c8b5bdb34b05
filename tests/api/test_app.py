"""The application shell: /health, unknown paths, methods, and the problem body shape."""

from __future__ import annotations

import httpx
import pytest

from tests.support import API, ENTITIES, ERRORS, assert_problem, room
from thudo import __version__
from thudo.api import routes


async def test_health_reports_ok_and_version(client: httpx.AsyncClient) -> None:
    resp = await client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert (body["status"], body["version"]) == ("ok", __version__)


async def test_problem_body_has_exactly_the_ngsi_ld_shape(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"{ENTITIES}/urn:ngsi-ld:Room:missing")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json() == {
        "type": "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound",
        "title": "Resource not found",
        "status": 404,
        "detail": "entity 'urn:ngsi-ld:Room:missing' does not exist",
    }


async def test_path_outside_the_api_is_resource_not_found(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/nowhere"), 404, "ResourceNotFound")
    assert "/nowhere" in body["detail"]


async def test_unknown_ngsi_ld_resource_is_not_found(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get(f"{API}/nonsense"), 404, "ResourceNotFound")
    assert "nonsense" in body["detail"]


@pytest.mark.parametrize("resource", sorted(routes._LATER))
async def test_resources_of_later_versions_are_501(
    client: httpx.AsyncClient, resource: str
) -> None:
    body = assert_problem(await client.get(f"{API}/{resource}"), 501, "OperationNotSupported")
    assert resource in body["detail"]


async def test_wrong_method_is_405_with_allow_header(client: httpx.AsyncClient) -> None:
    resp = await client.put(ENTITIES, json=room())
    assert_problem(resp, 405, "MethodNotAllowed")
    assert set(resp.headers["allow"].split(", ")) == {"GET", "POST", "DELETE"}


async def test_unknown_query_parameter_is_invalid_request(client: httpx.AsyncClient) -> None:
    body = assert_problem(
        await client.get(ENTITIES, params={"type": "Room", "bogus": "1"}), 400, "InvalidRequest"
    )
    assert "bogus" in body["detail"]


async def test_every_error_type_uri_is_under_the_etsi_errors_base(
    client: httpx.AsyncClient,
) -> None:
    await client.post(ENTITIES, json=room())
    answers = [
        await client.post(ENTITIES, json=room()),  # 409
        await client.get(f"{ENTITIES}/urn:x:none"),  # 404
        await client.get(ENTITIES),  # 400
        await client.get(ENTITIES, params={"type": "Room"}, headers={"Accept": "text/csv"}),
    ]
    assert [r.status_code for r in answers] == [409, 404, 400, 406]
    for resp in answers:
        assert resp.json()["type"].startswith(ERRORS)
        assert resp.json()["status"] == resp.status_code
