"""Provisioning through the IoT Agent API: service groups, then devices in batches.

Re-provisioning after a restart must be harmless, so 409 (already exists) counts as done.
A batch answered with 409 is retried one device at a time, so that the new devices of a
partly provisioned batch still get created.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from thudo.simulate.client import post_json, refuse
from thudo.simulate.fleet import Device, DeviceType
from thudo.simulate.payloads import devices_body, services_body

__all__ = ["provision_devices", "provision_services"]

log = logging.getLogger(__name__)

_DONE = (200, 201, 204, 409)


async def provision_services(client: httpx.AsyncClient, kinds: Sequence[DeviceType]) -> None:
    """One service group per apikey; an existing group (409) is fine."""
    for kind in kinds:
        response = await post_json(client, "/iot/services", services_body([kind]))
        if response.status_code not in _DONE:
            raise refuse(response, f"provisioning service group {kind.apikey}")
        log.debug("service group %s: HTTP %s", kind.apikey, response.status_code)


async def provision_devices(
    client: httpx.AsyncClient, devices: Sequence[Device], batch: int = 50
) -> int:
    """Provision ``devices`` in batches; returns how many requests were made."""
    requests = 0
    for i in range(0, len(devices), batch):
        chunk = devices[i : i + batch]
        response = await post_json(client, "/iot/devices", devices_body(chunk))
        requests += 1
        if response.status_code == 409:
            requests += await _one_by_one(client, chunk)
        elif response.status_code not in _DONE:
            raise refuse(response, "provisioning devices")
    return requests


async def _one_by_one(client: httpx.AsyncClient, devices: Sequence[Device]) -> int:
    for device in devices:
        response = await post_json(client, "/iot/devices", devices_body([device]))
        if response.status_code not in _DONE:
            raise refuse(response, f"provisioning device {device.device_id}")
    return len(devices)
