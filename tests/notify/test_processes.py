"""Three ``thudo serve`` processes on one PostgreSQL database behave as one broker: a
subscription made through one is used by the others at once (LISTEN/NOTIFY, not the
30 s poll), the outbox is sent once, a periodic subscription fires once per period and
throttling holds across processes."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import pgtest
from tests.notify.support import SUBS, subscription
from tests.receiver import Receiver, receiving
from tests.support import ENTITIES, ServeProcess

pytestmark = [pytest.mark.smoke, pytest.mark.postgres]

# A long poll interval: only LISTEN can make a process see a new subscription quickly.
SETTINGS = {"notify_poll_interval": "30", "notify_timeout": "2"}
MARKERS = [f"urn:ngsi-ld:Marker:{i}" for i in range(3)]
COUNTERS = [f"urn:ngsi-ld:Counter:{i}" for i in range(3)]
BURST = "urn:ngsi-ld:Burst:1"
TICK = "urn:ngsi-ld:Tick:1"
_serial = itertools.count()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    yield from pgtest.database()


@pytest.fixture(scope="module")
def processes(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServeProcess]]:
    logs = tmp_path_factory.mktemp("processes")
    procs = [
        ServeProcess(Path(logs / f"p{i}.db"), settings=SETTINGS, database_url=database_url)
        for i in range(3)
    ]
    try:
        for proc in procs:
            proc.start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server


@pytest.fixture
async def clients(processes: list[ServeProcess]) -> AsyncIterator[list[httpx.AsyncClient]]:
    out = [httpx.AsyncClient(base_url=p.url, timeout=10) for p in processes]
    if (await out[0].get(f"{ENTITIES}/{TICK}")).status_code == 404:
        for eid in [*MARKERS, *COUNTERS, BURST, TICK]:
            resp = await out[0].post(ENTITIES, json=_entity(eid, 0))
            assert resp.status_code == 201, resp.text
    yield out
    for client in out:
        await client.aclose()


def _entity(eid: str, value: int) -> dict[str, Any]:
    return {"id": eid, "type": eid.split(":")[2], "n": {"type": "Property", "value": value}}


async def _set(client: httpx.AsyncClient, eid: str, value: int) -> None:
    resp = await client.patch(
        f"{ENTITIES}/{eid}/attrs", json={"n": {"type": "Property", "value": value}}
    )
    assert resp.status_code == 204, resp.text


async def _subscribe(
    client: httpx.AsyncClient, receiver: Receiver, etype: str, **extra: Any
) -> str:
    path = f"/{etype.lower()}/{next(_serial)}"
    body = subscription(receiver.url(path), entities=[{"type": etype}], **extra)
    resp = await client.post(SUBS, json=body)
    assert resp.status_code == 201, resp.text
    return path


def _notified(receiver: Receiver, path: str) -> list[tuple[str, Any]]:
    """(entity id, value of n) for every entity in every notification on a path."""
    return [(e["id"], e["n"]["value"]) for r in receiver.on(path) for e in r.body["data"]]


async def _seen_through(
    client: httpx.AsyncClient, receiver: Receiver, path: str, eid: str, limit: float
) -> float:
    """Write ``eid`` through a process until a notification on ``path`` names it: how
    long it took that process to know the subscription."""
    start = time.monotonic()
    for value in itertools.count(1):
        await _set(client, eid, value)
        await asyncio.sleep(0.1)
        if any(i == eid for i, _ in _notified(receiver, path)):
            return time.monotonic() - start
        assert time.monotonic() - start < limit, f"{eid}: no notification in {limit} s"
    raise AssertionError("unreachable")


async def _known_everywhere(
    clients: list[httpx.AsyncClient], receiver: Receiver, limit: float = 10.0
) -> list[float]:
    """Create a marker subscription through the first process and time how long each
    process takes to use it; every subscription made before it is then known too."""
    path = await _subscribe(clients[0], receiver, "Marker")
    return [
        await _seen_through(c, receiver, path, eid, limit)
        for c, eid in zip(clients[1:] + clients[:1], MARKERS[1:] + MARKERS[:1], strict=True)
    ]


async def test_a_subscription_is_used_at_once_by_the_other_processes(
    clients: list[httpx.AsyncClient], receiver: Receiver
) -> None:
    delays = await _known_everywhere(clients, receiver, limit=2.0)
    assert max(delays) < 2.0, delays  # the poll interval is 30 s


async def test_the_outbox_is_sent_once(
    clients: list[httpx.AsyncClient], receiver: Receiver
) -> None:
    path = await _subscribe(clients[0], receiver, "Counter")
    await _known_everywhere(clients, receiver)
    writes = [
        _set(clients[i % 3], COUNTERS[i % 3], 100 + i)
        for i in range(30)  # each process writes its own entity, concurrently
    ]
    await asyncio.gather(*writes)
    await receiver.wait_for(path, 30, timeout=10)
    await asyncio.sleep(1.0)  # a double send would arrive meanwhile
    got = _notified(receiver, path)
    assert sorted(got) == sorted((COUNTERS[i % 3], 100 + i) for i in range(30))


async def test_a_periodic_subscription_fires_once_per_period(
    clients: list[httpx.AsyncClient], receiver: Receiver
) -> None:
    path = await _subscribe(clients[0], receiver, "Tick", timeInterval=2)
    await asyncio.sleep(7.5)
    fired = len(receiver.on(path))
    assert 3 <= fired <= 4, fired  # not once per process (9 or more)


async def test_throttling_holds_across_processes(
    clients: list[httpx.AsyncClient], receiver: Receiver
) -> None:
    path = await _subscribe(clients[0], receiver, "Burst", throttling=2)
    await _known_everywhere(clients, receiver)
    start = time.monotonic()
    for value in range(1, 41):
        await _set(clients[value % 3], BURST, value)
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - start
    await asyncio.sleep(1.0)
    sent = len(receiver.on(path))
    assert 2 <= sent <= math.ceil(elapsed / 2) + 1, (sent, elapsed)
