"""Alert rules through the API, and alerts reaching subscribers as NGSI-LD notifications."""

from __future__ import annotations

from typing import Any

from tests.conftest import ClientFactory
from tests.notify.support import FAST, subscribe, subscription
from tests.pipeline.support import at, prop, upsert, wait_alerts
from tests.receiver import Receiver
from tests.support import assert_problem

HOT_ROOM = {
    "id": "hot-room",
    "entity_type": "IndoorEnvironmentObserved",
    "attribute": "temperature",
    "comparison": ">=",
    "raise_at": 35,
    "clear_at": 33,
    "category": "health",
    "sub_category": "heatWave",
    "severity": "medium",
    "headline": {"vi": "Nóng tại {area}", "en": "Hot at {area}"},
    "description": {"vi": "{value:.1f} °C", "en": "{value:.1f} °C"},
}


async def test_rules_api_add_list_remove(make_client: ClientFactory) -> None:
    client = await make_client()
    r = await client.post("/alerts/rules", json=HOT_ROOM)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "hot-room"
    assert_problem(await client.post("/alerts/rules", json=HOT_ROOM), 409, "AlreadyExists")
    bad = {**HOT_ROOM, "id": "bad", "comparison": "=>"}
    assert_problem(await client.post("/alerts/rules", json=bad), 400, "BadRequestData")
    missing = {k: v for k, v in HOT_ROOM.items() if k != "raise_at"} | {"id": "x"}
    body = assert_problem(await client.post("/alerts/rules", json=missing), 400)
    assert "raise_at" in body["detail"]
    ids = {r["id"] for r in (await client.get("/alerts/rules")).json()}
    assert {"hot-room", "street-flood"} <= ids
    r = await client.delete("/alerts/rules/street-flood")
    assert_problem(r, 422, "OperationNotSupported")
    assert (await client.delete("/alerts/rules/hot-room")).status_code == 204
    assert_problem(await client.delete("/alerts/rules/hot-room"), 404)


async def test_a_rule_added_through_the_api_raises_alerts(make_client: ClientFactory) -> None:
    client = await make_client(analytics_min_interval=0.01)
    rule = {**HOT_ROOM, "entity_type": "WeatherObserved"}
    assert (await client.post("/alerts/rules", json=rule)).status_code == 201
    eid = "urn:ngsi-ld:WeatherObserved:roof"
    await upsert(client, {"id": eid, "type": "WeatherObserved", "temperature": prop(36.5, at(0))})
    [alert] = await wait_alerts(client, 1)
    assert alert["rule_id"] == "hot-room"
    assert alert["description"]["en"] == "36.5 °C"


async def test_alerts_reach_subscribers(make_client: ClientFactory, receiver: Receiver) -> None:
    client = await make_client(analytics_min_interval=0.01, **FAST)
    body: dict[str, Any] = subscription(
        receiver.url("/alerts"),
        entities=[{"type": "Alert"}],
        notification={"format": "keyValues"},
    )
    await subscribe(client, body)
    eid = "urn:ngsi-ld:WeatherObserved:storm"
    for hours_ago, mm in (("1.5", 30.0), ("0.5", 25.0)):
        weather = {
            "id": eid,
            "type": "WeatherObserved",
            "precipitation": prop(mm, at(float(hours_ago))),
        }
        await upsert(client, weather)
    [got] = await receiver.wait_for("/alerts", 1)
    [alert] = got.body["data"]
    assert alert["type"] == "Alert"
    assert alert["ruleId"] == "heavy-rain-2h"
    assert alert["alertStatus"] == "active"
    assert alert["alertSource"] == eid
