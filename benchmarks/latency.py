"""Latency percentiles, the same way for every benchmark that measures them itself."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile", "summary_ms"]


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of an ascending list (nan when it is empty)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Iterable[float]) -> dict[str, float]:
    """Count, p50, p95, p99, max and mean of durations in seconds, as milliseconds."""
    ordered = sorted(seconds)
    if not ordered:
        return {"n": 0}
    out = {f"p{p}": round(1000 * percentile(ordered, p), 3) for p in (50, 95, 99)}
    out["max"] = round(1000 * ordered[-1], 3)
    out["mean"] = round(1000 * sum(ordered) / len(ordered), 3)
    out["n"] = len(ordered)
    return out
