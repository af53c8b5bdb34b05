"""The notification receiver: a bare ASGI app that records every notification it gets.

``POST /notify/<k>`` (k: the subscription's number) parses the body, takes the ``pm25``
value of each entity in ``data`` (the benchmark writes the time a write was due there),
and records (k, value, receipt time); it answers 204. ``GET /records`` returns everything
recorded as JSON, ``POST /reset`` forgets it, ``GET /health`` answers 200. It runs in its
own process (uvicorn with uvloop and httptools, one worker), so that it shares no GIL with
the load generator, and listens on one or more ports (one per notification endpoint).

Run: python benchmarks/receiver.py --ports 8101,8102
"""

from __future__ import annotations

import argparse
import socket
import time
from array import array
from dataclasses import dataclass, field

import orjson
from asgi import UVICORN_OPTIONS, Receive, Scope, Send

__all__ = ["app"]


_NOTIFY = "/notify/"


@dataclass
class _Records:
    sub: array[int] = field(default_factory=lambda: array("i"))
    value: array[float] = field(default_factory=lambda: array("d"))
    at: array[float] = field(default_factory=lambda: array("d"))
    requests: int = 0
    unreadable: int = 0
    wrong_subscription: int = 0

    def add(self, k: int, body: bytes, now: float) -> None:
        self.requests += 1
        try:
            doc = orjson.loads(body)
            if not str(doc.get("subscriptionId", "")).endswith(f"-{k}"):
                self.wrong_subscription += 1
            for item in doc["data"]:
                self.sub.append(k)
                self.value.append(float(item["pm25"]["value"]))
                self.at.append(now)
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1

    def dump(self) -> bytes:
        return orjson.dumps(
            {
                "sub": self.sub.tolist(),
                "value": self.value.tolist(),
                "at": self.at.tolist(),
                "requests": self.requests,
                "unreadable": self.unreadable,
                "wrong_subscription": self.wrong_subscription,
            }
        )


_state = _Records()


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes = b"") -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    global _state
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    path: str = scope["path"]
    body = await _body(receive)
    if path.startswith(_NOTIFY) and scope["method"] == "POST":
        now = time.time()
        suffix = path[len(_NOTIFY) :]
        if not suffix.isdigit():
            await _answer(send, 404)
            return
        _state.add(int(suffix), body, now)
        await _answer(send, 204)
    elif path == "/records":
        await _answer(send, 200, _state.dump())
    elif path == "/reset" and scope["method"] == "POST":
        _state = _Records()
        await _answer(send, 204)
    elif path == "/health":
        await _answer(send, 200, b'{"status":"ok"}')
    else:
        await _answer(send, 404)


def _socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    return sock


def main() -> None:
    """Serve the receiver on the given ports, with the uvicorn settings thudo uses."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ports", required=True, help="comma-separated TCP ports")
    args = parser.parse_args()
    sockets = [_socket(int(p)) for p in args.ports.split(",")]
    config = uvicorn.Config(
        app,
        **UVICORN_OPTIONS,
        date_header=False,
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
