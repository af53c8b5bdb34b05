"""The machine description and the result tables (Markdown, so they paste into
docs/performance.md)."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from loadgen import LoadResult
from scenarios import Stage

__all__ = ["Row", "machine", "markdown", "table"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "sqlite x1"


@dataclass
class Row:
    """One stage measured on thudo and on the baseline, with thudo's memory."""

    stage: Stage
    thudo: LoadResult
    baseline: LoadResult | None
    peak_rss_mb: float
    rss_mb: float
    db_mb: float
    wal_mb: float
    seed_s: float
    connections: int
    seed_log: list[tuple[int, float]]
    server: str = DEFAULT_SERVER  # backend and worker processes: "postgres x2"
    reference: LoadResult | None = None  # the same stage on SQLite with one worker

    def vs_reference(self) -> float | None:
        """Throughput as a fraction of the SQLite one-worker reference, if measured."""
        ref = self.throughput(self.reference)
        return self.throughput(self.thudo) / ref if ref else None

    def throughput(self, result: LoadResult | None) -> float:
        """Requests/s, or entities/s for batches."""
        return result.rps * self.stage.per_request if result is not None else 0.0

    def vs_baseline(self) -> float:
        """Throughput as a fraction of the baseline's (0 without a baseline)."""
        base = self.baseline
        return self.throughput(self.thudo) / self.throughput(base) if base and base.rps else 0.0

    def target_text(self) -> str:
        """The stage's target as text, or "-"."""
        return self.stage.target.describe(self.stage.unit) if self.stage.target else "-"

    def verdict(self) -> str:
        """Whether thudo met the stage's target, and which part it missed."""
        t = self.stage.target
        if t is None:
            return "-"
        missed = []
        if self.throughput(self.thudo) < t.min_throughput:
            missed.append("throughput")
        if t.max_p95_ms is not None and self.thudo.latency_ms["p95"] >= t.max_p95_ms:
            missed.append("p95")
        if t.max_rss_mb is not None and self.peak_rss_mb >= t.max_rss_mb:
            missed.append("RSS")
        return "yes" if not missed else "NO (" + ", ".join(missed) + ")"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly record."""
        return {
            "stage": self.stage.key,
            "server": self.server,
            "title": self.stage.title,
            "unit": self.stage.unit,
            "entities": self.stage.entities,
            "throughput": round(self.throughput(self.thudo), 1),
            "baseline_throughput": round(self.throughput(self.baseline), 1),
            "thudo": self.thudo.as_dict(),
            "baseline": self.baseline.as_dict() if self.baseline else None,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "rss_mb": round(self.rss_mb, 1),
            "db_mb": round(self.db_mb, 1),
            "wal_mb": round(self.wal_mb, 1),
            "seed_s": round(self.seed_s, 1),
            "connections": self.connections,
            "seed_rate_log": self.seed_log,
            "target": self.stage.target.describe(self.stage.unit) if self.stage.target else None,
            "met": self.verdict(),
            "vs_sqlite_1_worker": round(v, 3) if (v := self.vs_reference()) else None,
        }


def _run(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout or done.stderr).strip()


def _lscpu(key: str) -> str:
    for line in _run(["lscpu"]).splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return "?"


def _meminfo_gib(key: str) -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit(ref: str | None) -> str:
    if ref is not None:
        return _run(["git", "rev-parse", "--short", ref]) + f" ({ref}, exported)"
    dirty = _run(["git", "status", "--porcelain", "--", "thudo"])
    head = _run(["git", "rev-parse", "--short", "HEAD"])
    return head + (f" + {len(dirty.splitlines())} uncommitted files in thudo/" if dirty else "")


def machine(ref: str | None = None) -> dict[str, str]:
    """What the numbers were measured on (``ref``: the git ref served, if not the work tree)."""
    packages = ("thudo", "uvicorn", "starlette", "uvloop", "httptools", "orjson", "shapely")
    return {
        "cpu": f"{_lscpu('Model name')}, {os.cpu_count()} vCPU "
        f"({_lscpu('Thread(s) per core')} thread/core), {_lscpu('Hypervisor vendor')} guest",
        "memory": f"{_meminfo_gib('MemTotal'):.1f} GiB RAM, "
        f"{_meminfo_gib('SwapTotal'):.1f} GiB swap",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (_run(["wrk", "-v"]).splitlines() or ["?"])[0],
        "packages": ", ".join(f"{p} {_version(p)}" for p in packages),
        "thudo_commit": _commit(ref),
    }


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def table(header: str, align: str, rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table: ``header`` the column names between " | ", ``align`` a
    letter a column, ``l`` for left or ``r`` for right (numbers), and each row a cell a column."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [f"| {header} |", rule, *(_cells(row) for row in rows)]


def _cells(row: Sequence[object]) -> str:
    return "| " + " | ".join(map(str, row)) + " |"


def _results_table(rows: list[Row]) -> list[str]:
    header = (
        "scenario | thudo | p50 ms | p95 ms | p99 ms | peak RSS MB | baseline | baseline p95 ms "
        "| thudo/baseline | target | met?"
    )
    return table(header, "lrrrrrrrrll", (_result_cells(r) for r in rows))


def _result_cells(r: Row) -> tuple[object, ...]:
    lat, unit, base = r.thudo.latency_ms, r.stage.unit, r.baseline
    return (
        r.stage.title,
        f"{r.throughput(r.thudo):,.0f} {unit}",
        *(_ms(lat[p]) for p in ("p50", "p95", "p99")),
        f"{r.peak_rss_mb:.0f}",
        f"{r.throughput(base):,.0f} {unit}",
        _ms(base.latency_ms["p95"]) if base else "-",
        f"{r.vs_baseline():.3f}",
        r.target_text(),
        r.verdict(),
    )


def _load_table(rows: list[Row]) -> list[str]:
    header = (
        "scenario | conns | requests thudo / baseline | errors | server CPU % thudo / baseline "
        "| wrk CPU % thudo / baseline | irq % thudo / baseline | other procs % thudo / baseline "
        "| DB + WAL MB | seeding s"
    )
    return table(header, "lrrrrrrrrr", (_load_cells(r) for r in rows))


def _load_cells(r: Row) -> tuple[object, ...]:
    t, b = r.thudo, r.baseline

    def pair(f: str) -> str:
        return f"{t.as_dict()[f]} / {b.as_dict()[f] if b else '-'}"

    return (
        r.stage.key,
        r.connections,
        f"{t.requests:,} / {b.requests if b else 0:,}",
        t.error_count + (b.error_count if b else 0),
        *(pair(f) for f in ("server_cpu_pct", "generator_cpu_pct", "irq_cpu_pct")),
        pair("other_cpu_pct"),
        f"{r.db_mb:.0f} + {r.wal_mb:.0f}",
        f"{r.seed_s:.1f}",
    )


def _servers_table(rows: list[Row]) -> list[str]:
    """The results with one row per stage and server setup (backend x workers)."""
    header = (
        "scenario | server | thudo | p50 ms | p95 ms | p99 ms | peak RSS MB | vs SQLite x1 "
        "| baseline | thudo/baseline | target | met?"
    )
    return table(header, "llrrrrrrrrll", (_server_cells(r) for r in rows))


def _server_cells(r: Row) -> tuple[object, ...]:
    lat, unit, base, vs = r.thudo.latency_ms, r.stage.unit, r.baseline, r.vs_reference()
    return (
        r.stage.title,
        r.server,
        f"{r.throughput(r.thudo):,.0f} {unit}",
        *(_ms(lat[p]) for p in ("p50", "p95", "p99")),
        f"{r.peak_rss_mb:.0f}",
        f"{vs:.2f}" if vs is not None else "-",
        f"{r.throughput(base):,.0f} {unit}" if base else "-",
        f"{r.vs_baseline():.3f}" if base else "-",
        r.target_text(),
        r.verdict(),
    )


def _by_process(d: dict[str, Any]) -> str:
    """Total server CPU, and per process when there are several busy ones (workers)."""
    parts = [p for p in d.get("server_cpu_pct_by_process", []) if p >= 1]
    each = " (" + " / ".join(f"{p:g}" for p in parts) + ")" if len(parts) > 1 else ""
    return f"{d['server_cpu_pct']}{each}"


def _servers_load_table(rows: list[Row]) -> list[str]:
    header = (
        "scenario | server | conns | requests | errors | thudo CPU % | PostgreSQL CPU % "
        "| wrk CPU % | irq % | other procs % | DB MB | seeding s"
    )
    base = [r for r in rows if r.baseline is not None and r.server == rows[0].server]
    cells = [*(_server_load_cells(r) for r in rows), *(_baseline_load_cells(r) for r in base)]
    return table(header, "llrrrrrrrrrr", cells)


def _server_load_cells(r: Row) -> tuple[object, ...]:
    d = r.thudo.as_dict()
    return (
        r.stage.key,
        r.server,
        r.connections,
        f"{r.thudo.requests:,}",
        r.thudo.error_count,
        _by_process(d),
        *(d[f] for f in ("database_cpu_pct", "generator_cpu_pct", "irq_cpu_pct")),
        d["other_cpu_pct"],
        f"{r.db_mb + r.wal_mb:.0f}",
        f"{r.seed_s:.1f}",
    )


def _baseline_load_cells(r: Row) -> tuple[object, ...]:
    b = r.baseline
    assert b is not None
    d = b.as_dict()
    return (
        r.stage.key,
        "baseline",
        r.connections,
        f"{b.requests:,}",
        b.error_count,
        d["server_cpu_pct"],
        "-",
        *(d[f] for f in ("generator_cpu_pct", "irq_cpu_pct", "other_cpu_pct")),
        "-",
        "-",
    )


def markdown(rows: list[Row]) -> str:
    """The two result tables (with a server column when not only SQLite with one worker)."""
    if any(r.server != DEFAULT_SERVER for r in rows):
        return "\n".join([*_servers_table(rows), "", *_servers_load_table(rows)])
    return "\n".join([*_results_table(rows), "", *_load_table(rows)])
