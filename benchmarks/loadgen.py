"""Driving load with wrk (Debian's ``wrk`` package) and reading what it measured.

wrk is an event-driven C client: one thread drives hundreds of thousands of small requests
a second, far more than the servers here answer. The CPU time wrk itself uses is taken from
``wait4`` and reported, so a saturated generator would show.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from servers import CpuClock, CpuUse

__all__ = ["LoadResult", "LoadSpec", "check_wrk", "run_wrk"]

LUA = Path(__file__).resolve().parent / "wrk" / "ngsild.lua"
_MARKER = "WRK_JSON "


@dataclass(frozen=True)
class LoadSpec:
    """One wrk run: the scenario, its concurrency and duration, and the Lua arguments."""

    scenario: str
    connections: int
    duration_s: int
    threads: int = 1
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    """What one wrk run measured, with the CPU the server, wrk and the machine used."""

    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    generator_cpu_s: float
    cpu: CpuUse

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        """Socket errors, timeouts and answers with status >= 400."""
        return sum(self.errors.values())

    def share(self, cpu_s: float) -> float:
        """CPU seconds as a percentage of one core over the run."""
        return 100.0 * cpu_s / self.cpu.wall_s if self.cpu.wall_s else 0.0

    @property
    def other_cpu_s(self) -> float:
        """CPU the rest of the machine used: neither the server (nor its PostgreSQL
        backends) nor wrk nor interrupts."""
        used = self.cpu.process_s + self.cpu.database_s + self.generator_cpu_s
        return max(0.0, self.cpu.machine_task_s - used)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "rps": round(self.rps, 1),
            "errors": self.errors,
            "latency_ms": self.latency_ms,
            "generator_cpu_pct": round(self.share(self.generator_cpu_s), 1),
            "server_cpu_pct": round(self.share(self.cpu.process_s), 1),
            "database_cpu_pct": round(self.share(self.cpu.database_s), 1),
            "server_cpu_pct_by_process": [round(self.share(t), 1) for t in self.cpu.by_pid],
            "irq_cpu_pct": round(self.share(self.cpu.machine_irq_s), 1),
            "other_cpu_pct": round(self.share(self.other_cpu_s), 1),
            "busiest_other_processes_pct": {
                k: round(self.share(v), 1) for k, v in self.cpu.others.items()
            },
        }


def check_wrk() -> str:
    """The path of wrk, or an install hint."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return path


def _command(url: str, spec: LoadSpec) -> list[str]:
    lua_args = [f"{k}={v}" for k, v in {**spec.args, "threads": str(spec.threads)}.items()]
    return [
        check_wrk(),
        f"-t{spec.threads}",
        f"-c{spec.connections}",
        f"-d{spec.duration_s}s",
        "--timeout",
        "120s",
        "-s",
        str(LUA),
        url,
        "--",
        f"scenario={spec.scenario}",
        *lua_args,
    ]


def _parse(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith(_MARKER):
            data: dict[str, Any] = orjson.loads(line[len(_MARKER) :])
            return data
    raise RuntimeError(f"wrk printed no result:\n{stdout}")


def _spawn(cmd: list[str]) -> tuple[int, str, str, float]:
    """Run ``cmd``; its exit code, output, errors and CPU seconds (from wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_utime + usage.ru_stime,
        )


def run_wrk(url: str, spec: LoadSpec, server_pid: int, database: str | None = None) -> LoadResult:
    """Run wrk against ``url`` and measure the CPU of the server (its process and children),
    of the PostgreSQL backends serving ``database`` if given, of wrk and of the machine."""
    clock = CpuClock(server_pid, by_process=True, database=database)
    clock.start()
    code, stdout, stderr, gen_cpu = _spawn(_command(url, spec))
    cpu = clock.stop()
    if code != 0:
        raise RuntimeError(f"wrk failed ({code}): {stderr}")
    data = _parse(stdout)
    lat = data["latency_us"]
    latency = {f"p{k}": v / 1000 for k, v in lat["percentiles"].items()}
    latency |= {"mean": lat["mean"] / 1000, "max": lat["max"] / 1000}
    return LoadResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        errors={k: int(v) for k, v in data["errors"].items()},
        latency_ms={k: round(v, 3) for k, v in latency.items()},
        generator_cpu_s=gen_cpu,
        cpu=cpu,
    )
