"""Which changes notify whom (clause 5.8, 7.x): every notificationTrigger, watchedAttributes,
q, geoQ, scopeQ and the entity selectors, delivered over HTTP to a local receiver."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.notify.support import SUBS, create, settled, subscribe, subscription
from tests.receiver import Receiver, wait_until
from tests.support import API, ENTITIES, point, room

RID = "urn:ngsi-ld:Room:1"
NULL = "urn:ngsi-ld:null"


def _ids(receiver: Receiver, path: str) -> list[str]:
    return [e["id"] for r in receiver.on(path) for e in r.body["data"]]


async def _patch(client: httpx.AsyncClient, attrs: dict[str, Any], eid: str = RID) -> None:
    resp = await client.patch(f"{ENTITIES}/{eid}/attrs", json=attrs)
    assert resp.status_code == 204, resp.text


async def test_a_notification_has_the_members_of_clause_5_2_14(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    sub_id = await subscribe(broker, subscription(receiver.url("/n")))
    await create(broker, room(temperature=21))
    [got] = await receiver.wait_for("/n")
    body = got.body
    assert body["type"] == "Notification"
    assert urlsplit(body["id"]).scheme, body["id"]
    assert body["subscriptionId"] == sub_id
    notified = datetime.fromisoformat(body["notifiedAt"].replace("Z", "+00:00"))
    assert notified.tzinfo is not None
    assert body["data"] == [
        {"id": RID, "type": "Room", "temperature": {"type": "Property", "value": 21}}
    ]
    assert got.headers["content-type"].split(";")[0] == "application/json"


async def test_notification_ids_are_unique(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(broker, subscription(receiver.url("/n")))
    await create(broker, room(temperature=1))
    await _patch(broker, {"temperature": 2})
    got = await receiver.wait_for("/n", 2)
    assert got[0].body["id"] != got[1].body["id"]


async def test_entity_created(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(broker, subscription(receiver.url("/c"), notificationTrigger=["entityCreated"]))
    await create(broker, room(temperature=21))
    [got] = await receiver.wait_for("/c")
    assert got.body["data"][0]["temperature"]["value"] == 21
    await _patch(broker, {"temperature": 22})
    await broker.delete(f"{ENTITIES}/{RID}/attrs/temperature")
    await create(broker, room("urn:ngsi-ld:Room:2", temperature=5))
    await receiver.wait_for("/c", 2)
    await settled(broker)
    assert sorted(_ids(receiver, "/c")) == [RID, "urn:ngsi-ld:Room:2"]


async def test_entity_updated(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(broker, subscription(receiver.url("/u"), notificationTrigger=["entityUpdated"]))
    await create(broker, room(temperature=21))
    await settled(broker)
    assert receiver.on("/u") == []
    await _patch(broker, {"temperature": 22})
    [got] = await receiver.wait_for("/u")
    assert got.body["data"][0]["id"] == RID
    assert got.body["data"][0]["temperature"]["value"] == 22


async def test_entity_deleted(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(broker, subscription(receiver.url("/d"), notificationTrigger=["entityDeleted"]))
    await create(broker, room(temperature=21))
    await _patch(broker, {"temperature": 22})
    await settled(broker)
    assert receiver.on("/d") == []
    assert (await broker.delete(f"{ENTITIES}/{RID}")).status_code == 204
    [got] = await receiver.wait_for("/d")
    [entity] = got.body["data"]
    assert (entity["id"], entity["type"]) == (RID, "Room")


async def test_attribute_created(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await create(broker, room(temperature=21))
    await subscribe(
        broker, subscription(receiver.url("/ac"), notificationTrigger=["attributeCreated"])
    )
    await _patch(broker, {"temperature": 22})
    await settled(broker)
    assert receiver.on("/ac") == []
    resp = await broker.post(
        f"{ENTITIES}/{RID}/attrs", json={"humidity": {"type": "Property", "value": 60}}
    )
    assert resp.status_code == 204, resp.text
    [got] = await receiver.wait_for("/ac")
    assert got.body["data"][0]["humidity"] == {"type": "Property", "value": 60}


async def test_attribute_updated(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await create(broker, room(temperature=21))
    await subscribe(
        broker, subscription(receiver.url("/au"), notificationTrigger=["attributeUpdated"])
    )
    resp = await broker.post(
        f"{ENTITIES}/{RID}/attrs", json={"humidity": {"type": "Property", "value": 60}}
    )
    assert resp.status_code == 204
    await settled(broker)
    assert receiver.on("/au") == []
    await _patch(broker, {"temperature": 23})
    [got] = await receiver.wait_for("/au")
    assert got.body["data"][0]["temperature"] == {"type": "Property", "value": 23}


async def test_attribute_deleted(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await create(broker, room(temperature=21, humidity=60))
    await subscribe(
        broker, subscription(receiver.url("/ad"), notificationTrigger=["attributeDeleted"])
    )
    await _patch(broker, {"temperature": 23})
    await settled(broker)
    assert receiver.on("/ad") == []
    assert (await broker.delete(f"{ENTITIES}/{RID}/attrs/temperature")).status_code == 204
    [got] = await receiver.wait_for("/ad")
    [entity] = got.body["data"]
    assert entity["id"] == RID
    # A deleted attribute is reported with the NGSI-LD null (clause 4.5.0).
    assert entity["temperature"]["value"] == NULL


async def test_attribute_deleted_by_a_merge_patch_null(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create(broker, room(temperature=21, humidity=60))
    await subscribe(
        broker, subscription(receiver.url("/ad"), notificationTrigger=["attributeDeleted"])
    )
    resp = await broker.patch(f"{ENTITIES}/{RID}", json={"humidity": NULL, "temperature": 22})
    assert resp.status_code == 204, resp.text
    [got] = await receiver.wait_for("/ad")
    assert got.body["data"][0]["humidity"]["value"] == NULL
    assert (await broker.get(f"{ENTITIES}/{RID}")).json().get("humidity") is None


async def test_watched_attributes(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await create(broker, room(temperature=21, humidity=60))
    await subscribe(broker, subscription(receiver.url("/w"), watchedAttributes=["humidity"]))
    await _patch(broker, {"temperature": 22})
    await settled(broker)
    assert receiver.on("/w") == []
    await _patch(broker, {"humidity": 61})
    [got] = await receiver.wait_for("/w")
    assert got.body["data"][0]["humidity"]["value"] == 61


async def test_watched_attributes_without_entities(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    body = subscription(receiver.url("/w"), watchedAttributes=["humidity"])
    del body["entities"]
    await subscribe(broker, body)
    await create(broker, {"id": "urn:ngsi-ld:Building:1", "type": "Building", **_prop(humidity=5)})
    [got] = await receiver.wait_for("/w")
    assert got.body["data"][0]["id"] == "urn:ngsi-ld:Building:1"


def _prop(**attrs: Any) -> dict[str, Any]:
    return {k: {"type": "Property", "value": v} for k, v in attrs.items()}


async def test_q_filters_the_changes(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(broker, subscription(receiver.url("/q"), q="temperature>25"))
    await create(broker, room(temperature=20))
    await _patch(broker, {"temperature": 24})
    await settled(broker)
    assert receiver.on("/q") == []
    await _patch(broker, {"temperature": 30})
    [got] = await receiver.wait_for("/q")
    assert got.body["data"][0]["temperature"]["value"] == 30


HANOI = (105.8542, 21.0285)


@pytest.mark.parametrize(
    "geoq",
    [
        {"geometry": "Point", "coordinates": list(HANOI), "georel": "near;maxDistance==2000"},
        {
            "geometry": "Polygon",
            "coordinates": [
                [[105.8, 21.0], [105.9, 21.0], [105.9, 21.1], [105.8, 21.1], [105.8, 21.0]]
            ],
            "georel": "within",
        },
    ],
)
async def test_geoq_filters_by_location(
    broker: httpx.AsyncClient, receiver: Receiver, geoq: dict[str, Any]
) -> None:
    await subscribe(broker, subscription(receiver.url("/g"), geoQ=geoq))
    await create(broker, room("urn:ngsi-ld:Room:paris", location=point(2.35, 48.85)))
    await create(broker, room("urn:ngsi-ld:Room:hanoi", location=point(105.855, 21.029)))
    await receiver.wait_for("/g")
    await settled(broker)
    assert _ids(receiver, "/g") == ["urn:ngsi-ld:Room:hanoi"]


async def test_scopeq_filters_by_scope(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(broker, subscription(receiver.url("/s"), scopeQ="/Hanoi/#"))
    await create(broker, {**room("urn:ngsi-ld:Room:sg", temperature=1), "scope": "/Saigon"})
    await create(broker, {**room("urn:ngsi-ld:Room:bd", temperature=1), "scope": "/Hanoi/BaDinh"})
    await receiver.wait_for("/s")
    await settled(broker)
    assert _ids(receiver, "/s") == ["urn:ngsi-ld:Room:bd"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"type": "Room"}, ["urn:ngsi-ld:Room:A1", "urn:ngsi-ld:Room:B1"]),
        ({"type": "Building"}, ["urn:ngsi-ld:Building:A1"]),
        ({"type": "Room", "id": "urn:ngsi-ld:Room:B1"}, ["urn:ngsi-ld:Room:B1"]),
        ({"type": "Room", "idPattern": "^urn:ngsi-ld:Room:A"}, ["urn:ngsi-ld:Room:A1"]),
        (
            {"type": "Room|Building"},
            ["urn:ngsi-ld:Room:A1", "urn:ngsi-ld:Room:B1", "urn:ngsi-ld:Building:A1"],
        ),
    ],
)
async def test_entity_selectors(
    broker: httpx.AsyncClient,
    receiver: Receiver,
    selector: dict[str, str],
    expected: list[str],
) -> None:
    await subscribe(broker, subscription(receiver.url("/e"), entities=[selector]))
    for eid in ("urn:ngsi-ld:Room:A1", "urn:ngsi-ld:Room:B1"):
        await create(broker, room(eid, temperature=1))
    await create(broker, {"id": "urn:ngsi-ld:Building:A1", "type": "Building", **_prop(floors=3)})
    await receiver.wait_for("/e", len(expected))
    await settled(broker)
    # Order is kept per entity, not across entities.
    assert sorted(_ids(receiver, "/e")) == sorted(expected)


async def test_tenants_only_see_their_own_changes(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant = {"NGSILD-Tenant": "hanoi"}
    await subscribe(broker, subscription(receiver.url("/t")), headers=tenant)
    await create(broker, room("urn:ngsi-ld:Room:default", temperature=1))
    resp = await broker.post(
        ENTITIES,
        json=room("urn:ngsi-ld:Room:saigon", temperature=1),
        headers={"NGSILD-Tenant": "saigon"},
    )
    assert resp.status_code == 201
    resp = await broker.post(
        ENTITIES, json=room("urn:ngsi-ld:Room:hanoi", temperature=1), headers=tenant
    )
    assert resp.status_code == 201
    await receiver.wait_for("/t")
    await settled(broker)
    assert _ids(receiver, "/t") == ["urn:ngsi-ld:Room:hanoi"]


async def test_deleted_subscription_notifies_no_more(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    sub_id = await subscribe(broker, subscription(receiver.url("/gone")))
    await subscribe(broker, subscription(receiver.url("/all")))
    await create(broker, room(temperature=1))
    await receiver.wait_for("/gone")
    assert (await broker.delete(f"{SUBS}/{sub_id}")).status_code == 204
    await _patch(broker, {"temperature": 2})
    await receiver.wait_for("/all", 2)
    await settled(broker)
    assert len(receiver.on("/gone")) == 1


async def test_updated_subscription_takes_effect(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    sub_id = await subscribe(broker, subscription(receiver.url("/old"), q="temperature>100"))
    await create(broker, room(temperature=1))
    change = {"q": "temperature<100", "notification": {"endpoint": {"uri": receiver.url("/new")}}}
    assert (await broker.patch(f"{SUBS}/{sub_id}", json=change)).status_code == 204
    await _patch(broker, {"temperature": 2})
    [got] = await receiver.wait_for("/new")
    assert got.body["data"][0]["temperature"]["value"] == 2
    await settled(broker)
    assert receiver.on("/old") == []


async def test_batch_operations_notify_every_entity(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(broker, subscription(receiver.url("/b")))
    ids = [f"urn:ngsi-ld:Room:{n}" for n in range(3)]
    batch = [room(eid, temperature=n) for n, eid in enumerate(ids)]
    resp = await broker.post(f"{API}/entityOperations/create", json=batch)
    assert resp.status_code == 201, resp.text
    await wait_until(lambda: len(_ids(receiver, "/b")) >= 3)
    await settled(broker)
    assert sorted(_ids(receiver, "/b")) == ids
