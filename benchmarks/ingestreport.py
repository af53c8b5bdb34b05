"""The figures and Markdown tables of the ingestion benchmark (benchmarks/ingest.py)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from ingestwatch import Stage, Watcher
from latency import summary_ms
from mqttload import ATTRIBUTES

__all__ = ["MEASURES", "evaluate", "markdown", "progress"]

MEASURES = len(ATTRIBUTES)
#: Issue 5: 5,000 measures/s, publish-to-index lag p95 under 1 s.
TARGET_RATE, TARGET_P95_MS = 5000.0, 1000.0


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _rate(count: float, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 and not math.isnan(seconds) else None


def evaluate(stage: Stage) -> dict[str, Any]:
    """The figures of one stage."""
    published = sum(p.published for p in stage.pubs)
    lags = [lag for p in stage.pubs for lag in p.lag_s]
    wall = stage.cpu.wall_s
    out: dict[str, Any] = {
        "system": stage.system,
        "stage": stage.kind,
        "messages_planned": stage.messages,
        "messages_published": published,
        "messages_acked_by_broker": sum(p.acked for p in stage.pubs),
        "publish_errors": sum(p.errors for p in stage.pubs),
        "measures_published": published * MEASURES,
        "published_per_s": _rate(published * MEASURES, stage.last - stage.first),
        "publish_s": round(stage.last - stage.first, 3),
        "generator_lag_ms": summary_ms(lags),
        "accounted": stage.accounted,
        "all_accounted": stage.accounted >= published * MEASURES,
        "done_after_s": round(stage.done_at - stage.first, 3),
        "drain_s": round(stage.done_at - stage.last, 3),
        "done_per_s": _rate(stage.accounted, stage.done_at - stage.first),
        "cpu_pct": _pct(stage.cpu.process_s, wall),
        "broker_cpu_pct": _pct(stage.broker_cpu.process_s, wall) if stage.broker_cpu else None,
        "publisher_cpu_pct": _pct(sum(p.cpu_s for p in stage.pubs), wall),
        "irq_cpu_pct": _pct(stage.cpu.machine_irq_s, wall),
        "machine_task_cpu_pct": _pct(stage.cpu.machine_task_s, wall),
        "busiest_other_processes_pct": {k: _pct(v, wall) for k, v in stage.cpu.others.items()},
        "counters": stage.counters,
        "peak_rss_mb": round(stage.peak_rss_mb, 1),
    }
    if stage.received is not None:
        out["latency_ms"] = summary_ms(stage.received.latency_s)
    if stage.watcher is not None:
        out |= _index_figures(stage)
    return out


def _index_figures(stage: Stage) -> dict[str, Any]:
    w = stage.watcher
    assert w is not None
    lags = [seen - at for seen, at in w.updates if at >= stage.first]
    window = (stage.first + 5.0, stage.last)
    ages = [age for t, age in w.ages if window[0] <= t <= window[1]]
    return {
        "index_updates": len(lags),
        "index_updates_per_station_s": _rate(
            len(lags) / max(1, _stations(w)), stage.done_at - stage.first
        ),
        "lag_ms": summary_ms(lags),
        "index_age_ms": summary_ms(ages),
        "index_get_ms": summary_ms(w.gets),
        "polls": len(w.gets),
        "poll_errors": w.errors,
        "stored_per_s_samples": _sample_rates(w.samples),
    }


def _stations(w: Watcher) -> int:
    polls = max(1, len(w.gets))
    return round(len(w.ages) / polls)


def _sample_rates(samples: list[tuple[float, dict[str, Any]]]) -> list[tuple[float, float]]:
    """Stored measures/s between consecutive /iot/about samples."""
    out = []
    for (t0, a), (t1, b) in itertools.pairwise(samples):
        out.append((round(t1 - samples[0][0], 1), round((b["stored"] - a["stored"]) / (t1 - t0))))
    return out


def _ms(summary: dict[str, float], key: str) -> str:
    value = summary.get(key)
    return "-" if value is None else (f"{value:,.0f}" if value >= 100 else f"{value:.1f}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _met(t: dict[str, Any]) -> str:
    if t["published_per_s"] is None or t["published_per_s"] < 0.99 * TARGET_RATE:
        return "-"
    missed = []
    if not t["all_accounted"] or t["drain_s"] > 1.0:
        missed.append("throughput")
    if not t["lag_ms"].get("p95", math.inf) < TARGET_P95_MS:
        missed.append("p95")
    return "yes" if not missed else "**no** (" + ", ".join(missed) + ")"


def _rate_table(rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> list[str]:
    out = [
        "| broker | published measures/s | stored measures/s | accounted / published "
        "| drain s | index updates | lag p50 ms | p95 ms | p99 ms | max ms | index age p95 ms "
        "| thudo CPU % | peak RSS MB | baseline received / published | baseline p50 / p95 / p99 ms "
        "| lag p95 thudo / baseline | target met? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, t, b in rows:
        lag, bl = t["lag_ms"], (b["latency_ms"] if b else {})
        ratio = f"{lag['p95'] / bl['p95']:.0f}" if bl.get("p95") and lag.get("p95") else "-"
        base = f"{b['accounted']:,} / {b['measures_published']:,}" if b else "-"
        out.append(
            f"| {name} | {_num(t['published_per_s'])} | {_num(t['done_per_s'])} "
            f"| {t['accounted']:,} / {t['measures_published']:,} | {t['drain_s']:.2f} "
            f"| {t['index_updates']:,} | {_ms(lag, 'p50')} | {_ms(lag, 'p95')} | {_ms(lag, 'p99')} "
            f"| {_ms(lag, 'max')} | {_ms(t['index_age_ms'], 'p95')} | {t['cpu_pct']} "
            f"| {t['peak_rss_mb']:.0f} | {base} "
            f"| {_ms(bl, 'p50')} / {_ms(bl, 'p95')} / {_ms(bl, 'p99')} | {ratio} | {_met(t)} |"
        )
    return out


def _max_table(rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> list[str]:
    out = [
        "| broker | messages (measures) | publish s | thudo: accounted after s | thudo measures/s "
        "| thudo accounted / published | thudo CPU % | broker CPU % | baseline measures/s "
        "| baseline received / published | thudo / baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t, b in rows:
        ratio = f"{t['done_per_s'] / b['done_per_s']:.2f}" if b and b["done_per_s"] else "-"
        out.append(
            f"| {name} | {t['messages_published']:,} ({t['measures_published']:,}) "
            f"| {t['publish_s']:.2f} | {t['done_after_s']:.2f} | {_num(t['done_per_s'])} "
            f"| {t['accounted']:,} / {t['measures_published']:,} | {t['cpu_pct']} "
            f"| {t['broker_cpu_pct']} | {_num(b['done_per_s']) if b else '-'} "
            f"| {_share(b)} "
            f"| {ratio} |"
        )
    return out


def _share(t: dict[str, Any] | None) -> str:
    """accounted / published measures."""
    return f"{t['accounted']:,} / {t['measures_published']:,}" if t else "-"


def _load_table(rows: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> list[str]:
    out = [
        "| broker | thudo CPU % | broker CPU % thudo / baseline | subscriber CPU % (baseline) "
        "| publisher CPU % | generator lag p99 ms | irq % | all tasks % | index GET p50 / p99 ms "
        "| polls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t, b in rows:
        g = t["index_get_ms"]
        out.append(
            f"| {name} | {t['cpu_pct']} "
            f"| {t['broker_cpu_pct']} / {b['broker_cpu_pct'] if b else '-'} "
            f"| {b['cpu_pct'] if b else '-'} | {t['publisher_cpu_pct']} "
            f"| {_ms(t['generator_lag_ms'], 'p99')} | {t['irq_cpu_pct']} "
            f"| {t['machine_task_cpu_pct']} | {_ms(g, 'p50')} / {_ms(g, 'p99')} | {t['polls']:,} |"
        )
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    """The rate table, the max-rate table and the load table."""
    by_stage: dict[str, list[tuple[str, dict[str, Any], dict[str, Any] | None]]] = {}
    for r in results:
        for t, b in zip(r["thudo"], r["baseline"] or [None] * len(r["thudo"]), strict=True):
            by_stage.setdefault(t["stage"], []).append((r["broker"], t, b))
    rate, top = by_stage.get("rate", []), by_stage.get("max", [])
    return "\n".join([*_rate_table(rate), "", *_max_table(top), "", *_load_table(rate)])


def progress(stage: Stage) -> str:
    t = evaluate(stage)
    text = (
        f"{stage.system} {stage.kind}: published {t['messages_published']:,} messages "
        f"({_num(t['published_per_s'])} measures/s), accounted {t['accounted']:,}/"
        f"{t['measures_published']:,} after {t['done_after_s']} s "
        f"({_num(t['done_per_s'])} measures/s), CPU {t['cpu_pct']} %"
    )
    if "lag_ms" in t:
        lag = t["lag_ms"]
        text += (
            f", {t['index_updates']:,} index updates, lag p50/p95/p99/max "
            f"{_ms(lag, 'p50')}/{_ms(lag, 'p95')}/{_ms(lag, 'p99')}/{_ms(lag, 'max')} ms"
        )
    if "latency_ms" in t:
        lat = t["latency_ms"]
        text += f", latency p50/p95/p99 {_ms(lat, 'p50')}/{_ms(lat, 'p95')}/{_ms(lat, 'p99')} ms"
    return text
