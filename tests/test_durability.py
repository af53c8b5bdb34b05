"""Durability: every create acknowledged with 201 survives a SIGKILL of the server
(WAL with synchronous=NORMAL; an acknowledged write is a committed one)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support import ENTITIES, ServeProcess, kill_amid, missing_entities, room

pytestmark = pytest.mark.smoke

CLIENTS = 20
KILL_AFTER = 150  # acknowledged creates before the kill


async def _writer(
    client: httpx.AsyncClient, worker: int, acked: list[str], failed: list[str]
) -> None:
    n = 0
    while True:
        eid = f"urn:ngsi-ld:Room:w{worker}-{n}"
        n += 1
        try:
            resp = await client.post(ENTITIES, json=room(eid, temperature=n, worker=worker))
        except httpx.TransportError:
            failed.append(eid)
            return
        if resp.status_code == 201:
            acked.append(eid)
        else:
            failed.append(eid)
            return


async def test_acknowledged_creates_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "durable.db"
    server = ServeProcess(db)
    server.start()
    acked: list[str] = []
    failed: list[str] = []
    limits = httpx.Limits(max_connections=CLIENTS)
    try:
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=10) as client:
            tasks = [asyncio.create_task(_writer(client, w, acked, failed)) for w in range(CLIENTS)]
            await kill_amid(server, tasks, acked, KILL_AFTER)
    finally:
        server.kill()
    assert len(acked) >= KILL_AFTER, server.log()
    # The kill landed in the middle of the burst: every writer saw its connection die.
    assert len(failed) == CLIENTS, failed
    restarted = ServeProcess(db)
    restarted.start()
    try:
        async with httpx.AsyncClient(base_url=restarted.url, timeout=10) as client:
            assert await missing_entities(client, acked) == []
            count = await client.get(ENTITIES, params={"type": "Room", "count": "true", "limit": 0})
            assert count.status_code == 200
            assert int(count.headers["ngsild-results-count"]) >= len(acked)
    finally:
        assert restarted.stop(), restarted.log()
