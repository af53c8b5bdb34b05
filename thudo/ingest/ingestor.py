"""Measures to NGSI-LD: batched writes with ``observedAt``, duplicates ignored, nothing lost.

Measures from every device are gathered for a few milliseconds and written in one store
transaction per tenant, as updates of the devices' entities, so they land in the entity, its
history, the rollups and the notification outbox together. A caller learns that its measures
are stored only after the commit: HTTP answers then and MQTT acknowledges then.

- The same device, attribute and time again is a duplicate, and ignored.
- Older than the attribute's current time: the measure goes to history only (the current
  value stays the newest).
- Several measures of one attribute in a batch are applied one after the other, in the same
  transaction, so each one is in the history.
- A flagged reading (out of range, flat line) goes to the attribute's ``suspect`` dataset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from thudo.analytics.quality import Flag
from thudo.errors import ServiceUnavailable
from thudo.ingest.devices import Device
from thudo.ingest.measures import Measure
from thudo.ingest.screening import Screener
from thudo.ngsild.jsonld import ActiveContext, core_context
from thudo.ngsild.model import Entity, Instance, find_instance
from thudo.ngsild.validate import normalize_datetime, now_iso
from thudo.store.base import UNCHANGED, Change, Outcome, Store

__all__ = ["SUSPECT_DATASET", "Ingestor", "Stats"]

log = logging.getLogger(__name__)

#: The datasetId of readings that failed screening.
SUSPECT_DATASET = "urn:ngsi-ld:Dataset:suspect"
_QUALITY = "qualityFlag"


@dataclass(slots=True)
class Stats:
    """Counters of the ingestion, for /iot/about and /health."""

    messages: int = 0
    measures: int = 0
    stored: int = 0
    duplicates: int = 0
    late: int = 0
    flagged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    started: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """The counters as JSON."""
        return {
            "messages": self.messages,
            "measures": self.measures,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "late": self.late,
            "flagged": self.flagged,
            "rejected": dict(self.rejected),
            "batches": self.batches,
        }


@dataclass(slots=True)
class _Item:
    device: Device
    measures: list[Measure]
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Result:
    stored: int = 0
    duplicates: int = 0
    late: list[tuple[str, str, Instance]] = field(default_factory=list)


class Ingestor:
    """Writes measures to the store in batches; ``submit`` returns once they are committed."""

    def __init__(
        self, store: Store, batch_max: int = 2000, batch_wait: float = 0.01, queue_max: int = 50_000
    ) -> None:
        self.store = store
        self.stats = Stats()
        self._ctx: ActiveContext = core_context()
        self._screener = Screener()
        self._batch_max = batch_max
        self._batch_wait = batch_wait
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_max)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the batch writer."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop the batch writer; measures not yet committed were never acknowledged."""
        if self._task is not None:
            self._task.cancel()
            try:
                async with asyncio.timeout(5):
                    await asyncio.gather(self._task, return_exceptions=True)
            except TimeoutError:
                log.warning("the ingestion writer did not stop within 5 s")
            self._task = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.done.done():
                item.done.set_exception(ConnectionError("thudo is shutting down"))

    async def submit(self, device: Device, measures: list[Measure]) -> None:
        """Queue a device's measures and wait until they are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(device, measures, done))  # waits when the queue is full
        await done

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            try:
                failed = await self._write(batch)
            except Exception as exc:  # the store is down: callers get the error, nothing acked
                log.warning("ingestion batch of %d devices failed: %s", len(batch), exc)
                failed = {id(item): exc for item in batch}
            for item in batch:
                if not item.done.done():
                    error = failed.get(id(item))
                    if error is None:
                        item.done.set_result(None)
                    else:
                        item.done.set_exception(error)

    async def _gather(self) -> list[_Item]:
        first = await self._queue.get()
        batch, size = [first], len(first.measures)
        deadline = time.monotonic() + self._batch_wait
        while size < self._batch_max:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    async with asyncio.timeout(left):
                        item = await self._queue.get()
                except TimeoutError:
                    break
            batch.append(item)
            size += len(item.measures)
        return batch

    async def _write(self, batch: list[_Item]) -> dict[int, Exception]:
        """Write a batch, a transaction per tenant; returns the items that failed (by id).
        When a transaction of several entities fails for another reason than the store
        being unavailable, each entity is written again on its own: one device's data
        must not take the other devices' measures down with it."""
        by_tenant: dict[str, dict[str, list[_Item]]] = defaultdict(lambda: defaultdict(list))
        for item in batch:
            by_tenant[item.device.tenant][item.device.entity_name].append(item)
        failed: dict[int, Exception] = {}
        for tenant, entities in by_tenant.items():
            try:
                await self._write_entities(tenant, entities)
            except ServiceUnavailable:
                raise
            except Exception as exc:
                if len(entities) == 1:
                    log.warning("ingestion for %s failed: %s", next(iter(entities)), exc)
                    failed.update((id(item), exc) for items in entities.values() for item in items)
                    continue
                log.warning(
                    "ingestion batch of %d entities failed (%s): one at a time", len(entities), exc
                )
                for entity_id, items in entities.items():
                    try:
                        await self._write_entities(tenant, {entity_id: items})
                    except Exception as alone:
                        log.warning("ingestion for %s failed: %s", entity_id, alone)
                        failed.update((id(item), alone) for item in items)
        self.stats.batches += 1
        return failed

    async def _write_entities(self, tenant: str, entities: dict[str, list[_Item]]) -> None:
        changes: list[tuple[str, Change]] = []
        for entity_id, items in entities.items():
            changes.extend((entity_id, fn) for fn in self._changes(tenant, items))
        results = await self.store.change_many(tenant, changes)
        await self._settle(tenant, results)

    async def _settle(self, tenant: str, results: list[Any]) -> None:
        late: dict[str, dict[str, list[Instance]]] = defaultdict(lambda: defaultdict(list))
        for result in results:
            if isinstance(result, Exception):
                log.warning("ingestion could not update an entity: %s", result)
                self.stats.rejected["store_error"] += 1
                continue
            assert isinstance(result, _Result)
            self.stats.stored += result.stored
            self.stats.duplicates += result.duplicates
            for entity_id, iri, inst in result.late:
                late[entity_id][iri].append(inst)
        for entity_id, attrs in late.items():
            await self.store.temporal_append(tenant, entity_id, None, None, dict(attrs))
            self.stats.late += sum(len(v) for v in attrs.values())

    def _changes(self, tenant: str, items: list[_Item]) -> list[Change]:
        """One change per round: the k-th measure of every attribute, in time order."""
        device = items[-1].device
        per_attr: dict[tuple[str, str | None], list[Instance]] = defaultdict(list)
        for item in items:
            for m in item.measures:
                inst, dataset = self._instance(tenant, device, m)
                per_attr[(self._ctx.expand(m.attr.name), dataset)].append(inst)
        if not per_attr:
            return []
        for instances in per_attr.values():
            instances.sort(key=lambda i: str(i["observedAt"]))
        rounds = max(len(v) for v in per_attr.values())
        return [self._round_change(device, per_attr, k) for k in range(rounds)]

    def _instance(self, tenant: str, device: Device, m: Measure) -> tuple[Instance, str | None]:
        inst: Instance = {"type": m.attr.ngsi_type, "value": m.value, "observedAt": m.observed_at}
        if m.attr.unit_code is not None:
            inst["unitCode"] = m.attr.unit_code
        flag = self._screener.flag(tenant, device.entity_name, m.attr.name, m.value)
        if flag is Flag.OK:
            return inst, None
        self.stats.flagged += 1
        inst["datasetId"] = SUSPECT_DATASET
        inst[self._ctx.expand(_QUALITY)] = [{"type": "Property", "value": str(flag)}]
        return inst, SUSPECT_DATASET

    def _round_change(
        self, device: Device, per_attr: dict[tuple[str, str | None], list[Instance]], k: int
    ) -> Change:
        todo = {key: v[k] for key, v in per_attr.items() if k < len(v)}

        def change(current: Entity | None) -> Outcome:
            now = now_iso()
            entity = current if current is not None else self._new_entity(device, now)
            result = _Result()
            for (iri, dataset), inst in todo.items():
                _apply_measure(entity, iri, dataset, dict(inst), now, result)
            if not result.stored and current is not None:
                return UNCHANGED, result
            entity["modifiedAt"] = now
            return entity, result

        return change

    def _new_entity(self, device: Device, now: str) -> Entity:
        attrs: dict[str, list[Instance]] = {}
        for static in device.static_attributes:
            member = "object" if static.type == "Relationship" else "value"
            inst = {"type": static.type, member: static.value, "createdAt": now, "modifiedAt": now}
            attrs[self._ctx.expand(static.name)] = [inst]
        return {
            "id": device.entity_name,
            "type": [self._ctx.expand(device.entity_type)],
            "createdAt": now,
            "modifiedAt": now,
            "attrs": attrs,
        }

    def record_rejections(self, rejected: Counter[str]) -> None:
        """Count measures dropped before they reached the batch."""
        self.stats.rejected.update(rejected)


def _apply_measure(
    entity: Entity, iri: str, dataset: str | None, inst: Instance, now: str, result: _Result
) -> None:
    current = entity["attrs"].setdefault(iri, [])
    i = find_instance(current, dataset)
    old = current[i] if i >= 0 else None
    if old is not None and "observedAt" in old:
        new_at = normalize_datetime(inst["observedAt"]) or ""
        old_at = normalize_datetime(str(old["observedAt"])) or ""
        if new_at == old_at:
            result.duplicates += 1
            return
        if new_at < old_at:
            inst["createdAt"] = inst["modifiedAt"] = now
            result.late.append((entity["id"], iri, inst))
            return
    inst["createdAt"] = old.get("createdAt", now) if old is not None else now
    inst["modifiedAt"] = now
    if i >= 0:
        current[i] = inst
    else:
        current.append(inst)
    result.stored += 1
