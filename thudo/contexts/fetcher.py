"""Fetching remote @context documents: offline files first, then HTTP with limits.

A remote context is looked up, in order, in the configured URL→file map, in the preload
folder (laid out as ``<host>/<path>``, like a mirror), and only then over HTTP with a
timeout and a size limit. Every failure becomes LdContextNotAvailable (clause 6.3.2).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx
import orjson

from thudo.config import Settings
from thudo.errors import LdContextNotAvailable

__all__ = ["ContextFetcher", "parse_context_document"]

log = logging.getLogger(__name__)


def parse_context_document(data: bytes, url: str) -> dict[str, Any]:
    """Parse a fetched document and check it has a @context member."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise LdContextNotAvailable(f"@context {url!r} is not valid JSON") from None
    if not isinstance(doc, dict) or "@context" not in doc:
        raise LdContextNotAvailable(f"@context {url!r} has no @context member")
    ctx = doc["@context"]
    if not isinstance(ctx, str | dict | list):
        raise LdContextNotAvailable(f"@context {url!r} has an invalid @context member")
    return doc


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port  # checked only when read: not a number, or out of range
    except ValueError as exc:  # that, or an unclosed IPv6 address
        raise LdContextNotAvailable(f"@context {url!r} is not a valid URL: {exc}") from None
    return parts


class ContextFetcher:
    """Reads remote contexts from offline copies or over HTTP, within the configured limits."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._preload = Path(settings.context_preload_dir) if settings.context_preload_dir else None
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _offline_path(self, url: str) -> Path | None:
        mapped = self._settings.context_url_map.get(url)
        if mapped is not None:
            path = Path(mapped)
            if not path.is_absolute() and self._preload is not None:
                path = self._preload / path
            return path
        if self._preload is None:
            return None
        parts = _split(url)
        if not parts.netloc:
            return None
        candidate = (self._preload / parts.netloc / parts.path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self._preload.resolve()):
            return None
        return candidate if candidate.is_file() else None

    async def fetch(self, url: str) -> tuple[dict[str, Any], bytes]:
        """The parsed document and its bytes; raises LdContextNotAvailable."""
        path = self._offline_path(url)
        if path is not None:
            try:
                data = path.read_bytes()
            except OSError:
                raise LdContextNotAvailable(
                    f"@context {url!r}: the offline copy cannot be read"
                ) from None
            return parse_context_document(data, url), data
        if not self._settings.context_allow_remote:
            raise LdContextNotAvailable(f"@context {url!r} is not available offline")
        data = await self._download(url)
        return parse_context_document(data, url), data

    async def _download(self, url: str) -> bytes:
        scheme = _split(url).scheme
        if scheme not in ("http", "https"):
            raise LdContextNotAvailable(f"@context {url!r} is not an http(s) URL")
        if self._client is None:
            timeout = httpx.Timeout(self._settings.context_fetch_timeout)
            self._client = httpx.AsyncClient(
                timeout=timeout, follow_redirects=True, max_redirects=3
            )
        limit = self._settings.context_max_bytes
        try:
            async with self._client.stream(
                "GET", url, headers={"Accept": "application/ld+json, application/json"}
            ) as resp:
                if resp.status_code != 200:
                    raise LdContextNotAvailable(
                        f"@context {url!r} answered HTTP {resp.status_code}"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise LdContextNotAvailable(
                            f"@context {url!r} is larger than the limit of {limit} bytes"
                        )
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise LdContextNotAvailable(f"@context {url!r} did not answer in time") from None
        except (httpx.InvalidURL, ValueError, OverflowError) as exc:
            # Not HTTPErrors: raised while building the request or opening the socket.
            raise LdContextNotAvailable(f"@context {url!r} is not a valid URL: {exc}") from None
        except httpx.HTTPError as exc:
            log.info("fetching @context %s failed: %s", url, exc)
            raise LdContextNotAvailable(f"@context {url!r} cannot be retrieved") from None
        return b"".join(chunks)
