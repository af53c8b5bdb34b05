"""The southbound HTTP API, in the manner of FIWARE's IoT Agent JSON.

- ``POST /iot/json?k={apikey}&i={device_id}``: device measures (JSON object or list).
- ``/iot/services``: service groups (POST, GET, DELETE ``?apikey=``).
- ``/iot/devices`` and ``/iot/devices/{device_id}``: devices (POST, GET, DELETE).
- ``GET /iot/about``: version, provisioning counts and the ingestion counters.

The tenant is ``NGSILD-Tenant``, or else the IoT Agent's ``Fiware-Service`` header.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.responses import Response

from thudo import __version__
from thudo.api.call import Call
from thudo.api.reply import Reply
from thudo.errors import (
    AlreadyExists,
    BadRequestData,
    InvalidRequest,
    MethodNotAllowed,
    ResourceNotFound,
)
from thudo.ingest.devices import device_from_json, group_from_json
from thudo.ingest.service import IngestService

__all__ = ["IOT_PREFIX", "handle_iot"]

IOT_PREFIX = "/iot/"
_SERVICE = re.compile(r"^[A-Za-z0-9_\-.:]{1,64}$")
_MAX_ITEMS = 1000


def _tenant(call: Call) -> str:
    if call.tenant:
        return call.tenant
    service = call.header("fiware-service")
    if not service:
        return ""
    if not _SERVICE.match(service):
        raise BadRequestData("Fiware-Service must be 1-64 letters, digits, '_', '-', '.' or ':'")
    return service.lower()


def _json(body: Any, status: int = 200) -> Response:
    return Reply(orjson.dumps(body), status, media_type="application/json")


def _allow(method: str, allowed: str) -> None:
    if method not in allowed.split(", "):
        raise MethodNotAllowed(
            f"{method} is not allowed here; use {allowed}", headers={"Allow": allowed}
        )


async def handle_iot(call: Call, path: str, service: IngestService) -> Response:
    """Dispatch one /iot/ request."""
    # Percent-decoded like every other path: DELETE /iot/devices/a%3Ab names device "a:b".
    segments = [unquote(s) for s in path[len(IOT_PREFIX) :].strip("/").split("/")]
    method = call.request.method
    head = segments[0]
    if head == "json" and len(segments) == 1:
        _allow(method, "POST")
        return await _measures(call, service)
    if head == "about" and len(segments) == 1:
        _allow(method, "GET")
        return _json(_about(service))
    if head == "services" and len(segments) == 1:
        return await _services(call, method, service)
    if head == "devices" and len(segments) <= 2:
        return await _devices(call, method, segments[1:], service)
    raise ResourceNotFound(f"there is nothing at {path!r}")


def _about(service: IngestService) -> dict[str, Any]:
    return {
        "version": __version__,
        "provisioned": service.registry.counts(),
        "ingestion": service.ingestor.stats.to_json(),
        "mqtt": None if service.mqtt is None else {"connected": service.mqtt.connected.is_set()},
    }


async def _measures(call: Call, service: IngestService) -> Response:
    body = await call.body_bytes()
    stored = await service.handle_http(call.params.get("k"), call.params.get("i"), body)
    return _json({"measures": stored})


async def _list_body(call: Call, key: str) -> list[Any]:
    body, _ = await call.json_body()
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise BadRequestData(f"the payload must be an object with a non-empty list {key!r}")
    if len(items) > _MAX_ITEMS:
        raise BadRequestData(f"more than {_MAX_ITEMS} {key} in one request")
    return items


async def _services(call: Call, method: str, service: IngestService) -> Response:
    _allow(method, "GET, POST, DELETE")
    tenant = _tenant(call)
    if method == "GET":
        groups = [g.to_json() for g in service.registry.groups(tenant)]
        return _json({"count": len(groups), "services": groups})
    if method == "DELETE":
        apikey = call.params.get("apikey")
        if not apikey:
            raise InvalidRequest("DELETE /iot/services needs ?apikey=<key>")
        await service.registry.remove_group(tenant, apikey)
        return Reply(b"", 204)
    items = await _list_body(call, "services")
    limit = call.settings.max_attributes
    new_groups = [group_from_json(raw, tenant, limit) for raw in items]
    # All or nothing: a conflict found halfway once left the groups before it stored.
    _refuse_repeats([g.apikey for g in new_groups], "apikey")
    for group in new_groups:
        if await service.registry.group(group.apikey) is not None:
            raise AlreadyExists(f"a service group with apikey {group.apikey!r} exists")
    for group in new_groups:
        await service.registry.add_group(group)
    return Reply(b"", 201)


def _refuse_repeats(keys: list[str], what: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise BadRequestData(f"the request gives {what} {key!r} more than once")
        seen.add(key)


async def _devices(call: Call, method: str, rest: list[str], service: IngestService) -> Response:
    tenant = _tenant(call)
    if rest and rest[0]:
        _allow(method, "GET, DELETE")
        if method == "GET":
            return _json(service.registry.get_device(tenant, rest[0]).to_json())
        await service.registry.remove_device(tenant, rest[0])
        return Reply(b"", 204)
    _allow(method, "GET, POST")
    if method == "GET":
        devices = [d.to_json() for d in service.registry.devices(tenant)]
        return _json({"count": len(devices), "devices": devices})
    items = await _list_body(call, "devices")
    limit = call.settings.max_attributes
    new_devices = []
    for raw in items:
        if not isinstance(raw, dict):
            raise BadRequestData(f"each device must be an object, got {type(raw).__name__}")
        apikey = raw.get("apikey")
        group = await service.registry.group(apikey) if isinstance(apikey, str) else None
        if group is None or group.tenant != tenant:
            raise BadRequestData(
                f"device {raw.get('device_id')!r}: apikey {apikey!r} has no service group here;"
                " create it first with POST /iot/services"
            )
        new_devices.append(device_from_json(raw, tenant, group, limit))
    _refuse_repeats([d.device_id for d in new_devices], "device_id")
    known = {d.device_id for d in service.registry.devices(tenant)}
    for device in new_devices:
        if device.device_id in known:
            raise AlreadyExists(f"device {device.device_id!r} exists")
    for device in new_devices:
        await service.provision_device(device)
    return Reply(b"", 201)
