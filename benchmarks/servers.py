"""Starting and stopping the servers under test, and reading their memory and CPU from /proc."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

__all__ = [
    "CpuClock",
    "CpuUse",
    "Server",
    "create_postgres_database",
    "drop_postgres_database",
    "free_port",
    "postgres_database_mb",
    "postgres_url",
    "start_baseline",
    "start_thudo",
    "system_cpu_ticks",
    "thudo_location",
]

HERE = Path(__file__).resolve().parent
POSTGRES_ADMIN_URL = os.environ.get(
    "THUDO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children() -> dict[int, list[int]]:
    """{parent pid: [child pids]} of every process, from the 4th field of /proc/<pid>/stat
    (this kernel has no /proc/<pid>/task/<tid>/children)."""
    out: dict[int, list[int]] = {}
    for pid, stat in _each_process("stat"):
        out.setdefault(int(stat.decode().rsplit(")", 1)[1].split()[1]), []).append(pid)
    return out


def _each_process(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, the bytes of /proc/<pid>/<name>) of every process, but those gone since listed."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            data = (entry / name).read_bytes()
        except OSError:
            continue
        yield int(entry.name), data


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it: ``thudo serve --workers N`` is a uvicorn master
    whose N worker processes (and multiprocessing's helpers) are its children."""
    children = _children()
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _database_backends(database: str) -> list[int]:
    """The PostgreSQL backend processes connected to ``database`` (their title is
    ``postgres: <cluster>: <user> <database> <client> <state>``)."""
    found = []
    needle = f" {database} ".encode()
    for pid, cmdline in _each_process("cmdline"):
        if cmdline.startswith(b"postgres: ") and needle in cmdline:
            found.append(pid)
    return found


def _ticks_of(pids: list[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        try:
            out[pid] = _cpu_ticks(pid)
        except (OSError, IndexError):
            continue
    return out


def _status_kib(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone since it was listed
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    # Fields after the command name; utime and stime are the 14th and 15th of the line.
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone since it was listed
        return 0
    return int(rest[11]) + int(rest[12])


def _all_process_ticks() -> dict[int, tuple[str, int]]:
    """{pid: (command name, CPU ticks)} of every process on the machine."""
    out: dict[int, tuple[str, int]] = {}
    for pid, stat in _each_process("stat"):
        text = stat.decode()
        name = text[text.index("(") + 1 : text.rindex(")")]
        rest = text.rsplit(")", 1)[1].split()
        out[pid] = (name, int(rest[11]) + int(rest[12]))
    return out


def system_cpu_ticks() -> tuple[int, int]:
    """(task, irq) jiffies of all CPUs since boot, from /proc/stat.

    Task time is user + nice + system, which includes the server and wrk; irq time
    (irq + softirq + steal) is the kernel's own work, such as loopback TCP.
    """
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return v[0] + v[1] + v[2], v[5] + v[6] + v[7]


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds over a wall-clock interval."""

    process_s: float
    machine_task_s: float
    machine_irq_s: float
    wall_s: float
    others: dict[str, float] = field(default_factory=dict)
    database_s: float = 0.0  # PostgreSQL backends serving the server's database
    by_pid: tuple[float, ...] = ()  # the process tree's seconds, per process, busiest first


@dataclass
class CpuClock:
    """CPU seconds used by a process tree and by the whole machine between two points."""

    pid: int
    start_proc: int = 0
    start_sys: tuple[int, int] = (0, 0)
    start_wall: float = 0.0
    start_all: dict[int, tuple[str, int]] = field(default_factory=dict)
    by_process: bool = False
    database: str | None = None  # a PostgreSQL database whose backends are counted apart
    start_db: dict[int, int] = field(default_factory=dict)
    start_tree: dict[int, int] = field(default_factory=dict)

    def start(self) -> None:
        """Remember the counters now."""
        self.start_tree = _ticks_of(_descendants(self.pid))
        self.start_proc = sum(self.start_tree.values())
        if self.database:
            self.start_db = _ticks_of(_database_backends(self.database))
        self.start_sys = system_cpu_ticks()
        if self.by_process:
            self.start_all = _all_process_ticks()
        self.start_wall = time.monotonic()

    def stop(self) -> CpuUse:
        """What was used since ``start``."""
        tree = _ticks_of(_descendants(self.pid))
        proc = sum(tree.values()) - self.start_proc
        by_pid = sorted((t - self.start_tree.get(p, 0) for p, t in tree.items()), reverse=True)
        db = 0
        if self.database:
            now = _ticks_of(_database_backends(self.database))
            db = sum(t - self.start_db.get(p, 0) for p, t in now.items())
        task, irq = system_cpu_ticks()
        return CpuUse(
            proc / _TICKS,
            (task - self.start_sys[0]) / _TICKS,
            (irq - self.start_sys[1]) / _TICKS,
            time.monotonic() - self.start_wall,
            self._others() if self.by_process else {},
            db / _TICKS,
            tuple(t / _TICKS for t in by_pid if t > 0),
        )

    def _others(self) -> dict[str, float]:
        """CPU seconds of the other busiest processes (kernel threads included), by name."""
        mine = set(_descendants(self.pid))
        if self.database:
            mine.update(_database_backends(self.database))
        used: Counter[str] = Counter()
        for pid, (name, ticks) in _all_process_ticks().items():
            if pid not in mine:
                used[name] += ticks - self.start_all.get(pid, (name, 0))[1]
        return {name: t / _TICKS for name, t in used.most_common(4) if t > 0}


@dataclass
class Server:
    """A server process on a local port."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    workdir: Path
    extra: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def database(self) -> str | None:
        """The PostgreSQL database it serves, if it runs on PostgreSQL."""
        return self.extra.get("pg_database")

    def clock(self, by_process: bool = False) -> CpuClock:
        """A CPU clock on the server's processes (and on its PostgreSQL backends)."""
        return CpuClock(self.proc.pid, by_process=by_process, database=self.database)

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn's workers)."""
        return _descendants(self.proc.pid)

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mib(self) -> float:
        """VmHWM of the process and its children, in MiB."""
        return sum(_status_kib(p, "VmHWM") for p in _descendants(self.proc.pid)) / 1024

    def rss_mib(self) -> float:
        """VmRSS of the process and its children now, in MiB."""
        return sum(_status_kib(p, "VmRSS") for p in _descendants(self.proc.pid)) / 1024

    def threads(self) -> int:
        """Threads of the server process."""
        return _status_kib(self.proc.pid, "Threads")

    def mapped(self, needle: str) -> bool:
        """Whether a shared object whose path holds ``needle`` is loaded (uvloop, httptools)
        in the server process or, with several workers, in every worker."""
        if self.workers == 1:
            return _maps(self.proc.pid, needle)
        # The master and multiprocessing's resource tracker serve nothing.
        return sum(_maps(p, needle) for p in self.pids()[1:]) >= self.workers

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll /health until it answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} is not ready after {timeout}s:\n{self.log_tail()}")

    def wait_workers(self, timeout: float = 60.0) -> None:
        """With several workers, /health answers once the first is up: wait until every
        worker has loaded uvicorn's event loop and the processes are idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            if sum(_maps(p, "uvloop") for p in self.pids()[1:]) >= self.workers:
                self.wait_idle(timeout=max(1.0, deadline - time.monotonic()))
                return
            time.sleep(0.2)
        tail = self.log_tail()
        raise RuntimeError(f"{self.name}: not all {self.workers} workers started:\n{tail}")

    def wait_idle(self, timeout: float = 600.0, window: float = 0.5) -> float:
        """Wait until the server is nearly idle (requests wrk left in flight are done)."""
        return self._wait_until(
            lambda use: use.process_s + use.database_s < 0.05 * use.wall_s, timeout, window
        )

    def wait_quiet(self, timeout: float = 120.0, window: float = 1.0) -> float:
        """Wait until the rest of the machine (other people's tests, say) uses less than
        15 % of a core, so that it does not share the 2 cores with the measurement."""
        return self._wait_until(
            lambda use: use.machine_task_s - use.process_s - use.database_s < 0.15 * use.wall_s,
            timeout,
            window,
        )

    def _wait_until(self, calm: Callable[[CpuUse], bool], timeout: float, window: float) -> float:
        """Sample CPU use in windows until ``calm`` holds for one; the time waited."""
        start = time.monotonic()
        clock = self.clock()
        while time.monotonic() - start < timeout:
            clock.start()
            time.sleep(window)
            if calm(clock.stop()):
                break
        return time.monotonic() - start

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's output."""
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful stop), then SIGKILL if it hangs (its workers too);
        then drop what it was given (a PostgreSQL database)."""
        try:
            if self.proc.poll() is None:
                workers = self.pids()[1:]
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                for pid in workers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        finally:
            while self.cleanup:
                self.cleanup.pop()()


def _maps(pid: int, needle: str) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _thudo_command() -> list[str]:
    script = Path(sys.executable).parent / "thudo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "thudo"]


def _launch(
    name: str, cmd: list[str], env: dict[str, str], workdir: Path, port: int, workers: int = 1
) -> Server:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name, proc, port, log_path, workdir, workers=workers)
    try:
        server.wait_ready()
        if workers > 1:
            server.wait_workers()
    except BaseException:
        server.stop()
        raise
    return server


def thudo_env(source: Path | None) -> dict[str, str]:
    """The environment of the server: ``source`` (an exported thudo tree) goes first."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    return env


def thudo_location(source: Path | None) -> str:
    """Where the server will import thudo from."""
    cmd = [sys.executable, "-c", "import thudo; print(thudo.__file__)"]
    done = subprocess.run(cmd, env=thudo_env(source), capture_output=True, text=True, cwd="/")
    return str(Path(done.stdout.strip()).parent) if done.returncode == 0 else done.stderr


def create_postgres_database() -> tuple[str, str]:
    """A new PostgreSQL database ``thudo_bench_<random>`` with PostGIS: (name, URL)."""
    import psycopg

    name = "thudo_bench_" + secrets.token_hex(4)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url(name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except BaseException:
        drop_postgres_database(name)
        raise
    return name, url


def drop_postgres_database(name: str) -> None:
    """Drop a benchmark database, closing the connections still open to it."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url(name: str) -> str:
    """The URL of database ``name`` on the benchmark's PostgreSQL server."""
    parts = urlsplit(POSTGRES_ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def postgres_database_mb(name: str) -> float:
    """``pg_database_size`` of a database, in MB (tables, indexes and TOAST; not the WAL)."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()
    return (row[0] if row else 0) / 1e6


def start_thudo(
    tmp_root: Path | None = None,
    source: Path | None = None,
    backend: str = "sqlite",
    workers: int = 1,
) -> Server:
    """``thudo serve`` on a free port with ``workers`` processes and a fresh database: a new
    SQLite file in a temp directory, or a new PostgreSQL database (dropped by ``stop``)."""
    workdir = Path(tempfile.mkdtemp(prefix="thudo-bench-", dir=tmp_root))
    port = free_port()
    env = thudo_env(source)
    extra = {"backend": backend}
    if backend == "postgres":
        name, url = create_postgres_database()
        env["THUDO_DATABASE_URL"] = url
        extra["pg_database"] = name
    elif backend == "sqlite":
        db = workdir / "thudo.db"
        env["THUDO_DATABASE_URL"] = f"sqlite:///{db}"
        extra["database"] = str(db)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    env["THUDO_WORKERS"] = str(workers)
    cmd = [*_thudo_command(), "serve", "--port", str(port), "--workers", str(workers)]
    try:
        server = _launch("thudo", cmd, env, workdir, port, workers)
    except BaseException:
        if backend == "postgres":
            drop_postgres_database(extra["pg_database"])
        raise
    server.extra.update(extra)
    if backend == "postgres":
        server.cleanup.append(lambda: drop_postgres_database(extra["pg_database"]))
    return server


def start_baseline(tmp_root: Path | None = None) -> Server:
    """The bare ASGI baseline (benchmarks/baseline.py) on a free port."""
    workdir = Path(tempfile.mkdtemp(prefix="thudo-bench-baseline-", dir=tmp_root))
    port = free_port()
    cmd = [sys.executable, str(HERE / "baseline.py"), "--port", str(port)]
    return _launch("baseline", cmd, dict(os.environ), workdir, port)
