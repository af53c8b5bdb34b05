"""Provisioning, HTTP measures and the backfill, sent to a real recording HTTP server."""

from __future__ import annotations

import asyncio
import calendar
import re
import time
from collections import Counter

import pytest

from tests.simulate.recorder import Recorded, recording
from tests.support import free_port
from thudo.simulate import SimulateError, Simulator, SimulatorOptions
from thudo.simulate.backfill import MAX_INSTANCES, TEMPORAL_PATH
from thudo.simulate.clock import parse_instant
from thudo.simulate.fleet import DEVICE_TYPES
from thudo.simulate.transport import HttpTransport

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
START = float(calendar.timegm((2026, 3, 1, 0, 0, 0)))


def _options(url: str, **changes: object) -> SimulatorOptions:
    base: dict[str, object] = {"url": url, "transport": "http", "start": START}
    return SimulatorOptions(**{**base, **changes})  # type: ignore[arg-type]


async def test_provisioning_payloads() -> None:
    async with recording() as server, Simulator(_options(server.url, tenant="hanoi")) as sim:
        await sim.provision()
    services = server.on("/iot/services")
    assert [r.body for r in services] == [
        {"services": [{"apikey": key, "entity_type": kind, "resource": "/iot/json"}]}
        for key, kind in [
            ("thudo-hanoi-aq", "AirQualityObserved"),
            ("thudo-hanoi-weather", "WeatherObserved"),
            ("thudo-hanoi-flood", "FloodMonitoring"),
            ("thudo-hanoi-river", "WaterObserved"),
            ("thudo-hanoi-traffic", "TrafficFlowObserved"),
        ]
    ]  # apikeys are unique across tenants: another tenant gets its own
    devices = [d for r in server.on("/iot/devices") for d in r.body["devices"]]
    assert len(devices) == len(sim.fleet) == sim.devices
    assert all(len(r.body["devices"]) <= 50 for r in server.on("/iot/devices"))
    assert all(r.headers["ngsild-tenant"] == "hanoi" for r in server.requests)
    assert all(r.headers["content-type"] == "application/json" for r in server.requests)
    hoan_kiem = next(d for d in devices if d["device_id"] == "aq-hoan-kiem")
    assert hoan_kiem["entity_name"] == "urn:ngsi-ld:AirQualityObserved:hanoi:aq-hoan-kiem"
    assert hoan_kiem["entity_type"] == "AirQualityObserved"
    assert hoan_kiem["apikey"] == "thudo-hanoi-aq"
    assert {"object_id": "pm25", "name": "pm25", "type": "Property", "unitCode": "GQ"} in hoan_kiem[
        "attributes"
    ]
    assert [a["object_id"] for a in hoan_kiem["attributes"]] == [
        "pm25", "pm10", "no2", "so2", "o3", "co", "temperature", "relativeHumidity"
    ]  # fmt: skip
    location, name, area = hoan_kiem["static_attributes"]
    assert location["name"] == "location" and location["type"] == "GeoProperty"
    lon, lat = location["value"]["coordinates"]
    assert 105.84 < lon < 105.86 and 21.02 < lat < 21.04
    assert name == {"name": "name", "type": "Property", "value": "Phường Hoàn Kiếm"}
    assert area == {"name": "areaServed", "type": "Property", "value": "Phường Hoàn Kiếm"}


async def test_default_tenant_no_header_and_default_apikeys() -> None:
    async with recording() as server, Simulator(_options(server.url)) as sim:
        await sim.provision()
    assert server.requests
    assert all("ngsild-tenant" not in r.headers for r in server.requests)
    keys = [r.body["services"][0]["apikey"] for r in server.on("/iot/services")]
    assert keys == [k.apikey for k in DEVICE_TYPES]
    assert keys[0] == "thudo-aq"


async def test_apikey_prefix_option() -> None:
    async with recording() as server, Simulator(_options(server.url, apikey_prefix="x1")) as sim:
        await sim.provision()
    keys = {r.body["services"][0]["apikey"] for r in server.on("/iot/services")}
    assert keys == {"x1-aq", "x1-weather", "x1-flood", "x1-river", "x1-traffic"}
    devices = [d for r in server.on("/iot/devices") for d in r.body["devices"]]
    assert {d["apikey"] for d in devices} == keys
    with pytest.raises(ValueError, match="apikey_prefix"):
        _options(server.url, apikey_prefix="a/b")


def _existing(seen: Recorded) -> int:
    """409 for every service group and every batch; single devices: 409 for air stations."""
    if seen.path == "/iot/services":
        return 409
    devices = seen.body["devices"]
    if len(devices) > 1 or devices[0]["device_id"].startswith("aq-"):
        return 409
    return 201


async def test_reprovisioning_is_idempotent_and_falls_back_to_one_by_one() -> None:
    async with recording(_existing) as server, Simulator(_options(server.url)) as sim:
        await sim.provision()
    singles = [r.body["devices"] for r in server.on("/iot/devices") if len(r.body["devices"]) == 1]
    assert sorted(d[0]["device_id"] for d in singles) == sorted(d.device_id for d in sim.fleet)
    assert sim.devices == len(sim.fleet)


async def test_a_refused_provisioning_is_a_one_line_error() -> None:
    async with recording(lambda seen: 400) as server, Simulator(_options(server.url)) as sim:
        with pytest.raises(SimulateError, match="service group thudo-aq: HTTP 400"):
            await sim.provision()


async def test_connection_refused_is_a_simulate_error() -> None:
    async with Simulator(_options(f"http://127.0.0.1:{free_port()}")) as sim:
        with pytest.raises(SimulateError, match="cannot reach") as info:
            await sim.provision()
    assert "\n" not in str(info.value)


async def test_http_measures() -> None:
    t = START + 3600
    async with recording() as server, Simulator(_options(server.url, tenant="t1")) as sim:
        await sim.send_step(HttpTransport(sim._client), t)
    measures = server.on("/iot/json")
    assert 0.9 * len(sim.fleet) <= len(measures) <= len(sim.fleet)  # a few may skip
    assert sim.messages_sent == len(measures) and sim.errors == 0
    by_device = {r.query["i"]: r for r in measures}
    device = {d.device_id: d for d in sim.fleet}
    for device_id, request in by_device.items():
        assert request.method == "POST"
        assert request.query["k"] == device[device_id].type.apikey
        assert request.headers["content-type"] == "application/json"
        assert request.headers["ngsild-tenant"] == "t1"
        body = dict(request.body)
        assert body.pop("TimeInstant") == "2026-03-01T01:00:00Z"
        names = {a.object_id for a in device[device_id].type.attributes}
        assert set(body) == names
        assert all(isinstance(v, int | float) for v in body.values())
    assert sim.measures_sent == sum(len(r.body) - 1 for r in measures)


async def test_refused_measures_are_counted_as_errors() -> None:
    async with recording(lambda seen: 503) as server, Simulator(_options(server.url)) as sim:
        await sim.send_step(HttpTransport(sim._client), START)
    assert sim.errors == len(server.on("/iot/json")) > 0
    assert sim.messages_sent == 0


async def test_backfill_chunks_and_shapes() -> None:
    progress: list[float] = []
    async with recording() as server:
        options = _options(server.url, stations=2, weather=1, traffic=1, backfill=15 * 86400.0)
        async with Simulator(options) as sim:
            await sim.backfill(progress.append)
    requests = server.on(TEMPORAL_PATH)
    assert len(requests) == 3 * len(sim.fleet)  # 15 days in weeks: 7 + 7 + 1
    assert progress == sorted(progress) and progress[-1] == 1.0
    per_entity: Counter[str] = Counter()
    instants: dict[str, list[str]] = {}
    for request in requests:
        body = request.body
        assert request.headers["content-type"] == "application/json"
        kind = next(d.type for d in sim.fleet if d.entity_id == body["id"])
        assert body["type"] == kind.entity_type
        units = {a.object_id: a.unit_code for a in kind.attributes}
        attrs = {k: v for k, v in body.items() if k not in ("id", "type")}
        assert set(attrs) == set(units)
        assert sum(len(v) for v in attrs.values()) <= MAX_INSTANCES
        for name, instances in attrs.items():
            for instance in instances:
                assert set(instance) == {"type", "value", "observedAt", "unitCode"}
                assert instance["type"] == "Property" and instance["unitCode"] == units[name]
                assert STAMP.match(instance["observedAt"])
                assert START - 15 * 86400 <= parse_instant(instance["observedAt"]) < START
        per_entity[body["id"]] += 1
        first = next(iter(attrs))
        instants.setdefault(body["id"], []).extend(i["observedAt"] for i in attrs[first])
    assert set(per_entity.values()) == {3}
    for stamps in instants.values():
        assert len(stamps) == len(set(stamps))  # no instant sent twice
        assert 0.95 * 15 * 24 <= len(stamps) <= 15 * 24  # hourly, a few reports skipped
    assert sim.backfill_instances == sum(
        len(v) for r in requests for k, v in r.body.items() if k not in ("id", "type")
    )


async def test_backfill_refused_is_a_simulate_error() -> None:
    async with (
        recording(lambda seen: 400) as server,
        Simulator(_options(server.url, backfill=86400.0)) as sim,
    ):
        with pytest.raises(SimulateError, match=r"backfilling urn:ngsi-ld:.*HTTP 400"):
            await sim.backfill()


async def test_live_run_never_sends_future_timestamps_and_stops() -> None:
    now = asyncio.get_running_loop().time  # only to bound the wait below
    async with recording() as server:
        start = float(int(time.time()) - 1800)
        options = _options(
            server.url, start=start, speed=3600.0, interval=300.0, stations=1, traffic=0
        )
        async with Simulator(options) as sim:
            stop = asyncio.Event()
            runner = asyncio.create_task(sim.run(stop))
            deadline = now() + 15
            while (
                len({r.body["TimeInstant"] for r in server.on("/iot/json")}) < 6
                and now() < deadline
            ):
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(runner, 10)
    stamps = {r.body["TimeInstant"] for r in server.on("/iot/json")}
    assert len(stamps) >= 6
    for request in server.on("/iot/json"):
        assert parse_instant(request.body["TimeInstant"]) <= request.received_at
    assert sim.transport_name == "http"
    assert sim.sim_time <= time.time()
