"""The outbox is durable: notifications that could not be delivered before a SIGKILL of
``thudo serve`` are delivered by the restarted server, in order, once the receiver is up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.notify.support import SUBS, settled, subscription
from tests.receiver import receiving
from tests.support import ENTITIES, ServeProcess, free_port, room

pytestmark = pytest.mark.smoke

SETTINGS = {
    "notify_backoff_base": "0.05",
    "notify_backoff_max": "0.3",
    "notify_poll_interval": "0.05",
    "notify_timeout": "1",
    "notify_max_attempts": "1000",
    "notify_lease": "1",
}


async def _write(client: httpx.AsyncClient, receiver_url: str) -> str:
    resp = await client.post(SUBS, json=subscription(receiver_url))
    assert resp.status_code == 201, resp.text
    sub_id = resp.headers["location"].rsplit("/", 1)[1]
    for eid in ("urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"):
        resp = await client.post(ENTITIES, json=room(eid, temperature=0))
        assert resp.status_code == 201, resp.text
    for value in range(1, 6):
        resp = await client.patch(
            f"{ENTITIES}/urn:ngsi-ld:Room:1/attrs", json={"temperature": value}
        )
        assert resp.status_code == 204, resp.text
    return sub_id


async def _wait_failed_attempt(client: httpx.AsyncClient, sub_id: str) -> None:
    """Wait until the server has tried (and failed) to reach the receiver."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        doc = (await client.get(f"{SUBS}/{sub_id}")).json()
        if doc["notification"].get("timesFailed", 0) >= 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no delivery attempt was made: {doc}")


async def test_pending_notifications_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}/r"
    first = ServeProcess(db, settings=SETTINGS)
    first.start()
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
            sub_id = await _write(client, url)
            await _wait_failed_attempt(client, sub_id)
    finally:
        first.kill()
    with receiving(port) as receiver:
        second = ServeProcess(db, settings=SETTINGS)
        second.start()
        try:
            got = await receiver.wait_for("/r", 7, timeout=10)
            async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
                await settled(client)
                health = (await client.get("/health")).json()
        finally:
            assert second.stop(), second.log()
    assert health["notifications"] == {"pending": 0, "failed": 0}
    assert len(receiver.on("/r")) == 7
    assert all(r.body["subscriptionId"] == sub_id for r in got)
    values = {
        eid: [e["temperature"]["value"] for r in got for e in r.body["data"] if e["id"] == eid]
        for eid in ("urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2")
    }
    assert values == {"urn:ngsi-ld:Room:1": [0, 1, 2, 3, 4, 5], "urn:ngsi-ld:Room:2": [0]}
