"""MQTT notifications (clause 7.4.2) against the Mosquitto broker on 127.0.0.1:1883: the
message is {"metadata": ..., "body": Notification}, published with the asked QoS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import httpx
import orjson
import pytest

from tests.notify.support import create, subscribe, subscription, wait_subscription
from tests.support import MQTT_HOST, MQTT_PORT, NO_MQTT, mqtt_reachable, room

pytestmark = pytest.mark.skipif(not mqtt_reachable(), reason=NO_MQTT)


@pytest.fixture
async def mqtt() -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
        yield client


async def _next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async def first() -> aiomqtt.Message:
        async for message in client.messages:
            return message
        raise AssertionError("the MQTT message stream ended")

    return await asyncio.wait_for(first(), 5.0)


def _topic() -> str:
    return f"thudo-test/{uuid.uuid4().hex}/notifications"


async def _subscribed(broker: httpx.AsyncClient, topic: str, **endpoint: Any) -> str:
    body = subscription(f"mqtt://{MQTT_HOST}:{MQTT_PORT}/{topic}", endpoint=endpoint)
    return await subscribe(broker, body)


async def test_mqtt_message_wraps_the_notification(
    broker: httpx.AsyncClient, mqtt: aiomqtt.Client
) -> None:
    topic = _topic()
    await mqtt.subscribe(topic, qos=2)
    sub_id = await _subscribed(broker, topic)
    await create(broker, room(temperature=21))
    message = await _next_message(mqtt)
    assert str(message.topic) == topic
    payload = orjson.loads(message.payload)
    assert set(payload) == {"metadata", "body"}
    assert payload["metadata"]["Content-Type"] == "application/json"
    body = payload["body"]
    assert body["type"] == "Notification"
    assert body["subscriptionId"] == sub_id
    assert body["data"] == [
        {
            "id": "urn:ngsi-ld:Room:1",
            "type": "Room",
            "temperature": {"type": "Property", "value": 21},
        }
    ]


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_mqtt_qos_comes_from_notifier_info(
    broker: httpx.AsyncClient, mqtt: aiomqtt.Client, qos: int
) -> None:
    topic = _topic()
    await mqtt.subscribe(topic, qos=2)
    info = [{"key": "MQTT-QoS", "value": str(qos)}]
    receiver_info = [{"key": "X-Auth-Token", "value": "s3cret"}]
    await _subscribed(broker, topic, notifierInfo=info, receiverInfo=receiver_info)
    await create(broker, room(temperature=21))
    message = await _next_message(mqtt)
    # The subscriber asked for QoS 2; the delivery QoS is the one the broker published with.
    assert message.qos == qos
    metadata = orjson.loads(message.payload)["metadata"]
    assert metadata["X-Auth-Token"] == "s3cret"


async def test_mqtt_delivery_shows_in_the_subscription_status(
    broker: httpx.AsyncClient, mqtt: aiomqtt.Client
) -> None:
    topic = _topic()
    await mqtt.subscribe(topic, qos=1)
    sub_id = await _subscribed(broker, topic)
    await create(broker, room(temperature=21))
    await _next_message(mqtt)
    doc = await wait_subscription(broker, sub_id, lambda d: d["notification"].get("timesSent") == 1)
    assert doc["notification"]["status"] == "ok"
