"""``thudo simulate``: its options, a live status line on stderr, and a clean exit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from thudo.simulate.client import SimulateError
from thudo.simulate.clock import format_instant, parse_duration, parse_instant
from thudo.simulate.simulator import Simulator, SimulatorOptions

__all__ = ["add_arguments", "duration_arg", "options_from", "run_simulate"]


def duration_arg(text: str) -> float:
    """An argparse type: a duration such as ``90m``, ``6h`` or ``365d``, in seconds."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _instant(text: str) -> float:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``thudo simulate`` options (docs/simulator.md explains them)."""
    add = parser.add_argument
    add("--url", default="http://127.0.0.1:1026", help="the platform (default %(default)s)")
    add("--tenant", help="NGSI-LD tenant (default: the default tenant)")
    add("--transport", choices=("auto", "mqtt", "http"), default="auto", help="measures over")
    add("--mqtt-url", default="mqtt://127.0.0.1:1883", help="broker (default %(default)s)")
    add("--seed", type=int, default=1, help="the fleet and all values follow from it")
    add("--stations", type=int, default=30, help="air-quality stations (default 30)")
    add("--weather", type=int, default=3, help="weather stations (default 3, at most 5)")
    add("--traffic", type=int, default=10, help="traffic counters (default 10, at most 12)")
    add("--speed", type=float, default=1.0, help="simulated seconds per real second")
    add("--interval", type=duration_arg, default=60.0, help="report interval, simulated (60)")
    add("--start", type=_instant, help="ISO datetime the live clock starts at")
    add("--backfill", type=duration_arg, default=0.0, help="history before the start, e.g. 365d")
    add("--backfill-interval", type=duration_arg, default=3600.0, help="its step (default 1h)")
    add("--storm-at", type=duration_arg, help="an 80 mm / 2 h storm this long after the start")
    add("--no-faults", action="store_true", help="perfect sensors: no gaps, spikes or stuck values")
    add("--apikey-prefix", help="apikeys <prefix>-aq, ... (default thudo, or thudo-<tenant>)")
    add(
        "--duration",
        type=duration_arg,
        help="real seconds to run live, then stop (default: forever)",
    )


def options_from(args: argparse.Namespace) -> SimulatorOptions:
    """The simulator options from parsed arguments."""
    return SimulatorOptions(
        url=args.url, tenant=args.tenant, mqtt_url=args.mqtt_url, transport=args.transport,
        seed=args.seed, stations=args.stations, weather=args.weather, traffic=args.traffic,
        speed=args.speed, interval=args.interval, start=args.start, backfill=args.backfill,
        backfill_interval=args.backfill_interval, storm_at=args.storm_at, faults=not args.no_faults,
        apikey_prefix=args.apikey_prefix,
    )  # fmt: skip


def run_simulate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``thudo simulate``: 0 when stopped, 1 on a network or option error."""
    out = sys.stderr if out is None else out
    try:
        options = options_from(args)
        return asyncio.run(_simulate(options, args.duration, out))
    except (SimulateError, ValueError) as exc:
        _clear(out)
        print(f"thudo simulate: {exc}", file=out)
        return 1


async def _simulate(options: SimulatorOptions, duration: float | None, out: TextIO) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with Simulator(options) as sim:
        await sim.provision()
        print(f"provisioned {sim.devices} devices at {options.url}", file=out)
        await sim.backfill(_progress(sim, out), stop)
        if options.backfill > 0:
            _clear(out)
            print(f"backfilled {sim.backfill_instances:,} instances", file=out)
        if duration is not None:
            loop.call_later(duration, stop.set)
        status = asyncio.create_task(_status(sim, stop, out))
        try:
            await sim.run(stop)
        finally:
            stop.set()
            await status
    return 0


def _progress(sim: Simulator, out: TextIO) -> Callable[[float], None]:
    """A progress display: redrawn on a terminal, a line every 10% otherwise."""
    shown = [-1]

    def show(done: float) -> None:
        line = f"backfill {100 * done:5.1f}%"
        if out.isatty():
            _show(out, line)
        elif int(done * 10) > shown[0]:
            shown[0] = int(done * 10)
            print(line, file=out, flush=True)

    return show


def _status_line(sim: Simulator) -> str:
    return (
        f"{format_instant(sim.sim_time)}  {sim.devices} devices  {sim.messages_sent:,} messages"
        f"  {sim.measures_sent:,} measures  {sim.errors:,} errors  via {sim.transport_name}"
    )


async def _status(sim: Simulator, stop: asyncio.Event, out: TextIO) -> None:
    tty = out.isatty()
    last = 0.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if tty:
            _show(out, _status_line(sim))
        elif time.monotonic() - last >= 10.0 or stop.is_set():
            print(_status_line(sim), file=out, flush=True)
            last = time.monotonic()
    if tty:
        _show(out, _status_line(sim))
        print(file=out)


def _show(out: TextIO, line: str) -> None:
    if out.isatty():
        out.write("\r\x1b[K" + line)
        out.flush()


def _clear(out: TextIO) -> None:
    if out.isatty():
        out.write("\r\x1b[K")
        out.flush()
