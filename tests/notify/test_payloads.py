"""What a notification carries (clause 5.2.14, 5.3.1): the format, the @context as the
endpoint's accept asks, notification.attributes, sysAttrs, showChanges, receiverInfo."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.notify.support import create, subscribe, subscription
from tests.receiver import Receiver
from tests.support import (
    CORE_URL,
    ENTITIES,
    ContextServer,
    context_document,
    link,
    point,
    room,
)

RID = "urn:ngsi-ld:Room:1"
BUILDING = "urn:ngsi-ld:Building:7"
VOCAB = "https://example.org/hanoi/"


def _sample() -> dict[str, Any]:
    return room(
        temperature=21,
        pressure={"type": "Property", "value": 1000, "unitCode": "HPA"},
        inBuilding={"type": "Relationship", "object": BUILDING},
    )


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "normalized",
            {
                "temperature": {"type": "Property", "value": 21},
                "pressure": {"type": "Property", "value": 1000, "unitCode": "HPA"},
                "inBuilding": {"type": "Relationship", "object": BUILDING},
            },
        ),
        ("keyValues", {"temperature": 21, "pressure": 1000, "inBuilding": BUILDING}),
        (
            "concise",
            {
                "temperature": 21,
                "pressure": {"value": 1000, "unitCode": "HPA"},
                "inBuilding": {"object": BUILDING},
            },
        ),
    ],
)
async def test_formats(
    broker: httpx.AsyncClient, receiver: Receiver, fmt: str, expected: dict[str, Any]
) -> None:
    await subscribe(broker, subscription(receiver.url("/f"), notification={"format": fmt}))
    await create(broker, _sample())
    [got] = await receiver.wait_for("/f")
    assert got.body["data"] == [{"id": RID, "type": "Room", **expected}]


def _hosted_context(context_server: ContextServer) -> str:
    terms = {"Room": VOCAB + "Room", "temperature": VOCAB + "temperature"}
    context_server.documents["/hanoi.jsonld"] = context_document(terms)
    return context_server.url("/hanoi.jsonld")


async def test_accept_json_names_the_context_in_a_link_header(
    broker: httpx.AsyncClient, receiver: Receiver, context_server: ContextServer
) -> None:
    url = _hosted_context(context_server)
    headers = {"Link": link(url)}
    body = subscription(receiver.url("/j"), endpoint={"accept": "application/json"})
    resp = await broker.post("/ngsi-ld/v1/subscriptions", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    resp = await broker.post(ENTITIES, json=room(temperature=21), headers=headers)
    assert resp.status_code == 201, resp.text
    [got] = await receiver.wait_for("/j")
    assert got.headers["content-type"].split(";")[0] == "application/json"
    assert got.headers["link"].startswith(f"<{url}>")
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in got.headers["link"]
    [entity] = got.body["data"]
    assert "@context" not in entity
    # Terms of the subscription's @context: the short names.
    assert entity["type"] == "Room"
    assert entity["temperature"]["value"] == 21


async def test_accept_ld_json_puts_the_context_in_the_data(
    broker: httpx.AsyncClient, receiver: Receiver, context_server: ContextServer
) -> None:
    url = _hosted_context(context_server)
    body = subscription(receiver.url("/ld"), endpoint={"accept": "application/ld+json"})
    body["@context"] = url
    resp = await broker.post(
        "/ngsi-ld/v1/subscriptions",
        content=orjson.dumps(body),
        headers={"Content-Type": "application/ld+json"},
    )
    assert resp.status_code == 201, resp.text
    resp = await broker.post(ENTITIES, json=room(temperature=21), headers={"Link": link(url)})
    assert resp.status_code == 201, resp.text
    [got] = await receiver.wait_for("/ld")
    assert got.headers["content-type"].split(";")[0] == "application/ld+json"
    [entity] = got.body["data"]
    context = entity["@context"]
    assert url in (context if isinstance(context, list) else [context])
    assert entity["temperature"]["value"] == 21


async def test_accept_ld_json_with_the_core_context(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    body = subscription(receiver.url("/ld"), endpoint={"accept": "application/ld+json"})
    await subscribe(broker, body)
    await create(broker, room(temperature=21))
    [got] = await receiver.wait_for("/ld")
    [entity] = got.body["data"]
    context = entity["@context"]
    assert CORE_URL in (context if isinstance(context, list) else [context])


async def test_names_are_compacted_with_the_subscriptions_own_context(
    broker: httpx.AsyncClient, receiver: Receiver, context_server: ContextServer
) -> None:
    url = _hosted_context(context_server)
    # Subscribed without the @context of the data: the full IRIs come back.
    await subscribe(
        broker, subscription(receiver.url("/plain"), entities=[{"type": VOCAB + "Room"}])
    )
    resp = await broker.post(ENTITIES, json=room(temperature=21), headers={"Link": link(url)})
    assert resp.status_code == 201, resp.text
    [got] = await receiver.wait_for("/plain")
    [entity] = got.body["data"]
    assert entity["type"] == VOCAB + "Room"
    assert entity[VOCAB + "temperature"]["value"] == 21


async def test_notification_attributes_restrict_the_data(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    body = subscription(receiver.url("/a"), notification={"attributes": ["humidity"]})
    await subscribe(broker, body)
    await create(broker, room(temperature=21, humidity=60))
    [got] = await receiver.wait_for("/a")
    assert got.body["data"] == [
        {"id": RID, "type": "Room", "humidity": {"type": "Property", "value": 60}}
    ]


@pytest.mark.parametrize("sys_attrs", [True, False])
async def test_sys_attrs(broker: httpx.AsyncClient, receiver: Receiver, sys_attrs: bool) -> None:
    body = subscription(receiver.url("/s"), notification={"sysAttrs": sys_attrs})
    await subscribe(broker, body)
    await create(broker, room(temperature=21))
    [got] = await receiver.wait_for("/s")
    [entity] = got.body["data"]
    for item in (entity, entity["temperature"]):
        assert ("createdAt" in item) is sys_attrs, item
        assert ("modifiedAt" in item) is sys_attrs, item


async def test_show_changes_adds_the_previous_value(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create(broker, room(temperature=21, humidity=60))
    body = subscription(receiver.url("/sc"), notification={"showChanges": True})
    await subscribe(broker, body)
    resp = await broker.patch(f"{ENTITIES}/{RID}/attrs", json={"temperature": 25})
    assert resp.status_code == 204
    [got] = await receiver.wait_for("/sc")
    [entity] = got.body["data"]
    assert entity["temperature"]["value"] == 25
    assert entity["temperature"]["previousValue"] == 21


async def test_without_show_changes_there_is_no_previous_value(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create(broker, room(temperature=21))
    await subscribe(broker, subscription(receiver.url("/n")))
    await broker.patch(f"{ENTITIES}/{RID}/attrs", json={"temperature": 25})
    [got] = await receiver.wait_for("/n")
    assert "previousValue" not in got.body["data"][0]["temperature"]


async def test_receiver_info_becomes_headers(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    info = [{"key": "X-Auth-Token", "value": "s3cret"}, {"key": "Fiware-Service", "value": "hn"}]
    body = subscription(receiver.url("/r"), endpoint={"receiverInfo": info})
    await subscribe(broker, body)
    await create(broker, room(temperature=21))
    [got] = await receiver.wait_for("/r")
    assert got.headers["x-auth-token"] == "s3cret"
    assert got.headers["fiware-service"] == "hn"


async def test_tenant_is_sent_in_the_ngsild_tenant_header(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant = {"NGSILD-Tenant": "hanoi"}
    await subscribe(broker, subscription(receiver.url("/t")), headers=tenant)
    resp = await broker.post(ENTITIES, json=room(temperature=21), headers=tenant)
    assert resp.status_code == 201
    [got] = await receiver.wait_for("/t")
    assert got.headers["ngsild-tenant"] == "hanoi"


async def test_show_changes_on_a_deleted_attribute(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create(broker, room(temperature=21, humidity=60))
    body = subscription(
        receiver.url("/del"),
        notificationTrigger=["attributeDeleted"],
        notification={"showChanges": True},
    )
    await subscribe(broker, body)
    assert (await broker.delete(f"{ENTITIES}/{RID}/attrs/temperature")).status_code == 204
    [got] = await receiver.wait_for("/del")
    [entity] = got.body["data"]
    assert entity["temperature"]["value"] == "urn:ngsi-ld:null"
    assert entity["temperature"]["previousValue"] == 21


async def test_accept_geo_json_sends_a_feature_collection(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    body = subscription(receiver.url("/geo"), endpoint={"accept": "application/geo+json"})
    await subscribe(broker, body)
    await create(broker, room(temperature=21, location=point(105.85, 21.03)))
    [got] = await receiver.wait_for("/geo")
    assert got.headers["content-type"].split(";")[0] == "application/geo+json"
    data = got.body["data"]
    assert data["type"] == "FeatureCollection"
    [feature] = data["features"]
    assert feature["type"] == "Feature"
    assert feature["id"] == RID
    assert feature["geometry"] == {"type": "Point", "coordinates": [105.85, 21.03]}
    assert feature["properties"]["temperature"]["value"] == 21


async def test_lang_picks_one_language(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(broker, subscription(receiver.url("/lang"), lang="vi"))
    name = {"type": "LanguageProperty", "languageMap": {"en": "Lake", "vi": "Hồ"}}
    await create(broker, room(name=name))
    [got] = await receiver.wait_for("/lang")
    rendered = got.body["data"][0]["name"]
    assert rendered["value"] == "Hồ"
    assert rendered["lang"] == "vi"
