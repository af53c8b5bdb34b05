"""The HTTP side of the simulator: one keep-alive client, and errors a person can read."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson

__all__ = ["SimulateError", "make_client", "post_json", "refuse"]

log = logging.getLogger(__name__)

JSON = "application/json"


class SimulateError(Exception):
    """The simulator cannot go on; the message is one line for the person running it."""


def make_client(url: str, tenant: str | None, connections: int = 32) -> httpx.AsyncClient:
    """A keep-alive client for the platform at ``url``, sending the tenant header if any."""
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(30.0, connect=5.0)
    return httpx.AsyncClient(
        base_url=url.rstrip("/"), headers=headers, limits=limits, timeout=timeout
    )


async def post_json(
    client: httpx.AsyncClient, path: str, body: Any, params: dict[str, str] | None = None
) -> httpx.Response:
    """POST a JSON body; a network failure becomes a one-line ``SimulateError``."""
    try:
        return await client.post(
            path, content=orjson.dumps(body), params=params, headers={"Content-Type": JSON}
        )
    except httpx.HTTPError as exc:
        raise SimulateError(f"cannot reach {client.base_url}{path}: {_reason(exc)}") from None


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused (is `thudo serve` running?)"
    return text.splitlines()[0]


def refuse(response: httpx.Response, what: str) -> SimulateError:
    """The error for an unexpected answer: the status and the start of the body."""
    detail = response.text[:200].replace("\n", " ")
    log.debug("%s answered %s: %s", what, response.status_code, response.text)
    return SimulateError(f"{what}: HTTP {response.status_code} {detail}".rstrip())
