"""The ingestion writer on each store backend: when one device's entity cannot be written,
the other devices' measures of the same batch are still stored and acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from thudo.errors import ServiceUnavailable
from thudo.ingest.devices import Device, MappedAttribute
from thudo.ingest.ingestor import Ingestor
from thudo.ingest.measures import Measure
from thudo.store.base import Change, Store

BAD = "urn:ngsi-ld:WaterLevel:bad"
PM = MappedAttribute("l", "level", "number", "MTR")


class _Refusing:
    """The real store, except that a write touching BAD fails as a database error would
    (fault injection: everything else goes to the store under test)."""

    def __init__(self, store: Store, error: Exception) -> None:
        self._store = store
        self._error = error
        self.calls = 0

    async def change_many(self, tenant: str, changes: Sequence[tuple[str, Change]]) -> list[Any]:
        self.calls += 1
        if any(entity_id == BAD for entity_id, _ in changes):
            raise self._error
        return await self._store.change_many(tenant, changes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _device(name: str) -> Device:
    return Device(name, "", "k", f"urn:ngsi-ld:WaterLevel:{name}", "WaterLevel", (PM,))


async def _submit_together(ingestor: Ingestor, names: list[str]) -> list[Any]:
    at = "2026-05-01T08:00:00.000Z"
    jobs = [ingestor.submit(_device(n), [Measure(PM, 1.5, at)]) for n in names]
    return await asyncio.gather(*jobs, return_exceptions=True)


async def test_one_failing_entity_does_not_fail_the_batch(store: Store) -> None:
    refusing = _Refusing(store, RuntimeError("value out of range"))
    ingestor = Ingestor(refusing, batch_wait=0.2)  # type: ignore[arg-type]
    ingestor.start()
    try:
        results = await _submit_together(ingestor, ["a", "bad", "b"])
    finally:
        await ingestor.close()
    assert [isinstance(r, Exception) for r in results] == [False, True, False]
    assert refusing.calls == 4  # the batch, then each entity alone
    for name in ("a", "b"):
        entity = await store.get_entity("", f"urn:ngsi-ld:WaterLevel:{name}")
        assert entity is not None, name
    assert await store.get_entity("", BAD) is None


async def test_an_unavailable_store_fails_the_batch_without_retries(store: Store) -> None:
    refusing = _Refusing(store, ServiceUnavailable("the database does not answer"))
    ingestor = Ingestor(refusing, batch_wait=0.2)  # type: ignore[arg-type]
    ingestor.start()
    try:
        results = await _submit_together(ingestor, ["a", "bad"])
    finally:
        await ingestor.close()
    assert all(isinstance(r, ServiceUnavailable) for r in results), results
    assert refusing.calls == 1
    assert await store.get_entity("", "urn:ngsi-ld:WaterLevel:a") is None
