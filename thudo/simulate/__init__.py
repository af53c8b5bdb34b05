"""The Hanoi simulator (``thudo simulate``): a fleet of air-quality and weather stations,
street and river water gauges and traffic counters that provision themselves through the
IoT Agent API and send measures over MQTT or HTTP, like real devices.

The values come from a pure model (``thudo.simulate.model``): a function of the seed, the
device and the simulated time, calibrated to Hanoi's seasons, daily cycles, winter pollution
episodes, monsoon rain and street flooding. Ward positions: Smart Air NGSI-LD Dataset, ODbL
v1.0 (``LICENSE-hanoi-wards-ODbL.md``).
"""

from thudo.simulate.client import SimulateError
from thudo.simulate.clock import SimClock, format_instant, parse_duration, parse_instant
from thudo.simulate.fleet import DEVICE_TYPES, Attribute, Device, DeviceType, build_fleet
from thudo.simulate.model import HanoiModel
from thudo.simulate.rain import RainEvent, storm
from thudo.simulate.sensor import SensorFaults
from thudo.simulate.simulator import Simulator, SimulatorOptions, TransportChoice

__all__ = [
    "DEVICE_TYPES",
    "Attribute",
    "Device",
    "DeviceType",
    "HanoiModel",
    "RainEvent",
    "SensorFaults",
    "SimClock",
    "SimulateError",
    "Simulator",
    "SimulatorOptions",
    "TransportChoice",
    "build_fleet",
    "format_instant",
    "parse_duration",
    "parse_instant",
    "storm",
]
