"""The simulated fleet: device types, their attributes, and which devices stand where.

The fleet is a pure function of its sizes and the seed: the same arguments give the same
devices with the same ids on every run, so re-provisioning after a restart is idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from thudo.simulate.noise import key_of, unit
from thudo.simulate.places import (
    FLOOD_HOTSPOTS,
    HOAN_KIEM,
    KNOWN_AIR_STATIONS,
    RIVER_GAUGES,
    TRAFFIC_ROADS,
    WEATHER_SITES,
    Place,
    Ward,
    distance_km,
    load_wards,
)

__all__ = [
    "AIR",
    "DEVICE_TYPES",
    "FLOOD",
    "RIVER",
    "TRAFFIC",
    "WEATHER",
    "Attribute",
    "Device",
    "DeviceType",
    "apikey_prefix",
    "build_fleet",
    "choose_wards",
    "device_types",
    "slugify",
]


@dataclass(frozen=True, slots=True)
class Attribute:
    """A measured attribute: its object id (also its NGSI-LD name) and UN/CEFACT unit code."""

    object_id: str
    unit_code: str


@dataclass(frozen=True, slots=True)
class DeviceType:
    """An entity type, the apikey of its service group and the attributes its devices send."""

    entity_type: str
    apikey: str
    attributes: tuple[Attribute, ...]

    def with_prefix(self, prefix: str) -> DeviceType:
        """The same type under another apikey prefix: ``thudo-aq`` becomes ``<prefix>-aq``."""
        suffix = self.apikey.split("-", 1)[1]
        return replace(self, apikey=f"{prefix}-{suffix}")


def _attrs(*pairs: tuple[str, str]) -> tuple[Attribute, ...]:
    return tuple(Attribute(name, code) for name, code in pairs)


AIR = DeviceType(
    "AirQualityObserved",
    "thudo-aq",
    _attrs(
        ("pm25", "GQ"),
        ("pm10", "GQ"),
        ("no2", "GQ"),
        ("so2", "GQ"),
        ("o3", "GQ"),
        ("co", "GQ"),
        ("temperature", "CEL"),
        ("relativeHumidity", "P1"),
    ),
)
WEATHER = DeviceType(
    "WeatherObserved",
    "thudo-weather",
    _attrs(
        ("temperature", "CEL"),
        ("relativeHumidity", "P1"),
        ("precipitation", "MMT"),
        ("windSpeed", "MTS"),
        ("atmosphericPressure", "A97"),
    ),
)
FLOOD = DeviceType("FloodMonitoring", "thudo-flood", _attrs(("currentLevel", "MTR")))
RIVER = DeviceType("WaterObserved", "thudo-river", _attrs(("waterLevel", "MTR")))
TRAFFIC = DeviceType(
    "TrafficFlowObserved",
    "thudo-traffic",
    _attrs(
        ("intensity", "E50"),
        ("averageVehicleSpeed", "KMH"),
        ("occupancy", "C62"),
        ("congested", "C62"),
    ),
)
DEVICE_TYPES = (AIR, WEATHER, FLOOD, RIVER, TRAFFIC)


@dataclass(frozen=True, slots=True)
class Device:
    """One simulated device and the entity it feeds."""

    device_id: str
    type: DeviceType
    name: str
    lon: float
    lat: float
    key: int
    capacity: float = 0.0
    free_speed: float = 0.0

    @property
    def entity_id(self) -> str:
        """The NGSI-LD entity id: ``urn:ngsi-ld:<Type>:hanoi:<device_id>``."""
        return f"urn:ngsi-ld:{self.type.entity_type}:hanoi:{self.device_id}"

    @property
    def centre_km(self) -> float:
        """Distance from Hoàn Kiếm lake, in km."""
        return distance_km(self.lon, self.lat, *HOAN_KIEM)


def slugify(text: str) -> str:
    """An ASCII slug of a Vietnamese name: "Phường Hà Đông" -> "phuong-ha-dong"."""
    text = text.replace("Đ", "D").replace("đ", "d")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def apikey_prefix(tenant: str | None) -> str:
    """The default apikey prefix: ``thudo``, or ``thudo-<tenant>`` (apikeys are unique across
    tenants, because an MQTT topic names only the apikey)."""
    return f"thudo-{slugify(tenant)}" if tenant else "thudo"


def _device(prefix: str, kind: DeviceType, place: Place | Ward, name: str) -> Device:
    device_id = f"{prefix}{slugify(name)}"
    return Device(device_id, kind, place.name, place.lon, place.lat, key_of(device_id))


def build_fleet(
    seed: int, stations: int = 30, weather: int = 3, traffic: int = 10, prefix: str = "thudo"
) -> tuple[Device, ...]:
    """Every device: air stations, weather stations, street and river gauges, traffic counters;
    apikeys start with ``prefix``."""
    _check_sizes(stations, weather, traffic)
    air = [_device("aq-", AIR, w, w.short_name) for w in choose_wards(seed, stations)]
    sites = [_device("weather-", WEATHER, p, p.name) for p in WEATHER_SITES[:weather]]
    floods = [_device("flood-", FLOOD, p, p.name) for p in FLOOD_HOTSPOTS]
    rivers = [
        _device("", RIVER, RIVER_GAUGES[0], "long-bien"),
        _device("", RIVER, RIVER_GAUGES[1], "to-lich"),
    ]
    roads = [
        replace(_device("traffic-", TRAFFIC, p, p.name), capacity=capacity, free_speed=speed)
        for p, capacity, speed in TRAFFIC_ROADS[:traffic]
    ]
    fleet = (*air, *sites, *floods, *rivers, *roads)
    if prefix == "thudo":
        return fleet
    return tuple(replace(d, type=d.type.with_prefix(prefix)) for d in fleet)


def _check_sizes(stations: int, weather: int, traffic: int) -> None:
    limits = (
        ("stations", stations, 1, len(load_wards())),
        ("weather", weather, 0, len(WEATHER_SITES)),
        ("traffic", traffic, 0, len(TRAFFIC_ROADS)),
    )
    for name, value, low, high in limits:
        if not low <= value <= high:
            raise ValueError(f"{name} must be {low} to {high}, got {value}")


def device_types(fleet: tuple[Device, ...]) -> list[DeviceType]:
    """The device types (service groups) a fleet uses, in order of first appearance."""
    kinds: list[DeviceType] = []
    for device in fleet:
        if device.type not in kinds:
            kinds.append(device.type)
    return kinds


def choose_wards(seed: int, count: int) -> list[Ward]:
    """``count`` wards for air stations: the known stations' wards first, then the most
    populous inner wards, with a quarter of the stations in the outer towns and communes,
    all at least 1.2 km apart while that is possible."""
    wards = load_wards()
    chosen = [_nearest(wards, p) for p in KNOWN_AIR_STATIONS][:count]
    ranked = sorted(wards, key=lambda w: -_appeal(seed, w))
    inner = [w for w in ranked if _is_inner(w)]
    outer = [w for w in ranked if not _is_inner(w)]
    _extend(chosen, outer, min(count // 4, len(outer)))
    _extend(chosen, inner + outer, count - len(chosen))
    return chosen


def _extend(chosen: list[Ward], candidates: list[Ward], more: int) -> None:
    target = len(chosen) + more
    for spacing in (1.2, 0.0):
        for ward in candidates:
            if len(chosen) >= target:
                return
            if ward not in chosen and _spaced(ward, chosen, spacing):
                chosen.append(ward)


def _is_inner(ward: Ward) -> bool:
    return ward.kind == "Phường" and distance_km(ward.lon, ward.lat, *HOAN_KIEM) < 12.0


def _appeal(seed: int, ward: Ward) -> float:
    jitter = 1.0 + 0.3 * unit(seed, 17, int(ward.code))
    return ward.population * jitter


def _spaced(ward: Ward, chosen: list[Ward], spacing: float) -> bool:
    return all(distance_km(ward.lon, ward.lat, c.lon, c.lat) >= spacing for c in chosen)


def _nearest(wards: tuple[Ward, ...], place: Place) -> Ward:
    return min(wards, key=lambda w: distance_km(w.lon, w.lat, place.lon, place.lat))
