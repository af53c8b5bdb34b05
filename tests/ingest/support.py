"""Provisioning helpers shared by the ingestion tests."""

from __future__ import annotations

from typing import Any

import httpx

APIKEY = "aq-key"
ENTITY = "urn:ngsi-ld:AirQualityObserved:hanoi:aq-1"


def station(device_id: str = "aq-1", entity: str = ENTITY, **extra: Any) -> dict[str, Any]:
    """An air-quality station as /iot/devices takes it."""
    return {
        "device_id": device_id,
        "entity_name": entity,
        "entity_type": "AirQualityObserved",
        "apikey": APIKEY,
        "attributes": [
            {"object_id": "p25", "name": "pm25", "type": "Number", "unitCode": "GQ"},
            {"object_id": "t", "name": "temperature", "type": "Number", "unitCode": "CEL"},
            {"object_id": "st", "name": "status", "type": "Text"},
        ],
        "static_attributes": [
            {
                "name": "location",
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [105.85, 21.03]},
            },
        ],
        **extra,
    }


async def provision(
    client: httpx.AsyncClient,
    *devices: dict[str, Any],
    headers: dict[str, str] | None = None,
    **group: Any,
) -> None:
    """Create the service group and the devices; fail the test if either is refused."""
    body = {"services": [{"apikey": APIKEY, "entity_type": "AirQualityObserved", **group}]}
    r = await client.post("/iot/services", json=body, headers=headers or {})
    assert r.status_code == 201, r.text
    if devices:
        r = await client.post(
            "/iot/devices", json={"devices": list(devices)}, headers=headers or {}
        )
        assert r.status_code == 201, r.text


async def measure(
    client: httpx.AsyncClient, payload: Any, device: str = "aq-1", key: str = APIKEY
) -> httpx.Response:
    """POST a device payload to /iot/json."""
    content = payload if isinstance(payload, bytes) else None
    if content is not None:
        return await client.post(
            f"/iot/json?k={key}&i={device}",
            content=content,
            headers={"Content-Type": "application/json"},
        )
    return await client.post(f"/iot/json?k={key}&i={device}", json=payload)
