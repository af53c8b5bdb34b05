"""Short numeric series of one entity, for the analytics pipeline: hourly means from the
rollups and raw values from the instances, both read through their primary-key order."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["hourly_means", "recent_values"]


def hourly_means(
    conn: sqlite3.Connection, tid: int, entity_id: str, attrs: Sequence[str], since: str
) -> dict[str, dict[str, float]]:
    """attr → hour start → mean of the default instances, for the hours from ``since`` on."""
    out: dict[str, dict[str, float]] = {attr: {} for attr in attrs}
    if not attrs:
        return out
    start = since[:13] + ":00:00.000000Z"
    marks = ", ".join("?" * len(attrs))
    # One statement: the IN list seeks each attribute's rows along the primary key.
    rows = conn.execute(
        "SELECT attr, bucket, total / n FROM trollups WHERE tenant = ? AND entity_id = ?"
        f" AND attr IN ({marks}) AND dataset_id = '' AND period = 'PT1H' AND bucket >= ?",
        (tid, entity_id, *attrs, start),
    )
    for attr, bucket, mean in rows:
        out[attr][bucket] = float(mean)
    return out


def recent_values(
    conn: sqlite3.Connection, tid: int, entity_id: str, attr: str, since: str
) -> list[tuple[str, float]]:
    """(observed_at, value) of the default instance's numeric values from ``since`` on."""
    rows = conn.execute(
        "SELECT observed_at, num FROM tinstances WHERE tenant = ? AND entity_id = ? AND attr = ?"
        " AND observed_at >= ? AND dataset_id = '' AND num IS NOT NULL AND deleted_at IS NULL"
        " ORDER BY observed_at",
        (tid, entity_id, attr, since),
    )
    return [(str(at), float(num)) for at, num in rows]
