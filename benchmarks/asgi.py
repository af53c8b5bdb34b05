"""What the bare ASGI apps of the benchmarks share: the ASGI types, and the uvicorn settings
``thudo serve`` uses, so that a baseline differs from thudo only in its application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["UVICORN_OPTIONS", "App", "Message", "Receive", "Scope", "Send"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: uvicorn's options as ``thudo serve`` sets them (one worker, uvloop, httptools, quiet).
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "log_level": "warning",
    "server_header": False,
}
