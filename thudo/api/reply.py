"""The response class of the API: Starlette's, with a faster header set-up.

Starlette's ``Response.init_headers`` is general (it inspects and merges headers); thudo
always knows its headers, and this path runs for every request.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

__all__ = ["Reply"]


class Reply(Response):
    """A response whose headers are set up directly from a plain mapping."""

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        raw: list[tuple[bytes, bytes]] = []
        status = self.status_code
        if not (status < 200 or status in (204, 304)):
            raw.append((b"content-length", str(len(self.body)).encode()))
        if self.media_type is not None and self.body:
            raw.append((b"content-type", self.media_type.encode("latin-1")))
        if headers:
            raw.extend(
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
            )
        self.raw_headers = raw
