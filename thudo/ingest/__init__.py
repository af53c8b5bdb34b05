"""Southbound: device measures over HTTP and MQTT (IoT Agent JSON) to NGSI-LD, and provisioning."""

from thudo.ingest.devices import Device, MappedAttribute, ServiceGroup, StaticAttribute
from thudo.ingest.ingestor import Ingestor, Stats
from thudo.ingest.registry import DeviceRegistry
from thudo.ingest.service import IngestService

__all__ = [
    "Device",
    "DeviceRegistry",
    "IngestService",
    "Ingestor",
    "MappedAttribute",
    "ServiceGroup",
    "StaticAttribute",
    "Stats",
]
