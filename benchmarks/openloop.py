"""An open-loop HTTP/1.1 load generator on raw asyncio streams.

Request ``i`` is due at ``start + i / rate`` and leaves then, whether or not earlier ones
were answered (a closed-loop generator such as wrk waits, and so hides a server that falls
behind). Each request gets a keep-alive connection from a pool that opens more, up to a
limit, when all are busy. Requests are built by the caller as raw bytes from their number
and due time, so the due time can travel inside the body. Every request's due, send and
answer times and status are kept, with the CPU time this process used.

The client is deliberately small: it writes a request, reads the status line and headers,
and reads ``Content-Length`` bytes of body. That is all the servers measured here send.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["OpenLoopResult", "http_request", "run_open_loop"]

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Build = Callable[[int, float], bytes]
# uvicorn closes a keep-alive connection after 5 idle seconds; one idle for longer than
# this is not reused, so a request never races the server closing it.
_MAX_IDLE_S = 2.0


def http_request(method: str, host: str, path: str, body: bytes, content_type: str) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


@dataclass
class OpenLoopResult:
    """Per request: when it was due and sent, when its answer came (nan: none), its status
    (0: a transport error); and the generator's CPU seconds over the run."""

    due: list[float]
    sent: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    connections: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    aborted_at: int | None = None

    def __post_init__(self) -> None:
        n = len(self.due)
        self.sent = [math.nan] * n
        self.done = [math.nan] * n
        self.status = [0] * n

    def ok(self, i: int) -> bool:
        """Whether request ``i`` got a 2xx answer."""
        return 200 <= self.status[i] < 300

    def latencies(self) -> list[float]:
        """Seconds from due time to answer, of the answered requests."""
        return [d - s for d, s in zip(self.done, self.due, strict=True) if not math.isnan(d)]

    def lags(self) -> list[float]:
        """Seconds from due time to send time: how far the generator was behind."""
        return [s - d for s, d in zip(self.sent, self.due, strict=True) if not math.isnan(s)]


class _Pool:
    """Keep-alive connections to one server, opened on demand up to ``limit``."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[tuple[Conn, float]] = []
        self.opened = 0
        self.peak = 0
        self.waiters: deque[tuple[float, asyncio.Future[Conn]]] = deque()

    async def get(self, due: float) -> Conn:
        """A free connection for a request due at ``due`` (wall-clock time)."""
        while self.idle:
            conn, since = self.idle.pop()
            if time.monotonic() - since < _MAX_IDLE_S:
                return conn
            conn[1].close()
            self.opened -= 1
        if self.opened < self.limit:
            return await self.connect()
        waiter: asyncio.Future[Conn] = asyncio.get_running_loop().create_future()
        self.waiters.append((due, waiter))
        return await waiter

    def oldest_wait(self) -> float:
        """Seconds the longest-waiting request has been due."""
        return time.time() - self.waiters[0][0] if self.waiters else 0.0

    async def connect(self) -> Conn:
        self.opened += 1
        self.peak = max(self.peak, self.opened)
        try:
            return await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self.opened -= 1
            raise

    def put(self, conn: Conn) -> None:
        while self.waiters:
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append((conn, time.monotonic()))

    def discard(self, conn: Conn) -> None:
        conn[1].close()
        self.opened -= 1
        if self.waiters:
            asyncio.get_running_loop().create_task(self._replace())

    async def _replace(self) -> None:
        with contextlib.suppress(OSError):
            self.put(await self.connect())

    def close(self) -> None:
        for (_, writer), _ in self.idle:
            writer.close()
        self.idle.clear()


async def _exchange(conn: Conn, data: bytes) -> tuple[int, bool]:
    """Send a request and read its answer: the status and whether the server closes."""
    reader, writer = conn
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, close = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"connection":
            close = value.strip().lower() == b"close"
        elif key == b"transfer-encoding":
            raise ValueError("chunked answers are not supported by this client")
    if length:
        await reader.readexactly(length)
    return status, close


async def _one(pool: _Pool, res: OpenLoopResult, i: int, data: bytes) -> None:
    try:
        conn = await pool.get(res.due[i])
    except OSError as exc:
        res.errors[type(exc).__name__] = res.errors.get(type(exc).__name__, 0) + 1
        return
    res.sent[i] = time.time()
    try:
        status, close = await _exchange(conn, data)
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        res.errors[type(exc).__name__] = res.errors.get(type(exc).__name__, 0) + 1
        pool.discard(conn)
        return
    res.done[i] = time.time()
    res.status[i] = status
    if close:
        pool.discard(conn)
    else:
        pool.put(conn)


async def run_open_loop(
    host: str,
    port: int,
    rate: float,
    count: int,
    build: Build,
    max_connections: int = 512,
    settle_timeout: float = 120.0,
    give_up_lag: float = 10.0,
) -> OpenLoopResult:
    """Send ``count`` requests at ``rate`` per second; ``build(i, due_wall_time)`` makes
    request ``i``. Waits up to ``settle_timeout`` for the last answers.

    When a request waits more than ``give_up_lag`` seconds for a free connection (all
    ``max_connections`` hold unanswered requests), the server cannot keep up: no further
    requests are sent and ``aborted_at`` tells where the run stopped."""
    loop = asyncio.get_running_loop()
    pool = _Pool(host, port, max_connections)
    # A few connections up front, so the first requests do not pay for the handshake.
    for conn in await asyncio.gather(*(pool.connect() for _ in range(min(8, max_connections)))):
        pool.put(conn)
    start_mono = loop.time() + 0.1
    start_wall = time.time() + (start_mono - loop.time())
    res = OpenLoopResult([start_wall + i / rate for i in range(count)])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    tasks: set[asyncio.Task[None]] = set()
    for i in range(count):
        delay = start_mono + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if pool.oldest_wait() > give_up_lag:
            res.aborted_at = i
            break
        task = loop.create_task(_one(pool, res, i, build(i, res.due[i])))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, late = await asyncio.wait(set(tasks), timeout=settle_timeout)
        for task in late:
            task.cancel()
    after = resource.getrusage(resource.RUSAGE_SELF)
    res.cpu_s = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    res.wall_s = time.time() - start_wall
    res.connections = pool.peak
    pool.close()
    return res
