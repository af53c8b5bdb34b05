"""Request bodies, as plain data: service groups, devices, measures, temporal entities.

They follow the FIWARE IoT Agent JSON provisioning API and the NGSI-LD temporal
representation (ETSI GS CIM 009, clause 4.5.7); no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from thudo.simulate.clock import format_instant
from thudo.simulate.fleet import Device, DeviceType

__all__ = [
    "RESOURCE",
    "device_body",
    "devices_body",
    "measure_body",
    "services_body",
    "temporal_body",
    "topic",
]

RESOURCE = "/iot/json"
Json = dict[str, Any]


def services_body(kinds: Iterable[DeviceType]) -> Json:
    """A service group per device type: one apikey per entity type."""
    return {
        "services": [
            {"apikey": k.apikey, "entity_type": k.entity_type, "resource": RESOURCE} for k in kinds
        ]
    }


def device_body(device: Device) -> Json:
    """One device: its entity, its measured attributes and its static location and name."""
    kind = device.type
    return {
        "device_id": device.device_id,
        "entity_name": device.entity_id,
        "entity_type": kind.entity_type,
        "apikey": kind.apikey,
        "attributes": [
            {
                "object_id": a.object_id,
                "name": a.object_id,
                "type": "Property",
                "unitCode": a.unit_code,
            }
            for a in kind.attributes
        ],
        "static_attributes": [
            {
                "name": "location",
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [device.lon, device.lat]},
            },
            {"name": "name", "type": "Property", "value": device.name},
            {"name": "areaServed", "type": "Property", "value": device.name},
        ],
    }


def devices_body(devices: Sequence[Device]) -> Json:
    """A batch of devices for ``POST /iot/devices``."""
    return {"devices": [device_body(d) for d in devices]}


def measure_body(values: dict[str, float], t: float) -> Json:
    """A measure: object id -> number, plus the observation time as ``TimeInstant``."""
    return {**values, "TimeInstant": format_instant(t)}


def topic(device: Device) -> str:
    """The MQTT topic a device publishes its measures on: ``/{apikey}/{device_id}/attrs``."""
    return f"/{device.type.apikey}/{device.device_id}/attrs"


def temporal_body(device: Device, readings: Sequence[tuple[float, dict[str, float]]]) -> Json:
    """A temporal entity holding every reading as instances of its attributes (attributes
    without a reading are left out: the temporal API wants at least one instance each)."""
    stamped = [(format_instant(t), values) for t, values in readings]
    body: Json = {"id": device.entity_id, "type": device.type.entity_type}
    for attribute in device.type.attributes:
        name, code = attribute.object_id, attribute.unit_code
        instances = [
            {"type": "Property", "value": values[name], "observedAt": stamp, "unitCode": code}
            for stamp, values in stamped
            if name in values
        ]
        if instances:
            body[name] = instances
    return body
