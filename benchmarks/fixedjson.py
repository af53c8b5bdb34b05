"""A bare ASGI app that answers every GET with the same JSON file, read once at start-up.

The history benchmark serves thudo's own answer with it: the time to fetch the same bytes
from a server that computes nothing is the floor for HTTP, uvicorn and the client. Served
by uvicorn with the settings ``thudo serve`` uses (httptools, uvloop, one worker).

Run: python benchmarks/fixedjson.py --port 8001 --file answer.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asgi import UVICORN_OPTIONS, App, Receive, Scope, Send

__all__ = ["make_app"]


def make_app(body: bytes) -> App:
    """The app that answers ``body`` to every request."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    """Serve the file."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.file.read_bytes()),
        host="127.0.0.1",
        port=args.port,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
