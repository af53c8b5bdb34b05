"""Device ingestion over MQTT (issue 5): measures/s into SQLite, and publish-to-index lag.

    python benchmarks/ingest.py                     # 5,000 measures/s for 60 s, both brokers
    python benchmarks/ingest.py --quick             # 15 s, a smaller max-rate stage
    python benchmarks/ingest.py --rate 8000 --stations 500 --brokers own
    python benchmarks/ingest.py --profile           # and the rate stage again under py-spy

For each broker (the system Mosquitto, then one started here with 1,000 messages in flight
and 100,000 queued per client), a fresh ``thudo serve`` (own SQLite file) ingests MQTT with a
fresh persistent session. The benchmark provisions N stations (IoT Agent JSON: a service
group and devices mapping 8 attributes), loads 3 hours of history per station through
``entityOperations/upsert?options=update`` so that every station's VN_AQI exists from the
start (checked), then runs two stages:

- **rate**: publishers (benchmarks/mqttload.py, own processes, QoS 1) send messages of 8
  measures at a fixed rate, open loop, cycling over the stations, each with its publish
  time as ``TimeInstant``. A watcher GETs every station's ``airQualityIndex`` every 100 ms;
  when a station's index ``observedAt`` moves to T, the lag is the time seen minus T (the
  publish time of the reading the index was computed from). Stored measures come from
  ``GET /iot/about``; after the last message the benchmark waits until every measure is
  accounted for (stored, duplicate, late or rejected).
- **max**: M messages as fast as the publishers can, timed until all are stored.

The baseline, run first on the same broker, is a bare paho-mqtt subscriber in its own process
(QoS 1, parses each message and acknowledges it, stores nothing), fed by the same publishers
with the same plan: what the broker and one Python client carry on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from ingestreport import MEASURES, evaluate, markdown, progress
from ingestwatch import Stage, Watcher, about, fetch_indices, wait_accounted
from mqttload import (
    ATTRIBUTES,
    BareSubscriber,
    Broker,
    Publishers,
    PublishResult,
    Readings,
    forget_session,
    split_plans,
    start_broker,
    system_broker,
    time_instant,
)
from profiling import Spy, summarize
from report import machine
from servers import CpuClock, Server, free_port, start_thudo

HERE = Path(__file__).resolve().parent
_API = "/ngsi-ld/v1"
_TYPE = "AirQualityObserved"
_UNITS = {"temperature": "CEL", "relativeHumidity": "P1"}
_LON, _LAT = 105.8342, 21.0278


@dataclass(frozen=True)
class Options:
    """The command line."""

    stations: int
    rate: float  # measures/s
    duration_s: float
    max_messages: int
    publishers: int
    poll_s: float
    watch: int  # stations whose index is polled (0: all)
    brokers: tuple[str, ...]
    history_h: float
    drain_timeout_s: float
    baseline: bool
    profile: bool
    thudo_env: tuple[tuple[str, str], ...]
    out: Path


# --- provisioning and history ------------------------------------------------------------


def _entity_id(device: str) -> str:
    return f"urn:ngsi-ld:{_TYPE}:bench:{device}"


def _device(apikey: str, device: str, k: int) -> dict[str, Any]:
    attrs = [
        {"object_id": n, "name": n, "type": "Number", "unitCode": _UNITS.get(n, "GQ")}
        for n in ATTRIBUTES
    ]
    point = [round(_LON + (k % 20 - 10) * 0.01, 5), round(_LAT + (k // 20 % 20 - 10) * 0.01, 5)]
    location = {"type": "Point", "coordinates": point}
    return {
        "device_id": device,
        "apikey": apikey,
        "entity_name": _entity_id(device),
        "entity_type": _TYPE,
        "attributes": attrs,
        "static_attributes": [{"name": "location", "type": "geo:json", "value": location}],
    }


def provision(client: httpx.Client, apikey: str, devices: list[str]) -> None:
    """One service group and the devices (1,000 per request)."""
    body = {"services": [{"apikey": apikey, "entity_type": _TYPE}]}
    _expect(client.post("/iot/services", json=body), 201, "POST /iot/services")
    for lo in range(0, len(devices), 1000):
        batch = [_device(apikey, d, lo + k) for k, d in enumerate(devices[lo : lo + 1000])]
        _expect(client.post("/iot/devices", json={"devices": batch}), 201, "POST /iot/devices")


def _expect(resp: httpx.Response, status: int | tuple[int, ...], what: str) -> None:
    wanted = (status,) if isinstance(status, int) else status
    if resp.status_code not in wanted:
        raise SystemExit(f"{what} answered {resp.status_code}: {resp.text[:400]}")


def _history_entity(device: str, values: dict[str, float], at: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": _entity_id(device), "type": _TYPE}
    for name, value in values.items():
        unit = _UNITS.get(name, "GQ")
        doc[name] = {"type": "Property", "value": value, "unitCode": unit, "observedAt": at}
    return doc


def seed_history(client: httpx.Client, devices: list[str], hours: float, step_s: float) -> int:
    """``hours`` of readings every ``step_s`` per station, oldest first, ending a minute ago,
    as batch upserts (update mode) of 250 entities; the number of readings."""
    readings = Readings(len(devices), seed=99)
    end_ms = int((time.time() - 60) * 1000)
    rounds = int(hours * 3600 / step_s) + 1
    url = f"{_API}/entityOperations/upsert?options=update"
    for r in range(rounds):
        at = time_instant(end_ms - int((rounds - 1 - r) * step_s * 1000))
        docs = [_history_entity(d, readings.next(k), at) for k, d in enumerate(devices)]
        for lo in range(0, len(docs), 250):
            resp = client.post(url, json=docs[lo : lo + 250], timeout=120)
            _expect(resp, (201, 204), "seeding upsert")
    return rounds * len(devices)


def wait_indices(client: httpx.Client, stations: int, timeout: float = 120.0) -> float:
    """Wait until every station has an airQualityIndex; the time it took."""
    start = time.monotonic()
    found: dict[str, float] = {}
    while time.monotonic() - start < timeout:
        found = fetch_indices(client)
        if len(found) >= stations:
            return time.monotonic() - start
        time.sleep(0.5)
    raise SystemExit(f"only {len(found)} of {stations} stations have an airQualityIndex")


# --- stages ------------------------------------------------------------------------------------


def _clocks(pid: int, broker: Broker) -> tuple[CpuClock, CpuClock | None]:
    clock = CpuClock(pid, by_process=True)
    bclock = CpuClock(broker.pid) if broker.pid and Path(f"/proc/{broker.pid}").exists() else None
    return clock, bclock


def _publish(
    broker: Broker,
    apikey: str,
    devices: list[str],
    messages: int,
    rate: float,
    opts: Options,
    pid: int,
) -> tuple[list[PublishResult], CpuClock, CpuClock | None]:
    """Publish, with the CPU clocks started when the first message is due."""
    plans = split_plans(broker.port, apikey, devices, messages, rate, opts.publishers)
    pubs = Publishers(plans)
    clock, bclock = _clocks(pid, broker)
    time.sleep(max(0.0, pubs.start_at - time.time()))
    clock.start()
    if bclock:
        bclock.start()
    return pubs.wait(), clock, bclock


def thudo_stage(
    server: Server, broker: Broker, apikey: str, devices: list[str], kind: str, opts: Options
) -> Stage:
    """The rate or max stage on thudo."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        before = about(client)
        sample = [_entity_id(d) for d in devices[: opts.watch]] if opts.watch else None
        watcher = Watcher(server.url, opts.poll_s, sample) if kind == "rate" else None
        if watcher:
            watcher.start()
        messages, rate = _plan(kind, opts)
        pubs, clock, bclock = _publish(
            broker, apikey, devices, messages, rate, opts, server.proc.pid
        )
        done_at, accounted = wait_accounted(
            lambda: about(client)["accounted"] - before["accounted"],
            messages * MEASURES,
            opts.drain_timeout_s,
        )
        cpu, bcpu = clock.stop(), (bclock.stop() if bclock else None)
        if watcher:
            time.sleep(1.0 + 2 * opts.poll_s)  # the indices of the last readings
            watcher.stop()
        after = about(client)
    names = ("messages", "measures", "stored", "duplicates", "late", "flagged")
    counters = {k: after[k] - before[k] for k in names}
    counters["rejected"] = (
        after["accounted"]
        - before["accounted"]
        - sum(counters[k] for k in ("stored", "duplicates", "late"))
    )
    stage = Stage("thudo", kind, messages, pubs, cpu, bcpu, done_at, accounted, counters, watcher)
    stage.peak_rss_mb = server.peak_rss_mib()
    return stage


def _plan(kind: str, opts: Options) -> tuple[int, float]:
    """(messages, messages/s; 0 = as fast as possible) of a stage."""
    if kind == "rate":
        return int(opts.rate * opts.duration_s / MEASURES), opts.rate / MEASURES
    return opts.max_messages, 0.0


def baseline_stage(
    sub: BareSubscriber, broker: Broker, apikey: str, devices: list[str], kind: str, opts: Options
) -> Stage:
    """The same stage on the bare subscriber."""
    sub.take()
    messages, rate = _plan(kind, opts)
    pubs, clock, bclock = _publish(broker, apikey, devices, messages, rate, opts, sub.pid)
    _, count = wait_accounted(lambda: sub.count(), messages, opts.drain_timeout_s, stall_s=5.0)
    cpu, bcpu = clock.stop(), (bclock.stop() if bclock else None)
    got = sub.take()
    done_at = got.last if not math.isnan(got.last) else time.time()
    return Stage(
        "baseline", kind, messages, pubs, cpu, bcpu, done_at, count * MEASURES, received=got
    )


# --- one broker --------------------------------------------------------------------------------


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_ingesting_thudo(broker: Broker, extra: dict[str, str]) -> tuple[Server, str]:
    """``thudo serve`` ingesting from ``broker`` with a fresh persistent session."""
    client_id = f"thudo-bench-{uuid.uuid4().hex[:12]}"
    with _environ(
        THUDO_INGEST_MQTT_URL=broker.url,
        THUDO_INGEST_MQTT_CLIENT_ID=client_id,
        THUDO_LOG_LEVEL="warning",
        **extra,
    ):
        server = start_thudo()
    return server, client_id


def prepare(server: Server, apikey: str, devices: list[str], opts: Options) -> dict[str, Any]:
    """Wait for the MQTT connection, provision, load the history, check every index."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        deadline = time.monotonic() + 30
        while not about(client)["connected"]:
            if time.monotonic() > deadline:
                raise SystemExit(f"thudo did not connect to the broker:\n{server.log_tail()}")
            time.sleep(0.2)
        start = time.monotonic()
        provision(client, apikey, devices)
        provision_s = time.monotonic() - start
        start = time.monotonic()
        readings = seed_history(client, devices, opts.history_h, step_s=300.0)
        seed_s = time.monotonic() - start
        index_s = wait_indices(client, len(devices)) if _analytics_on(opts) else math.nan
    server.wait_idle(timeout=60)
    server.wait_quiet(timeout=60)
    return {
        "provision_s": round(provision_s, 2),
        "history_readings": readings,
        "history_measures": readings * MEASURES,
        "history_s": round(seed_s, 2),
        "indices_after_s": round(index_s, 2),
    }


def _analytics_on(opts: Options) -> bool:
    """False when the run turns thudo's analytics off (then no index is checked or seen)."""
    value = dict(opts.thudo_env).get("THUDO_ANALYTICS_ENABLED", "true")
    return value.lower() not in ("false", "0", "no", "off")


def run_thudo(
    broker: Broker, apikey: str, devices: list[str], opts: Options, spy_out: Path | None
) -> tuple[list[Stage], dict[str, Any]]:
    """A fresh thudo on ``broker``: prepare, the rate stage, the max stage (and py-spy)."""
    server, client_id = start_ingesting_thudo(broker, dict(opts.thudo_env))
    try:
        setup = prepare(server, apikey, devices, opts)
        print(f"  thudo ready: {setup}", flush=True)
        stages = [thudo_stage(server, broker, apikey, devices, "rate", opts)]
        print("  " + progress(stages[-1]), flush=True)
        server.wait_idle(timeout=60)
        stages.append(thudo_stage(server, broker, apikey, devices, "max", opts))
        print("  " + progress(stages[-1]), flush=True)
        if spy_out is not None:
            setup["profile"] = _profile(server, broker, apikey, devices, opts, spy_out)
        setup["threads"] = server.threads()
        return stages, setup
    finally:
        server.stop()
        forget_session(broker, client_id)
        shutil.rmtree(server.workdir, ignore_errors=True)


def _profile(
    server: Server, broker: Broker, apikey: str, devices: list[str], opts: Options, raw: Path
) -> str:
    """The rate stage again under py-spy (not counted); the summary's path."""
    server.wait_idle(timeout=60)
    spy = Spy(server.proc.pid, int(opts.duration_s), raw, False)
    thudo_stage(server, broker, apikey, devices, "rate", opts)
    spy.wait()
    summary = raw.parent / (raw.stem + "-summary.txt")
    summary.write_text(summarize(raw).render())
    return str(summary)


def run_baseline(broker: Broker, apikey: str, devices: list[str], opts: Options) -> list[Stage]:
    """The bare subscriber: the rate stage and the max stage."""
    sub = BareSubscriber(broker, apikey)
    try:
        stages = []
        for kind in ("rate", "max"):
            stages.append(baseline_stage(sub, broker, apikey, devices, kind, opts))
            print("  " + progress(stages[-1]), flush=True)
        return stages
    finally:
        sub.stop()


def _broker(name: str, tmp: Path) -> Broker | None:
    if name == "system":
        return system_broker()
    return start_broker(tmp / "broker", free_port())


# --- the command -------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="MQTT device ingestion into SQLite with VN_AQI kept current (issue 5), "
        "against a bare-subscriber baseline.",
        epilog="Results are printed and saved as JSON and Markdown under benchmarks/results/.",
    )
    parser.add_argument("--stations", type=int, default=200, help="default 200")
    parser.add_argument("--rate", type=float, default=5000.0, help="measures/s (5000)")
    parser.add_argument("--duration", type=float, default=None, help="seconds (60; quick 15)")
    parser.add_argument(
        "--max-messages",
        type=int,
        default=None,
        help="messages of the max stage (20000; quick 5000)",
    )
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes (1)")
    parser.add_argument("--poll", type=float, default=0.1, help="index polling period, s (0.1)")
    parser.add_argument(
        "--watch", type=int, default=20, help="stations whose index is polled (20; 0: all)"
    )
    parser.add_argument(
        "--brokers", default="system,own", help="system, own or both (default system,own)"
    )
    parser.add_argument("--history", type=float, default=3.0, help="hours of history (3)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds (120)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare subscriber")
    parser.add_argument("--quick", action="store_true", help="15 s and 5,000 messages")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the first broker's rate stage again under py-spy (not counted)",
    )
    parser.add_argument(
        "--thudo-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for thudo, e.g. THUDO_ANALYTICS_ENABLED=false (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    args = parser.parse_args(argv)
    if not 1 <= args.stations <= 1000:
        raise SystemExit("--stations must be 1-1000 (one page of the index query)")
    return Options(
        stations=args.stations,
        rate=args.rate,
        duration_s=args.duration or (15.0 if args.quick else 60.0),
        max_messages=args.max_messages or (5000 if args.quick else 20000),
        publishers=args.publishers,
        poll_s=args.poll,
        watch=args.watch,
        brokers=tuple(b.strip() for b in args.brokers.split(",") if b.strip()),
        history_h=args.history,
        drain_timeout_s=args.drain_timeout,
        baseline=not args.no_baseline,
        profile=args.profile,
        out=args.out,
        thudo_env=tuple(_setting(text) for text in args.thudo_env),
    )


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.startswith("THUDO_"):
        raise SystemExit(f"--thudo-env {text!r}: expected THUDO_KEY=VALUE")
    return key, value


def run_broker(broker: Broker, opts: Options, spy_out: Path | None) -> dict[str, Any]:
    """Baseline then thudo on one broker."""
    apikey = f"bench{uuid.uuid4().hex[:8]}"
    devices = [f"s{k:04d}" for k in range(opts.stations)]
    print(f"{broker.name} on port {broker.port}", flush=True)
    baseline = run_baseline(broker, apikey, devices, opts) if opts.baseline else None
    thudo, setup = run_thudo(broker, apikey, devices, opts, spy_out)
    return {
        "broker": broker.name + "".join(f" [{k}={v}]" for k, v in opts.thudo_env),
        "port": broker.port,
        "setup": setup,
        "thudo": [evaluate(s) for s in thudo],
        "baseline": [evaluate(s) for s in baseline] if baseline else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Every broker, baseline and thudo; print and save the results."""
    opts = _parse(argv)
    opts.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="thudo-bench-ingest-"))
    results = []
    try:
        for name in opts.brokers:
            broker = _broker(name, tmp)
            if broker is None:
                print(f"no {name} broker: skipped", flush=True)
                continue
            spy = opts.out / f"profile-ingest-{stamp}.txt" if opts.profile and not results else None
            try:
                results.append(run_broker(broker, opts, spy))
            finally:
                broker.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = markdown(results)
    print("\n" + table)
    record = {
        "benchmark": "ingest",
        "started": stamp,
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "options": {k: str(v) for k, v in opts.__dict__.items()},
        "measures_per_message": MEASURES,
        "results": results,
        "markdown": table,
    }
    path = opts.out / f"ingest-{stamp}.json"
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    path.with_suffix(".md").write_text(table + "\n")
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
