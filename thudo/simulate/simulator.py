"""The simulator: provisions the Hanoi fleet, backfills history, then acts like live devices.

It talks to the platform only as devices do (the IoT provisioning API, then MQTT or HTTP
measures) plus the NGSI-LD temporal API for the backfill; it never writes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import orjson

from thudo.simulate.backfill import Backfill
from thudo.simulate.client import SimulateError, make_client
from thudo.simulate.clock import SimClock
from thudo.simulate.fleet import Device, apikey_prefix, build_fleet, device_types
from thudo.simulate.model import HanoiModel
from thudo.simulate.payloads import measure_body
from thudo.simulate.provision import provision_devices, provision_services
from thudo.simulate.rain import storm
from thudo.simulate.sensor import SensorFaults
from thudo.simulate.transport import HttpTransport, Transport, open_mqtt

__all__ = ["Simulator", "SimulatorOptions", "TransportChoice"]

log = logging.getLogger(__name__)

TransportChoice = Literal["auto", "mqtt", "http"]
_CATCH_UP = 6 * 3600.0
_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """Everything ``thudo simulate`` can be told; times are epoch seconds, spans seconds."""

    url: str = "http://127.0.0.1:1026"
    tenant: str | None = None
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    transport: TransportChoice = "auto"
    seed: int = 1
    stations: int = 30
    weather: int = 3
    traffic: int = 10
    speed: float = 1.0
    interval: float = 60.0
    start: float | None = None
    backfill: float = 0.0
    backfill_interval: float = 3600.0
    storm_at: float | None = None
    faults: bool = True
    apikey_prefix: str | None = None

    @property
    def prefix(self) -> str:
        """The apikey prefix: ``apikey_prefix``, else ``thudo`` or ``thudo-<tenant>``."""
        return self.apikey_prefix or apikey_prefix(self.tenant)

    def __post_init__(self) -> None:
        for name in ("speed", "interval", "backfill_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.backfill < 0:
            raise ValueError(f"backfill must not be negative, got {self.backfill}")
        if self.apikey_prefix is not None and not _PREFIX.fullmatch(self.apikey_prefix):
            raise ValueError(
                f"apikey_prefix must be letters, digits, - or _: {self.apikey_prefix!r}"
            )
        if self.transport not in ("auto", "mqtt", "http"):
            raise ValueError(f"transport must be auto, mqtt or http, got {self.transport!r}")

    def live_start(self, now: float) -> float:
        """Where the live clock starts: ``start``, else now (speed 1) or 6 hours ago."""
        if self.start is not None:
            return self.start
        return now if self.speed == 1 else now - _CATCH_UP


class Simulator:
    """The Hanoi device fleet, from provisioning to live measures.

    Counters (``devices``, ``messages_sent``, ``measures_sent``, ``errors``, ``sim_time``,
    ``backfill_instances``) can be read at any moment, e.g. for a status line.
    """

    def __init__(
        self,
        options: SimulatorOptions,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.start = options.live_start(wall())
        storms = () if options.storm_at is None else (storm(self.start + options.storm_at),)
        faults = SensorFaults() if options.faults else SensorFaults.none()
        self.model = HanoiModel(options.seed, storms, faults)
        self.fleet: tuple[Device, ...] = build_fleet(
            options.seed, options.stations, options.weather, options.traffic, options.prefix
        )
        self.devices = 0
        self.messages_sent = 0
        self.measures_sent = 0
        self.errors = 0
        self.transport_name: str | None = None
        self._wall = wall
        self._monotonic = monotonic
        self._clock: SimClock | None = None
        self._backfills: list[Backfill] = []
        self._client = make_client(options.url, options.tenant)

    @property
    def backfill_instances(self) -> int:
        """Attribute instances written by the backfill so far."""
        return sum(job.instances_sent for job in self._backfills)

    @property
    def sim_time(self) -> float:
        """The current simulated time (epoch seconds); the live start before ``run``."""
        return self.start if self._clock is None else self._clock.now()

    async def __aenter__(self) -> Simulator:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    async def provision(self) -> None:
        """Create the service groups and the devices (again after a restart: 409 is fine)."""
        await provision_services(self._client, device_types(self.fleet))
        await provision_devices(self._client, self.fleet)
        self.devices = len(self.fleet)
        log.info("provisioned %s devices at %s", self.devices, self.options.url)

    async def backfill(
        self, progress: Callable[[float], None] | None = None, stop: asyncio.Event | None = None
    ) -> None:
        """Write ``options.backfill`` seconds of history before the live start."""
        opts = self.options
        if opts.backfill <= 0:
            return
        job = Backfill(
            self._client,
            self.model,
            self.fleet,
            self.start - opts.backfill,
            self.start,
            opts.backfill_interval,
        )
        self._backfills.append(job)
        await job.run(progress, stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Send live measures until ``stop`` is set, on the simulated clock."""
        transport = await self._open_transport()
        self.transport_name = transport.name
        self._clock = SimClock(self.start, self.options.speed, self._wall, self._monotonic)
        interval = self.options.interval
        t = math.ceil(self.start / interval) * interval
        try:
            while not stop.is_set():
                delay = self._clock.delay_until(t)
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), min(delay, 1.0))
                    continue
                await self.send_step(transport, t)
                t += interval
        finally:
            await transport.close()

    async def send_step(self, transport: Transport, t: float) -> None:
        """Every device's reading at simulated time ``t`` (devices that skip send nothing)."""
        sends = []
        for device in self.fleet:
            values = self.model.reading(device, t, self.options.interval)
            if values is not None:
                sends.append(self._send(transport, device, values, t))
        await asyncio.gather(*sends)

    async def _send(
        self, transport: Transport, device: Device, values: dict[str, float], t: float
    ) -> None:
        if await transport.send(device, orjson.dumps(measure_body(values, t))):
            self.messages_sent += 1
            self.measures_sent += len(values)
        else:
            self.errors += 1

    async def _open_transport(self) -> Transport:
        choice = self.options.transport
        if choice != "http":
            try:
                return await open_mqtt(self.options.mqtt_url, 2.0 if choice == "auto" else 10.0)
            except SimulateError as exc:
                if choice == "mqtt":
                    raise
                log.info("using HTTP measures: %s", exc)
        return HttpTransport(self._client)
