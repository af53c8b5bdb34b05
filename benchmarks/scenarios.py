"""The benchmark scenarios: what each sends, what it needs loaded first, how a correct
answer looks, and the target it is judged against."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from loadgen import LoadSpec
from payloads import (
    ENTITY_TYPE,
    QUERY_ATTR,
    QUERY_VALUES,
    UPDATE_ATTR,
    batch_template,
    entity,
    entity_id,
    entity_template,
)

__all__ = [
    "GROUPS",
    "Options",
    "Stage",
    "Target",
    "seed",
    "smoke_check",
    "stages_for",
    "wrk_spec",
]

BATCH_SIZE = 1000
SEED_PREFIX = "s"
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Target:
    """The goal from the issue: a minimum throughput, and optionally p95 and peak RSS limits."""

    min_throughput: float
    max_p95_ms: float | None = None
    max_rss_mb: float | None = None

    def describe(self, unit: str) -> str:
        """The target as text."""
        parts = [f">= {self.min_throughput:,.0f} {unit}"]
        if self.max_p95_ms is not None:
            parts.append(f"p95 < {self.max_p95_ms:g} ms")
        if self.max_rss_mb is not None:
            parts.append(f"RSS < {self.max_rss_mb:g} MB")
        return ", ".join(parts)


@dataclass(frozen=True)
class Stage:
    """One measured row: a wrk scenario run after ``entities`` seeded entities exist."""

    key: str
    scenario: str
    title: str
    entities: int
    unit: str = "req/s"
    per_request: int = 1
    target: Target | None = None
    connections: int | None = None  # instead of the run's --connections


@dataclass(frozen=True)
class Options:
    """Knobs of a run."""

    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    upsert_duration_s: int
    upsert_connections: int
    seed_entities: int
    query_sizes: tuple[int, ...]
    workdir: Path
    query_connections: int = 8


def stages_for(opts: Options) -> dict[str, list[Stage]]:
    """Stages grouped by the server they share (one fresh server per group)."""
    n = opts.seed_entities
    queries = [
        Stage(
            f"query-{_short(size)}",
            "query",
            f"type+q query at {size:,} entities",
            size,
            target=Target(500, 50, 300) if size >= 100_000 else None,
        )
        for size in opts.query_sizes
    ]
    # wrk is a closed loop: at saturation its latency is the queue that its connection
    # count builds (Little's law). The same query with fewer connections shows the latency
    # when the server is not flooded, at close to the same throughput.
    largest = max(opts.query_sizes, default=0)
    if largest and opts.query_connections != opts.connections:
        queries.append(
            Stage(
                f"query-{_short(largest)}-c{opts.query_connections}",
                "query",
                f"type+q query at {largest:,} entities, {opts.query_connections} connections",
                largest,
                target=Target(500, 50, 300) if largest >= 100_000 else None,
                connections=opts.query_connections,
            )
        )
    return {
        "create": [Stage("create", "create", "create entity", 0, target=Target(3000))],
        "patch": [
            Stage(
                "patch",
                "patch",
                f"partial attribute update ({n:,} entities)",
                n,
                target=Target(5000),
            )
        ],
        "get": [Stage("get", "get", f"retrieve entity ({n:,} entities)", n)],
        "query": queries,
        "upsert": [
            Stage(
                "upsert",
                "upsert",
                "batch upsert (1,000 per batch, new ids)",
                0,
                unit="entities/s",
                per_request=BATCH_SIZE,
                target=Target(20_000),
            )
        ],
    }


GROUPS = ("create", "patch", "get", "query", "upsert")


def _short(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def wrk_spec(stage: Stage, opts: Options, phase: str) -> LoadSpec:
    """The wrk run of a stage in a phase: ``warmup``, ``measure`` or ``profile``, each of
    which creates entities under its own ids."""
    warmup = phase == "warmup"
    tag = phase[0]
    duration = opts.warmup_s if warmup else opts.duration_s
    connections = stage.connections or opts.connections
    args: dict[str, str] = {"start": "0"}
    if stage.scenario == "create":
        args["template"] = str(_template(opts.workdir, f"create-{tag}", entity_template(tag)))
    elif stage.scenario == "upsert":
        body = batch_template(tag, BATCH_SIZE)
        args["template"] = str(_template(opts.workdir, f"upsert-{tag}", body))
        connections = opts.upsert_connections
        duration = duration if warmup else opts.upsert_duration_s
    elif stage.scenario in ("patch", "get"):
        args |= {
            "prefix": entity_id(SEED_PREFIX),
            "modulo": str(stage.entities),
            "attr": UPDATE_ATTR,
        }
    else:
        args |= {"type": ENTITY_TYPE, "attr": QUERY_ATTR, "modulo": str(QUERY_VALUES)}
    return LoadSpec(stage.scenario, connections, duration, opts.threads, args)


def _template(workdir: Path, name: str, body: bytes) -> Path:
    path = workdir / f"{name}.json"
    if not path.exists():
        path.write_bytes(body)
    return path


def _seed_batch(client: httpx.Client, start: int, stop: int) -> None:
    body = orjson.dumps([entity(f"{SEED_PREFIX}{i}", i) for i in range(start, stop)])
    r = client.post("/ngsi-ld/v1/entityOperations/upsert", content=body, headers=_JSON)
    if r.status_code not in (201, 204):
        raise RuntimeError(f"seeding failed: {r.status_code} {r.text[:300]}")


def seed(
    base_url: str,
    have: int,
    want: int,
    report: Callable[[int, int, float], None],
    parallel: int = 2,
) -> None:
    """Load entities ``have``..``want`` through batch upserts of 1,000; after every 10,000,
    call ``report`` with the total loaded, the entities just loaded and the seconds taken."""
    chunk = 10 * BATCH_SIZE
    with httpx.Client(base_url=base_url, timeout=600) as client, ThreadPoolExecutor(parallel) as ex:
        for lo in range(have, want, chunk):
            hi = min(lo + chunk, want)
            started = time.monotonic()
            starts = range(lo, hi, BATCH_SIZE)
            jobs = [ex.submit(_seed_batch, client, s, min(s + BATCH_SIZE, hi)) for s in starts]
            for job in jobs:
                job.result()
            report(hi, hi - lo, time.monotonic() - started)


def _expect(r: httpx.Response, status: int, what: str) -> httpx.Response:
    if r.status_code != status:
        raise RuntimeError(f"{what}: expected {status}, got {r.status_code}: {r.text[:300]}")
    return r


def smoke_check(base_url: str, stage: Stage, is_thudo: bool) -> None:
    """One request of the stage's kind, checked by hand, before wrk repeats it blindly."""
    with httpx.Client(base_url=base_url, timeout=120) as c:
        seeded = "/ngsi-ld/v1/entities/" + entity_id(f"{SEED_PREFIX}0")
        if stage.scenario == "create":
            body = orjson.dumps(entity("smoke", 0))
            _expect(c.post("/ngsi-ld/v1/entities", content=body, headers=_JSON), 201, "create")
        elif stage.scenario == "upsert":
            body = batch_template("smoke", BATCH_SIZE).replace("\u00a7N\u00a7".encode(), b"0")
            path = "/ngsi-ld/v1/entityOperations/upsert"
            r = _expect(c.post(path, content=body, headers=_JSON), 201, "upsert")
            if len(r.json()) != BATCH_SIZE:
                raise RuntimeError("upsert: the answer does not list 1,000 created ids")
        elif stage.scenario == "patch":
            path = f"{seeded}/attrs/{UPDATE_ATTR}"
            _expect(c.patch(path, content=b'{"value": 4242}', headers=_JSON), 204, "patch")
            if is_thudo and c.get(seeded).json()[UPDATE_ATTR]["value"] != 4242:
                raise RuntimeError("patch: the new value is not read back")
        elif stage.scenario == "get":
            if _expect(c.get(seeded), 200, "get").json()["id"] != entity_id(f"{SEED_PREFIX}0"):
                raise RuntimeError("get: wrong entity")
        else:
            _check_query(c, stage, is_thudo)


def _check_query(c: httpx.Client, stage: Stage, is_thudo: bool) -> None:
    params = {"type": ENTITY_TYPE, "q": f"{QUERY_ATTR}==7", "limit": "20"}
    if is_thudo:
        params["count"] = "true"
    r = _expect(c.get("/ngsi-ld/v1/entities", params=params), 200, "query")
    page = r.json()
    if len(page) != min(20, stage.entities // QUERY_VALUES):
        raise RuntimeError(f"query: {len(page)} entities on the page")
    if is_thudo:
        matched = int(r.headers["ngsild-results-count"])
        if matched != stage.entities // QUERY_VALUES:
            raise RuntimeError(f"query: {matched} matches, expected 1 % of {stage.entities}")
        if any(e[QUERY_ATTR]["value"] != 7 for e in page):
            raise RuntimeError("query: an entity on the page does not match q")
