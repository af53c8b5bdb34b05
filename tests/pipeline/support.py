"""Helpers for the pipeline tests: timed writes through the NGSI-LD API, and waiting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

NGSI = "/ngsi-ld/v1"


def at(hours_ago: float, base: datetime | None = None) -> str:
    """A time ``hours_ago`` before ``base`` (default: the top of the current hour)."""
    start = base or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return (start - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def prop(value: Any, observed: str, unit: str | None = None) -> dict[str, Any]:
    """A Property with observedAt."""
    out: dict[str, Any] = {"type": "Property", "value": value, "observedAt": observed}
    if unit:
        out["unitCode"] = unit
    return out


async def upsert(client: httpx.AsyncClient, *entities: dict[str, Any]) -> None:
    """Batch upsert (update mode), as any NGSI-LD client would write."""
    r = await client.post(
        f"{NGSI}/entityOperations/upsert", params={"options": "update"}, json=list(entities)
    )
    assert r.status_code in (201, 204), r.text


async def wait_for(
    client: httpx.AsyncClient, entity_id: str, check: Any, timeout_s: float = 15.0
) -> dict[str, Any]:
    """Poll the entity until ``check(entity)`` holds; returns the last entity seen."""
    entity: dict[str, Any] = {}
    for _ in range(int(timeout_s / 0.05)):
        r = await client.get(f"{NGSI}/entities/{entity_id}")
        if r.status_code == 200:
            entity = r.json()
            if check(entity):
                return entity
        await asyncio.sleep(0.05)
    return entity


async def wait_alerts(
    client: httpx.AsyncClient, count: int, status: str | None = None, timeout_s: float = 15.0
) -> list[dict[str, Any]]:
    """Poll /alerts until it lists ``count`` alerts (of ``status``); returns the last list."""
    alerts: list[dict[str, Any]] = []
    params = {"status": status} if status else {}
    for _ in range(int(timeout_s / 0.05)):
        r = await client.get("/alerts", params=params)
        assert r.status_code == 200, r.text
        alerts = r.json()
        if len(alerts) == count:
            return alerts
        await asyncio.sleep(0.05)
    return alerts
