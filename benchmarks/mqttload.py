"""MQTT load for the ingestion benchmark: brokers, device publishers and the bare subscriber.

- ``Broker``: the system Mosquitto (127.0.0.1:1883), or one started here on a free port with
  a configuration that lets a slow subscriber have 1,000 messages in flight and 100,000 queued.
- ``Publishers``: device publishers in their own processes (paho-mqtt, QoS 1). Message
  ``i`` of a publisher is due at ``start_at + i / rate`` and leaves then (open loop), or at
  once with ``rate=0``. Each carries 8 measures of one station and its ``TimeInstant``, the
  wall-clock publish time in milliseconds, strictly increasing per station.
- ``BareSubscriber``: the baseline, a paho-mqtt client in its own process that subscribes
  to the same topics with QoS 1, parses each message and acknowledges it, and stores nothing.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import random
import resource
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho

__all__ = [
    "ATTRIBUTES",
    "BareSubscriber",
    "Broker",
    "PublishPlan",
    "PublishResult",
    "Publishers",
    "Readings",
    "Received",
    "forget_session",
    "split_plans",
    "start_broker",
    "system_broker",
    "time_instant",
]

#: object_id, realistic range and step of the random walk (µg/m³, °C, %).
ATTRIBUTES: dict[str, tuple[float, float, float]] = {
    "pm25": (20.0, 150.0, 4.0),
    "pm10": (40.0, 250.0, 6.0),
    "no2": (10.0, 120.0, 3.0),
    "so2": (5.0, 60.0, 1.5),
    "o3": (10.0, 160.0, 4.0),
    "co": (300.0, 3000.0, 40.0),
    "temperature": (18.0, 36.0, 0.2),
    "relativeHumidity": (45.0, 98.0, 0.8),
}
_CTX = mp.get_context("spawn")
_SYSTEM_PID_FILE = Path("/run/mosquitto/mosquitto.pid")


# --- brokers -----------------------------------------------------------------------------


@dataclass
class Broker:
    """A Mosquitto broker on 127.0.0.1: the system one, or one this process started."""

    name: str
    port: int
    pid: int | None
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None

    @property
    def url(self) -> str:
        """Its ``mqtt://`` URL."""
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the broker if this process started it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _system_pid() -> int | None:
    try:
        return int(_SYSTEM_PID_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def system_broker(port: int = 1883) -> Broker | None:
    """The Mosquitto already listening on ``port``, or None."""
    if not _listening(port):
        return None
    return Broker("system Mosquitto (defaults: 20 in flight, 1,000 queued)", port, _system_pid())


_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 100000
log_dest file {log}
"""


def start_broker(workdir: Path, port: int) -> Broker | None:
    """``mosquitto -c conf`` on ``port`` with 1,000 in flight and 100,000 queued per client,
    or None when mosquitto is not installed."""
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if exe is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(_CONF.format(port=port, log=workdir / "mosquitto.log"))
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    name = "own Mosquitto (1,000 in flight, 100,000 queued)"
    broker = Broker(name, port, proc.pid, proc, workdir)
    deadline = time.monotonic() + 10
    while not _listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            broker.stop()
            raise RuntimeError(f"mosquitto did not start on port {port}")
        time.sleep(0.05)
    return broker


def _client(client_id: str, clean: bool = True) -> paho.Client:
    return paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=paho.MQTTv311,
    )


def forget_session(broker: Broker, client_id: str) -> None:
    """Drop the persistent session of ``client_id`` (connect with a clean session)."""
    client = _client(client_id, clean=True)
    with contextlib.suppress(OSError):
        client.connect("127.0.0.1", broker.port, keepalive=10)
        client.loop(timeout=1.0)
        client.disconnect()


# --- the publishers ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishPlan:
    """What one publisher process sends: ``messages`` messages cycling over ``stations``."""

    port: int
    apikey: str
    stations: tuple[str, ...]
    messages: int
    rate: float  # messages/s; 0 = as fast as possible
    start_at: float  # time.time() when the first message is due
    seed: int = 0


@dataclass
class PublishResult:
    """What a publisher did: messages sent and acknowledged by the broker, when, and at
    what cost; ``lag_s`` is how late each message left against its due time (open loop)."""

    published: int = 0
    acked: int = 0
    errors: int = 0
    first: float = math.nan
    last: float = math.nan
    cpu_s: float = 0.0
    lag_s: list[float] = field(default_factory=list)


class Readings:
    """A random walk per station and attribute, within realistic ranges."""

    def __init__(self, stations: int, seed: int) -> None:
        self._rng = random.Random(seed)
        self._state = [
            [self._rng.uniform(lo, hi) for lo, hi, _ in ATTRIBUTES.values()]
            for _ in range(stations)
        ]
        self._limits = list(ATTRIBUTES.values())

    def next(self, station: int) -> dict[str, Any]:
        """The station's next reading: {object_id: value}."""
        values = self._state[station]
        doc: dict[str, Any] = {}
        for j, (name, (lo, hi, step)) in enumerate(ATTRIBUTES.items()):
            values[j] = _reflect(values[j] + self._rng.gauss(0.0, step), lo, hi)
            doc[name] = round(values[j], 1)
        return doc

    def payload(self, station: int, ms: int) -> bytes:
        """The station's next message, taken at ``ms`` (milliseconds since the epoch)."""
        doc = self.next(station)
        doc["TimeInstant"] = time_instant(ms)
        return orjson.dumps(doc)


def _reflect(value: float, lo: float, hi: float) -> float:
    """``value`` folded back into [lo, hi] (clipping would repeat the bound: a flat line)."""
    if value > hi:
        return hi - (value - hi)
    return lo + (lo - value) if value < lo else value


def time_instant(ms: int) -> str:
    """ISO 8601 UTC with milliseconds, as devices send it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _connect(port: int, client_id: str, on_connect: Any) -> paho.Client:
    client = _client(client_id)
    client.max_inflight_messages_set(0)  # unlimited: the broker is what is measured
    client.max_queued_messages_set(0)
    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    return client


def _publisher_main(plan: PublishPlan, out: Any) -> None:
    """Process target: publish the plan, wait for the broker's PUBACKs, report."""
    result = PublishResult()
    connected = threading.Event()
    acked = [0]

    def on_publish(*_: Any) -> None:
        acked[0] += 1

    client = _connect(plan.port, f"bench-pub-{uuid.uuid4().hex[:12]}", lambda *_: connected.set())
    client.on_publish = on_publish
    if not connected.wait(10):
        raise RuntimeError(f"publisher could not connect to 127.0.0.1:{plan.port}")
    _publish(plan, client, result)
    deadline = time.monotonic() + 60
    while acked[0] < result.published and time.monotonic() < deadline:
        time.sleep(0.01)
    result.acked = acked[0]
    client.disconnect()
    client.loop_stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = usage.ru_utime + usage.ru_stime
    out.put(result)


def _publish(plan: PublishPlan, client: paho.Client, result: PublishResult) -> None:
    n = len(plan.stations)
    readings = Readings(n, plan.seed)
    topics = [f"/{plan.apikey}/{s}/attrs" for s in plan.stations]
    last_ms = [0] * n
    _sleep_until(plan.start_at)
    for i in range(plan.messages):
        if plan.rate:
            due = plan.start_at + i / plan.rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            result.lag_s.append(time.time() - due)
        k = i % n
        now = time.time()
        ms = last_ms[k] = max(int(now * 1000), last_ms[k] + 1)
        info = client.publish(topics[k], readings.payload(k, ms), qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            result.errors += 1
        if i == 0:
            result.first = now
        result.published += 1
    result.last = time.time()


def _sleep_until(moment: float) -> None:
    wait = moment - time.time()
    if wait > 0:
        time.sleep(wait)


class Publishers:
    """One process per plan; ``wait`` collects their results."""

    def __init__(self, plans: list[PublishPlan]) -> None:
        self.plans = plans
        self._out = _CTX.Queue()
        self._procs = [
            _CTX.Process(target=_publisher_main, args=(p, self._out), daemon=True) for p in plans
        ]
        for proc in self._procs:
            proc.start()

    @property
    def start_at(self) -> float:
        """When the first messages are due (time.time())."""
        return min(p.start_at for p in self.plans)

    def wait(self) -> list[PublishResult]:
        """Wait until every publisher is done (its messages acknowledged by the broker)."""
        timeout = max(p.messages for p in self.plans) / 50 + 600
        results: list[PublishResult] = []
        try:
            for _ in self._procs:
                results.append(self._out.get(timeout=timeout))
        finally:
            for proc in self._procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        return results


def split_plans(
    port: int, apikey: str, stations: list[str], messages: int, rate: float, procs: int
) -> list[PublishPlan]:
    """``messages`` over ``procs`` publishers, each with its share of the stations, starting
    together one second from now (stations are dealt round-robin)."""
    start_at = time.time() + 1.0
    plans = []
    for p in range(procs):
        mine = tuple(stations[p::procs])
        count = messages // procs + (1 if p < messages % procs else 0)
        plans.append(PublishPlan(port, apikey, mine, count, rate / procs, start_at, seed=p))
    return plans


# --- the bare subscriber (the baseline) -----------------------------------------------------


@dataclass
class Received:
    """What the bare subscriber got since the last ``take``: per message, the time from its
    TimeInstant to its receipt, and the first and last receipt times."""

    latency_s: list[float]
    first: float
    last: float


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _subscriber_main(port: int, topic: str, conn: Connection) -> None:
    """Process target: subscribe with QoS 1, parse and acknowledge every message."""
    latency: list[float] = []
    span = [math.nan, math.nan]
    connected = threading.Event()

    def on_connect(client: paho.Client, *_: Any) -> None:
        client.subscribe(topic, qos=1)
        connected.set()

    def on_message(client: paho.Client, _: Any, msg: paho.MQTTMessage) -> None:
        now = time.time()
        doc = orjson.loads(msg.payload)
        latency.append(now - _parse_time(doc["TimeInstant"]))
        if math.isnan(span[0]):
            span[0] = now
        span[1] = now
        client.ack(msg.mid, msg.qos)

    client = _client(f"bench-bare-{uuid.uuid4().hex[:12]}")
    client.manual_ack_set(True)
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    conn.send(connected.wait(10))
    while True:
        cmd = conn.recv()
        if cmd == "count":
            conn.send(len(latency))
        elif cmd == "take":
            taken, latency[:] = list(latency), []
            conn.send(Received(taken, span[0], span[1]))
            span[:] = [math.nan, math.nan]
        else:
            break
    client.disconnect()
    client.loop_stop()


class BareSubscriber:
    """The baseline subscriber in its own process."""

    def __init__(self, broker: Broker, apikey: str) -> None:
        self._conn, child = _CTX.Pipe()
        topic = f"/{apikey}/+/attrs"
        self.proc = _CTX.Process(target=_subscriber_main, args=(broker.port, topic, child))
        self.proc.start()
        if not self._conn.poll(15) or not self._conn.recv():
            self.stop()
            raise RuntimeError("the bare subscriber could not connect")
        time.sleep(0.3)  # the SUBACK

    @property
    def pid(self) -> int:
        """Its process id."""
        assert self.proc.pid is not None
        return self.proc.pid

    def count(self) -> int:
        """Messages received since the last ``take``."""
        self._conn.send("count")
        n: int = self._conn.recv()
        return n

    def take(self) -> Received:
        """Everything received since the last ``take``."""
        self._conn.send("take")
        got: Received = self._conn.recv()
        return got

    def stop(self) -> None:
        """Disconnect and end the process."""
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send("stop")
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
