"""The southbound as one service: provisioning, the HTTP and MQTT entry points, the counters.

HTTP and MQTT measures take the same path: the API key finds the service group, the group
and device id find the device (provisioned on the fly when the setting or the group allows),
the payload becomes measures, and the ingestor commits them. A bad payload is logged once
per device and reason, counted and dropped; it never stops the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from thudo.config import Settings
from thudo.errors import (
    BadRequestData,
    Forbidden,
    NgsiError,
    PayloadTooLarge,
    ResourceNotFound,
    Unauthorized,
)
from thudo.ingest.devices import Device, ServiceGroup, is_device_key
from thudo.ingest.ingestor import Ingestor
from thudo.ingest.measures import Limits, Measure, Parsed, parse_payload
from thudo.ingest.mqtt import MqttSouthbound
from thudo.ingest.registry import DeviceRegistry
from thudo.ngsild.jsonld import core_context
from thudo.ngsild.model import Entity
from thudo.ngsild.validate import now_iso
from thudo.store.base import UNCHANGED, Outcome, Store

__all__ = ["IngestService"]

log = logging.getLogger(__name__)

_LOGGED_MAX = 10_000
_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


class IngestService:
    """Device ingestion over HTTP and MQTT into the store."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.registry = DeviceRegistry(store)
        self.ingestor = Ingestor(
            store, settings.ingest_batch_max, settings.ingest_batch_wait, settings.ingest_queue_max
        )
        self.limits = Limits(
            settings.ingest_max_payload_bytes,
            settings.ingest_max_measures,
            settings.ingest_max_future_s,
            settings.ingest_max_age_s,
        )
        self.mqtt: MqttSouthbound | None = None
        self._logged: set[tuple[str, str, str]] = set()
        self._closing = False

    async def start(self) -> None:
        """Load the devices, start the writer and, when configured, the MQTT subscription."""
        await self.registry.load()
        self.ingestor.start()
        if self.settings.ingest_mqtt_url:
            s = self.settings
            self.mqtt = MqttSouthbound(
                s.ingest_mqtt_url,
                self.handle_mqtt,
                s.ingest_mqtt_client_id,
                s.ingest_mqtt_inflight,
                int(s.ingest_mqtt_session_expiry_s),
            )
            await self.mqtt.start()

    async def close(self) -> None:
        """Stop MQTT first (unacknowledged messages come back later), then the writer."""
        self._closing = True
        if self.mqtt is not None:
            await self.mqtt.close()
        await self.ingestor.close()

    # --- measures ------------------------------------------------------------------------
    async def handle_http(self, apikey: str | None, device_id: str | None, body: bytes) -> int:
        """Measures posted to /iot/json; how many were stored. Raises for the client."""
        if not apikey:
            raise Unauthorized("the API key is missing: POST /iot/json?k=<apikey>&i=<device>")
        if not device_id:
            raise BadRequestData("the device id is missing: POST /iot/json?k=<apikey>&i=<device>")
        self.ingestor.stats.messages += 1
        group = await self.registry.group(apikey)
        if group is None:
            self._reject(apikey, device_id, "unknown_apikey")
            raise Forbidden(f"API key {apikey!r} is not provisioned")
        device = await self._device(group, device_id)
        try:
            parsed = parse_payload(body, device, time.time(), self.limits)
        except (BadRequestData, PayloadTooLarge):
            self._reject(apikey, device_id, "malformed")
            raise
        self._count(apikey, device_id, parsed)
        if parsed.measures:
            await self.ingestor.submit(device, parsed.measures)
        return len(parsed.measures)

    async def handle_mqtt(self, apikey: str, device_id: str, body: bytes) -> bool:
        """One MQTT message; True once it is stored or rejected for good."""
        self.ingestor.stats.messages += 1
        try:
            group = await self.registry.group(apikey)
            if group is None:
                self._reject(apikey, device_id, "unknown_apikey")
                return True
            device = await self._device(group, device_id)
            parsed = parse_payload(body, device, time.time(), self.limits)
        except ResourceNotFound:
            return True  # counted as unknown_device
        except (BadRequestData, PayloadTooLarge) as exc:
            self._reject(apikey, device_id, "malformed", str(exc))
            return True
        self._count(apikey, device_id, parsed)
        if not parsed.measures:
            return True
        return await self._submit_with_retries(device, parsed.measures)

    async def _submit_with_retries(self, device: Device, measures: list[Measure]) -> bool:
        for delay in (*_RETRY_DELAYS, None):
            try:
                await self.ingestor.submit(device, measures)
                return True
            except NgsiError as exc:
                if delay is None or self._closing:
                    log.warning("measures of %s not stored: %s", device.device_id, exc.detail)
                    return False
            except ConnectionError:
                return False
            await asyncio.sleep(delay)
        return False

    async def _device(self, group: ServiceGroup, device_id: str) -> Device:
        device = await self.registry.device(group, device_id)
        if device is not None:
            return device
        auto = group.autoprovision
        if auto is None:
            auto = self.settings.ingest_autoprovision
        if not auto:
            self._reject(group.apikey, device_id, "unknown_device")
            raise ResourceNotFound(f"device {device_id!r} is not provisioned for this API key")
        # The id becomes a stored device and part of an entity id: the rule of
        # provisioning applies (a space once made a device that broke every later start).
        if not is_device_key(device_id):
            self._reject(group.apikey, device_id[:64], "malformed")
            raise BadRequestData(
                "a device id must be 1-64 letters, digits, '_', '-', '.' or ':'"
                " to be provisioned automatically"
            )
        entity_id = f"urn:ngsi-ld:{group.entity_type}:{device_id}"
        new = Device(device_id, group.tenant, group.apikey, entity_id, group.entity_type)
        with contextlib.suppress(NgsiError):  # another request provisioned it first
            await self.provision_device(new)
        found = await self.registry.device(group, device_id)
        if found is None:
            raise ResourceNotFound(f"device {device_id!r} could not be provisioned")
        return found

    async def provision_device(self, device: Device) -> None:
        """Store a device and create its entity with the static attributes."""
        await self.registry.add_device(device)
        group = await self.registry.group(device.apikey)
        full = device.with_group(group)
        ctx = core_context()

        def create(current: Entity | None) -> Outcome:
            entity = current
            now = now_iso()
            if entity is None:
                entity = {"id": full.entity_name, "type": [ctx.expand(full.entity_type)]}
                entity.update(createdAt=now, modifiedAt=now, attrs={})
            added = False
            for static in full.static_attributes:
                iri = ctx.expand(static.name)
                if iri not in entity["attrs"]:
                    member = "object" if static.type == "Relationship" else "value"
                    inst = {"type": static.type, member: static.value}
                    entity["attrs"][iri] = [{**inst, "createdAt": now, "modifiedAt": now}]
                    added = True
            return (entity if added or current is None else UNCHANGED), None

        await self.store.change(full.tenant, full.entity_name, create)

    # --- counting --------------------------------------------------------------------------
    def _count(self, apikey: str, device_id: str, parsed: Parsed) -> None:
        rejected = parsed.rejected
        self.ingestor.stats.measures += len(parsed.measures) + sum(rejected.values())
        for reason in rejected:
            self._log_once(apikey, device_id, reason, "")
        self.ingestor.record_rejections(rejected)

    def _reject(self, apikey: str, device_id: str, reason: str, detail: str = "") -> None:
        self.ingestor.stats.rejected[reason] += 1
        self._log_once(apikey, device_id, reason, detail)

    def _log_once(self, apikey: str, device_id: str, reason: str, detail: str) -> None:
        # An unknown key is one fault however many devices use it: logged once per key.
        key = (apikey, "" if reason == "unknown_apikey" else device_id, reason)
        if key in self._logged:
            return
        if len(self._logged) >= _LOGGED_MAX:
            self._logged.clear()
        self._logged.add(key)
        log.warning(
            "dropped measures from device %r (apikey %r): %s %s (logged once, counted)",
            _short(device_id),
            _short(apikey),
            reason,
            detail,
        )


def _short(text: str, limit: int = 80) -> str:
    """A name from a topic or a query, cut for a log line (topics may be megabytes long)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
