"""SIGKILL in the middle of a write burst with subscriptions active: after a restart no
acknowledged write is missing from the history, and every notification due for those
writes reaches its endpoint (at least once)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notify.support import SUBS, settled, subscription
from tests.receiver import Receiver, receiving, wait_until
from tests.support import API, ENTITIES, ServeProcess, kill_amid, room

pytestmark = pytest.mark.smoke

WRITERS = 10
KILL_AFTER = 200  # acknowledged writes before the kill
PATHS = ("/a", "/b")  # one subscription each
SETTINGS = {
    "notify_backoff_base": "0.05",
    "notify_backoff_max": "0.3",
    "notify_poll_interval": "0.05",
    "notify_timeout": "2",
    "notify_max_attempts": "1000",
    "notify_lease": "1",
    "temporal_max_instances": "100000",
}


async def _writer(client: httpx.AsyncClient, worker: int, acked: set[tuple[str, int]]) -> None:
    """Create a Room, then update its temperature until the server goes away."""
    eid = f"urn:ngsi-ld:Room:burst-{worker}"
    try:
        resp = await client.post(ENTITIES, json=room(eid, temperature=0))
        if resp.status_code != 201:
            return
        acked.add((eid, 0))
        n = 1
        while True:
            resp = await client.patch(f"{ENTITIES}/{eid}/attrs", json={"temperature": n})
            if resp.status_code != 204:
                return
            acked.add((eid, n))
            n += 1
    except httpx.TransportError:
        return


def _notified(receiver: Receiver, path: str) -> set[tuple[str, int]]:
    return {
        (entity["id"], entity["temperature"]["value"])
        for request in receiver.on(path)
        for entity in request.body["data"]
    }


async def _wait_notified(receiver: Receiver, path: str, due: set[tuple[str, int]]) -> None:
    await wait_until(
        lambda: due <= _notified(receiver, path),
        timeout=30,
        describe=lambda: f"{path}: not notified of {sorted(due - _notified(receiver, path))}",
    )


async def _history(client: httpx.AsyncClient, eid: str) -> set[int]:
    resp = await client.get(f"{API}/temporal/entities/{eid}", params={"attrs": "temperature"})
    assert resp.status_code == 200, resp.text
    instances: Any = resp.json()["temperature"]
    instances = instances if isinstance(instances, list) else [instances]
    return {i["value"] for i in instances}


async def test_burst_with_subscriptions_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "burst.db"
    acked: set[tuple[str, int]] = set()
    with receiving() as receiver:
        first = ServeProcess(db, settings=SETTINGS)
        first.start()
        try:
            async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
                for path in PATHS:
                    resp = await client.post(SUBS, json=subscription(receiver.url(path)))
                    assert resp.status_code == 201, resp.text
                tasks = [asyncio.create_task(_writer(client, w, acked)) for w in range(WRITERS)]
                await kill_amid(first, tasks, acked, KILL_AFTER)
        finally:
            first.kill()
        assert len(acked) >= KILL_AFTER, first.log()

        second = ServeProcess(db, settings=SETTINGS)
        second.start()
        try:
            for path in PATHS:
                await _wait_notified(receiver, path, acked)
            async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
                await settled(client)
                health = (await client.get("/health")).json()
                for eid in {eid for eid, _ in acked}:
                    recorded = await _history(client, eid)
                    missing = {n for e, n in acked if e == eid} - recorded
                    assert missing == set(), (eid, sorted(missing))
        finally:
            assert second.stop(), second.log()
    assert health["notifications"]["failed"] == 0
