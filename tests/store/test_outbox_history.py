"""Subscriptions, the outbox and history through the store contract, on every backend."""

from __future__ import annotations

import asyncio
import time

from tests.store.test_store import VOCAB, create, make
from thudo.ngsild.model import Entity
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import Aggregation, TimeFilter
from thudo.store.base import DeliveryOutcome, Outbound, Outcome, Store, SubscriptionRecord

SUB = {"id": "urn:ngsi-ld:Subscription:1", "type": "Subscription"}


async def test_subscriptions_are_stored_versioned_and_deleted(store: Store) -> None:
    v0 = await store.subscriptions_version()
    await store.save_subscription(SubscriptionRecord("t", dict(SUB), {"@context": []}), True)
    assert await store.subscriptions_version() > v0
    got = await store.get_subscription("t", SUB["id"])
    assert got is not None and got.doc == SUB and got.tenant == "t"
    subs, total = await store.list_subscriptions("t", 10, 0)
    assert total == 1 and [s.doc["id"] for s in subs] == [SUB["id"]]
    assert await store.delete_subscription("t", SUB["id"]) is True
    assert await store.get_subscription("t", SUB["id"]) is None


async def test_outbox_claims_each_row_once_and_settles(store: Store) -> None:
    await store.save_subscription(SubscriptionRecord("", dict(SUB), {}), True)
    items = [Outbound(SUB["id"], f"urn:e:{i}", "entityCreated", {"n": i}) for i in range(4)]
    await store.enqueue("", items)
    assert await store.outbox_counts() == {"pending": 4, "failed": 0}
    first, second = await asyncio.gather(
        store.claim_notifications(3, 30.0), store.claim_notifications(3, 30.0)
    )
    claimed = first + second
    assert sorted(p.entity_id for p in claimed) == [f"urn:e:{i}" for i in range(4)]
    assert await store.claim_notifications(10, 30.0) == []  # all leased
    now = "2024-01-01T00:00:00.000Z"
    await store.settle_notifications(
        [DeliveryOutcome(claimed[0].nid, True, now)]
        + [DeliveryOutcome(p.nid, False, now, None, "gone") for p in claimed[1:]]
    )
    assert await store.outbox_counts() == {"pending": 0, "failed": 3}
    stats = (await store.get_subscription("", SUB["id"])).stats  # type: ignore[union-attr]
    assert (stats.times_sent, stats.times_failed) == (1, 3)


async def test_deliveries_settled_together_count_per_subscription(store: Store) -> None:
    other = {**SUB, "id": "urn:ngsi-ld:Subscription:2"}
    for doc in (SUB, other):
        await store.save_subscription(SubscriptionRecord("", dict(doc), {}), True)
    items = [Outbound(SUB["id"], f"urn:e:{i}", "entityUpdated", {"n": i}) for i in range(3)]
    items.append(Outbound(other["id"], "urn:e:9", "entityUpdated", {"n": 9}))
    await store.enqueue("", items)
    claimed = await store.claim_notifications(10, 30.0)
    assert len(claimed) == 4
    stamps = [f"2024-01-01T00:00:0{i}.000Z" for i in (3, 1, 2, 5)]
    outcomes = [DeliveryOutcome(p.nid, True, at) for p, at in zip(claimed, stamps, strict=True)]
    # The same outcome twice (a retried settle) counts once.
    await store.settle_notifications(outcomes + outcomes[:1])
    assert await store.outbox_counts() == {"pending": 0, "failed": 0}
    first = (await store.get_subscription("", SUB["id"])).stats  # type: ignore[union-attr]
    second = (await store.get_subscription("", other["id"])).stats  # type: ignore[union-attr]
    assert (first.times_sent, first.times_failed) == (3, 0)
    assert first.last_success == first.last_notification == "2024-01-01T00:00:03.000Z"
    assert (second.times_sent, second.last_success) == (1, "2024-01-01T00:00:05.000Z")


async def test_a_period_is_claimed_once(store: Store) -> None:
    await store.save_subscription(SubscriptionRecord("", {**SUB, "timeInterval": 0}, {}), True)
    now = time.time()
    claims = await asyncio.gather(*(store.claim_periodic("", SUB["id"], now, 60) for _ in range(5)))
    assert sorted(claims) == [False] * 4 + [True]


async def test_listener_rows_reach_the_outbox_after_commit(store: Store) -> None:
    committed: list[int] = []
    store.set_change_listener(
        lambda tenant, before, after: [Outbound("s", "urn:a:1", "entityCreated", {})],
        on_commit=lambda: committed.append(1),
    )
    await create(store, make("urn:a:1"))
    assert committed == [1]
    assert (await store.outbox_counts())["pending"] == 1


def _set(value: float, at: str) -> object:
    def change(current: Entity | None) -> Outcome:
        entity = make("urn:a:1", t={"type": "Property", "value": value, "observedAt": at})
        return entity, None

    return change


async def test_history_records_changes_and_aggregates(store: Store) -> None:
    for value, at in [
        (1.0, "2024-05-01T00:10:00Z"),
        (3.0, "2024-05-01T00:40:00Z"),
        (8.0, "2024-05-01T01:05:00Z"),
    ]:
        await store.change("", "urn:a:1", _set(value, at))  # type: ignore[arg-type]
    sel = EntitySelection(ids=("urn:a:1",))
    entities, _, _ = await store.temporal_query("", sel, TimeFilter(), 100)
    assert [i["value"] for i in entities[0].attrs[VOCAB + "t"]] == [1.0, 3.0, 8.0]
    span = TimeFilter("between", "2024-05-01T00:00:00.000000Z", "2024-05-01T02:00:00.000000Z")
    aggr = Aggregation(("sum", "max"), 3600.0)
    [one], _, _ = await store.temporal_query("", sel, span, 100, aggr)
    [group] = one.aggregates[VOCAB + "t"]
    assert [v[0] for v in group["sum"]] == [4.0, 8.0]
    assert [v[0] for v in group["max"]] == [3.0, 8.0]
    means = await store.hourly_means("", "urn:a:1", [VOCAB + "t"], "2024-05-01T00:00:00Z")
    assert list(means[VOCAB + "t"].values()) == [2.0, 8.0]
    assert await store.purge_history("2024-05-01T01:00:00.000000Z", 100) == 2
    assert await store.recent_values("", "urn:a:1", VOCAB + "t", "2024-01-01") == [
        ("2024-05-01T01:05:00.000000Z", 8.0)
    ]


async def test_text_with_nul_is_stored_and_found(store: Store) -> None:
    await create(store, make("urn:a:1", name="a\x00b"))
    got = await store.get_entity("", "urn:a:1")
    assert got is not None and got["attrs"][VOCAB + "name"][0]["value"] == "a\x00b"
