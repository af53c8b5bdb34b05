"""thudo benchmark suite: one command, real ``thudo serve`` processes, wrk as the load.

    python benchmarks/run.py                       # every scenario, about 20 minutes
    python benchmarks/run.py --quick               # a 2-minute smoke run of the suite
    python benchmarks/run.py --scenarios patch,query
    python benchmarks/run.py --scenarios upsert --profile upsert   # and py-spy on thudo
    python benchmarks/run.py --thudo-ref HEAD      # benchmark a commit, not the work tree
    python benchmarks/run.py --backend postgres --workers 1,2,4 --with-sqlite  # issue 4

Each scenario group gets a fresh ``thudo serve`` (one process, a new SQLite file in a temp
directory; or, with ``--backend postgres``, a new PostgreSQL database with PostGIS that is
dropped afterwards; ``--workers`` processes), is seeded through batch upserts, checked with
one hand-made request, warmed up, and measured with wrk. The same requests then go to the
bare ASGI baseline (benchmarks/baseline.py) served by uvicorn with the same settings, once
per group whatever the number of servers. Results are printed as
Markdown tables and saved as JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from loadgen import LoadResult, LoadSpec, check_wrk, run_wrk
from profiling import Spy, summarize
from report import Row, machine, markdown
from scenarios import GROUPS, Options, Stage, seed, smoke_check, stages_for, wrk_spec
from servers import (
    POSTGRES_ADMIN_URL,
    Server,
    postgres_database_mb,
    start_baseline,
    start_thudo,
    thudo_location,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Plan:
    """What to run: the options, the groups, and the stages to profile."""

    opts: Options
    groups: tuple[str, ...]
    baseline: bool
    profile: tuple[str, ...]
    profile_gil: bool
    out: Path
    source: Path | None
    setups: tuple[Setup, ...] = ()


@dataclass(frozen=True)
class Setup:
    """How one thudo serve is run: its database backend and its worker processes."""

    backend: str
    workers: int

    @property
    def label(self) -> str:
        """``sqlite x1``, ``postgres x4``."""
        return f"{self.backend} x{self.workers}"

    @property
    def slug(self) -> str:
        """The label in file names."""
        return f"{self.backend}-{self.workers}w"


@dataclass(frozen=True)
class ThudoSide:
    """A stage measured on thudo, with the server's memory and database size after it."""

    result: LoadResult
    peak_rss_mb: float
    rss_mb: float
    db_mb: float
    wal_mb: float
    seed_s: float
    seed_log: list[tuple[int, float]]  # (entities loaded, entities/s of the last chunk)


def _say(text: str) -> None:
    print(text, flush=True)


def _mb(kib_based_mib: float) -> float:
    return kib_based_mib * 1024 * 1024 / 1e6


def _db_mb(server: Server) -> tuple[float, float]:
    """Sizes of the database file and of its write-ahead log, in MB (PostgreSQL: the
    database's size, its WAL being the cluster's)."""
    if server.database:
        return postgres_database_mb(server.database), 0.0
    db = Path(server.extra["database"])
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size / 1e6, (wal.stat().st_size / 1e6 if wal.exists() else 0.0)


def _measure(server: Server, stage: Stage, plan: Plan) -> LoadResult:
    smoke_check(server.url, stage, server.name == "thudo")
    run_wrk(server.url, wrk_spec(stage, plan.opts, "warmup"), server.proc.pid, server.database)
    server.wait_idle()
    waited = server.wait_quiet()
    if waited > 5:
        _say(f"  (waited {waited:.0f} s for other processes to leave the CPUs)")
    spec = wrk_spec(stage, plan.opts, "measure")
    result = run_wrk(server.url, spec, server.proc.pid, server.database)
    drained = server.wait_idle()
    _say(f"  {server.name:8s} {_line(stage, result)}  (drained in {drained:.1f} s)")
    if server.database:
        d = result.as_dict()
        _say(
            f"  CPU % of a core: thudo {d['server_cpu_pct']} "
            f"(by process {d['server_cpu_pct_by_process']}), PostgreSQL {d['database_cpu_pct']}"
        )
    if result.error_count:
        _say(f"  WARNING: {result.errors} -- see {server.log_path}")
    if result.share(result.other_cpu_s) > 15:
        _say(f"  note: other processes used CPU during the run: {result.cpu.others}")
    return result


def _line(stage: Stage, result: LoadResult) -> str:
    lat = result.latency_ms
    return (
        f"{stage.key:11s} {result.rps * stage.per_request:10,.1f} {stage.unit:10s} "
        f"p50 {lat['p50']:8.2f} ms  p95 {lat['p95']:8.2f} ms  p99 {lat['p99']:8.2f} ms  "
        f"errors {result.error_count}"
    )


def _profile(server: Server, stage: Stage, plan: Plan, setup: Setup) -> None:
    """A second measurement with py-spy attached; its numbers are not the results."""
    spec = wrk_spec(stage, plan.opts, "profile")
    default = setup == Setup("sqlite", 1)
    path = plan.out / (
        f"profile-{stage.key}.txt" if default else f"profile-{stage.key}-{setup.slug}.txt"
    )
    many = server.workers > 1
    spy = Spy(server.proc.pid, spec.duration_s, path, plan.profile_gil, subprocesses=many)
    result = run_wrk(server.url, spec, server.proc.pid, server.database)
    server.wait_idle()
    try:
        spy.wait()
        text = summarize(path).render()
    except (RuntimeError, ValueError, OSError) as exc:
        _say(f"  WARNING: the profile of {stage.key} failed: {exc}")
        return
    path.with_name(path.stem + "-summary.txt").write_text(text + "\n")
    _say(f"\n--- py-spy on thudo during {stage.key}: {path} ---\n{text}\n")
    _say(f"  under py-spy: {_line(stage, result)}\n")


def _thudo_side(stages: list[Stage], plan: Plan, setup: Setup) -> list[ThudoSide]:
    _say(f" - thudo serve on {setup.backend}, {setup.workers} worker(s)")
    server = start_thudo(plan.opts.workdir, plan.source, setup.backend, setup.workers)
    for lib in ("uvloop", "httptools"):
        if not server.mapped(lib):
            _say(f"  WARNING: thudo serve did not load {lib}")
    out: list[ThudoSide] = []
    have = 0
    try:
        for stage in stages:
            started = time.monotonic()
            log: list[tuple[int, float]] = []
            if stage.entities > have:
                _say(f"  seeding {stage.entities - have:,} entities by batch upsert ...")
                seed(server.url, have, stage.entities, _progress(log, server))
                have = stage.entities
            seed_s = time.monotonic() - started
            server.wait_idle()
            result = _measure(server, stage, plan)
            peak, rss = _mb(server.peak_rss_mib()), _mb(server.rss_mib())
            db, wal = _db_mb(server)
            out.append(ThudoSide(result, peak, rss, db, wal, seed_s, log))
            _say(
                f"  thudo peak RSS {peak:.0f} MB, RSS now {rss:.0f} MB, database {db:.0f} MB "
                f"+ WAL {wal:.0f} MB, seeding took {seed_s:.1f} s"
            )
            if stage.key in plan.profile:
                _profile(server, stage, plan, setup)
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
    return out


def _progress(log: list[tuple[int, float]], server: Server) -> Callable[[int, int, float], None]:
    def report(total: int, loaded: int, seconds: float) -> None:
        log.append((total, round(loaded / seconds, 1)))
        _say(
            f"    {total:>9,} loaded, the last {loaded:,} at {loaded / seconds:,.0f} entities/s;"
            f" peak RSS {_mb(server.peak_rss_mib()):.0f} MB"
        )

    return report


def _baseline_side(stages: list[Stage], plan: Plan) -> list[LoadResult]:
    server = start_baseline(plan.opts.workdir)
    try:
        return [_measure(server, stage, plan) for stage in stages]
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def _calibrate(plan: Plan) -> dict[str, object]:
    """GET /health on the bare baseline: what uvicorn and wrk manage together on this box."""
    server = start_baseline(plan.opts.workdir)
    try:
        spec = LoadSpec("health", plan.opts.connections, plan.opts.warmup_s, plan.opts.threads)
        run_wrk(server.url, spec, server.proc.pid)
        server.wait_quiet()
        spec = LoadSpec("health", plan.opts.connections, plan.opts.duration_s, plan.opts.threads)
        result = run_wrk(server.url, spec, server.proc.pid)
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
    d = result.as_dict()
    _say(
        f"\n== calibration: bare uvicorn GET /health {result.rps:,.0f} req/s, "
        f"p50 {result.latency_ms['p50']:.2f} ms; CPU % of a core: wrk {d['generator_cpu_pct']}, "
        f"server {d['server_cpu_pct']}, other processes {d['other_cpu_pct']}"
    )
    return result.as_dict()


def _run_group(group: str, plan: Plan) -> list[Row]:
    stages = stages_for(plan.opts)[group]
    _say(f"\n== {group}: {', '.join(s.key for s in stages)}")
    sides = {setup: _thudo_side(stages, plan, setup) for setup in plan.setups}
    base = _baseline_side(stages, plan) if plan.baseline else [None] * len(stages)
    reference = sides.get(Setup("sqlite", 1))
    rows = []
    for setup, thudo in sides.items():
        refs = [r.result for r in reference] if reference else [None] * len(stages)
        for stage, side, b, ref in zip(stages, thudo, base, refs, strict=True):
            conns = wrk_spec(stage, plan.opts, "measure").connections
            memory = (side.peak_rss_mb, side.rss_mb, side.db_mb, side.wal_mb)
            rows.append(
                Row(
                    stage,
                    side.result,
                    b,
                    *memory,
                    side.seed_s,
                    conns,
                    side.seed_log,
                    server=setup.label,
                    reference=ref,
                )
            )
    return rows


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="thudo benchmark suite (see docs/performance.md)")
    p.add_argument(
        "--scenarios",
        default=",".join(GROUPS),
        help=f"comma-separated groups from {', '.join(GROUPS)} (default: all)",
    )
    p.add_argument("--duration", type=int, default=10, help="seconds measured per stage")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per stage")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--upsert-duration", type=int, default=60, help="seconds measured for upsert")
    p.add_argument("--upsert-connections", type=int, default=2, help="wrk connections, upsert")
    p.add_argument("--seed-entities", type=int, default=10_000, help="entities for patch/get")
    p.add_argument("--query-sizes", default="10000,100000", help="entity counts for queries")
    p.add_argument(
        "--query-connections",
        type=int,
        default=8,
        help="wrk connections of one more query stage at the largest size (latency unflooded)",
    )
    p.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="thudo's database: a new SQLite file, or a new PostgreSQL database with PostGIS "
        "(thudo_bench_<random> on THUDO_BENCH_POSTGRES_URL, default "
        "postgresql://postgres@127.0.0.1:5432/postgres; dropped afterwards); default sqlite",
    )
    p.add_argument(
        "--workers",
        default="1",
        help="thudo serve --workers: one count or a comma list (1,2,4), each a fresh server "
        "per group (default 1)",
    )
    p.add_argument(
        "--with-sqlite",
        action="store_true",
        help="also measure SQLite with 1 worker, first, as the reference the others are "
        "compared with",
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the bare ASGI baseline")
    p.add_argument(
        "--profile",
        metavar="STAGES",
        default="",
        help="comma-separated stages (create, patch, get, query-10k, query-100k, upsert) "
        "to measure once more on thudo with py-spy attached",
    )
    p.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="short run: 3 s stages, 2k/10k query sizes, 2k seeded entities",
    )
    p.add_argument(
        "--thudo-ref",
        metavar="REF",
        help="serve thudo as of this git ref (exported with git archive) instead of the work tree",
    )
    p.add_argument("--out", type=Path, default=HERE / "results", help="where results go")
    return p


def _plan(args: argparse.Namespace, workdir: Path) -> Plan:
    if args.quick:
        args.duration, args.warmup, args.upsert_duration = 3, 1, 8
        args.query_sizes, args.seed_entities = "2000,10000", 2000
    sizes = tuple(int(s) for s in args.query_sizes.split(",") if s)
    opts = Options(
        args.duration,
        args.warmup,
        args.connections,
        args.threads,
        args.upsert_duration,
        args.upsert_connections,
        args.seed_entities,
        sizes,
        workdir,
        args.query_connections,
    )
    profile = tuple(k for k in args.profile.split(",") if k)
    args.out.mkdir(parents=True, exist_ok=True)
    return Plan(
        opts,
        _groups(args.scenarios, profile, opts),
        not args.no_baseline,
        profile,
        args.profile_gil,
        args.out,
        _export(args.thudo_ref, workdir) if args.thudo_ref else None,
        _setups(args.backend, args.workers, args.with_sqlite),
    )


def _setups(backend: str, workers: str, with_sqlite: bool) -> tuple[Setup, ...]:
    try:
        counts = [int(w) for w in workers.split(",") if w.strip()]
    except ValueError:
        raise SystemExit(f"--workers: {workers!r} is not a comma list of numbers") from None
    if not counts or min(counts) < 1:
        raise SystemExit("--workers: give one or more counts of at least 1")
    setups = [Setup(backend, n) for n in dict.fromkeys(counts)]
    if with_sqlite and Setup("sqlite", 1) not in setups:
        setups.insert(0, Setup("sqlite", 1))
    return tuple(setups)


def _groups(scenarios: str, profile: tuple[str, ...], opts: Options) -> tuple[str, ...]:
    groups = tuple(g for g in scenarios.split(",") if g)
    for g in groups:
        if g not in GROUPS:
            raise SystemExit(f"unknown scenario group {g!r}; choose from {', '.join(GROUPS)}")
    owners = {s.key: g for g, stages in stages_for(opts).items() for s in stages}
    for key in profile:
        if owners.get(key) not in groups:
            raise SystemExit(f"--profile: no stage {key!r} in {', '.join(groups)}")
    return groups


def _export(ref: str, workdir: Path) -> Path:
    """The thudo package as of ``ref``, unpacked under ``workdir`` (the repository is only read)."""
    target = workdir / "src"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "thudo"], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref}: {archive.stderr.decode(errors='replace')}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def _save(
    plan: Plan, info: dict[str, str], rows: list[Row], calibration: dict[str, object]
) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = plan.out / f"run-{stamp}.json"
    record = {
        "machine": info,
        "options": {**plan.opts.__dict__, "workdir": None},
        "servers": [s.label for s in plan.setups],
        "calibration_bare_uvicorn_health": calibration,
        "rows": [r.as_dict() for r in rows],
    }
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    path.with_suffix(".md").write_text(markdown(rows) + "\n")
    return path


def _postgres_version() -> str:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()
        postgis = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"
        ).fetchone()
        settings = conn.execute(
            "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)"
            " FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync',"
            " 'max_connections', 'work_mem')"
        ).fetchone()
    v = version[0].split(" on ")[0] if version else "?"
    return f"{v}, PostGIS {postgis[0] if postgis else '?'} ({settings[0] if settings else ''})"


def main(argv: list[str] | None = None) -> int:
    """Run the suite and print the tables."""
    args = _parser().parse_args(argv)
    check_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="thudo-bench-run-"))
    try:
        plan = _plan(args, workdir)
        info = machine(args.thudo_ref)
        info["thudo_imported_from"] = thudo_location(plan.source)
        if any(s.backend == "postgres" for s in plan.setups):
            info["postgresql"] = _postgres_version()
        info["servers"] = ", ".join(s.label for s in plan.setups)
        _say("\n".join(f"{k}: {v}" for k, v in info.items()))
        calibration = _calibrate(plan) if plan.baseline else {}
        rows = [row for group in plan.groups for row in _run_group(group, plan)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _say("\n" + markdown(rows))
    _say(f"\nsaved {_save(plan, info, rows, calibration)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
