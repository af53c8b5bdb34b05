"""Hourly and daily rollups of numeric history in PostgreSQL, kept up to date as
instances arrive; the same rows and rules as the SQLite backend (thudo/store/history.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from thudo.store.history import (
    PERIODS,
    RollupAsk,
    bucket_of,
    period_columns,
    shape_aggregates,
    shape_periods,
    shift,
)
from thudo.store.postgres.database import Conn, rows_json

__all__ = ["add_rows", "add_statements", "aggregate", "hourly_means", "refresh", "remove"]

# Rows go as one JSON parameter, one per bucket (a statement may not update a row twice).
_UPSERT = (
    "INSERT INTO trollups (tenant, entity_id, attr, dataset_id, period, bucket, n, total, lo,"
    " hi, sumsq) SELECT (r->>0)::int, r->>1, r->>2, r->>3, r->>4, r->>5, (r->>6)::bigint,"
    " (r->>7)::float8, (r->>8)::float8, (r->>9)::float8, (r->>10)::float8"
    " FROM jsonb_array_elements(%s::jsonb) AS r"
    " ON CONFLICT (tenant, entity_id, attr, dataset_id, period, bucket) DO UPDATE SET"
    " n = trollups.n + excluded.n, total = trollups.total + excluded.total,"
    " lo = least(trollups.lo, excluded.lo), hi = greatest(trollups.hi, excluded.hi),"
    " sumsq = trollups.sumsq + excluded.sumsq"
)


async def add_rows(conn: Conn, rows: Iterable[Sequence[Any]]) -> None:
    """Count new instance rows (tenant, entity_id, attr, dataset_id, observed_at, created_at,
    modified_at, deleted_at, num, ...) into the rollups."""
    for sql, params in add_statements(rows):
        await conn.execute(sql, params)


def add_statements(rows: Iterable[Sequence[Any]]) -> list[tuple[str, Sequence[Any]]]:
    """The statement that counts new instance rows into the rollups (none if no row has
    a number and an observedAt)."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        tid, entity_id, attr, ds, observed, _, _, deleted, num = row[:9]
        if num is None or observed is None or deleted is not None:
            continue
        for period, _ in PERIODS:
            key = (tid, entity_id, attr, ds, period, bucket_of(observed, period))
            acc = sums.get(key)
            if acc is None:
                sums[key] = [1, num, num, num, num * num]
            else:
                acc[0] += 1
                acc[1] += num
                acc[2] = min(acc[2], num)
                acc[3] = max(acc[3], num)
                acc[4] += num * num
    if not sums:
        return []
    # In key order: concurrent writers take the row locks in the same order.
    merged = [(*key, *acc) for key, acc in sorted(sums.items())]
    return [(_UPSERT, (rows_json(merged),))]


async def remove(conn: Conn, tid: int, entity_id: str, attr: str | None = None) -> None:
    """Forget the rollups of an entity, or of one of its attributes."""
    sql = "DELETE FROM trollups WHERE tenant = %s AND entity_id = %s"
    params: list[Any] = [tid, entity_id]
    if attr is not None:
        sql += " AND attr = %s"
        params.append(attr)
    await conn.execute(sql, params)


async def refresh(conn: Conn, tid: int, entity_id: str, attr: str, observed: Iterable[str]) -> None:
    """Recompute the buckets holding these times from the instances (after a change)."""
    stamps = list(observed)
    for period, seconds in PERIODS:
        for bucket in sorted({bucket_of(o, period) for o in stamps}):
            await conn.execute(
                "DELETE FROM trollups WHERE tenant = %s AND entity_id = %s AND attr = %s"
                " AND period = %s AND bucket = %s",
                (tid, entity_id, attr, period, bucket),
            )
            await conn.execute(
                "INSERT INTO trollups (tenant, entity_id, attr, dataset_id, period, bucket,"
                " n, total, lo, hi, sumsq) SELECT tenant, entity_id, attr, dataset_id, %s, %s,"
                " count(*), sum(num), min(num), max(num), sum(num * num) FROM tinstances"
                " WHERE tenant = %s AND entity_id = %s AND attr = %s AND num IS NOT NULL"
                " AND deleted_at IS NULL AND observed_at >= %s AND observed_at < %s"
                " GROUP BY tenant, entity_id, attr, dataset_id",
                (period, bucket, tid, entity_id, attr, bucket, shift(bucket, seconds)),
            )


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


async def aggregate(conn: Conn, ask: RollupAsk) -> dict[str, list[dict[str, Any]]]:
    """aggregatedValues from the rollups of the period that ``covers`` chose."""
    if ask.one_row_per_period:
        groups = await _periods(conn, ask)
        return shape_periods(groups, ask.aggr, dict(PERIODS)[ask.period])
    return shape_aggregates(await _grouped(conn, ask), ask.origin, ask.aggr, ask.time)


def _bucket_sql(ask: RollupAsk, params: list[Any]) -> str:
    """The time window on the buckets; its values are appended to ``params``."""
    start, end = ask.time.bounds()
    sql = ""
    if start is not None:
        sql += " AND bucket >= %s"
        params.append(start)
    if end is not None:
        sql += " AND bucket < %s"
        params.append(end)
    return sql


def _attrs_sql(ask: RollupAsk, params: list[Any]) -> str:
    if ask.attrs is None:
        return ""
    params.append(list(ask.attrs))
    return " AND attr = ANY(%s)"


async def _periods(conn: Conn, ask: RollupAsk) -> list[tuple[str, str, list[Any]]]:
    """One rollup row per asked period: per (attr, datasetId), its rows in bucket order with
    only the columns the methods need (16,667 rows for two years of hours)."""
    params: list[Any] = [ask.tid, ask.entity_id, ask.period]
    sql = (
        "SELECT DISTINCT attr, dataset_id FROM trollups"
        " WHERE tenant = %s AND entity_id = %s AND period = %s" + _attrs_sql(ask, params)
    )
    cur = await conn.execute(sql + " ORDER BY attr, dataset_id", params)
    bounds: list[Any] = []
    rows_sql = (
        f"SELECT bucket, {period_columns(ask.aggr.methods)} FROM trollups WHERE tenant = %s"
        " AND entity_id = %s AND attr = %s AND dataset_id = %s AND period = %s"
        + _bucket_sql(ask, bounds)
        + " ORDER BY bucket"
    )
    out = []
    for attr, ds in await cur.fetchall():
        key = (ask.tid, ask.entity_id, attr, ds, ask.period, *bounds)
        rows = await (await conn.execute(rows_sql, key)).fetchall()
        if rows:
            out.append((attr, ds, rows))
    return out


async def _grouped(conn: Conn, ask: RollupAsk) -> list[tuple[Any, ...]]:
    """Several rollup rows per asked period, summed in SQL: rows shaped like the raw
    aggregation's (attr, datasetId, bucket index, counts)."""
    params: list[Any] = [_epoch(ask.origin), ask.aggr.period_s, ask.tid, ask.entity_id]
    params.append(ask.period)
    sql = (
        "SELECT attr, dataset_id,"
        " floor((extract(epoch FROM bucket::timestamptz) - %s) / %s)::bigint AS b,"
        " sum(n)::bigint, NULL, sum(total), sum(total) / sum(n), min(lo), max(hi), sum(sumsq),"
        " NULL FROM trollups WHERE tenant = %s AND entity_id = %s AND period = %s"
    )
    sql += _bucket_sql(ask, params) + _attrs_sql(ask, params)
    sql += " GROUP BY attr, dataset_id, b ORDER BY attr, dataset_id, b"
    cur = await conn.execute(sql, params)
    return [tuple(r) for r in await cur.fetchall()]


async def hourly_means(
    conn: Conn, tid: int, entity_id: str, attrs: Sequence[str], since: str
) -> dict[str, dict[str, float]]:
    """attr → hour start → mean of the default instances, for the hours from ``since`` on."""
    out: dict[str, dict[str, float]] = {attr: {} for attr in attrs}
    if not attrs:
        return out
    cur = await conn.execute(
        "SELECT attr, bucket, total / n FROM trollups WHERE tenant = %s AND entity_id = %s"
        " AND attr = ANY(%s) AND dataset_id = '' AND period = 'PT1H' AND bucket >= %s",
        (tid, entity_id, list(attrs), since[:13] + ":00:00.000000Z"),
    )
    for attr, bucket, mean in await cur.fetchall():
        out[attr][bucket] = float(mean)
    return out
