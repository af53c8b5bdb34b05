"""Device ingestion over MQTT through the Mosquitto broker on 127.0.0.1:1883."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiomqtt
import httpx
import orjson
import pytest

from tests.conftest import ClientFactory
from tests.ingest.support import station
from tests.support import MQTT_HOST, MQTT_PORT, NO_MQTT, mqtt_reachable

NGSI = "/ngsi-ld/v1"


pytestmark = pytest.mark.skipif(not mqtt_reachable(), reason=NO_MQTT)


async def _southbound(make_client: ClientFactory) -> tuple[httpx.AsyncClient, str, str]:
    """A broker ingesting from Mosquitto, with a fresh API key and a provisioned station."""
    key = f"k{uuid.uuid4().hex[:12]}"
    client = await make_client(
        ingest_mqtt_url=f"mqtt://{MQTT_HOST}:{MQTT_PORT}",
        ingest_mqtt_client_id=f"thudo-test-{uuid.uuid4().hex[:8]}",
    )
    entity = f"urn:ngsi-ld:AirQualityObserved:{key}"
    body = {"services": [{"apikey": key, "entity_type": "AirQualityObserved"}]}
    assert (await client.post("/iot/services", json=body)).status_code == 201
    device = station(entity=entity, apikey=key)
    assert (await client.post("/iot/devices", json={"devices": [device]})).status_code == 201
    for _ in range(100):
        about = (await client.get("/iot/about")).json()
        if about["mqtt"]["connected"]:
            break
        await asyncio.sleep(0.05)
    return client, key, entity


async def _publish(key: str, *payloads: Any, device: str = "aq-1") -> None:
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as mqtt:
        for p in payloads:
            data = p if isinstance(p, bytes) else orjson.dumps(p)
            await mqtt.publish(f"/{key}/{device}/attrs", data, qos=1)


async def _wait_value(client: httpx.AsyncClient, entity: str, attr: str, want: Any) -> Any:
    value = None
    for _ in range(200):
        r = await client.get(f"{NGSI}/entities/{entity}")
        value = r.json().get(attr, {}).get("value") if r.status_code == 200 else None
        if value == want:
            return value
        await asyncio.sleep(0.05)
    return value


async def test_measures_published_over_mqtt_are_stored(make_client: ClientFactory) -> None:
    client, key, entity = await _southbound(make_client)
    await _publish(key, {"p25": 55.5, "t": 19.0})
    assert await _wait_value(client, entity, "pm25", 55.5) == 55.5
    r = await client.get(f"{NGSI}/entities/{entity}")
    assert r.json()["temperature"]["value"] == 19.0
    assert "observedAt" in r.json()["pm25"]


async def test_bad_messages_do_not_stop_the_stream(make_client: ClientFactory) -> None:
    client, key, entity = await _southbound(make_client)
    await _publish(key, b"\xff garbage", {"p25": "high"}, [1, 2], {"p25": 61.0})
    assert await _wait_value(client, entity, "pm25", 61.0) == 61.0
    rejected = await _wait_rejected(client, "malformed", "bad_value")
    assert rejected["malformed"] == 2
    assert rejected["bad_value"] == 1


async def test_unknown_key_and_device_are_counted(make_client: ClientFactory) -> None:
    client, key, entity = await _southbound(make_client)
    await _publish(f"{key}-other", {"p25": 1})
    await _publish(key, {"p25": 2}, device="ghost")
    await _publish(key, {"p25": 3})
    assert await _wait_value(client, entity, "pm25", 3) == 3
    rejected = await _wait_rejected(client, "unknown_device")
    assert rejected["unknown_apikey"] >= 1
    assert rejected["unknown_device"] == 1


async def _wait_rejected(client: httpx.AsyncClient, *reasons: str) -> dict[str, int]:
    """The rejection counters once every reason has been counted (or after 10 s)."""
    rejected: dict[str, int] = {}
    for _ in range(200):
        rejected = (await client.get("/iot/about")).json()["ingestion"]["rejected"]
        if all(reason in rejected for reason in reasons):
            break
        await asyncio.sleep(0.05)
    return rejected
