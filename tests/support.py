"""Helpers shared by the test modules: payload builders, problem checks, local servers,
`thudo serve` processes (and killing them mid-burst), the MQTT broker check."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

API = "/ngsi-ld/v1"
ENTITIES = f"{API}/entities"
CORE_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LINK_REL = "http://www.w3.org/ns/json-ld#context"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
PROBLEM_JSON = "application/problem+json"
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
NO_MQTT = f"no MQTT broker listens on {MQTT_HOST}:{MQTT_PORT}"


def link(url: str) -> str:
    """A JSON-LD @context Link header value."""
    return f'<{url}>; rel="{LINK_REL}"; type="application/ld+json"'


def assert_problem(
    resp: httpx.Response, status: int, type_name: str | None = None
) -> dict[str, Any]:
    """Check that a response is an NGSI-LD problem of this status (and type); returns the body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].split(";")[0] == PROBLEM_JSON, resp.headers
    assert "Traceback" not in resp.text
    body = resp.json()
    assert body["type"].startswith(ERRORS), body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    if type_name is not None:
        assert body["type"] == ERRORS + type_name, body
    return body


def room(eid: str = "urn:ngsi-ld:Room:1", **attrs: Any) -> dict[str, Any]:
    """A Room entity; keyword values become Properties unless already dicts or instance lists."""
    out: dict[str, Any] = {"id": eid, "type": "Room"}
    for name, value in attrs.items():
        given = isinstance(value, dict) or (
            isinstance(value, list) and value and isinstance(value[0], dict)
        )
        out[name] = value if given else {"type": "Property", "value": value}
    return out


def point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoProperty holding a Point."""
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def mqtt_reachable() -> bool:
    """Whether the Mosquitto broker the MQTT tests use listens on MQTT_HOST:MQTT_PORT."""
    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a small HTTP server for remote @contexts -------------------------------------------


@dataclass
class ContextServer:
    """Serves documents from a dict of path → body (404 otherwise); ``/slow...`` paths stall."""

    documents: dict[str, bytes] = field(default_factory=dict)
    stall: float = 5.0
    hits: list[str] = field(default_factory=list)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                if self.path.startswith("/slow"):
                    owner._release.wait(owner.stall)
                body = owner.documents.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/ld+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = serve_in_thread(0, Handler)

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def serve_in_thread(
    port: int, handler: type[http.server.BaseHTTPRequestHandler]
) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:``port`` (0: any free port), serving each request on a
    thread of its own from a daemon thread until shut down."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.block_on_close = False
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


def context_document(terms: dict[str, str]) -> bytes:
    """A @context document defining these terms."""
    return orjson.dumps({"@context": terms})


# --- a real ``thudo serve`` process ----------------------------------------------------------


@dataclass
class ServeProcess:
    """A ``thudo serve`` subprocess on a free port with its own database file (or on
    ``database_url``, then ``database`` only names its log file)."""

    database: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)  # as THUDO_* variables
    database_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THUDO_")}
        env["THUDO_LOG_LEVEL"] = "info"
        env.update({f"THUDO_{k.upper()}": v for k, v in self.settings.items()})
        self.log_path = self.database.with_suffix(f".{self.port}.log")
        log = self.log_path.open("wb")
        cmd = [
            sys.executable,
            "-m",
            "thudo",
            "serve",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url or f"sqlite:///{self.database}",
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"thudo serve exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"thudo serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> bool:
        """SIGTERM, then SIGKILL if it does not stop; True if it shut down gracefully."""
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return False
        # uvicorn re-raises the SIGTERM it handled, after a clean shutdown.
        clean_exit = self.proc.returncode in (0, -signal.SIGTERM)
        return clean_exit and "Application shutdown complete" in self.log()


async def kill_amid(
    server: ServeProcess, writers: list[asyncio.Task[None]], acked: Sized, count: int
) -> None:
    """SIGKILL ``server`` once ``count`` writes are acknowledged (or every writer has
    stopped), then wait for the writers to see their connections die."""
    while len(acked) < count and not all(t.done() for t in writers):
        await asyncio.sleep(0.005)
    server.kill()
    await asyncio.wait_for(asyncio.gather(*writers), timeout=30)


async def missing_entities(client: httpx.AsyncClient, eids: Iterable[str]) -> list[tuple[str, int]]:
    """(id, status) of each entity in ``eids`` that the broker does not answer with 200."""
    missing = []
    for eid in eids:
        resp = await client.get(f"{ENTITIES}/{eid}")
        if resp.status_code != 200:
            missing.append((eid, resp.status_code))
    return missing


@contextlib.contextmanager
def serving(database: Path) -> Iterator[ServeProcess]:
    """A running ``thudo serve`` for the duration of a ``with`` block."""
    server = ServeProcess(database)
    server.start()
    try:
        yield server
    finally:
        server.stop()
