"""Starting and stopping the servers under test, and reading their memory and CPU from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "CpuClock",
    "CpuUse",
    "Server",
    "free_port",
    "start_baseline",
    "start_thudo",
    "system_cpu_ticks",
    "thudo_location",
]

HERE = Path(__file__).resolve().parent
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn with --workers > 1 forks)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_descendants(int(child)))
    return found


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    # Fields after the command name; utime and stime are the 14th and 15th of the line.
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def _all_process_ticks() -> dict[int, tuple[str, int]]:
    """{pid: (command name, CPU ticks)} of every process on the machine."""
    out: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        rest = text.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (name, int(rest[11]) + int(rest[12]))
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


@dataclass
class CpuClock:
    """CPU seconds used by a process tree and by the whole machine between two points."""

    pid: int
    start_proc: int = 0
    start_sys: tuple[int, int] = (0, 0)
    start_wall: float = 0.0
    start_all: dict[int, tuple[str, int]] = field(default_factory=dict)
    by_process: bool = False

    def start(self) -> None:
        """Remember the counters now."""
        self.start_proc = sum(_cpu_ticks(p) for p in _descendants(self.pid))
        self.start_sys = system_cpu_ticks()
        if self.by_process:
            self.start_all = _all_process_ticks()
        self.start_wall = time.monotonic()

    def stop(self) -> CpuUse:
        """What was used since ``start``."""
        proc = sum(_cpu_ticks(p) for p in _descendants(self.pid)) - self.start_proc
        task, irq = system_cpu_ticks()
        return CpuUse(
            proc / _TICKS,
            (task - self.start_sys[0]) / _TICKS,
            (irq - self.start_sys[1]) / _TICKS,
            time.monotonic() - self.start_wall,
            self._others() if self.by_process else {},
        )

    def _others(self) -> dict[str, float]:
        """CPU seconds of the other busiest processes (kernel threads included), by name."""
        mine = set(_descendants(self.pid))
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
        """Whether a shared object whose path holds ``needle`` is loaded (uvloop, httptools)."""
        return needle in Path(f"/proc/{self.proc.pid}/maps").read_text()

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

    def wait_idle(self, timeout: float = 600.0, window: float = 0.5) -> float:
        """Wait until the server is nearly idle (requests wrk left in flight are done)."""
        return self._wait_until(lambda use: use.process_s < 0.05 * use.wall_s, timeout, window)

    def wait_quiet(self, timeout: float = 120.0, window: float = 1.0) -> float:
        """Wait until the rest of the machine (other people's tests, say) uses less than
        15 % of a core, so that it does not share the 2 cores with the measurement."""
        return self._wait_until(
            lambda use: use.machine_task_s - use.process_s < 0.15 * use.wall_s, timeout, window
        )

    def _wait_until(self, calm: Callable[[CpuUse], bool], timeout: float, window: float) -> float:
        """Sample CPU use in windows until ``calm`` holds for one; the time waited."""
        start = time.monotonic()
        clock = CpuClock(self.proc.pid)
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
        """SIGINT (uvicorn's graceful stop), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _thudo_command() -> list[str]:
    script = Path(sys.executable).parent / "thudo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "thudo"]


def _launch(name: str, cmd: list[str], env: dict[str, str], workdir: Path, port: int) -> Server:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name, proc, port, log_path, workdir)
    try:
        server.wait_ready()
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


def start_thudo(tmp_root: Path | None = None, source: Path | None = None) -> Server:
    """``thudo serve`` on a free port with a fresh SQLite database in a temp directory."""
    workdir = Path(tempfile.mkdtemp(prefix="thudo-bench-", dir=tmp_root))
    port = free_port()
    db = workdir / "thudo.db"
    env = {**thudo_env(source), "THUDO_DATABASE_URL": f"sqlite:///{db}"}
    server = _launch("thudo", [*_thudo_command(), "serve", "--port", str(port)], env, workdir, port)
    server.extra["database"] = str(db)
    return server


def start_baseline(tmp_root: Path | None = None) -> Server:
    """The bare ASGI baseline (benchmarks/baseline.py) on a free port."""
    workdir = Path(tempfile.mkdtemp(prefix="thudo-bench-baseline-", dir=tmp_root))
    port = free_port()
    cmd = [sys.executable, str(HERE / "baseline.py"), "--port", str(port)]
    return _launch("baseline", cmd, dict(os.environ), workdir, port)
