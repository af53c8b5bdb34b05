"""Turns entity changes into outbox rows, inside the store's write transaction.

The matcher keeps an index of compiled subscriptions. The writer thread reads the index
while the event loop may replace it, so it is swapped whole, never changed in place.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from thudo.ngsild.matching import SubscriptionIndex, change_trigger, compile_subscription
from thudo.ngsild.model import Entity
from thudo.ngsild.qeval import ValueTable
from thudo.ngsild.validate import now_iso
from thudo.store.base import Outbound, SubscriptionRecord

__all__ = ["Matcher"]

log = logging.getLogger(__name__)


class Matcher:
    """The change listener of the store: which subscriptions a change concerns."""

    def __init__(self) -> None:
        self._index = SubscriptionIndex()
        self._last_sent: dict[tuple[str, str], float] = {}
        self.version = -1
        #: False when the store throttles across processes (Store.shared_throttling).
        self.throttle_locally = True

    @property
    def index(self) -> SubscriptionIndex:
        """The current index (replaced whole on reload)."""
        return self._index

    def reload(self, records: list[SubscriptionRecord], version: int) -> None:
        """Rebuild the index from the stored subscriptions."""
        compiled = []
        for rec in records:
            try:
                compiled.append(compile_subscription(rec.tenant, rec.doc))
            except Exception:
                log.exception(
                    "subscription %s cannot be compiled; it is ignored", rec.doc.get("id")
                )
        self._index = SubscriptionIndex(compiled)
        self.version = version

    def wants(self, tenant: str, types: list[str]) -> bool:
        """Cheap pre-check: could any subscription care about an entity of these types?"""
        index = self._index
        if index.size == 0:
            return False
        return bool(index.any_type.get(tenant)) or any((tenant, t) in index.types for t in types)

    def __call__(self, tenant: str, before: Entity | None, after: Entity | None) -> list[Outbound]:
        entity = after if after is not None else before
        if entity is None:
            return []
        types = list(dict.fromkeys((before or {}).get("type", []) + (after or {}).get("type", [])))
        now = now_iso()
        out: list[Outbound] = []
        table = ValueTable(entity)
        for sub in self._index.candidates(tenant, types, entity["id"], table):
            if not sub.live(now) or not sub.selects(entity, table):
                continue
            found = change_trigger(sub, before, after)
            if found is None or self._throttled(tenant, sub.id, sub.throttling):
                continue
            trigger, attrs = found
            payload = _payload(sub.show_changes, trigger, before, after, attrs)
            out.append(Outbound(sub.id, entity["id"], trigger, payload, sub.throttling or None))
        return out

    def _throttled(self, tenant: str, sub_id: str, throttling: float | None) -> bool:
        if not throttling or not self.throttle_locally:
            return False
        key = (tenant, sub_id)
        now = time.monotonic()
        last = self._last_sent.get(key)
        if last is not None and now - last < throttling:
            return True
        self._last_sent[key] = now
        return False


def _removed(before: Entity, after: Entity | None, attr: str) -> list[Any]:
    """The instances of an attribute that the change removed."""
    old = before["attrs"].get(attr, [])
    if after is None or attr not in after["attrs"]:
        return list(old)
    kept = {i.get("datasetId") for i in after["attrs"][attr]}
    return [i for i in old if i.get("datasetId") not in kept]


def _payload(
    show_changes: bool,
    trigger: str,
    before: Entity | None,
    after: Entity | None,
    attrs: frozenset[str],
) -> dict[str, Any]:
    entity = after if after is not None else before
    assert entity is not None
    payload: dict[str, Any] = {"entity": entity, "attrs": sorted(attrs), "at": now_iso()}
    if before is None:
        return payload
    if after is None:
        payload["entity_deleted"] = True
    if trigger == "attributeDeleted":
        payload["deleted"] = {a: _removed(before, after, a) for a in attrs}
    if trigger == "entityDeleted" and show_changes:
        payload["deleted"] = dict(before["attrs"])
    if show_changes:
        payload["previous"] = {a: before["attrs"][a] for a in before["attrs"]}
    return payload
