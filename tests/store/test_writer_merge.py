"""Entity changes queued together on SQLite run as one merged job (thudo/store/sqlite/writer.py):
each caller still gets its own result or error, a repeated entity sees the change before it,
and index, history and outbox rows land as if the changes had run one by one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.store.test_store import CTX, make, put
from thudo.config import load_settings
from thudo.errors import AlreadyExists, NgsiError
from thudo.ngsild.model import Entity
from thudo.ngsild.qlang import parse_q
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import TimeFilter
from thudo.store.base import Outbound, Outcome
from thudo.store.sqlite.store import SqliteStore


def station(n: int, aqi: int) -> Entity:
    return make(f"urn:s:{n}", "Station", aqi={"type": "Property", "value": aqi})


def add_to_aqi(step: int) -> Callable[[Entity | None], Outcome]:
    def change(current: Entity | None) -> Outcome:
        assert current is not None
        attr = current["attrs"][CTX.expand("aqi")][0]
        attr["value"] += step
        return current, attr["value"]

    return change


@pytest.fixture
async def held(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, list[int]]]:
    """A started SQLite store whose merged runs are counted (their sizes)."""
    settings = load_settings(environ={}, database_url=f"sqlite:///{tmp_path / 's.db'}")
    store = SqliteStore(settings)
    await store.start()
    sizes: list[int] = []
    merged = store._apply_merged

    def counting(conn: Any, tenant: str, changes: list[Any]) -> list[Any]:
        sizes.append(len(changes))
        return merged(conn, tenant, changes)

    store._apply_merged = counting  # type: ignore[method-assign]
    yield store, sizes
    await store.close()


async def in_one_group(store: SqliteStore, calls: list[Any]) -> list[Any]:
    """Run the store calls so that the writer takes them in one group: a job holding the
    writer goes first, and is let go once every call has queued its job."""
    gate = threading.Event()
    blocker = store._writer.submit(lambda conn: gate.wait(10))
    tasks = [asyncio.ensure_future(c) for c in calls]
    await asyncio.sleep(0.05)  # every task runs up to its submit
    gate.set()
    await blocker
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_merged_changes_keep_their_own_results_and_errors(
    held: tuple[SqliteStore, list[int]],
) -> None:
    store, sizes = held
    await store.change("", "urn:s:1", put(station(1, 10)))
    calls = [
        store.change("", "urn:s:2", put(station(2, 20))),
        store.change("", "urn:s:1", put(station(1, 99))),  # exists: AlreadyExists
        store.change("", "urn:s:1", add_to_aqi(5)),
        store.change("", "urn:s:3", put(station(3, 30))),
        store.change("", "urn:s:1", add_to_aqi(7)),  # sees the +5 before it
        store.change("", "urn:s:2", add_to_aqi(1)),  # sees the create before it
    ]
    results = await in_one_group(store, calls)
    assert sizes[-1] == len(calls)  # the run was merged
    assert results[0] == "created"
    assert isinstance(results[1], AlreadyExists) and isinstance(results[1], NgsiError)
    assert results[2:] == [15, "created", 22, 21]
    page = await store.query_entities("", EntitySelection(limit=100))
    values = {e["id"]: e["attrs"][CTX.expand("aqi")][0]["value"] for e in page.entities}
    assert values == {"urn:s:1": 22, "urn:s:2": 21, "urn:s:3": 30}
    # The index follows the last change of each entity, and only it.
    for q, found in (("aqi==22", ["urn:s:1"]), ("aqi==15", []), ("aqi==20", []), ("aqi>20", 3)):
        sel = EntitySelection(q=parse_q(q, CTX.expand), limit=100)
        got = sorted(e["id"] for e in (await store.query_entities("", sel)).entities)
        assert got == found if isinstance(found, list) else len(got) == found


async def test_merged_changes_keep_history_and_outbox_in_order(
    held: tuple[SqliteStore, list[int]],
) -> None:
    store, sizes = held

    def listener(tenant: str, before: Entity | None, after: Entity | None) -> list[Outbound]:
        assert after is not None
        value = after["attrs"][CTX.expand("aqi")][0]["value"]
        return [Outbound("urn:sub:1", f"{after['id']}#{value}", "entityUpdated", {"v": value})]

    store.set_change_listener(listener)
    await store.change("", "urn:s:1", put(station(1, 0)))
    steps = list(range(1, 9))
    results = await in_one_group(store, [store.change("", "urn:s:1", add_to_aqi(s)) for s in steps])
    assert sizes[-1] == len(steps)
    totals = [sum(steps[: i + 1]) for i in range(len(steps))]
    assert results == totals
    claimed = await store.claim_notifications(100, 30)
    assert [p.payload["v"] for p in claimed] == [0, *totals]
    sel = EntitySelection(ids=("urn:s:1",))
    [entity], _, _ = await store.temporal_query("", sel, TimeFilter(timeproperty="modifiedAt"), 100)
    assert sorted(i["value"] for i in entity.attrs[CTX.expand("aqi")]) == [0, *totals]
