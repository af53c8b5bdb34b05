"""Where service groups and devices live: stored documents, with a cache for the hot path.

Groups and devices are stored as documents of their tenant, so they survive restarts and
every process sees them. API keys are unique across tenants, since an MQTT topic names only
the key: the key finds the group, and the group its tenant. A lookup that misses the cache
reads the store again before it gives up, so a device provisioned through another process is
found at its first measure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from thudo.errors import AlreadyExists, NgsiError, ResourceNotFound
from thudo.ingest.devices import Device, ServiceGroup, device_from_json, group_from_json
from thudo.store.base import Store

__all__ = ["DEVICE_KIND", "GROUP_KIND", "DeviceRegistry"]

log = logging.getLogger(__name__)

GROUP_KIND = "iot-service"
DEVICE_KIND = "iot-device"
# A key or device unknown at the last look is looked up again at most this often.
_MISS_TTL_S = 2.0
_ATTRIBUTE_LIMIT = 1000


class DeviceRegistry:
    """Provisioning: create, read and delete groups and devices; resolve measures to devices."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._groups: dict[str, ServiceGroup] = {}
        self._devices: dict[tuple[str, str], Device] = {}
        self._misses: dict[tuple[str, str], float] = {}
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Read every group and device of every tenant."""
        groups: dict[str, ServiceGroup] = {}
        devices: dict[tuple[str, str], Device] = {}
        for tenant in ["", *await self.store.tenants()]:
            for doc in await self.store.list_documents(GROUP_KIND, tenant):
                try:
                    group = group_from_json(doc["group"], tenant, _ATTRIBUTE_LIMIT)
                except (NgsiError, KeyError, TypeError) as exc:
                    log.error("a stored service group of tenant %r is skipped: %s", tenant, exc)
                    continue
                groups[group.apikey] = group
            for doc in await self.store.list_documents(DEVICE_KIND, tenant):
                # One unreadable record must not stop the broker from starting.
                try:
                    device = device_from_json(doc["device"], tenant, None, _ATTRIBUTE_LIMIT)
                except (NgsiError, KeyError, TypeError) as exc:
                    log.error("a stored device of tenant %r is skipped: %s", tenant, exc)
                    continue
                devices[(tenant, device.device_id)] = device
        self._groups, self._devices = groups, devices
        self._misses.clear()
        log.info("device registry: %d service groups, %d devices", len(groups), len(devices))

    # --- the hot path ----------------------------------------------------------------
    async def group(self, apikey: str) -> ServiceGroup | None:
        """The service group of an API key (any tenant), or None."""
        group = self._groups.get(apikey)
        if group is None and self._may_retry(("", apikey)):
            await self._reload()
            group = self._groups.get(apikey)
        return group

    async def device(self, group: ServiceGroup, device_id: str) -> Device | None:
        """A device of the group's tenant with the group's defaults, or None."""
        key = (group.tenant, device_id)
        device = self._devices.get(key)
        if device is None and self._may_retry(key):
            await self._reload()
            device = self._devices.get(key)
        if device is None or device.apikey != group.apikey:
            return None
        return device.with_group(group)

    def _may_retry(self, key: tuple[str, str]) -> bool:
        now = time.monotonic()
        if now - self._misses.get(key, 0.0) < _MISS_TTL_S:
            return False
        if len(self._misses) > 10_000:
            self._misses.clear()
        self._misses[key] = now
        return True

    async def _reload(self) -> None:
        async with self._lock:
            await self.load()

    # --- provisioning ------------------------------------------------------------------
    async def add_group(self, group: ServiceGroup) -> None:
        """Store a new service group; AlreadyExists if its API key is taken."""
        async with self._lock:
            if group.apikey in self._groups:
                raise AlreadyExists(f"a service group with apikey {group.apikey!r} exists")
            doc = {"id": group.apikey, "group": group.to_json()}
            await self.store.save_document(GROUP_KIND, group.tenant, doc, create=True)
            self._groups[group.apikey] = group

    def groups(self, tenant: str) -> list[ServiceGroup]:
        """The tenant's service groups."""
        return [g for g in self._groups.values() if g.tenant == tenant]

    async def remove_group(self, tenant: str, apikey: str) -> None:
        """Delete a service group (its devices stay, as in the IoT Agent)."""
        async with self._lock:
            group = self._groups.get(apikey)
            if group is None or group.tenant != tenant:
                raise ResourceNotFound(f"no service group with apikey {apikey!r}")
            await self.store.delete_document(GROUP_KIND, tenant, apikey)
            del self._groups[apikey]

    async def add_device(self, device: Device) -> None:
        """Store a new device; AlreadyExists if its id is taken in the tenant."""
        async with self._lock:
            key = (device.tenant, device.device_id)
            if key in self._devices:
                raise AlreadyExists(f"device {device.device_id!r} exists")
            doc = {"id": device.device_id, "device": device.to_json()}
            await self.store.save_document(DEVICE_KIND, device.tenant, doc, create=True)
            self._devices[key] = device

    def devices(self, tenant: str) -> list[Device]:
        """The tenant's devices."""
        return [d for d in self._devices.values() if d.tenant == tenant]

    def get_device(self, tenant: str, device_id: str) -> Device:
        """One device; ResourceNotFound if there is none."""
        device = self._devices.get((tenant, device_id))
        if device is None:
            raise ResourceNotFound(f"device {device_id!r} does not exist")
        return device

    async def remove_device(self, tenant: str, device_id: str) -> None:
        """Delete a device (its entity stays)."""
        async with self._lock:
            self.get_device(tenant, device_id)
            await self.store.delete_document(DEVICE_KIND, tenant, device_id)
            del self._devices[(tenant, device_id)]

    def counts(self) -> dict[str, Any]:
        """How many groups and devices are provisioned."""
        return {"services": len(self._groups), "devices": len(self._devices)}
