"""A real HTTP server (aiohttp, on a free port) that plays the platform and records requests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = ["Recorded", "Recorder", "recording"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the server saw it (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    received_at: float


Answer = Callable[[Recorded], int]


@dataclass
class Recorder:
    """Answers like the receiving side (201 / 204 / 200) unless ``answer`` says otherwise."""

    answer: Answer | None = None
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    _seen: set[str] = field(default_factory=set)

    def on(self, path: str) -> list[Recorded]:
        """The requests received on a path, in arrival order."""
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = orjson.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen = Recorded(
            request.method, request.path, dict(request.query), headers, body, time.time()
        )
        self.requests.append(seen)
        status = self.answer(seen) if self.answer else self._default(seen)
        return web.Response(status=status)

    def _default(self, seen: Recorded) -> int:
        if seen.path == "/ngsi-ld/v1/temporal/entities":
            first = seen.body["id"] not in self._seen
            self._seen.add(seen.body["id"])
            return 201 if first else 204
        return 200 if seen.path == "/iot/json" else 201


@asynccontextmanager
async def recording(answer: Answer | None = None) -> AsyncIterator[Recorder]:
    """A started recorder on 127.0.0.1 and a free port, for an ``async with`` block."""
    recorder = Recorder(answer)
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", recorder._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    recorder.url = f"http://{host}:{port}"
    try:
        yield recorder
    finally:
        await runner.cleanup()
