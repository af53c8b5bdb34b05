"""orderBy on attribute values (clause 4.23): an entity sorts by its smallest value (its
largest, descending), numbers before texts, missing values first ascending; ties keep the
creation order. Both backends answer alike, multi-instance attributes of mixed types too."""

from __future__ import annotations

from typing import Any

import httpx

API = "/ngsi-ld/v1"


def _temp(*values: Any) -> Any:
    instances = [
        {"type": "Property", "value": v, **({"datasetId": f"urn:ds:{i}"} if i else {})}
        for i, v in enumerate(values)
    ]
    return instances[0] if len(instances) == 1 else instances


async def _create(client: httpx.AsyncClient, name: str, *values: Any) -> None:
    body: dict[str, Any] = {"id": f"urn:x:{name}", "type": "T"}
    if values:
        body["temp"] = _temp(*values)
    resp = await client.post(f"{API}/entities", json=body)
    assert resp.status_code == 201, resp.text


async def _order(client: httpx.AsyncClient, order: str, **params: str) -> list[str]:
    resp = await client.get(f"{API}/entities", params={"type": "T", "orderBy": order, **params})
    assert resp.status_code == 200, resp.text
    return [e["id"].removeprefix("urn:x:") for e in resp.json()]


async def test_ties_between_mixed_multi_instance_values_keep_creation_order(
    client: httpx.AsyncClient,
) -> None:
    await _create(client, "c", 1)
    await _create(client, "d", 1, "zz")  # smallest 1, like c; largest "zz"
    await _create(client, "e", "zz", 5)  # smallest 5, largest "zz", like d
    await _create(client, "f", "aa")
    await _create(client, "g")  # no temp
    assert await _order(client, "temp") == ["g", "c", "d", "e", "f"]
    assert await _order(client, "temp;desc") == ["d", "e", "f", "c", "g"]
    pages = [await _order(client, "temp", limit="2", offset=str(k)) for k in (0, 2, 4)]
    assert pages == [["g", "c"], ["d", "e"], ["f"]]
