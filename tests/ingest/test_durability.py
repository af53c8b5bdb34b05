"""Nothing acknowledged is lost: measures answered 200 over HTTP, or acknowledged by the MQTT
broker to the device, are in the store after a SIGKILL of thudo and a restart."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import orjson
import pytest

from tests.support import NO_MQTT, ServeProcess, mqtt_reachable

pytestmark = pytest.mark.smoke

KEY = "durable"
DEVICES = 8
SETTINGS = {"temporal_max_instances": "100000", "analytics_min_interval": "0.2"}


def _entity(d: int) -> str:
    return f"urn:ngsi-ld:AirQualityObserved:durable-{d}"


def _time(start: datetime, n: int) -> str:
    return (start + timedelta(milliseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _provision(url: str) -> None:
    body = {"services": [{"apikey": KEY, "entity_type": "AirQualityObserved"}]}
    assert httpx.post(f"{url}/iot/services", json=body).status_code == 201
    devices = [
        {
            "device_id": f"d{d}",
            "apikey": KEY,
            "entity_name": _entity(d),
            "attributes": [{"object_id": "p", "name": "pm25", "type": "Number"}],
        }
        for d in range(DEVICES)
    ]
    assert httpx.post(f"{url}/iot/devices", json={"devices": devices}).status_code == 201


def _stored(url: str) -> dict[int, set[str]]:
    """Every pm25 observation time in the history, per device."""
    out: dict[int, set[str]] = {}
    for d in range(DEVICES):
        r = httpx.get(
            f"{url}/ngsi-ld/v1/temporal/entities/{_entity(d)}",
            params={"attrs": "pm25", "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        instances = r.json().get("pm25", [])
        instances = instances if isinstance(instances, list) else [instances]
        out[d] = {
            datetime.fromisoformat(i["observedAt"]).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            for i in instances
        }
    return out


async def _http_device(
    client: httpx.AsyncClient, d: int, start: datetime, acked: list[tuple[int, str]]
) -> None:
    n = 0
    while True:
        n += 1
        at = _time(start, n)
        try:
            r = await client.post(
                f"/iot/json?k={KEY}&i=d{d}", json={"p": n % 300, "TimeInstant": at}
            )
        except httpx.TransportError:
            return
        if r.status_code != 200:
            return
        acked.append((d, at))


async def test_http_measures_acknowledged_survive_sigkill(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "ingest.db", settings=SETTINGS)
    server.start()
    acked: list[tuple[int, str]] = []
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        _provision(server.url)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            tasks = [
                asyncio.create_task(_http_device(client, d, start, acked)) for d in range(DEVICES)
            ]
            while len(acked) < 300 and not all(t.done() for t in tasks):
                await asyncio.sleep(0.005)
            server.kill()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    finally:
        server.kill()
    assert len(acked) >= 300, server.log()
    restarted = ServeProcess(tmp_path / "ingest.db", settings=SETTINGS)
    restarted.start()
    try:
        stored = _stored(restarted.url)
    finally:
        restarted.stop()
    missing = [(d, at) for d, at in acked if at not in stored[d]]
    assert missing == []


@pytest.mark.skipif(not mqtt_reachable(), reason=NO_MQTT)
async def test_mqtt_measures_survive_sigkill(tmp_path: Path) -> None:
    settings = {
        **SETTINGS,
        "ingest_mqtt_url": "mqtt://127.0.0.1:1883",
        "ingest_mqtt_client_id": f"thudo-durable-{uuid.uuid4().hex[:8]}",
    }
    server = ServeProcess(tmp_path / "mqtt.db", settings=settings)
    server.start()
    start = datetime.now(UTC) - timedelta(hours=1)
    published: list[tuple[int, str]] = []
    try:
        _provision(server.url)
        await _wait_connected(server.url)
        async with aiomqtt.Client("127.0.0.1", 1883) as mqtt:
            for n in range(1, 601):
                d = n % DEVICES
                at = _time(start, n)
                payload: dict[str, Any] = {"p": n % 300, "TimeInstant": at}
                await mqtt.publish(f"/{KEY}/d{d}/attrs", orjson.dumps(payload), qos=1)
                published.append((d, at))  # acknowledged by the broker (QoS 1)
                if n == 300:
                    server.kill()  # mid-stream: the rest waits in the broker's session
    finally:
        server.kill()
    restarted = ServeProcess(tmp_path / "mqtt.db", settings=settings)
    restarted.start()
    try:
        stored: dict[int, set[str]] = {}
        for _ in range(200):
            stored = _stored(restarted.url)
            if sum(len(v) for v in stored.values()) >= len(published):
                break
            await asyncio.sleep(0.1)
    finally:
        restarted.stop()
    missing = [(d, at) for d, at in published if at not in stored[d]]
    assert missing == []


async def _wait_connected(url: str) -> None:
    for _ in range(100):
        about = httpx.get(f"{url}/iot/about").json()
        if about["mqtt"] and about["mqtt"]["connected"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("thudo did not connect to the MQTT broker")
