"""History: temporal append rate, and hourly-average latency at 10k, 100k and 1M instances.

    python benchmarks/history.py              # 10k, 100k, 1M instances and 100 entities x 30 days
    python benchmarks/history.py --quick      # 10k, 100k and 100 entities x 12 hours
    python benchmarks/history.py --backend postgres   # the same on a new PostgreSQL database
    python benchmarks/history.py --help

One fresh ``thudo serve`` (own SQLite file, or own PostgreSQL database) is loaded through
the temporal API: a ``POST /temporal/entities`` with the first batch of instances, then
``POST /temporal/entities/{id}/attrs`` with the rest, 10,000 instances of ``pm25`` per
request, one instance a minute. The data sets are one entity each with 10,000, 100,000 and
1,000,000 instances (from 2023-01-01) and a fleet of 100 entities with 30 days each (from
2025-01-01, so a type query over that window finds only the fleet).

Each query asks for ``aggrMethods=avg`` with ``aggrPeriodDuration=PT1H`` over a data set's
whole range: once with hour-aligned ``timeAt``/``endTimeAt`` (answered from the hourly
rollups) and once shifted by 30 minutes (computed from the raw instances). Each is timed
sequentially and with concurrent clients, and its answer checked against averages computed
here from the generated values. Baselines measured in the same run: the equivalent SQL
(``GROUP BY`` hour over ``tinstances``, and over ``trollups``) on a connection of its own to
the same database, and a bare uvicorn app serving the very bytes thudo answered.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from latency import summary_ms
from payloads import ENTITY_TYPE
from profiling import Spy, summarize
from report import machine, table
from servers import (
    CpuClock,
    Server,
    free_port,
    postgres_database_mb,
    postgres_url,
    start_thudo,
)

HERE = Path(__file__).resolve().parent
_API = "/ngsi-ld/v1/temporal/entities"
_ATTR = "pm25"
_ATTR_IRI = "https://uri.etsi.org/ngsi-ld/default-context/pm25"
_JSON = {"Content-Type": "application/json"}
_TARGETS_MS = {"1m": 100.0, "fleet": 1000.0}


@dataclass(frozen=True)
class Series:
    """A data set: ``entities`` entities of ``per_entity`` instances, one per ``step_s``."""

    key: str
    entities: int
    per_entity: int
    start: datetime
    step_s: int = 60

    def entity_id(self, e: int) -> str:
        """The id of entity ``e``."""
        return f"urn:ngsi-ld:{ENTITY_TYPE}:hist-{self.key}-{e}"

    def value(self, e: int, i: int) -> float:
        """The value of instance ``i`` of entity ``e``: 10.0 to 109.9, scrambled."""
        return 10 + ((i * 7919 + e * 104729) % 1000) / 10

    def stamp(self, i: int) -> datetime:
        """When instance ``i`` was observed."""
        return self.start + timedelta(seconds=i * self.step_s)

    def end(self) -> datetime:
        """The first UTC hour after the last instance."""
        last = self.stamp(self.per_entity - 1)
        return last.replace(minute=0, second=0) + timedelta(hours=1)

    def hours(self) -> int:
        """Hourly buckets from the start to ``end``."""
        return int((self.end() - self.start).total_seconds() // 3600)

    @property
    def instances(self) -> int:
        """All instances of the data set."""
        return self.entities * self.per_entity

    def expected_avg(self, e: int, begin: datetime, seconds: int = 3600) -> float:
        """The average of entity e's values observed in [begin, begin + seconds)."""
        offset = (begin - self.start).total_seconds()
        first = math.ceil(offset / self.step_s)
        last = math.ceil((offset + seconds) / self.step_s)
        values = [self.value(e, i) for i in range(max(first, 0), min(last, self.per_entity))]
        return math.fsum(values) / len(values)


@dataclass(frozen=True)
class Options:
    """The command line."""

    series: tuple[Series, ...]
    batch: int
    loaders: int
    reps: int
    budget_s: float
    clients: int
    concurrent_s: float
    profile: bool
    backend: str
    out: Path
    stamp: str


@dataclass
class Loaded:
    """How a data set's loading went."""

    series: Series
    wall_s: float
    requests: list[float] = field(default_factory=list)
    progress: list[tuple[int, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "series": self.series.key,
            "entities": self.series.entities,
            "instances": self.series.instances,
            "requests": len(self.requests),
            "wall_s": round(self.wall_s, 2),
            "instances_per_s": round(self.series.instances / self.wall_s),
            "request_ms": summary_ms(self.requests),
            "progress": self.progress,
        }


# --- loading ---------------------------------------------------------------------------


def _instances(s: Series, e: int, lo: int, hi: int) -> list[dict[str, Any]]:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return [
        {"type": "Property", "value": s.value(e, i), "observedAt": s.stamp(i).strftime(fmt)}
        for i in range(lo, hi)
    ]


def _post(client: httpx.Client, s: Series, e: int, lo: int, hi: int) -> float:
    """Send instances [lo, hi) of entity e (creating it with the first batch)."""
    if lo == 0:
        body = {"id": s.entity_id(e), "type": ENTITY_TYPE, _ATTR: _instances(s, e, lo, hi)}
        url, want = _API, (201,)
    else:
        body = {_ATTR: _instances(s, e, lo, hi)}
        url, want = f"{_API}/{s.entity_id(e)}/attrs", (204,)
    data = orjson.dumps(body)
    start = time.perf_counter()
    resp = client.post(url, content=data, headers=_JSON)
    took = time.perf_counter() - start
    if resp.status_code not in want:
        raise RuntimeError(f"POST {url}: {resp.status_code} {resp.text[:300]}")
    return took


def _batches(s: Series, size: int, first: bool) -> list[tuple[int, int, int]]:
    """(entity, lo, hi) of the first batches, or of all the others."""
    out = []
    for e in range(s.entities):
        starts = [0] if first else range(size, s.per_entity, size)
        out += [(e, lo, min(lo + size, s.per_entity)) for lo in starts]
    return out


def load(server: Server, s: Series, opts: Options) -> Loaded:
    """Load a data set with ``opts.loaders`` clients, printing progress."""
    local = threading.local()
    done = [0]
    lock = threading.Lock()
    result = Loaded(s, 0.0)
    start = time.perf_counter()
    next_report = [s.instances / 10]

    def send(job: tuple[int, int, int]) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=server.url, timeout=600)
        took = _post(client, s, *job)
        with lock:
            result.requests.append(took)
            done[0] += job[2] - job[1]
            if done[0] >= next_report[0]:
                elapsed = time.perf_counter() - start
                result.progress.append((done[0], round(elapsed, 2)))
                print(f"    {s.key}: {done[0]:,} instances, {done[0] / elapsed:,.0f}/s", flush=True)
                next_report[0] += s.instances / 10

    with ThreadPoolExecutor(opts.loaders) as pool:
        for first in (True, False):
            list(pool.map(send, _batches(s, opts.batch, first)))
    result.wall_s = time.perf_counter() - start
    return result


# --- queries ----------------------------------------------------------------------------


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stored(moment: datetime) -> str:
    """A time as thudo stores it (normalized, microseconds)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


@dataclass(frozen=True)
class Query:
    """One aggregated query over a data set, aligned to UTC hours or shifted. A single
    entity is asked for with ``GET /temporal/entities/{id}`` ("retrieve"), or with
    ``GET /temporal/entities?id=...&attrs=...`` ("query"); a fleet by type."""

    series: Series
    shift_min: int = 0
    form: str = "retrieve"

    @property
    def key(self) -> str:
        """A short name."""
        kind = "rollups" if not self.shift_min else "raw (+30 min)"
        via = " via ?id=" if self.form == "query" and self.series.entities == 1 else ""
        return f"{self.series.key} {kind}{via}"

    @property
    def begin(self) -> datetime:
        """timeAt."""
        return self.series.start + timedelta(minutes=self.shift_min)

    @property
    def finish(self) -> datetime:
        """endTimeAt."""
        return self.series.end() + timedelta(minutes=self.shift_min)

    def buckets(self) -> int:
        """Hourly buckets expected per entity (the last shifted one may hold no data)."""
        s = self.series
        last = s.stamp(s.per_entity - 1)
        return int((last - self.begin).total_seconds() // 3600) + 1

    def url(self) -> tuple[str, dict[str, str]]:
        """The path and the query parameters."""
        params = {
            "attrs": _ATTR,
            "options": "aggregatedValues",
            "aggrMethods": "avg",
            "aggrPeriodDuration": "PT1H",
            "timerel": "between",
            "timeAt": _fmt(self.begin),
            "endTimeAt": _fmt(self.finish),
        }
        s = self.series
        if s.entities > 1:
            return _API, {"type": ENTITY_TYPE, "limit": str(s.entities), **params}
        if self.form == "query":
            return _API, {"id": s.entity_id(0), **params}
        return f"{_API}/{s.entity_id(0)}", params


def _timed(fn: Callable[[], Any], reps: int, budget_s: float, least: int = 3) -> list[float]:
    """Durations of up to ``reps`` calls, stopping after ``budget_s`` (but at least
    ``least`` calls)."""
    out: list[float] = []
    stop = time.perf_counter() + budget_s
    while len(out) < reps and (len(out) < least or time.perf_counter() < stop):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _get(client: httpx.Client, q: Query) -> bytes:
    path, params = q.url()
    resp = client.get(path, params=params)
    if resp.status_code != 200:
        raise RuntimeError(f"{q.key}: GET {resp.url} answered {resp.status_code} {resp.text[:300]}")
    return resp.content


def _concurrent(url: str, q: Query, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads asking in a closed loop for ``seconds``."""
    durations: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=600) as client:
            while time.perf_counter() < stop:
                took = _timed(lambda: _get(client, q), 1, 0, 1)
                with lock:
                    durations.extend(took)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"clients": clients, "qps": round(len(durations) / wall, 2), **summary_ms(durations)}


# --- checking the answers ----------------------------------------------------------------


def _avg_rows(answer: Any, q: Query) -> dict[str, list[list[Any]]]:
    """{entity id: [[avg, start, end], ...]} of an aggregatedValues answer."""
    items = answer if isinstance(answer, list) else [answer]
    return {item["id"]: item[_ATTR]["avg"] for item in items}


def check(answer: Any, q: Query) -> dict[str, Any]:
    """Compare an answer with averages computed from the generated values."""
    s = q.series
    rows = _avg_rows(answer, q)
    wanted = {s.entity_id(e) for e in range(s.entities)}
    problems = []
    if set(rows) != wanted:
        problems.append(f"entities: got {len(rows)}, {len(set(rows) - wanted)} unexpected")
    probes = [(0, 0), (s.entities - 1, q.buckets() // 2), (s.entities // 2, q.buckets() - 1)]
    compared = []
    for e, b in probes:
        got = rows.get(s.entity_id(e), [])
        begin = q.begin + timedelta(hours=b)
        want = s.expected_avg(e, begin)
        if len(got) != q.buckets():
            problems.append(f"{s.entity_id(e)}: {len(got)} buckets, expected {q.buckets()}")
        if b < len(got):
            value, lo, hi = got[b]
            compared.append({"entity": e, "bucket": b, "got": value, "expected": want})
            if not math.isclose(value, want, rel_tol=1e-9) or lo != _fmt(begin):
                problems.append(f"{s.entity_id(e)} bucket {b}: {got[b]}, expected {want}")
            if hi != _fmt(begin + timedelta(hours=1)):
                problems.append(f"{s.entity_id(e)} bucket {b} ends at {hi}")
    return {"ok": not problems, "problems": problems, "compared": compared}


# --- baselines ----------------------------------------------------------------------------

_RAW_SQL = (
    "SELECT entity_id, (CAST(strftime('%s', observed_at) AS INTEGER) - ?) / 3600 AS b,"
    " avg(num) FROM tinstances WHERE tenant = 0 AND entity_id IN ({ids}) AND attr = ?"
    " AND deleted_at IS NULL AND observed_at >= ? AND observed_at < ?"
    " GROUP BY entity_id, b ORDER BY entity_id, b"
)
# The same on PostgreSQL (the same columns and time texts; tenant 0 is the default).
_PG_RAW_SQL = (
    "SELECT entity_id, floor((extract(epoch FROM observed_at::timestamptz) - %s) / 3600) AS b,"
    " avg(num) FROM tinstances WHERE tenant = 0 AND entity_id = ANY(%s) AND attr = %s"
    " AND deleted_at IS NULL AND observed_at >= %s AND observed_at < %s"
    " GROUP BY entity_id, b ORDER BY entity_id, b"
)
_PG_ROLLUP_SQL = (
    "SELECT entity_id, bucket, sum(total) / sum(n) FROM trollups WHERE tenant = 0"
    " AND entity_id = ANY(%s) AND attr = %s AND period = 'PT1H' AND bucket >= %s"
    " AND bucket < %s GROUP BY entity_id, bucket ORDER BY entity_id, bucket"
)
_ROLLUP_SQL = (
    "SELECT entity_id, bucket, sum(total) / sum(n) FROM trollups WHERE tenant = 0"
    " AND entity_id IN ({ids}) AND attr = ? AND period = 'PT1H' AND bucket >= ? AND bucket < ?"
    " GROUP BY entity_id, bucket ORDER BY entity_id, bucket"
)


def _sql(q: Query, rollups: bool) -> tuple[str, list[Any]]:
    s = q.series
    ids = [s.entity_id(e) for e in range(s.entities)]
    marks = ",".join("?" * len(ids))
    window = [_stored(q.begin), _stored(q.finish)]
    if rollups:
        return _ROLLUP_SQL.format(ids=marks), [*ids, _ATTR_IRI, *window]
    origin = int(q.begin.timestamp())
    return _RAW_SQL.format(ids=marks), [origin, *ids, _ATTR_IRI, *window]


def sql_baseline(server: Server, q: Query, rollups: bool, opts: Options) -> dict[str, Any]:
    """The SQL equivalent, timed on its own connection (rows fetched into Python): a
    read-only one to the SQLite file, or a new one to the PostgreSQL database."""
    if server.database is not None:
        return _pg_baseline(postgres_url(server.database), q, rollups, opts)
    conn = sqlite3.connect(f"file:{server.extra['database']}?mode=ro", uri=True)
    try:
        sql, params = _sql(q, rollups)
        rows = conn.execute(sql, params).fetchall()
        took = _timed(lambda: conn.execute(sql, params).fetchall(), opts.reps, opts.budget_s)
    finally:
        conn.close()
    return {"rows": len(rows), **summary_ms(took), "values": [r[2] for r in rows]}


def _pg_baseline(url: str, q: Query, rollups: bool, opts: Options) -> dict[str, Any]:
    import psycopg

    s = q.series
    ids = [s.entity_id(e) for e in range(s.entities)]
    window = [_stored(q.begin), _stored(q.finish)]
    if rollups:
        sql, params = _PG_ROLLUP_SQL, [ids, _ATTR_IRI, *window]
    else:
        sql, params = _PG_RAW_SQL, [int(q.begin.timestamp()), ids, _ATTR_IRI, *window]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(sql, params).fetchall()
        took = _timed(lambda: conn.execute(sql, params).fetchall(), opts.reps, opts.budget_s)
    return {"rows": len(rows), **summary_ms(took), "values": [float(r[2]) for r in rows]}


def _start_fixed(body: bytes, workdir: Path) -> Server:
    """benchmarks/fixedjson.py serving ``body``."""
    path = workdir / "answer.json"
    path.write_bytes(body)
    port = free_port()
    log_path = workdir / "fixedjson.log"
    cmd = [sys.executable, str(HERE / "fixedjson.py"), "--port", str(port), "--file", str(path)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server("fixedjson", proc, port, log_path, workdir)
    server.wait_ready()
    return server


def fixed_baseline(body: bytes, q: Query, opts: Options, workdir: Path) -> dict[str, Any]:
    """The same bytes from a server that computes nothing, with the same client."""
    server = _start_fixed(body, workdir)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            took = _timed(lambda: _get(client, q), opts.reps, opts.budget_s)
    finally:
        server.stop()
    return summary_ms(took)


# --- measuring one query --------------------------------------------------------------------


def _compare_sql(answer: Any, values: list[float], q: Query) -> float:
    """The largest relative difference between thudo's averages and the SQL ones."""
    s = q.series
    rows = _avg_rows(answer, q)
    # The SQL orders by entity id as text.
    ids = sorted(s.entity_id(e) for e in range(s.entities))
    mine = [r[0] for entity_id in ids for r in rows.get(entity_id, [])]
    if len(mine) != len(values):
        return math.inf
    return max((abs(a - b) / abs(b) for a, b in zip(mine, values, strict=True)), default=0.0)


def measure(server: Server, q: Query, opts: Options) -> dict[str, Any]:
    """Time one query on thudo (sequential and concurrent) and its baselines."""
    with httpx.Client(base_url=server.url, timeout=600) as client:
        body = _get(client, q)
        _get(client, q)
        clock = CpuClock(server.proc.pid)
        clock.start()
        seq = _timed(lambda: _get(client, q), opts.reps, opts.budget_s)
        cpu = clock.stop()
    answer = orjson.loads(body)
    conc = _concurrent(server.url, q, opts.clients, opts.concurrent_s)
    raw = sql_baseline(server, q, False, opts)
    rolled = sql_baseline(server, q, True, opts) if not q.shift_min else None
    fixed = fixed_baseline(body, q, opts, server.workdir)
    return {
        "query": q.key,
        "url": str(httpx.URL(q.url()[0], params=q.url()[1])),
        "instances": q.series.instances,
        "entities": q.series.entities,
        "buckets_per_entity": q.buckets(),
        "answer_bytes": len(body),
        "check": check(answer, q),
        "max_rel_diff_vs_sql": _compare_sql(answer, raw.pop("values"), q),
        "sequential": {**summary_ms(seq), "qps": round(len(seq) / sum(seq), 2)},
        "server_cpu_pct_sequential": round(100 * cpu.process_s / cpu.wall_s, 1),
        "concurrent": conc,
        "sql_raw": raw,
        "sql_rollups": ({k: v for k, v in rolled.items() if k != "values"} if rolled else None),
        "fixed_json": fixed,
        "peak_rss_mb": round(server.peak_rss_mib(), 1),
    }


def profile(server: Server, opts: Options, seconds: int = 10) -> list[str]:
    """Sequential queries under py-spy, aligned and shifted, on the largest single entity;
    the collapsed stacks and their summary go next to the results."""
    largest = _largest_single(opts)
    paths = []
    for q in (Query(largest, 0), Query(largest, 30)):
        tag = "rollups" if not q.shift_min else "raw"
        raw = opts.out / f"profile-history-{largest.key}-{tag}-{opts.stamp}.txt"
        print(f"  profiling {q.key} for {seconds} s", flush=True)
        spy = Spy(server.proc.pid, seconds, raw, False)
        with httpx.Client(base_url=server.url, timeout=600) as client:
            _timed(functools.partial(_get, client, q), 10**6, seconds)
        spy.wait()
        (raw.parent / (raw.stem + "-summary.txt")).write_text(summarize(raw).render())
        paths.append(str(raw))
    return paths


# --- output -------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _verdict(r: dict[str, Any]) -> tuple[str, str]:
    key, aligned = r["query"].split(" ")[0], "rollups" in r["query"]
    limit = _TARGETS_MS.get(key)
    if limit is None or not aligned:
        return "-", "-"
    met = r["sequential"]["p95"] < limit and r["check"]["ok"]
    return f"p95 < {limit:,.0f} ms", "yes" if met else "**no**"


def query_table(results: list[dict[str, Any]]) -> list[str]:
    """The query results as Markdown."""
    n = results[0]["concurrent"]["clients"] if results else 0
    out = [
        "| query | instances | buckets | answer KB | p50 ms | p95 ms | p99 ms | q/s (1 client) "
        f"| q/s ({n} clients) | p95 ms ({n} clients) | SQL raw p50 ms | SQL rollups p50 ms "
        "| same JSON, bare server p50 ms | thudo p50 / best SQL p50 | correct | target | met? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in results:
        seq, conc = r["sequential"], r["concurrent"]
        sql = [r["sql_raw"]["p50"]] + ([r["sql_rollups"]["p50"]] if r["sql_rollups"] else [])
        target, met = _verdict(r)
        out.append(
            f"| {r['query']} | {r['instances']:,} | {r['buckets_per_entity'] * r['entities']:,} "
            f"| {r['answer_bytes'] / 1024:,.0f} | {_ms(seq['p50'])} | {_ms(seq['p95'])} "
            f"| {_ms(seq['p99'])} | {seq['qps']} | {conc['qps']} | {_ms(conc.get('p95'))} "
            f"| {_ms(r['sql_raw']['p50'])} "
            f"| {_ms(r['sql_rollups']['p50']) if r['sql_rollups'] else '-'} "
            f"| {_ms(r['fixed_json']['p50'])} | {seq['p50'] / min(sql):.1f} "
            f"| {'yes' if r['check']['ok'] else '**NO**'} | {target} | {met} |"
        )
    return out


def load_table(loads: list[Loaded]) -> list[str]:
    """The loading results as Markdown."""
    header = (
        "data set | entities | instances | requests | instances/s | request p50 ms "
        "| request p95 ms | first 10 % /s | last 10 % /s"
    )
    cells = []
    for ld in loads:
        d = ld.as_dict()
        ms = d["request_ms"]
        cells.append(
            (
                ld.series.key,
                d["entities"],
                f"{d['instances']:,}",
                d["requests"],
                f"{d['instances_per_s']:,}",
                _ms(ms["p50"]),
                _ms(ms["p95"]),
                *_edge_rates(ld),
            )
        )
    return table(header, "lrrrrrrrr", cells)


def _edge_rates(ld: Loaded) -> tuple[str, str]:
    p = ld.progress
    if len(p) < 2:
        return "-", "-"
    first = p[0][0] / p[0][1]
    last = (p[-1][0] - p[-2][0]) / (p[-1][1] - p[-2][1])
    return f"{first:,.0f}", f"{last:,.0f}"


# --- the command ----------------------------------------------------------------------------


def _series(quick: bool, fleet_days: float | None) -> tuple[Series, ...]:
    old, new = datetime(2023, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    names = {10_000: "10k", 100_000: "100k", 1_000_000: "1m"}
    days = fleet_days if fleet_days is not None else (0.5 if quick else 30.0)
    fleet = Series("fleet", 100, int(days * 1440), new)
    return (*(Series(names[n], 1, n, old) for n in sizes), fleet)


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Temporal append rate and aggregated-query latency, against SQL and "
        "bare-server baselines.",
        epilog="Results are printed and saved as JSON under benchmarks/results/.",
    )
    parser.add_argument("--quick", action="store_true", help="10k and 100k, fleet of 12 hours")
    parser.add_argument("--fleet-days", type=float, default=None, help="days per fleet entity")
    parser.add_argument("--batch", type=int, default=10_000, help="instances per request")
    parser.add_argument("--loaders", type=int, default=2, help="concurrent loading clients")
    parser.add_argument("--reps", type=int, default=50, help="sequential queries per case")
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per timed case")
    parser.add_argument("--clients", type=int, default=4, help="concurrent query clients")
    parser.add_argument("--concurrent", type=float, default=8.0, help="seconds of concurrency")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measurements, run the queries on the largest single entity again "
        "under py-spy (not counted)",
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="store of the thudo under test (postgres: a new database on "
        "THUDO_BENCH_POSTGRES_URL, dropped afterwards)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results folder")
    args = parser.parse_args(argv)
    return Options(
        series=_series(args.quick, args.fleet_days),
        batch=args.batch,
        loaders=args.loaders,
        reps=args.reps,
        budget_s=args.budget / (3 if args.quick else 1),
        clients=args.clients,
        concurrent_s=args.concurrent / (2 if args.quick else 1),
        profile=args.profile,
        backend=args.backend,
        out=args.out,
        stamp=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
    )


def _settings_env(opts: Options) -> dict[str, str]:
    """THUDO_ settings the load needs beyond the defaults (a batch above 1 MiB)."""
    s = opts.series[0]
    size = len(orjson.dumps({_ATTR: _instances(s, 0, 0, opts.batch)}))
    env = {"THUDO_LOG_LEVEL": "warning"}
    if size > 1024 * 1024:
        env["THUDO_MAX_BODY_BYTES"] = str(2 * size)
    return env


def _db_mb(server: Server) -> dict[str, float]:
    if server.database is not None:
        return {"db": round(postgres_database_mb(server.database), 1), "db_wal": 0.0}
    db = server.extra["database"]
    sizes = {}
    for suffix in ("", "-wal"):
        path = Path(db + suffix)
        sizes["db" + suffix.replace("-", "_")] = (
            round(path.stat().st_size / 2**20, 1) if path.exists() else 0.0
        )
    return sizes


def _largest_single(opts: Options) -> Series:
    return max((s for s in opts.series if s.entities == 1), key=lambda s: s.instances)


def _queries(opts: Options) -> list[Query]:
    """Aligned and shifted for every data set; the largest single entity also through the
    query endpoint (which passes ``attrs`` down to the store)."""
    out = [Query(s, shift) for s in opts.series for shift in (0, 30)]
    largest = _largest_single(opts)
    out.insert(out.index(Query(largest, 30)), Query(largest, 0, "query"))
    return out


def _run(opts: Options, env: dict[str, str]) -> Iterator[tuple[str, Any]]:
    os.environ.update(env)
    server = start_thudo(backend=opts.backend)
    try:
        where = server.database or server.extra["database"]
        print(f"thudo on {server.url}, {opts.backend} database {where}", flush=True)
        for s in opts.series:
            print(f"  loading {s.key}: {s.entities} x {s.per_entity:,} instances", flush=True)
            yield "load", load(server, s, opts)
        yield (
            "after_load",
            {"peak_rss_mb": server.peak_rss_mib(), **_db_mb(server)},
        )
        server.wait_idle(timeout=120)
        for q in _queries(opts):
            print(f"  query {q.key}", flush=True)
            yield "query", measure(server, q, opts)
        yield "after_queries", {"peak_rss_mb": server.peak_rss_mib()}
        if opts.profile:
            yield "profiles", profile(server, opts)
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Load, query, print and save."""
    opts = _parse(argv)
    opts.out.mkdir(parents=True, exist_ok=True)
    stamp = opts.stamp
    env = _settings_env(opts)
    record: dict[str, Any] = {
        "benchmark": "history",
        "backend": opts.backend,
        "started": stamp,
        "settings": env,
    }
    record["loadavg_before"] = os.getloadavg()
    loads: list[Loaded] = []
    queries: list[dict[str, Any]] = []
    for kind, item in _run(opts, env):
        if kind == "load":
            loads.append(item)
        elif kind == "query":
            queries.append(item)
            seq = item["sequential"]
            print(
                f"    p50 {_ms(seq['p50'])} ms, p95 {_ms(seq['p95'])} ms, "
                f"correct: {item['check']['ok']} {item['check']['problems'][:2]}",
                flush=True,
            )
        else:
            record[kind] = item
    table = "\n".join([*load_table(loads), "", *query_table(queries)])
    print("\n" + table)
    record |= {
        "loadavg_after": os.getloadavg(),
        "machine": machine(),
        "loads": [ld.as_dict() for ld in loads],
        "queries": queries,
        "markdown": table,
    }
    suffix = "" if opts.backend == "sqlite" else f"-{opts.backend}"
    path = opts.out / f"history{suffix}-{stamp}.json"
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
