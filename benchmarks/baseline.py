"""The baseline: a bare ASGI app that answers the benchmark requests the cheapest way.

It reads the body, parses it with orjson, and answers with the status, headers and kind of
JSON body thudo gives, but stores nothing. Served by uvicorn with thudo's settings
(httptools, uvloop, one worker, no access log), it is the ceiling thudo is compared with,
and its throughput is what the load generator has shown it can drive.

Run: python benchmarks/baseline.py --port 8001
"""

from __future__ import annotations

import argparse
from urllib.parse import parse_qs, unquote

import orjson
from asgi import UVICORN_OPTIONS, Receive, Scope, Send
from payloads import ENTITY_TYPE, entity

__all__ = ["app"]


_PREFIX = "/ngsi-ld/v1/"
_LINK = (
    b"<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld>; "
    b'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
)
_JSON = [(b"content-type", b"application/json"), (b"link", _LINK)]
_PAGE = [entity(str(i), i) for i in range(20)]


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


async def _post(scope: Scope, receive: Receive, send: Send, segments: list[str]) -> None:
    payload = orjson.loads(await _body(receive))
    if segments[0] == "entityOperations":
        ids = [item["id"] for item in payload]
        await _answer(send, 201, _JSON[:1], orjson.dumps(ids))
        return
    location = (b"location", (_PREFIX + "entities/" + payload["id"]).encode())
    await _answer(send, 201, [location], b"")


async def _patch(scope: Scope, receive: Receive, send: Send, segments: list[str]) -> None:
    fragment = orjson.loads(await _body(receive))
    if not isinstance(fragment, dict):
        await _answer(send, 400, [], b"")
        return
    await _answer(send, 204, [], b"")


async def _get(scope: Scope, receive: Receive, send: Send, segments: list[str]) -> None:
    await _body(receive)
    if len(segments) == 2:
        found = entity("0", 0) | {"id": unquote(segments[1])}
        await _answer(send, 200, _JSON, orjson.dumps(found))
        return
    params = parse_qs(scope["query_string"].decode("latin-1"))
    if params.get("type") != [ENTITY_TYPE]:
        await _answer(send, 400, [], b"")
        return
    await _answer(send, 200, _JSON, orjson.dumps(_PAGE))


_HANDLERS = {"POST": _post, "PATCH": _patch, "GET": _get}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    if path == "/health":
        await _answer(send, 200, _JSON[:1], b'{"status":"ok"}')
        return
    handler = _HANDLERS.get(scope["method"])
    if handler is None or not path.startswith(_PREFIX):
        await _answer(send, 404, [], b"")
        return
    await handler(scope, receive, send, path[len(_PREFIX) :].split("/"))


def main() -> None:
    """Serve the baseline with the uvicorn settings ``thudo serve`` uses."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    main()
