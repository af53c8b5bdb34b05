"""Notification delivery under sustained writes: delivered/due and write-to-receipt latency.

    python benchmarks/notifications.py                 # 100, 250, 500, 750 writes/s, 60 s each
    python benchmarks/notifications.py --quick         # 500 writes/s for 15 s
    python benchmarks/notifications.py --rate 500 --duration 120 --subscriptions 1000
    python benchmarks/notifications.py --profile       # and py-spy on thudo at the first rate

For each rate, a fresh ``thudo serve`` (own SQLite file, default settings) gets M entities
of type AirQualityObserved and N subscriptions whose endpoints are the receiver
(benchmarks/receiver.py, its own process). Most subscriptions watch one entity by id; the
rest watch the type with ``q=zone==z``, and entity e has zone e % Z, so every write matches a
known set of subscriptions and the number of due notifications is exact. The generator
(benchmarks/openloop.py) then PATCHes ``pm25`` at a fixed rate, open loop, cycling over the
entities, and writes the time each write was due as the value. The receiver records the
value and the time each notification arrives; write-to-receipt latency is the difference
(one machine, one clock). After the load the outbox is drained (``GET /health``).

The baseline feeds the same receiver directly: the same generator POSTs the notifications
thudo should have sent (same paths, same JSON shape, same number) at the same average rate.
It shows what the receiver, the generator and loopback TCP manage on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from latency import summary_ms
from openloop import OpenLoopResult, http_request, run_open_loop
from payloads import ENTITY_TYPE, entity, entity_id
from profiling import Spy, summarize
from report import machine
from servers import CpuClock, CpuUse, Server, free_port, start_thudo

HERE = Path(__file__).resolve().parent
_API = "/ngsi-ld/v1"
_JSON = "application/json"
_TARGET_RATE, _TARGET_SUBS, _TARGET_P99_MS = 500, 1000, 250.0


@dataclass(frozen=True)
class Design:
    """Which subscriptions each entity's writes are due to: ``by_id`` subscriptions watch
    entities 0..by_id-1 by id, the ``zones`` others watch the type with q=zone==z."""

    subscriptions: int
    entities: int
    zones: int

    @property
    def by_id(self) -> int:
        """Subscriptions that select one entity by id."""
        return self.subscriptions - self.zones

    def subs_for(self, e: int) -> list[int]:
        """The subscription numbers a write to entity ``e`` is due to."""
        found = [e] if e < self.by_id else []
        if self.zones:
            found.append(self.by_id + e % self.zones)
        return found

    def due_per_write(self) -> float:
        """Notifications per write, averaged over a full cycle of the entities."""
        return sum(len(self.subs_for(e)) for e in range(self.entities)) / self.entities

    def check(self) -> None:
        """Stop on a design that cannot be built."""
        if not 0 <= self.zones <= self.subscriptions or self.by_id > self.entities:
            raise SystemExit(
                f"{self.subscriptions} subscriptions with {self.zones} by type need at least "
                f"{self.by_id} entities (--entities)"
            )


@dataclass(frozen=True)
class Options:
    """The command line."""

    design: Design
    rates: tuple[float, ...]
    duration_s: float
    warmup_s: float
    drain_timeout_s: float
    baseline: bool
    profile: bool
    out: Path


@dataclass
class Run:
    """One measured load on thudo or the baseline, and what the receiver recorded."""

    name: str
    rate: float
    load: OpenLoopResult
    expected: list[list[int]]
    records: dict[str, Any]
    cpu: CpuUse
    receiver_cpu_s: float
    drain_s: float = 0.0
    outbox: dict[str, int] = field(default_factory=dict)
    backlog: list[tuple[float, int]] = field(default_factory=list)
    peak_rss_mb: float = 0.0


# --- the receiver and the entities ---------------------------------------------------


def _entity_id(e: int) -> str:
    return entity_id(f"notify-{e}")


def _entity(e: int, value: float, design: Design) -> dict[str, Any]:
    """Entity e of payloads.py with a ``zone`` for the q subscriptions."""
    doc = entity(f"notify-{e}", e)
    doc["pm25"] = {"type": "Property", "value": value, "unitCode": "GQ"}
    doc["zone"] = {"type": "Property", "value": e % design.zones if design.zones else -1}
    return doc


def start_receiver() -> Server:
    """benchmarks/receiver.py on a free port, in its own process."""
    workdir = Path(tempfile.mkdtemp(prefix="thudo-bench-receiver-"))
    port = free_port()
    log_path = workdir / "receiver.log"
    cmd = [sys.executable, str(HERE / "receiver.py"), "--ports", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server("receiver", proc, port, log_path, workdir)
    server.wait_ready()
    return server


def _subscription(k: int, design: Design, receiver: Server) -> dict[str, Any]:
    endpoint = {"uri": f"{receiver.url}/notify/{k}", "accept": _JSON}
    doc: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Subscription:bench-{k}",
        "type": "Subscription",
        "notification": {"endpoint": endpoint},
    }
    if k < design.by_id:
        doc["entities"] = [{"id": _entity_id(k), "type": ENTITY_TYPE}]
    else:
        doc["entities"] = [{"type": ENTITY_TYPE}]
        doc["q"] = f"zone=={k - design.by_id}"
    return doc


async def _seed(url: str, design: Design, receiver: Server) -> None:
    """Create the entities (batches of 500) and the subscriptions (8 at a time)."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for lo in range(0, design.entities, 500):
            batch = [_entity(e, 10.0, design) for e in range(lo, min(lo + 500, design.entities))]
            resp = await client.post(f"{_API}/entityOperations/create", json=batch)
            if resp.status_code != 201:
                raise RuntimeError(f"seeding entities: {resp.status_code} {resp.text[:300]}")
        gate = asyncio.Semaphore(8)

        async def create(k: int) -> None:
            async with gate:
                body = _subscription(k, design, receiver)
                resp = await client.post(f"{_API}/subscriptions", json=body)
                if resp.status_code != 201:
                    raise RuntimeError(f"subscription {k}: {resp.status_code} {resp.text[:300]}")

        await asyncio.gather(*(create(k) for k in range(design.subscriptions)))


def _reset(receiver: Server) -> None:
    httpx.post(receiver.url + "/reset", timeout=10).raise_for_status()


def _records(receiver: Server) -> dict[str, Any]:
    resp = httpx.get(receiver.url + "/records", timeout=120)
    resp.raise_for_status()
    data: dict[str, Any] = orjson.loads(resp.content)
    return data


def _smoke_check(url: str, design: Design, receiver: Server) -> None:
    """One write to the first and one to the last entity must notify exactly the
    subscriptions the design says, with the value written."""
    _reset(receiver)
    want: set[tuple[int, float]] = set()
    for n, e in enumerate({0, design.entities - 1}):
        value = 1e6 + n
        body = {"pm25": {"type": "Property", "value": value, "unitCode": "GQ"}}
        resp = httpx.patch(f"{url}{_API}/entities/{_entity_id(e)}/attrs", json=body)
        if resp.status_code != 204:
            raise SystemExit(f"smoke check: PATCH answered {resp.status_code} {resp.text[:300]}")
        want |= {(k, value) for k in design.subs_for(e)}
    deadline = time.monotonic() + 15
    got: set[tuple[int, float]] = set()
    while time.monotonic() < deadline and got != want:
        time.sleep(0.2)
        rec = _records(receiver)
        got = set(zip(rec["sub"], rec["value"], strict=True))
    if got != want:
        raise SystemExit(f"smoke check failed: expected {sorted(want)}, received {sorted(got)}")
    _reset(receiver)


# --- load ---------------------------------------------------------------------------


def _patch_builder(port: int, design: Design) -> Any:
    host = f"127.0.0.1:{port}"
    paths = [f"{_API}/entities/{_entity_id(e)}/attrs" for e in range(design.entities)]

    def build(i: int, due: float) -> bytes:
        body = orjson.dumps({"pm25": {"type": "Property", "value": due, "unitCode": "GQ"}})
        return http_request("PATCH", host, paths[i % design.entities], body, _JSON)

    return build


async def _health(client: httpx.AsyncClient) -> dict[str, int]:
    resp = await client.get("/health")
    counts: dict[str, int] = resp.json().get("notifications", {})
    return counts


async def _watch_backlog(url: str, into: list[tuple[float, int]], every: float = 2.0) -> None:
    """Sample the outbox backlog while the load runs."""
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(httpx.HTTPError):
                counts = await _health(client)
                into.append((round(time.monotonic() - start, 1), counts.get("pending", -1)))


async def _drive(
    url: str, port: int, rate: float, count: int, design: Design
) -> tuple[OpenLoopResult, list[tuple[float, int]]]:
    backlog: list[tuple[float, int]] = []
    watcher = asyncio.create_task(_watch_backlog(url, backlog))
    try:
        load = await run_open_loop("127.0.0.1", port, rate, count, _patch_builder(port, design))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return load, backlog


async def _drain(url: str, timeout: float) -> tuple[float, dict[str, int]]:
    """Wait until the outbox has nothing pending; the wait and the last counts."""
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        counts = await _health(client)
        while counts.get("pending", 0) and time.monotonic() - start < timeout:
            await asyncio.sleep(0.1)
            counts = await _health(client)
    return time.monotonic() - start, counts


def _start_server() -> Server:
    os.environ.setdefault("THUDO_LOG_LEVEL", "warning")
    return start_thudo()


def _stop(server: Server) -> None:
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)


def run_thudo(rate: float, opts: Options, receiver: Server, spy_out: Path | None = None) -> Run:
    """A fresh thudo, seeded, warmed up, then ``rate`` writes/s for the duration."""
    design = opts.design
    server = _start_server()
    try:
        asyncio.run(_seed(server.url, design, receiver))
        time.sleep(2.5)  # the dispatcher reloads the subscriptions every second
        _smoke_check(server.url, design, receiver)
        if opts.warmup_s:
            warm = max(1, int(rate * opts.warmup_s))
            asyncio.run(_drive(server.url, server.port, rate, warm, design))
            asyncio.run(_drain(server.url, opts.drain_timeout_s))
            _reset(receiver)
        server.wait_idle(timeout=30)
        server.wait_quiet(timeout=60)
        return _measure(server, rate, opts, receiver, spy_out)
    finally:
        _stop(server)


def _measure(
    server: Server, rate: float, opts: Options, receiver: Server, spy_out: Path | None
) -> Run:
    count = int(rate * opts.duration_s)
    clock = CpuClock(server.proc.pid, by_process=True)
    rclock = CpuClock(receiver.proc.pid)
    spy = Spy(server.proc.pid, int(opts.duration_s), spy_out, False) if spy_out else None
    clock.start()
    rclock.start()
    load, backlog = asyncio.run(_drive(server.url, server.port, rate, count, opts.design))
    cpu = clock.stop()
    receiver_cpu = rclock.stop().process_s
    drain_s, outbox = asyncio.run(_drain(server.url, opts.drain_timeout_s))
    if spy is not None:
        spy.wait()
    time.sleep(0.5)  # answers to the last notifications are already in; be generous
    expected = [
        opts.design.subs_for(i % opts.design.entities) if load.ok(i) else [] for i in range(count)
    ]
    run = Run("thudo", rate, load, expected, _records(receiver), cpu, receiver_cpu)
    run.drain_s, run.outbox, run.backlog = drain_s, outbox, backlog
    run.peak_rss_mb = server.peak_rss_mib()
    return run


def _notification(k: int, e: int, value: float, design: Design) -> bytes:
    """The body thudo sends for a write to entity e (normalized, all attributes)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return orjson.dumps(
        {
            "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
            "type": "Notification",
            "subscriptionId": f"urn:ngsi-ld:Subscription:bench-{k}",
            "notifiedAt": now,
            "data": [_entity(e, value, design)],
            "triggerReason": "attributeUpdated",
        }
    )


def run_baseline(rate: float, opts: Options, receiver: Server) -> Run:
    """The notifications due from ``rate`` writes/s, POSTed straight to the receiver."""
    design = opts.design
    writes = int(rate * opts.duration_s)
    plan = [
        (k, i % design.entities)
        for i in range(writes)
        for k in design.subs_for(i % design.entities)
    ]
    host = f"127.0.0.1:{receiver.port}"

    def build(j: int, due: float) -> bytes:
        k, e = plan[j]
        return http_request("POST", host, f"/notify/{k}", _notification(k, e, due, design), _JSON)

    _reset(receiver)
    rclock = CpuClock(receiver.proc.pid, by_process=True)
    rclock.start()
    note_rate = rate * len(plan) / writes
    load = asyncio.run(run_open_loop("127.0.0.1", receiver.port, note_rate, len(plan), build))
    cpu = rclock.stop()
    time.sleep(0.5)
    expected = [[plan[j][0]] if load.ok(j) else [] for j in range(len(plan))]
    return Run("baseline", rate, load, expected, _records(receiver), cpu, cpu.process_s)


# --- results ------------------------------------------------------------------------


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole else math.nan


def _matched(run: Run) -> tuple[dict[tuple[int, int], float], int, int, int]:
    """First receipt time per (subscription, request), duplicates, unexpected, unmatched."""
    index = {due: i for i, due in enumerate(run.load.due)}
    wanted = {(k, i) for i, subs in enumerate(run.expected) for k in subs}
    first: dict[tuple[int, int], float] = {}
    duplicates = unexpected = unmatched = 0
    rec = run.records
    for k, value, at in zip(rec["sub"], rec["value"], rec["at"], strict=True):
        i = index.get(value)
        if i is None:
            unmatched += 1
            continue
        key = (k, i)
        if key not in wanted:
            unexpected += 1
        elif key in first:
            duplicates += 1
            first[key] = min(first[key], at)
        else:
            first[key] = at
    return first, duplicates, unexpected, unmatched


def _windows(run: Run, first: dict[tuple[int, int], float], width: float = 10.0) -> list[Any]:
    """Per ``width`` seconds of due time: due, delivered and p99 latency (ms)."""
    start = run.load.due[0] if run.load.due else 0.0
    buckets: dict[int, tuple[int, list[float]]] = {}
    for i, subs in enumerate(run.expected):
        w = int((run.load.due[i] - start) // width)
        due, lat = buckets.setdefault(w, (0, []))
        lat.extend(first[(k, i)] - run.load.due[i] for k in subs if (k, i) in first)
        buckets[w] = (due + len(subs), lat)
    out = []
    for w, (due, lat) in sorted(buckets.items()):
        s = summary_ms(lat)
        out.append({"from_s": w * width, "due": due, "delivered": len(lat), "p99_ms": s.get("p99")})
    return out


def evaluate(run: Run) -> dict[str, Any]:
    """The figures of one run."""
    load = run.load
    first, duplicates, unexpected, unmatched = _matched(run)
    due = sum(len(s) for s in run.expected)
    acked = sum(1 for i in range(len(load.due)) if load.ok(i))
    latency = [at - load.due[i] for (_, i), at in first.items()]
    answered = [d for d in load.done if not math.isnan(d)]
    span = (max(answered) - load.due[0]) if answered else math.nan
    wall = run.cpu.wall_s
    return {
        "name": run.name,
        "rate": run.rate,
        "requests": len(load.due),
        "sent": sum(1 for t in load.sent if not math.isnan(t)),
        "acked": acked,
        "gave_up_after_s": (
            round(load.aborted_at / run.rate, 1) if load.aborted_at is not None else None
        ),
        "statuses": _statuses(load),
        "transport_errors": load.errors,
        "due": due,
        "delivered": len(first),
        "delivered_pct": _pct(len(first), due),
        "duplicates": duplicates,
        "unexpected": unexpected,
        "unmatched_values": unmatched,
        "receiver_requests": run.records.get("requests"),
        "receiver_unreadable": run.records.get("unreadable"),
        "wrong_subscription": run.records.get("wrong_subscription"),
        "latency_ms": summary_ms(latency),
        "request_latency_ms": summary_ms(load.latencies()),
        "generator_lag_ms": summary_ms(load.lags()),
        "achieved_rate": round(acked / span, 1) if span and not math.isnan(span) else None,
        "connections": load.connections,
        "drain_s": round(run.drain_s, 2),
        "outbox_after": run.outbox,
        "backlog": run.backlog,
        "windows": _windows(run, first),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "server_cpu_pct": _pct(run.cpu.process_s, wall) if run.name == "thudo" else None,
        "receiver_cpu_pct": _pct(run.receiver_cpu_s, wall),
        "generator_cpu_pct": _pct(load.cpu_s, load.wall_s),
        "irq_cpu_pct": _pct(run.cpu.machine_irq_s, wall),
        "machine_task_cpu_pct": _pct(run.cpu.machine_task_s, wall),
        "busiest_other_processes_pct": {k: _pct(v, wall) for k, v in run.cpu.others.items()},
    }


def _statuses(load: OpenLoopResult) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in load.status:
        out[str(status)] = out.get(str(status), 0) + 1
    return out


def _met(t: dict[str, Any], design: Design) -> str:
    if t["rate"] != _TARGET_RATE or design.subscriptions != _TARGET_SUBS:
        return "-"
    missed = []
    if t["gave_up_after_s"] is not None:
        missed.append("rate")
    if t["delivered"] != t["due"] or t["due"] == 0:
        missed.append("delivered/due")
    if not t["latency_ms"].get("p99", math.inf) < _TARGET_P99_MS:
        missed.append("p99")
    return "yes" if not missed else "**no** (" + ", ".join(missed) + ")"


def _ms(summary: dict[str, float], key: str) -> str:
    value = summary.get(key)
    return "-" if value is None else (f"{value:,.0f}" if value >= 100 else f"{value:.1f}")


def markdown(pairs: list[tuple[dict[str, Any], dict[str, Any] | None]], design: Design) -> str:
    """The result table and the load table."""
    rows = [
        "| writes/s | writes acked / sent / planned | due | delivered | delivered/due | dup "
        "| failed | p50 ms | p95 ms | p99 ms | max ms | PATCH p99 ms | drain s | peak RSS MB "
        "| baseline delivered/due | baseline p99 ms | p99 thudo/baseline | target met? |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t, b in pairs:
        lat = t["latency_ms"]
        b_p99 = b["latency_ms"].get("p99") if b else None
        ratio = f"{lat['p99'] / b_p99:.1f}" if b_p99 and lat.get("p99") else "-"
        rows.append(
            f"| {t['rate']:.0f} | {t['acked']:,} / {t['sent']:,} / {t['requests']:,} "
            f"| {t['due']:,} "
            f"| {t['delivered']:,} | {t['delivered_pct']:.2f} % | {t['duplicates']} "
            f"| {t['outbox_after'].get('failed', '-')} | {_ms(lat, 'p50')} | {_ms(lat, 'p95')} "
            f"| {_ms(lat, 'p99')} | {_ms(lat, 'max')} | {_ms(t['request_latency_ms'], 'p99')} "
            f"| {t['drain_s']} | {t['peak_rss_mb']:.0f} "
            f"| {(str(b['delivered_pct']) + ' %') if b else '-'} "
            f"| {_ms(b['latency_ms'], 'p99') if b else '-'} | {ratio} | {_met(t, design)} |"
        )
    rows += [
        "",
        "| writes/s | achieved writes/s | server CPU % | receiver CPU % thudo / baseline "
        "| generator CPU % thudo / baseline | irq % | all tasks % | max backlog | connections |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t, b in pairs:
        backlog = max((n for _, n in t["backlog"]), default=0)
        rows.append(
            f"| {t['rate']:.0f} | {t['achieved_rate']} | {t['server_cpu_pct']} "
            f"| {t['receiver_cpu_pct']} / {b['receiver_cpu_pct'] if b else '-'} "
            f"| {t['generator_cpu_pct']} / {b['generator_cpu_pct'] if b else '-'} "
            f"| {t['irq_cpu_pct']} | {t['machine_task_cpu_pct']} | {backlog:,} "
            f"| {t['connections']} |"
        )
    return "\n".join(rows)


def _progress(t: dict[str, Any]) -> str:
    lat = t["latency_ms"]
    return (
        f"  {t['name']}: {t['acked']:,}/{t['requests']:,} requests ok, delivered "
        f"{t['delivered']:,}/{t['due']:,} ({t['delivered_pct']} %), dup {t['duplicates']}, "
        f"p50/p95/p99/max {_ms(lat, 'p50')}/{_ms(lat, 'p95')}/{_ms(lat, 'p99')}/"
        f"{_ms(lat, 'max')} ms, drain {t['drain_s']} s"
        + (f", GAVE UP after {t['gave_up_after_s']} s" if t["gave_up_after_s"] else "")
    )


# --- the command --------------------------------------------------------------------


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Notification delivery under sustained writes, against a bare-sender baseline.",
        epilog="Results are printed and saved as JSON under benchmarks/results/.",
    )
    parser.add_argument("--subscriptions", type=int, default=1000, help="default 1000")
    parser.add_argument("--entities", type=int, default=1000, help="default 1000")
    parser.add_argument(
        "--by-type",
        type=int,
        default=100,
        help="subscriptions by type with q=zone==z (the rest watch one entity id); default 100",
    )
    parser.add_argument(
        "--rate",
        default=None,
        help="writes/s, one or more comma-separated (default 100,250,500,750)",
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds per rate (60)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load (3)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds (120)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare sender")
    parser.add_argument("--quick", action="store_true", help="500 writes/s for 15 s only")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measurements, run the first rate again under py-spy (not counted)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    args = parser.parse_args(argv)
    rate = args.rate or ("500" if args.quick else "100,250,500,750")
    design = Design(args.subscriptions, args.entities, args.by_type)
    design.check()
    return Options(
        design=design,
        rates=tuple(float(r) for r in rate.split(",")),
        duration_s=args.duration or (15.0 if args.quick else 60.0),
        warmup_s=args.warmup,
        drain_timeout_s=args.drain_timeout,
        baseline=not args.no_baseline,
        profile=args.profile,
        out=args.out,
    )


def _profile(opts: Options, receiver: Server, stamp: str) -> str:
    raw = opts.out / f"profile-notifications-{opts.rates[0]:.0f}-{stamp}.txt"
    run_thudo(opts.rates[0], opts, receiver, spy_out=raw)
    summary = summarize(raw).render()
    (raw.parent / (raw.stem + "-summary.txt")).write_text(summary)
    return str(raw)


def main(argv: list[str] | None = None) -> None:
    """Run every rate on thudo and on the baseline, print and save the results."""
    opts = _parse(argv)
    opts.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    d = opts.design
    print(
        f"{d.subscriptions} subscriptions ({d.by_id} by id, {d.zones} by type+q) over "
        f"{d.entities} entities: {d.due_per_write():.3f} notifications due per write",
        flush=True,
    )
    load_before = os.getloadavg()
    receiver = start_receiver()
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    profile = None
    try:
        for rate in opts.rates:
            print(f"rate {rate:.0f} writes/s for {opts.duration_s:.0f} s", flush=True)
            base = evaluate(run_baseline(rate, opts, receiver)) if opts.baseline else None
            if base:
                print(_progress(base), flush=True)
            result = evaluate(run_thudo(rate, opts, receiver))
            print(_progress(result), flush=True)
            pairs.append((result, base))
        if opts.profile:
            profile = _profile(opts, receiver, stamp)
    finally:
        receiver.stop()
        shutil.rmtree(receiver.workdir, ignore_errors=True)
    table = markdown(pairs, d)
    print("\n" + table)
    record = {
        "benchmark": "notifications",
        "started": stamp,
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "design": {**d.__dict__, "by_id": d.by_id, "due_per_write": d.due_per_write()},
        "duration_s": opts.duration_s,
        "warmup_s": opts.warmup_s,
        "results": [{"thudo": t, "baseline": b} for t, b in pairs],
        "profile": profile,
        "markdown": table,
    }
    path = opts.out / f"notifications-{stamp}.json"
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
