"""Measures over MQTT, against the real Mosquitto on 127.0.0.1:1883 when it is reachable."""

from __future__ import annotations

import asyncio
import calendar
from dataclasses import replace

import orjson
import pytest

from tests.simulate.recorder import recording
from tests.support import MQTT_HOST, MQTT_PORT, NO_MQTT, free_port, mqtt_reachable
from thudo.simulate import SimulateError, Simulator, SimulatorOptions
from thudo.simulate.fleet import DEVICE_TYPES
from thudo.simulate.transport import open_mqtt

BROKER = (MQTT_HOST, MQTT_PORT)
# A distinctive instant, so that other publishers on the shared broker cannot be mistaken for us.
T = float(calendar.timegm((2001, 2, 3, 4, 5, 0)))


needs_broker = pytest.mark.skipif(not mqtt_reachable(), reason=NO_MQTT)


@needs_broker
async def test_measures_arrive_on_the_attrs_topics() -> None:
    aiomqtt = pytest.importorskip("aiomqtt", reason="MQTT tests need aiomqtt (thudo[mqtt])")
    sim = Simulator(SimulatorOptions(transport="mqtt", stations=5, traffic=2, weather=1))
    received: dict[str, dict[str, object]] = {}
    async with aiomqtt.Client(*BROKER) as subscriber:
        for kind in DEVICE_TYPES:
            await subscriber.subscribe(f"/{kind.apikey}/+/attrs", qos=1)
        transport = await open_mqtt("mqtt://127.0.0.1:1883")
        try:
            await sim.send_step(transport, T)
        finally:
            await transport.close()
        async with asyncio.timeout(10):  # a guard against a hang, not a timing check
            async for message in subscriber.messages:
                body = orjson.loads(message.payload)  # type: ignore[arg-type]
                if body.get("TimeInstant") == "2001-02-03T04:05:00Z":
                    received[str(message.topic)] = body
                if len(received) == sim.messages_sent:
                    break
    await sim.close()
    assert sim.errors == 0 and sim.messages_sent >= 0.9 * len(sim.fleet)
    expected = {f"/{d.type.apikey}/{d.device_id}/attrs": d for d in sim.fleet}
    assert set(received) <= set(expected)
    assert len(received) == sim.messages_sent
    for topic, body in received.items():
        names = {a.object_id for a in expected[topic].type.attributes}
        assert set(body) == names | {"TimeInstant"}
        assert all(isinstance(body[n], int | float) for n in names)


@needs_broker
async def test_auto_picks_mqtt_when_the_broker_answers() -> None:
    pytest.importorskip("aiomqtt", reason="MQTT tests need aiomqtt (thudo[mqtt])")
    async with Simulator(SimulatorOptions(transport="auto")) as sim:
        transport = await sim._open_transport()
        await transport.close()
    assert transport.name == "mqtt"


async def test_auto_falls_back_to_http_without_a_broker() -> None:
    options = SimulatorOptions(transport="auto", mqtt_url=f"mqtt://127.0.0.1:{free_port()}")
    async with recording() as server:
        async with Simulator(replace(options, url=server.url)) as sim:
            transport = await sim._open_transport()
            await sim.send_step(transport, T)
        assert transport.name == "http"
        assert len(server.on("/iot/json")) == sim.messages_sent > 0


async def test_mqtt_without_a_broker_is_a_one_line_error() -> None:
    with pytest.raises(SimulateError, match="cannot connect to MQTT broker"):
        await open_mqtt(f"mqtt://127.0.0.1:{free_port()}", timeout=2.0)
