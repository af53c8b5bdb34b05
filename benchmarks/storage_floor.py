"""The SQLite floor of a batch upsert: how long SQLite alone takes to store the rows thudo
writes for 1,000 benchmark entities, with no Python work in between.

    python benchmarks/storage_floor.py                 # 10 batches of 1,000 entities
    python benchmarks/storage_floor.py --batches 20

thudo's own store (``SqliteStore.change_many``, as a batch upsert calls it) writes one batch
of the benchmark's entities (benchmarks/payloads.py) into a scratch database; the rows it
wrote (entity, type, attribute index, geometry, R-tree and history rows) are read back and
then inserted again, batch after batch, into a fresh database with thudo's schema, with the
same multi-row INSERTs the writer uses (thudo/store/sqlite/bulk.py) and one commit per batch.

It prints, per table, the milliseconds per 1,000 entities (p50 of the batches) and the
throughput SQLite alone allows, next to the same replay without the attribute-type rows
(``kind`` 0, one per attribute) to show what a leaner layout would buy. The ratio of
``benchmarks/run.py``'s batch-upsert rate to this ceiling is the share of the time that is
not SQLite's. A diagnostic, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import payloads

from thudo.config import Settings
from thudo.ngsild.jsonld import core_context
from thudo.ngsild.parse import ParseOptions, parse_entity
from thudo.store.base import Outcome
from thudo.store.sqlite.bulk import insert_many
from thudo.store.sqlite.connection import open_connection
from thudo.store.sqlite.schema import migrate
from thudo.store.sqlite.store import SqliteStore

BATCH = 1000
#: The tables a new entity writes rows to, in the writer's order (rows.py, Rows.flush).
TABLES = ("entities", "geo", "geo_rtree", "etypes", "attrs", "tinstances")
#: Columns that must stay unique from one replayed batch to the next.
_KEYS = {"entities": ("eid", "id"), "geo": ("gid", "eid"), "geo_rtree": ("gid",)}
_KEYS |= {"etypes": ("eid",), "attrs": ("eid",), "tinstances": ("iid", "entity_id")}

Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def _created(entity: dict[str, Any]) -> Any:
    def change(current: Any) -> Outcome:
        return entity, "created"

    return change


async def _thudo_rows(workdir: Path) -> Rows:
    """The rows thudo's store writes for one batch of new benchmark entities."""
    settings = Settings(database_url=f"sqlite:///{workdir / 'source.db'}")
    store = SqliteStore(settings)
    await store.start()
    try:
        ctx, now = core_context(), "2026-01-01T00:00:00.000Z"
        entities = [
            parse_entity(payloads.entity(f"floor-{j}", j), ctx, now, ParseOptions())
            for j in range(BATCH)
        ]
        await store.change_many("", [(e["id"], _created(e)) for e in entities])
    finally:
        await store.close()
    conn = sqlite3.connect(workdir / "source.db")
    out: Rows = {}
    for table in TABLES:
        cur = conn.execute(f"SELECT * FROM {table}")  # noqa: S608 - a constant name
        out[table] = ([d[0] for d in cur.description], cur.fetchall())
    conn.close()
    return out


def _shifted(table: str, cols: list[str], rows: list[tuple[Any, ...]], n: int) -> list[Any]:
    """Batch ``n``'s copy of the rows: keys moved past every earlier batch's."""
    keys = [cols.index(c) for c in _KEYS[table]]
    out = []
    for row in rows:
        r = list(row)
        for k in keys:
            r[k] = r[k] + n * 10 * BATCH if isinstance(r[k], int) else f"{r[k]}#{n}"
        out.append(tuple(r))
    return out


def _replay(rows: Rows, batches: int, path: Path, lean: bool) -> dict[str, list[float]]:
    """Seconds per batch, by table and for the commit."""
    defaults = Settings()
    conn = open_connection(str(path), defaults.sqlite_busy_timeout_ms, defaults.sqlite_cache_mib)
    migrate(conn)
    times: dict[str, list[float]] = {t: [] for t in (*TABLES, "commit", "total")}
    for n in range(1, batches + 1):
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table in TABLES:
            cols, original = rows[table]
            batch = _shifted(table, cols, original, n)
            if lean and table == "attrs":
                batch = [r for r in batch if r[cols.index("kind")] != 0]
            t0 = time.perf_counter()
            insert_many(conn, f"INSERT INTO {table} ({', '.join(cols)})", len(cols), batch)
            times[table].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        conn.execute("COMMIT")
        times["commit"].append(time.perf_counter() - t0)
        times["total"].append(time.perf_counter() - start)
    conn.close()
    return times


def _report(name: str, times: dict[str, list[float]], rows: Rows, lean: bool) -> float:
    counts = {t: len(rows[t][1]) for t in TABLES}
    if lean:
        cols, attrs = rows["attrs"]
        counts["attrs"] = sum(1 for r in attrs if r[cols.index("kind")] != 0)
    total = times["total"]
    p50 = statistics.median(total)
    p95 = sorted(total)[max(0, round(0.95 * len(total)) - 1)]
    print(f"\n== {name}: {sum(counts.values()) / BATCH:.1f} rows per entity")
    for table in (*TABLES, "commit"):
        per = f"{counts[table] / BATCH:5.1f} rows/entity" if table in counts else " " * 16
        print(f"  {table:<11} {per}  {statistics.median(times[table]) * 1000:7.1f} ms")
    print(
        f"  per 1,000 entities: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms,"
        f" max {max(total) * 1000:.1f} ms -> SQLite alone allows {BATCH / p50:,.0f} entities/s"
    )
    return BATCH / p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=10, help="batches of 1,000 replayed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="thudo-floor-") as tmp:
        workdir = Path(tmp)
        rows = asyncio.run(_thudo_rows(workdir))
        print(
            f"sqlite {sqlite3.sqlite_version}; {BATCH:,} entities per batch, {args.batches} batches"
        )
        full = _report(
            "as thudo writes them",
            _replay(rows, args.batches, workdir / "a.db", False),
            rows,
            False,
        )
        lean = _report(
            "without the attribute-type rows",
            _replay(rows, args.batches, workdir / "b.db", True),
            rows,
            True,
        )
        print(f"\nceiling ratio lean/full: {lean / full:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
