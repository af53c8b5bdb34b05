"""A local HTTP endpoint that records the notifications it receives.

It answers 200 unless told otherwise: a path can be given a list of statuses to answer in
turn (then 200), or a stall that outlasts the broker's notification timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.support import free_port, serve_in_thread

__all__ = ["Received", "Receiver", "receiving", "wait_until"]

DEADLINE = 5.0


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver saw it (header names in lower case) and its answer."""

    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 recording every POST."""

    port: int = field(default_factory=free_port)
    statuses: dict[str, list[int]] = field(default_factory=dict)
    stalls: dict[str, float] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: http.server.ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        """The URL of a path on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        """Listen on the port (which may have been refused until now)."""
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status = owner._record(self.path, dict(self.headers.items()), raw)
                stall = owner.stalls.get(self.path)
                if stall is not None:
                    owner._release.wait(stall)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = serve_in_thread(self.port, Handler)

    def stop(self) -> None:
        """Stop listening and release stalled requests."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw.decode(errors="replace")
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            script = self.statuses.get(path)
            status = script.pop(0) if script else 200
            self.requests.append(Received(path, lowered, body, status))
            return status

    def on(self, path: str) -> list[Received]:
        """The requests received on a path so far, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    async def wait_for(
        self, path: str, count: int = 1, timeout: float = DEADLINE
    ) -> list[Received]:
        """Wait until at least ``count`` requests arrived on a path; returns them all."""
        await wait_until(
            lambda: len(self.on(path)) >= count,
            timeout,
            lambda: f"{path} received {len(self.on(path))} of {count} requests",
        )
        return self.on(path)


async def wait_until(
    check: Callable[[], bool],
    timeout: float = DEADLINE,
    describe: Callable[[], str] | None = None,
) -> None:
    """Poll ``check`` until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            detail = describe() if describe is not None else "condition not met"
            raise AssertionError(f"{detail} (waited {timeout} s)")
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def receiving(port: int | None = None) -> Iterator[Receiver]:
    """A started receiver for the duration of a ``with`` block."""
    receiver = Receiver() if port is None else Receiver(port=port)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
