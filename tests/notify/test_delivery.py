"""Delivery (clause 5.2.12, 5.2.14): throttling, periodic subscriptions, paused ones, order,
the delivery status of a subscription, retries of failing endpoints and timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import ClientFactory
from tests.notify.support import (
    FAST,
    SUBS,
    create,
    read_subscription,
    settled,
    subscribe,
    subscription,
    wait_subscription,
)
from tests.receiver import Receiver, wait_until
from tests.support import ENTITIES, free_port, room

RID = "urn:ngsi-ld:Room:1"


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _set_temperature(client: httpx.AsyncClient, value: int) -> None:
    resp = await client.patch(f"{ENTITIES}/{RID}/attrs", json={"temperature": value})
    assert resp.status_code == 204, resp.text


async def test_throttling_drops_notifications_within_the_period(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(broker, subscription(receiver.url("/throttled"), throttling=60))
    await subscribe(broker, subscription(receiver.url("/all")))
    await create(broker, room(temperature=0))
    for value in (1, 2, 3):
        await _set_temperature(broker, value)
    await receiver.wait_for("/all", 4)
    await settled(broker)
    [only] = receiver.on("/throttled")
    assert only.body["data"][0]["temperature"]["value"] == 0


async def test_periodic_subscription_notifies_every_interval(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create(broker, room(temperature=21))
    paused = subscription(receiver.url("/paused"), timeInterval=1, isActive=False)
    await subscribe(broker, paused)
    sub_id = await subscribe(broker, subscription(receiver.url("/p"), timeInterval=1))
    created = await broker.get(f"{SUBS}/{sub_id}", params={"options": "sysAttrs"})
    created_at = _stamp(created.json()["createdAt"])
    first, second = (await receiver.wait_for("/p", 2))[:2]
    for got in (first, second):
        assert got.body["subscriptionId"] == sub_id
        assert got.body["data"] == [
            {"id": RID, "type": "Room", "temperature": {"type": "Property", "value": 21}}
        ]
    # The first notification comes one interval after the creation, not at once.
    assert (_stamp(first.body["notifiedAt"]) - created_at).total_seconds() >= 0.95
    assert _stamp(second.body["notifiedAt"]) > _stamp(first.body["notifiedAt"])
    assert receiver.on("/paused") == []


async def test_periodic_subscription_is_not_notified_of_changes(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create(broker, room(temperature=21))
    await subscribe(broker, subscription(receiver.url("/p"), timeInterval=60))
    await subscribe(broker, subscription(receiver.url("/all")))
    await _set_temperature(broker, 22)
    await receiver.wait_for("/all")
    await settled(broker)
    assert receiver.on("/p") == []


async def test_inactive_subscription_sends_nothing_until_activated(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    sub_id = await subscribe(broker, subscription(receiver.url("/off"), isActive=False))
    await subscribe(broker, subscription(receiver.url("/all")))
    await create(broker, room(temperature=0))
    await _set_temperature(broker, 1)
    await receiver.wait_for("/all", 2)
    await settled(broker)
    assert receiver.on("/off") == []
    assert (await read_subscription(broker, sub_id))["status"] == "paused"
    resp = await broker.patch(f"{SUBS}/{sub_id}", json={"isActive": True})
    assert resp.status_code == 204
    await _set_temperature(broker, 2)
    [got] = await receiver.wait_for("/off")
    assert got.body["data"][0]["temperature"]["value"] == 2


async def test_quick_updates_arrive_in_order(broker: httpx.AsyncClient, receiver: Receiver) -> None:
    sub_id = await subscribe(broker, subscription(receiver.url("/o")))
    await create(broker, room(temperature=0))
    for value in range(1, 21):
        await _set_temperature(broker, value)
    got = await receiver.wait_for("/o", 21)
    assert [r.body["data"][0]["temperature"]["value"] for r in got] == list(range(21))
    doc = await wait_subscription(
        broker, sub_id, lambda d: d["notification"].get("timesSent") == 21
    )
    assert doc["notification"]["status"] == "ok"


async def test_delivery_status_after_a_success(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    sub_id = await subscribe(broker, subscription(receiver.url("/ok")))
    before = await read_subscription(broker, sub_id)
    assert before["status"] == "active"
    assert "lastSuccess" not in before["notification"]
    await create(broker, room(temperature=21))
    await receiver.wait_for("/ok")
    doc = await wait_subscription(broker, sub_id, lambda d: "lastSuccess" in d["notification"])
    notification = doc["notification"]
    assert notification["timesSent"] == 1
    assert notification["status"] == "ok"
    assert "lastFailure" not in notification
    assert notification.get("timesFailed", 0) == 0
    assert _stamp(notification["lastSuccess"]) == _stamp(notification["lastNotification"])


async def test_endpoint_that_recovers_gets_the_notification(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    broker = await make_client(**{**FAST, "notify_max_attempts": 6})
    receiver.statuses["/flaky"] = [500, 503, 500]
    sub_id = await subscribe(broker, subscription(receiver.url("/flaky")))
    await create(broker, room(temperature=21))
    got = await receiver.wait_for("/flaky", 4)
    # The same notification, sent again until it was accepted.
    assert [r.status for r in got] == [500, 503, 500, 200]
    assert all(r.body["data"] == got[0].body["data"] for r in got)
    assert got[0].body["data"][0]["temperature"]["value"] == 21
    doc = await wait_subscription(broker, sub_id, lambda d: "lastSuccess" in d["notification"])
    notification = doc["notification"]
    assert notification["timesFailed"] == 3
    assert notification["status"] == "ok"
    assert "lastFailure" in notification
    assert _stamp(notification["lastSuccess"]) > _stamp(notification["lastFailure"])
    await settled(broker)
    assert len(receiver.on("/flaky")) == 4
    health = (await broker.get("/health")).json()
    assert health["notifications"] == {"pending": 0, "failed": 0}


async def test_unreachable_endpoint_fails_after_the_last_attempt(
    broker: httpx.AsyncClient,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/gone"
    sub_id = await subscribe(broker, subscription(closed))
    await create(broker, room(temperature=21))
    attempts = FAST["notify_max_attempts"]
    doc = await wait_subscription(
        broker, sub_id, lambda d: d["notification"].get("timesFailed") == attempts
    )
    await settled(broker)
    notification = doc["notification"]
    assert notification["status"] == "failed"
    assert "lastFailure" in notification
    assert "lastSuccess" not in notification
    health = (await broker.get("/health")).json()
    assert health["notifications"] == {"pending": 0, "failed": 1}
    # Given up: no further attempt is counted.
    assert (await read_subscription(broker, sub_id))["notification"]["timesFailed"] == attempts


async def test_endpoint_answering_4xx_counts_as_a_failure(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.statuses["/bad"] = [400] * 10
    sub_id = await subscribe(broker, subscription(receiver.url("/bad")))
    await create(broker, room(temperature=21))
    doc = await wait_subscription(
        broker, sub_id, lambda d: d["notification"].get("status") == "failed"
    )
    assert doc["notification"]["timesFailed"] >= 1
    assert "lastSuccess" not in doc["notification"]


async def test_hanging_endpoint_times_out_and_others_are_served(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    broker = await make_client(**{**FAST, "notify_timeout": 0.3, "notify_max_attempts": 2})
    receiver.stalls["/hang"] = 30.0
    hung = await subscribe(broker, subscription(receiver.url("/hang")))
    fine = await subscribe(broker, subscription(receiver.url("/fine")))
    await create(broker, room(temperature=0))
    for value in (1, 2):
        await _set_temperature(broker, value)
    got = await receiver.wait_for("/fine", 3)
    assert [r.body["data"][0]["temperature"]["value"] for r in got] == [0, 1, 2]
    doc = await wait_subscription(
        broker, hung, lambda d: d["notification"].get("status") == "failed"
    )
    assert doc["notification"]["timesFailed"] >= 1
    assert "lastSuccess" not in doc["notification"]
    ok = await wait_subscription(broker, fine, lambda d: d["notification"].get("timesSent") == 3)
    assert ok["notification"]["status"] == "ok"
    assert "timesFailed" not in ok["notification"]


async def test_expired_subscription_sends_nothing(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sub_id = await subscribe(broker, subscription(receiver.url("/exp"), expiresAt=soon))
    await subscribe(broker, subscription(receiver.url("/all")))
    await wait_subscription(broker, sub_id, lambda d: d["status"] == "expired")
    await create(broker, room(temperature=1))
    await receiver.wait_for("/all")
    await settled(broker)
    assert receiver.on("/exp") == []


async def test_hanging_endpoint_does_not_hold_up_other_subscriptions(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    # The hang outlasts the wait below: the other subscription must be served meanwhile.
    broker = await make_client(**{**FAST, "notify_timeout": 30.0})
    receiver.stalls["/hang"] = 60.0
    await subscribe(broker, subscription(receiver.url("/hang")))
    await subscribe(broker, subscription(receiver.url("/fine")))
    await create(broker, room(temperature=0))
    await receiver.wait_for("/hang")
    for value in (1, 2):
        await _set_temperature(broker, value)
    got = await receiver.wait_for("/fine", 3)
    assert [r.body["data"][0]["temperature"]["value"] for r in got] == [0, 1, 2]


async def test_retries_keep_the_order_of_an_entitys_notifications(
    make_client: ClientFactory, receiver: Receiver
) -> None:
    broker = await make_client(**{**FAST, "notify_max_attempts": 8})
    receiver.statuses["/flaky"] = [500, 500, 500, 500]
    await subscribe(broker, subscription(receiver.url("/flaky")))
    await create(broker, room(temperature=0))
    for value in (1, 2, 3):
        await _set_temperature(broker, value)
    await wait_until(lambda: sum(r.status == 200 for r in receiver.on("/flaky")) >= 4)
    delivered = [r for r in receiver.on("/flaky") if r.status == 200]
    assert [r.body["data"][0]["temperature"]["value"] for r in delivered] == [0, 1, 2, 3]


async def test_status_follows_the_last_delivery(
    broker: httpx.AsyncClient, receiver: Receiver
) -> None:
    sub_id = await subscribe(broker, subscription(receiver.url("/s")))
    await create(broker, room(temperature=0))
    await wait_subscription(broker, sub_id, lambda d: d["notification"].get("status") == "ok")
    receiver.statuses["/s"] = [500] * FAST["notify_max_attempts"]
    await _set_temperature(broker, 1)
    doc = await wait_subscription(
        broker, sub_id, lambda d: d["notification"].get("status") == "failed"
    )
    assert doc["notification"]["timesSent"] == 1
    await _set_temperature(broker, 2)
    doc = await wait_subscription(broker, sub_id, lambda d: d["notification"]["timesSent"] == 2)
    assert doc["notification"]["status"] == "ok"
    assert doc["notification"]["timesFailed"] == FAST["notify_max_attempts"]
    assert _stamp(doc["notification"]["lastSuccess"]) > _stamp(doc["notification"]["lastFailure"])


async def test_unreachable_mqtt_broker_counts_as_failures(broker: httpx.AsyncClient) -> None:
    closed = f"mqtt://127.0.0.1:{free_port()}/thudo/nowhere"
    sub_id = await subscribe(broker, subscription(closed))
    await create(broker, room(temperature=21))
    attempts = FAST["notify_max_attempts"]
    doc = await wait_subscription(
        broker, sub_id, lambda d: d["notification"].get("timesFailed") == attempts
    )
    assert doc["notification"]["status"] == "failed"
    assert "lastSuccess" not in doc["notification"]
