"""Helpers of the notification tests: subscription payloads and polling the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.receiver import DEADLINE
from tests.support import API, ENTITIES

__all__ = [
    "FAST",
    "SUBS",
    "create",
    "read_subscription",
    "settled",
    "subscribe",
    "subscription",
    "wait_subscription",
]

SUBS = f"{API}/subscriptions"
# Small delivery settings so that retries and give-ups happen within a test.
FAST: dict[str, Any] = {
    "notify_backoff_base": 0.05,
    "notify_backoff_max": 0.2,
    "notify_poll_interval": 0.05,
    "notify_timeout": 1.0,
    "notify_max_attempts": 3,
    "notify_lease": 5.0,
}


def subscription(
    uri: str,
    *,
    entities: list[dict[str, Any]] | None = None,
    notification: dict[str, Any] | None = None,
    endpoint: dict[str, Any] | None = None,
    **members: Any,
) -> dict[str, Any]:
    """A Subscription to Room entities (unless ``entities`` says otherwise) notifying ``uri``."""
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": entities if entities is not None else [{"type": "Room"}],
        "notification": {"endpoint": {"uri": uri, **(endpoint or {})}, **(notification or {})},
    }
    body.update(members)
    return body


async def subscribe(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> str:
    """Create a subscription; returns its id."""
    resp = await client.post(SUBS, json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    location = resp.headers["location"]
    assert location.startswith(SUBS + "/"), location
    return location[len(SUBS) + 1 :]


async def create(client: httpx.AsyncClient, entity: dict[str, Any]) -> None:
    """Create an entity; asserts 201."""
    resp = await client.post(ENTITIES, json=entity)
    assert resp.status_code == 201, resp.text


async def read_subscription(
    client: httpx.AsyncClient, sub_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """GET a subscription; asserts 200."""
    resp = await client.get(f"{SUBS}/{sub_id}", headers=headers)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


async def wait_subscription(
    client: httpx.AsyncClient, sub_id: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll a subscription until ``check`` holds for it; returns it."""
    deadline = time.monotonic() + DEADLINE
    while True:
        doc = await read_subscription(client, sub_id)
        if check(doc):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"subscription never reached the expected state: {doc}")
        await asyncio.sleep(0.02)


async def settled(client: httpx.AsyncClient) -> None:
    """Wait until the outbox holds no pending notification."""
    deadline = time.monotonic() + DEADLINE
    while True:
        health = (await client.get("/health")).json()
        if health["notifications"]["pending"] == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the outbox never emptied: {health}")
        await asyncio.sleep(0.02)
