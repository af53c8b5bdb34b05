"""Service groups and devices, as provisioned through ``/iot/services`` and ``/iot/devices``.

The JSON follows FIWARE's IoT Agent JSON, so existing devices, scripts and tutorials fit: a
service group gives an API key its entity type and default attributes; a device maps its
``device_id`` to an entity, and each ``object_id`` it sends to an attribute name, type and
unit. A device inherits the attributes of its group that it does not redefine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from thudo.errors import BadRequestData
from thudo.ngsild.model import ENTITY_MEMBERS, INSTANCE_MEMBERS
from thudo.ngsild.validate import check_geojson, check_name, check_uri

__all__ = [
    "MEASURE_TYPES",
    "Device",
    "MappedAttribute",
    "ServiceGroup",
    "StaticAttribute",
    "device_from_json",
    "group_from_json",
]

# The value kinds a measure may have, by the IoT Agent type names and the NGSI-LD ones.
MEASURE_TYPES: dict[str, str] = {
    "Number": "number",
    "Property": "number",
    "Float": "number",
    "Integer": "number",
    "Text": "text",
    "String": "text",
    "Boolean": "boolean",
    "geo:json": "geo",
    "geo:point": "geo",
    "GeoProperty": "geo",
}
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_STATIC_TYPES = ("Property", "GeoProperty", "Relationship")


@dataclass(frozen=True, slots=True)
class MappedAttribute:
    """A measured attribute: what the device sends (``object_id``) and what it becomes."""

    object_id: str
    name: str
    kind: str = "number"
    unit_code: str | None = None

    @property
    def ngsi_type(self) -> str:
        """The NGSI-LD attribute type the measure is written as."""
        return "GeoProperty" if self.kind == "geo" else "Property"


@dataclass(frozen=True, slots=True)
class StaticAttribute:
    """An attribute written once with the entity (location, name, …)."""

    name: str
    type: str
    value: Any


@dataclass(frozen=True, slots=True)
class ServiceGroup:
    """An API key with its tenant, entity type and default attributes."""

    apikey: str
    tenant: str
    entity_type: str
    resource: str = "/iot/json"
    attributes: tuple[MappedAttribute, ...] = ()
    static_attributes: tuple[StaticAttribute, ...] = ()
    autoprovision: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The group as the provisioning API shows it."""
        out: dict[str, Any] = {
            "apikey": self.apikey,
            "entity_type": self.entity_type,
            "resource": self.resource,
            "attributes": [_attribute_json(a) for a in self.attributes],
            "static_attributes": [_static_json(s) for s in self.static_attributes],
        }
        if self.autoprovision is not None:
            out["autoprovision"] = self.autoprovision
        return out


@dataclass(frozen=True, slots=True)
class Device:
    """A device: its entity, the attributes it measures and its static attributes."""

    device_id: str
    tenant: str
    apikey: str
    entity_name: str
    entity_type: str
    attributes: tuple[MappedAttribute, ...] = ()
    static_attributes: tuple[StaticAttribute, ...] = ()
    by_object_id: dict[str, MappedAttribute] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_object_id.update({a.object_id: a for a in self.attributes})

    def to_json(self) -> dict[str, Any]:
        """The device as the provisioning API shows it."""
        return {
            "device_id": self.device_id,
            "apikey": self.apikey,
            "entity_name": self.entity_name,
            "entity_type": self.entity_type,
            "attributes": [_attribute_json(a) for a in self.attributes],
            "static_attributes": [_static_json(s) for s in self.static_attributes],
        }

    def with_group(self, group: ServiceGroup | None) -> Device:
        """The device with the group's attributes it does not redefine added."""
        if group is None:
            return self
        own = {a.object_id for a in self.attributes}
        extra = tuple(a for a in group.attributes if a.object_id not in own)
        names = {s.name for s in self.static_attributes}
        statics = tuple(s for s in group.static_attributes if s.name not in names)
        return Device(
            self.device_id,
            self.tenant,
            self.apikey,
            self.entity_name,
            self.entity_type,
            self.attributes + extra,
            self.static_attributes + statics,
        )


def _attribute_json(a: MappedAttribute) -> dict[str, Any]:
    kind = {"number": "Number", "text": "Text", "boolean": "Boolean", "geo": "geo:json"}[a.kind]
    out: dict[str, Any] = {"object_id": a.object_id, "name": a.name, "type": kind}
    if a.unit_code is not None:
        out["unitCode"] = a.unit_code
    return out


def _static_json(s: StaticAttribute) -> dict[str, Any]:
    return {"name": s.name, "type": s.type, "value": s.value}


def is_device_key(value: str) -> bool:
    """Whether ``value`` can be a device id or an API key (1-64 of a safe alphabet)."""
    return _KEY.match(value) is not None


def _text(raw: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _KEY.match(value):
        raise BadRequestData(
            f"{where}: {key!r} must be 1-64 letters, digits, '_', '-', '.' or ':', got {value!r}"
        )
    return value


def _unit_code(raw: dict[str, Any], where: str) -> str | None:
    unit = raw.get("unitCode")
    metadata = raw.get("metadata")
    if unit is None and isinstance(metadata, dict) and isinstance(metadata.get("unitCode"), dict):
        unit = metadata["unitCode"].get("value")
    if unit is None:
        return None
    if not isinstance(unit, str) or not 1 <= len(unit) <= 16:
        raise BadRequestData(f"{where}: unitCode must be a UN/CEFACT code, got {unit!r}")
    return unit


def _mapped(raw: Any, where: str) -> MappedAttribute:
    if not isinstance(raw, dict):
        raise BadRequestData(f"{where}: an attribute must be a JSON object")
    name = raw.get("name")
    if not isinstance(name, str):
        raise BadRequestData(f"{where}: an attribute needs a 'name'")
    check_name(name, f"{where}: attribute name")
    object_id = _text(raw, "object_id", where, required=False) or name
    kind_name = raw.get("type", "Number")
    if kind_name not in MEASURE_TYPES:
        raise BadRequestData(
            f"{where}: attribute {name!r} has type {kind_name!r};"
            f" use one of {sorted(MEASURE_TYPES)}"
        )
    return MappedAttribute(object_id, name, MEASURE_TYPES[kind_name], _unit_code(raw, where))


def _static(raw: Any, where: str) -> StaticAttribute:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise BadRequestData(f"{where}: a static attribute needs a 'name'")
    name = check_name(raw["name"], f"{where}: static attribute name")
    if name in ENTITY_MEMBERS or name in INSTANCE_MEMBERS:
        raise BadRequestData(f"{where}: {name!r} is a reserved name, not an attribute")
    if "value" in raw and raw["value"] is None:
        raise BadRequestData(f"{where}: static attribute {name!r} needs a value that is not null")
    kind = raw.get("type", "Property")
    if kind in ("geo:json", "geo:point"):
        kind = "GeoProperty"
    if kind not in _STATIC_TYPES:
        kind = "Property"
    if "value" not in raw:
        raise BadRequestData(f"{where}: static attribute {name!r} has no value")
    value = raw["value"]
    if kind == "GeoProperty":
        value = check_geojson(value, f"{where}: static attribute {name!r}")
    elif kind == "Relationship":
        value = check_uri(value, f"{where}: static attribute {name!r}")
    return StaticAttribute(name, kind, value)


def _list(raw: dict[str, Any], key: str, where: str, limit: int) -> list[Any]:
    items = raw.get(key, [])
    if not isinstance(items, list):
        raise BadRequestData(f"{where}: {key!r} must be a list")
    if len(items) > limit:
        raise BadRequestData(f"{where}: more than {limit} {key}")
    return items


def _attributes(raw: dict[str, Any], where: str, limit: int) -> tuple[MappedAttribute, ...]:
    out = tuple(_mapped(a, where) for a in _list(raw, "attributes", where, limit))
    seen: set[str] = set()
    for a in out:
        if a.object_id in seen:
            raise BadRequestData(f"{where}: object_id {a.object_id!r} is mapped twice")
        seen.add(a.object_id)
    return out


def _statics(raw: dict[str, Any], where: str, limit: int) -> tuple[StaticAttribute, ...]:
    return tuple(_static(s, where) for s in _list(raw, "static_attributes", where, limit))


def _entity_type(raw: dict[str, Any], where: str, default: str | None = None) -> str:
    value = raw.get("entity_type", default)
    if not isinstance(value, str):
        raise BadRequestData(f"{where}: 'entity_type' is required")
    return check_name(value, f"{where}: entity_type")


def group_from_json(raw: Any, tenant: str, limit: int) -> ServiceGroup:
    """A service group from provisioning JSON (IoT Agent form)."""
    if not isinstance(raw, dict):
        raise BadRequestData("a service group must be a JSON object")
    where = "service group"
    apikey = _text(raw, "apikey", where)
    assert apikey is not None
    where = f"service group {apikey!r}"
    resource = raw.get("resource", "/iot/json")
    if not isinstance(resource, str) or not resource.startswith("/"):
        raise BadRequestData(f"{where}: 'resource' must be a path such as /iot/json")
    auto = raw.get("autoprovision")
    if auto is not None and not isinstance(auto, bool):
        raise BadRequestData(f"{where}: 'autoprovision' must be true or false")
    return ServiceGroup(
        apikey,
        tenant,
        _entity_type(raw, where),
        resource,
        _attributes(raw, where, limit),
        _statics(raw, where, limit),
        auto,
    )


def device_from_json(raw: Any, tenant: str, group: ServiceGroup | None, limit: int) -> Device:
    """A device from provisioning JSON; the group supplies a default type and apikey."""
    if not isinstance(raw, dict):
        raise BadRequestData("a device must be a JSON object")
    device_id = _text(raw, "device_id", "device")
    assert device_id is not None
    where = f"device {device_id!r}"
    apikey = _text(raw, "apikey", where, required=group is None) or (group and group.apikey)
    entity_type = _entity_type(raw, where, group.entity_type if group else None)
    name = raw.get("entity_name", f"urn:ngsi-ld:{entity_type}:{device_id}")
    entity_name = check_uri(name, f"{where}: entity_name")
    return Device(
        device_id,
        tenant,
        str(apikey),
        entity_name,
        entity_type,
        _attributes(raw, where, limit),
        _statics(raw, where, limit),
    )
