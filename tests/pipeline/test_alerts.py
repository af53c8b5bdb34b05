"""Alerts raised and cleared by the default Hanoi rules, their lifecycle, CAP and Atom."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import httpx

from tests.conftest import ClientFactory
from tests.pipeline.support import NGSI, at, prop, upsert, wait_alerts, wait_for
from tests.support import assert_problem
from thudo.analytics.cap import ATOM_NAMESPACE, CAP_NAMESPACE
from thudo.api.app import ThudoApp
from thudo.config import load_settings

GAUGE = "urn:ngsi-ld:FloodMonitoring:test-nguyen-khuyen"
RIVER = "urn:ngsi-ld:WaterObserved:hanoi:long-bien"
RAIN = "urn:ngsi-ld:WeatherObserved:test-1"


def gauge(depth_m: float, observed: str) -> dict[str, object]:
    return {
        "id": GAUGE,
        "type": "FloodMonitoring",
        "name": {"type": "Property", "value": "Nguyễn Khuyến"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [105.84, 21.03]},
        },
        "currentLevel": prop(depth_m, observed, "MTR"),
    }


async def _client(make_client: ClientFactory) -> httpx.AsyncClient:
    return await make_client(analytics_min_interval=0.01)


async def _flood(client: httpx.AsyncClient, depths: list[float], start_h: float) -> None:
    """Readings every 2 minutes from ``start_h`` hours ago, waiting for each to be folded in."""
    for i, depth in enumerate(depths):
        when = at(start_h - i * 2 / 60)
        await upsert(client, gauge(depth, when))
        await wait_for(
            client, GAUGE, lambda e, w=when: e.get("floodLevelStatus", {}).get("observedAt") == w
        )


async def test_street_flood_raises_after_its_duration_and_clears(
    make_client: ClientFactory,
) -> None:
    client = await _client(make_client)
    # 0.45 m for 4 minutes is not yet an alert (the rule needs 5 minutes).
    await _flood(client, [0.1, 0.45, 0.46, 0.47], 3)
    assert await wait_alerts(client, 0, timeout_s=0.5) == []
    entity = (await client.get(f"{NGSI}/entities/{GAUGE}")).json()
    assert entity["floodLevelStatus"]["value"] == "Danger"
    await _flood(client, [0.48, 0.5], 3 - 8 / 60)
    [alert] = await wait_alerts(client, 1)
    assert alert["rule_id"] == "street-flood"
    assert alert["status"] == "active"
    assert alert["entity_id"] == GAUGE
    assert alert["headline"]["vi"] == "Ngập đường tại Nguyễn Khuyến"
    assert alert["location"] == {"type": "Point", "coordinates": [105.84, 21.03]}
    # The water recedes below 0.25 m for more than 15 minutes: the alert is resolved.
    await _flood(client, [0.2] * 10, 2)
    [done] = await wait_alerts(client, 1, status="resolved")
    assert done["resolved_by"] == "rule street-flood"
    assert done["valid_to"] is not None
    r = await client.get(f"{NGSI}/entities", params={"type": "Alert", "options": "keyValues"})
    assert [a["alertStatus"] for a in r.json()] == ["resolved"]


async def test_red_river_alarm_levels(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    for i, level in enumerate([9.2, 9.6, 9.7, 9.8]):
        when = at(1 - i * 10 / 60)
        await upsert(
            client, {"id": RIVER, "type": "WaterObserved", "waterLevel": prop(level, when, "MTR")}
        )
        await wait_for(
            client, RIVER, lambda e, w=when: e.get("alarmLevel", {}).get("observedAt") == w
        )
    entity = (await client.get(f"{NGSI}/entities/{RIVER}")).json()
    assert entity["alarmLevel"]["value"] == 1
    assert entity["alarmLevel"]["label"]["value"] == "BĐ I"
    [alert] = await wait_alerts(client, 1)
    assert alert["rule_id"] == "red-river-long-bien-bd1"


async def test_heavy_rain_over_two_hours(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    amounts = [("3", 20.0), ("1.75", 15.0), ("1", 18.0), ("0.5", 19.0)]
    for hours_ago, mm in amounts:
        when = at(float(hours_ago))
        await upsert(
            client, {"id": RAIN, "type": "WeatherObserved", "precipitation": prop(mm, when, "MMT")}
        )
        await wait_for(
            client, RAIN, lambda e, w=when: e.get("precipitation2h", {}).get("observedAt") == w
        )
    entity = (await client.get(f"{NGSI}/entities/{RAIN}")).json()
    # The window is the last two hours: 15 + 18 + 19, not the 20 mm three hours ago.
    assert entity["precipitation2h"]["value"] == 52.0
    assert entity["precipitation2h"]["rainStatus"]["value"] == "hotspots_flood"
    [alert] = await wait_alerts(client, 1)
    assert alert["rule_id"] == "heavy-rain-2h"


async def test_lifecycle_cap_and_atom(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    await _flood(client, [0.4, 0.4, 0.41, 0.42], 1)
    [alert] = await wait_alerts(client, 1)
    aid = alert["id"]
    assert_problem(await client.post(f"/alerts/{aid}/acknowledge", json={}), 400, "BadRequestData")
    r = await client.post(f"/alerts/{aid}/acknowledge", json={"by": "trực ban TT điều hành"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "trực ban TT điều hành"
    assert_problem(await client.post(f"/alerts/{aid}/acknowledge", json={"by": "x"}), 400)
    cap = await client.get(f"/alerts/{aid}/cap")
    assert cap.status_code == 200
    assert cap.headers["content-type"].startswith("application/cap+xml")
    root = ET.fromstring(cap.content)
    ns = {"cap": CAP_NAMESPACE}
    assert root.findtext("cap:msgType", namespaces=ns) == "Update"
    assert root.findtext("cap:identifier", namespaces=ns) == f"{aid}:update"
    r = await client.post(f"/alerts/{aid}/resolve", json={"by": "operator"})
    assert r.json()["status"] == "resolved"
    feed = await client.get("/alerts/feed.atom", params={"lang": "en"})
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall(f"{{{ATOM_NAMESPACE}}}entry")
    assert len(entries) == 1
    assert_problem(await client.get("/alerts/urn:ngsi-ld:Alert:none/cap"), 404)
    assert_problem(await client.get("/alerts/feed.atom", params={"lang": "fr"}), 400)
    rules = (await client.get("/alerts/rules")).json()
    assert {r["id"] for r in rules} >= {"vn-aqi-bad", "street-flood", "heavy-rain-2h"}


async def test_restart_neither_forgets_nor_repeats_alerts(tmp_path: Path) -> None:
    settings = load_settings(
        environ={}, database_url=f"sqlite:///{tmp_path / 'a.db'}", analytics_min_interval=0.01
    )
    for _ in range(2):
        app = ThudoApp(settings)
        await app.startup()
        try:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            await _flood(client, [0.4, 0.4, 0.41, 0.42], 1)
            alerts = await wait_alerts(client, 1)
            assert len(alerts) == 1
        finally:
            await app.shutdown()


async def test_served_cap_feed_validates_against_the_cap_schema(make_client: ClientFactory) -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(Path(__file__).parents[1] / "data" / "cap-1.2.xsd")))
    client = await _client(make_client)
    await _flood(client, [0.4, 0.4, 0.41, 0.42], 1)
    [alert] = await wait_alerts(client, 1)
    await client.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "operator"})
    feed = etree.fromstring((await client.get("/alerts/feed.atom")).content)
    messages = feed.findall(
        f"{{{ATOM_NAMESPACE}}}entry/{{{ATOM_NAMESPACE}}}content/{{{CAP_NAMESPACE}}}alert"
    )
    assert len(messages) == 1
    for message in messages:
        schema.assertValid(etree.fromstring(etree.tostring(message)))
    single = etree.fromstring((await client.get(f"/alerts/{alert['id']}/cap")).content)
    schema.assertValid(single)
    assert single.findtext(f"{{{CAP_NAMESPACE}}}status") == "Actual"
