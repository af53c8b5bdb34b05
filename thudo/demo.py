"""``thudo demo``: a living Hanoi in one command, with no external service needed.

It starts the API on the embedded store, the analytics and the alerts, then the simulated
fleet: provisioned through the IoT API, a day of history backfilled through the temporal API,
then live measures at speed, over MQTT when a broker answers and over HTTP otherwise. A storm
floods the hotspots soon after the start, so alerts appear within the first minute. It prints
the URLs, then one status line (devices, measures/s, active alerts). Ctrl-C stops it cleanly;
run it again on the same database and it carries on where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Callable, Generator
from datetime import datetime
from typing import TextIO
from urllib.parse import urlsplit

import httpx
import uvicorn

from thudo.analytics.cap import HANOI
from thudo.api.app import ThudoApp
from thudo.config import Settings, load_settings
from thudo.errors import SettingsError
from thudo.simulate.client import SimulateError
from thudo.simulate.clock import parse_instant
from thudo.simulate.command import duration_arg
from thudo.simulate.simulator import Simulator, SimulatorOptions

__all__ = ["add_arguments", "run_demo"]

_CLIENT_ID = "thudo-demo"  # fixed: after a crash the broker hands the session back


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``thudo demo`` options."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=1026, help="port (default %(default)s)")
    add("--database-url", default="sqlite:///thudo-demo.db", help="store (%(default)s)")
    add("--transport", choices=("auto", "mqtt", "http"), default="auto", help="measures over")
    add("--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker (default %(default)s)")
    add("--seed", type=int, default=1, help="the fleet and its values follow from it")
    add("--speed", type=float, default=180.0, help="simulated seconds per second (180)")
    add("--interval", type=duration_arg, default=120.0, help="report interval, simulated (2m)")
    add("--backfill", type=duration_arg, default=86400.0, help="history to write first (1d)")
    add("--storm-at", type=duration_arg, default=600.0, help="storm after the start (10m)")
    add("--duration", type=duration_arg, help="stop after this many real seconds")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the demo stops everything together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _mqtt_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        return False
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 1883), 1.0):
            return True
    except OSError:
        return False


def _settings(args: argparse.Namespace, mqtt: bool) -> Settings:
    return load_settings(
        None,
        None,
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        ingest_mqtt_url=args.mqtt_url if mqtt else "",
        ingest_mqtt_client_id=_CLIENT_ID,
        cap_status="Exercise",
        log_level="warning",
        log_format="text",
    )


def run_demo(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the demo until Ctrl-C or ``--duration``; 0 on a clean stop."""
    out = sys.stdout if out is None else out
    mqtt = args.transport != "http" and _mqtt_reachable(args.mqtt_url)
    if args.transport == "mqtt" and not mqtt:
        print(f"thudo demo: no MQTT broker answers at {args.mqtt_url}", file=sys.stderr)
        return 1
    try:
        settings = _settings(args, mqtt)
        return asyncio.run(_demo(args, settings, "mqtt" if mqtt else "http", out))
    except (SettingsError, SimulateError, ValueError, OSError) as exc:
        print(f"thudo demo: {exc}", file=sys.stderr)
        return 1


async def _demo(args: argparse.Namespace, settings: Settings, transport: str, out: TextIO) -> int:
    from thudo.log import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    app = ThudoApp(settings)
    server = _Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                       access_log=False, lifespan="on", server_header=False)
    )  # fmt: skip
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise OSError(f"the API could not start on {settings.host}:{settings.port}")
        await asyncio.sleep(0.05)
    url = f"http://{settings.host}:{settings.port}"
    try:
        _print_urls(url, transport, out)
        await _simulate(args, app, url, transport, stop, out)
    finally:
        server.should_exit = True
        await serving
    print("thudo demo stopped", file=out)
    return 0


def _print_urls(url: str, transport: str, out: TextIO) -> None:
    lines = [
        f"thudo demo: Hà Nội, simulated (measures over {transport})",
        f"  NGSI-LD API     {url}/ngsi-ld/v1/entities?type=AirQualityObserved",
        f"  air quality     {url}/ngsi-ld/v1/entities?type=AirQualityObserved"
        "&attrs=name,airQualityIndex,airQualityLevel&options=keyValues",
        f"  street gauges   {url}/ngsi-ld/v1/entities?type=FloodMonitoring",
        f"  alerts          {url}/alerts   (CAP/Atom: {url}/alerts/feed.atom)",
        f"  devices         {url}/iot/about",
        "  Ctrl-C stops it.",
    ]
    print("\n".join(lines), file=out, flush=True)


async def _resume_at(url: str) -> float | None:
    """The newest observation already stored, when this database ran the demo before."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        r = await client.get(
            "/ngsi-ld/v1/entities",
            params={"type": "AirQualityObserved", "attrs": "pm25", "limit": "1000"},
        )
        times = [e["pm25"].get("observedAt") for e in r.json() if isinstance(e.get("pm25"), dict)]
    stamps = [parse_instant(t) for t in times if isinstance(t, str)]
    return max(stamps) if stamps else None


async def _simulate(
    args: argparse.Namespace,
    app: ThudoApp,
    url: str,
    transport: str,
    stop: asyncio.Event,
    out: TextIO,
) -> None:
    resume = await _resume_at(url)
    options = SimulatorOptions(
        url=url, mqtt_url=args.mqtt_url, transport=transport,  # type: ignore[arg-type]
        seed=args.seed, speed=args.speed, interval=args.interval, start=resume,
        backfill=0.0 if resume is not None else args.backfill,
        storm_at=None if resume is not None else args.storm_at,
    )  # fmt: skip
    async with Simulator(options) as sim:
        await sim.provision()
        if resume is None:
            await sim.backfill(_progress(out), stop)
            _line(out, f"backfilled {sim.backfill_instances:,} instances of history", end="\n")
        else:
            print("resuming the simulation where it stopped", file=out, flush=True)
        if args.duration is not None:
            asyncio.get_running_loop().call_later(args.duration, stop.set)
        status = asyncio.create_task(_status(app, sim, stop, out))
        try:
            await sim.run(stop)
        finally:
            stop.set()
            await status


def _progress(out: TextIO) -> Callable[[float], None]:
    shown = [-1]

    def show(done: float) -> None:
        if out.isatty() or int(done * 10) > shown[0]:
            shown[0] = int(done * 10)
            _line(out, f"backfilling history {100 * done:5.1f}%", end="" if out.isatty() else "\n")

    return show


def _line(out: TextIO, text: str, end: str = "") -> None:
    if out.isatty():
        out.write("\r\x1b[K" + text + end)
    else:
        out.write(text + "\n")
    out.flush()


async def _status(app: ThudoApp, sim: Simulator, stop: asyncio.Event, out: TextIO) -> None:
    stats = app.ingest.ingestor.stats
    last_stored, last_at, last_print = stats.stored, time.monotonic(), 0.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        now = time.monotonic()
        rate = (stats.stored - last_stored) / max(now - last_at, 1e-6)
        last_stored, last_at = stats.stored, now
        alerts = app.pipeline.alerts.active_count() if app.pipeline is not None else 0
        line = (
            f"{datetime.fromtimestamp(sim.sim_time, HANOI):%Y-%m-%d %H:%M} Hà Nội (simulated)  "
            f"{sim.devices} devices  {rate:,.0f} measures/s  {stats.stored:,} stored  "
            f"{alerts} active alerts"
        )
        if out.isatty():
            _line(out, line)
        elif now - last_print >= 5.0 or stop.is_set():
            print(line, file=out, flush=True)
            last_print = now
    if out.isatty():
        out.write("\n")
