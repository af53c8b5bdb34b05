"""Sampling the server with py-spy during a measurement, and naming the hot spots.

py-spy writes collapsed stacks (``--format raw``, one ``frame;frame;... count`` line per
distinct stack, which speedscope and flamegraph.pl read). This module sums them three ways:
self time per function, inclusive time per thudo function, and the *innermost thudo frame*
of each sample (by function and by line), which charges time spent in SQLite, orjson or
shapely to the thudo function and statement that called them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Profile", "Spy", "summarize"]

_THUDO = "(thudo/"
_OUTSIDE = "(outside thudo: uvicorn, asyncio, threading)"


class Spy:
    """A running ``py-spy record`` attached to a process."""

    def __init__(
        self,
        pid: int,
        seconds: int,
        out: Path,
        gil_only: bool,
        rate: int = 200,
        subprocesses: bool = False,
    ) -> None:
        exe = shutil.which("py-spy")
        if exe is None:
            raise SystemExit("py-spy is not installed: pip install py-spy")
        cmd = [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "-o",
            str(out),
        ]
        if gil_only:
            cmd.append("--gil")
        if subprocesses:  # uvicorn's workers, under a master that only supervises them
            cmd.append("--subprocesses")
        self.out = out
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self) -> Path:
        """Wait for py-spy to finish and return the collapsed-stack file."""
        _, err = self._proc.communicate()
        if self._proc.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
        return self.out


@dataclass
class Profile:
    """Sample counts of one recording, by function and, for thudo's hot spots, by line."""

    total: int = 0
    garbled: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    processes: Counter[str] = field(default_factory=Counter)  # with --subprocesses
    self_time: Counter[str] = field(default_factory=Counter)
    thudo_inclusive: Counter[str] = field(default_factory=Counter)
    thudo_innermost: dict[str, Counter[str]] = field(default_factory=dict)
    thudo_lines: Counter[str] = field(default_factory=Counter)

    def render(self, top: int = 15) -> str:
        """The summary as text tables."""
        out = [f"{self.total} samples (each thread sampled separately; 100 % = all samples)"]
        if self.garbled:
            out.append(f"{self.garbled} garbled stacks skipped (py-spy --nonblocking reads)")
        if self.processes:
            out += _table("samples per process (uvicorn workers)", self.processes, self.total, top)
        out += _table("samples per thread", self.threads, self.total, top)
        out += _table(
            "self time by function (innermost frame, any code)", self.self_time, self.total, top
        )
        out += _table("inclusive time, thudo functions", self.thudo_inclusive, self.total, top)
        for thread, counts in sorted(self.thudo_innermost.items(), key=lambda kv: -kv[1].total()):
            title = f"innermost thudo function (incl. the C code it calls) - thread {thread}"
            out += _table(title, counts, self.total, top)
        out += _table(
            "innermost thudo line (the statement that was running)",
            self.thudo_lines,
            self.total,
            top,
        )
        return "\n".join(out)


def _table(title: str, counts: Counter[str], total: int, top: int) -> list[str]:
    rows = ["", f"== {title}"]
    for name, n in counts.most_common(top):
        rows.append(f"{n:7d} {100 * n / max(total, 1):5.1f}%  {name}")
    return rows


def _thread_name(frame: str) -> str:
    # "thread (12167): MainThread" -> "MainThread"; reader threads share one name prefix.
    name = frame.split(": ", 1)[-1]
    return name.rsplit("_", 1)[0] if name.startswith("thudo-sqlite-read") else name


def _function(frame: str) -> str:
    """``name (file:line)`` -> ``name (file)``."""
    head, sep, _ = frame.rpartition(":")
    return head + ")" if sep and frame.endswith(")") else frame


def _is_app(frame: str) -> bool:
    # cli.py only starts uvicorn: time under it but outside the app is the server's.
    return _THUDO in frame and "(thudo/cli.py" not in frame


def summarize(path: Path) -> Profile:
    """Sum a py-spy raw (collapsed) file recorded with line numbers."""
    prof = Profile()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        process = ""
        if stack.startswith("process "):  # --subprocesses: the worker's pid and command line
            process = stack[: stack.find(";thread (")].rpartition(";process ")[2]
            process = "process " + process.removeprefix("process ").split(":", 1)[0]
            stack = stack[stack.find(";thread (") + 1 :]  # (which may hold a ";") come first
        if not stack or not count.isdigit() or not stack.startswith("thread ("):
            # --nonblocking reads the stacks of a running process, so a few come out torn.
            prof.garbled += 1
            continue
        n = int(count)
        frames = stack.split(";")
        thread = _thread_name(frames[0]) if frames[0].startswith("thread ") else "?"
        prof.total += n
        prof.threads[thread] += n
        if process:
            prof.processes[process] += n
        prof.self_time[_function(frames[-1])] += n
        app = [f for f in frames if _is_app(f)]
        for name in {_function(f) for f in app}:
            prof.thudo_inclusive[name] += n
        inner = app[-1] if app else _OUTSIDE
        prof.thudo_innermost.setdefault(thread, Counter())[_function(inner) if app else inner] += n
        prof.thudo_lines[inner] += n
    return prof
