"""The broker's @contexts (clause 5.13): Hosted, Cached and ImplicitlyCreated, and the
cache of processed active contexts used by every request.

Remote contexts are fetched once, stored (so a restart works offline) and served from
memory. The core context is built in and never fetched.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from typing import Any

import orjson

from thudo.config import Settings
from thudo.contexts.fetcher import ContextFetcher, parse_context_document
from thudo.errors import BadRequestData, LdContextNotAvailable, NgsiError, ResourceNotFound
from thudo.ngsild.jsonld import (
    ActiveContext,
    ContextValue,
    build_context,
    context_key,
    core_context,
    is_core_context_url,
)
from thudo.ngsild.validate import now_iso
from thudo.store.base import ContextRecord, Store

__all__ = ["HOSTED_PATH", "ContextRegistry"]

log = logging.getLogger(__name__)

HOSTED_PATH = "/ngsi-ld/v1/jsonldContexts/"
_KINDS = ("Hosted", "Cached", "ImplicitlyCreated")


class ContextRegistry:
    """Resolves @context values to active contexts and keeps the stored contexts."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._fetcher = ContextFetcher(settings)
        self._records: dict[str, ContextRecord] = {}  # by id
        self._by_url: dict[str, ContextRecord] = {}
        self._docs: dict[str, ContextValue] = {}  # URL → its @context member
        self._active: OrderedDict[str, ActiveContext] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._usage: dict[str, tuple[int, str]] = {}
        self._syncing: asyncio.Task[None] | None = None
        self._stale = False

    async def start(self) -> None:
        """Load the stored contexts, and follow other processes' changes to them."""
        for rec in await self._store.load_contexts():
            self._remember(rec)
        self._store.watch_contexts(self._changed_elsewhere)

    async def sync(self) -> None:
        """Pick up the contexts other processes stored or reloaded, and drop those they
        deleted."""
        known = set(self._records)  # not what this process adds while the load runs
        stored = {rec.id: rec for rec in await self._store.load_contexts()}
        for rec in [r for i, r in self._records.items() if i in known and i not in stored]:
            self._forget(rec)
        for rec in stored.values():
            mine = self._records.get(rec.id)
            if mine is not None and mine.body != rec.body and rec.id in known:
                self._forget(mine)  # reloaded elsewhere
                mine = None
            if mine is None:
                self._remember(rec)

    def _changed_elsewhere(self) -> None:
        """The store heard that some process changed the stored contexts: sync once, and
        once more if more changes come while it runs."""
        if self._syncing is not None and not self._syncing.done():
            self._stale = True
            return
        self._syncing = asyncio.get_running_loop().create_task(self._sync_until_fresh())

    async def _sync_until_fresh(self) -> None:
        while True:
            self._stale = False
            try:
                await self.sync()
            except NgsiError as exc:  # the store is unreachable: the next change retries
                log.warning("@context sync after a change elsewhere failed: %s", exc)
                return
            if not self._stale:
                return

    async def lookup(self, context_id: str) -> ContextRecord:
        """Like find(), but a miss first looks in the store (another process's context)."""
        try:
            return self.find(context_id)
        except ResourceNotFound:
            await self.sync()
            return self.find(context_id)

    async def close(self) -> None:
        """Stop following changes, save usage counters and close the HTTP client."""
        self._store.watch_contexts(None)
        if self._syncing is not None:
            self._syncing.cancel()
        await self.flush_usage()
        await self._fetcher.close()

    def _remember(self, rec: ContextRecord) -> None:
        self._records[rec.id] = rec
        self._by_url[rec.url] = rec
        try:
            doc = orjson.loads(rec.body)
            self._docs[rec.url] = doc["@context"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("stored @context %s is not valid JSON-LD; ignored", rec.id)
            return
        if rec.kind == "ImplicitlyCreated":
            self._by_url[_implicit_key(doc["@context"])] = rec

    def _forget(self, rec: ContextRecord) -> None:
        self._records.pop(rec.id, None)
        for key in [k for k, r in self._by_url.items() if r is rec]:
            del self._by_url[key]
        self._docs.pop(rec.url, None)
        self._active.clear()

    # --- resolution -------------------------------------------------------------------
    async def resolve(self, value: ContextValue) -> ActiveContext:
        """The active context for a request's @context (None: the core context alone)."""
        if value is None:
            return core_context()
        key = context_key(value)
        hit = self._active.get(key)
        if hit is not None:
            self._active.move_to_end(key)
            self._count_use(value)
            return hit
        await self._load_urls(value, 0)
        ctx = build_context(value, self._loaded, self._settings.context_max_depth)
        self._active[key] = ctx
        if len(self._active) > self._settings.context_cache_entries:
            self._active.popitem(last=False)
        self._count_use(value)
        return ctx

    def _loaded(self, url: str) -> ContextValue:
        if url not in self._docs:
            raise LdContextNotAvailable(f"@context {url!r} is not available")
        return self._docs[url]

    async def _load_urls(self, value: ContextValue, depth: int) -> None:
        if depth > self._settings.context_max_depth:
            raise BadRequestData("@context nests remote contexts too deeply")
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            if isinstance(entry, str):
                if is_core_context_url(entry):
                    continue
                if entry not in self._docs:
                    await self._fetch_once(entry)
                await self._load_urls(self._docs[entry], depth + 1)
            elif isinstance(entry, dict) and isinstance(entry.get("@import"), str):
                await self._load_urls(entry["@import"], depth + 1)

    async def _fetch_once(self, url: str) -> None:
        pending = self._inflight.get(url)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[url] = future
        try:
            await self._fetch(url)
            future.set_result(None)
        except NgsiError as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._inflight[url]
            if future.done() and not future.cancelled():
                future.exception()  # mark it retrieved

    async def _fetch(self, url: str) -> None:
        if url.startswith(("http://", "https://")) and HOSTED_PATH in url:
            local_id = url.split(HOSTED_PATH, 1)[1]
            if local_id not in self._records:
                await self.sync()  # hosted through another process?
                if url in self._docs:
                    return
            if local_id not in self._records:
                raise LdContextNotAvailable(f"@context {url!r} is not hosted here")
        doc, data = await self._download(url)
        rec = ContextRecord(str(uuid.uuid4()), url, "Cached", data, now_iso())
        await self._store.save_context(rec)
        self._remember(rec)
        self._docs[url] = doc["@context"]

    async def _download(self, url: str) -> tuple[dict[str, Any], bytes]:
        try:
            async with asyncio.timeout(self._settings.context_fetch_timeout * 2):
                return await self._fetcher.fetch(url)
        except TimeoutError:
            raise LdContextNotAvailable(f"@context {url!r} did not arrive in time") from None

    def _count_use(self, value: ContextValue) -> None:
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, str):
                rec = self._by_url.get(entry)
                if rec is not None:
                    rec.hits += 1
                    rec.last_usage = now_iso()
                    hits, _ = self._usage.get(rec.id, (0, ""))
                    self._usage[rec.id] = (hits + 1, rec.last_usage)

    async def flush_usage(self) -> None:
        """Persist the hit counters gathered since the last flush."""
        usage, self._usage = self._usage, {}
        if usage:
            await self._store.touch_contexts(usage)

    # --- the /jsonldContexts resource ----------------------------------------------------
    async def add_hosted(self, body: Any, base_url: str) -> ContextRecord:
        """Store a context posted by a user (kind Hosted); returns its record."""
        data = orjson.dumps(body)
        parse_context_document(data, "posted")
        # Processing it fetches (and caches) the remote contexts it refers to.
        await self.resolve(body["@context"])
        local_id = str(uuid.uuid4())
        rec = ContextRecord(local_id, base_url + HOSTED_PATH + local_id, "Hosted", data, now_iso())
        await self._store.save_context(rec)
        self._remember(rec)
        return rec

    async def implicit_url(self, value: ContextValue, base_url: str) -> str:
        """A URL for an inline context, creating an ImplicitlyCreated context if needed."""
        rec = self._by_url.get(_implicit_key(value))
        if rec is None:
            await self.sync()  # another process may have created it
            rec = self._by_url.get(_implicit_key(value))
        if rec is None:
            local_id = str(uuid.uuid4())
            url = base_url + HOSTED_PATH + local_id
            data = orjson.dumps({"@context": value})
            rec = ContextRecord(local_id, url, "ImplicitlyCreated", data, now_iso())
            await self._store.save_context(rec)
            self._remember(rec)
        return rec.url

    def find(self, context_id: str) -> ContextRecord:
        """A stored context by local id or by URL."""
        rec = self._records.get(context_id) or self._by_url.get(context_id)
        if rec is None:
            raise ResourceNotFound(f"no @context with id or URL {context_id!r}")
        return rec

    def list(self, kind: str | None) -> list[ContextRecord]:
        """The stored contexts, optionally of one kind."""
        if kind is not None and kind not in _KINDS:
            raise BadRequestData(f"kind {kind!r} is not one of {', '.join(_KINDS)}")
        return [r for r in self._records.values() if kind is None or r.kind == kind]

    async def delete(self, context_id: str, reload: bool) -> None:
        """Delete a stored context, or re-fetch a cached one when ``reload`` is set."""
        rec = await self.lookup(context_id)
        if reload:
            if rec.kind != "Cached":
                raise BadRequestData(f"only Cached contexts can be reloaded, not {rec.kind}")
            # Fetch first: when the source is down the cached copy stays (clause 5.13.5).
            doc, data = await self._download(rec.url)
            rec.body = data
            await self._store.save_context(rec)
            self._docs[rec.url] = doc["@context"]
            self._active.clear()
            return
        await self._store.delete_context(rec.id)
        self._forget(rec)


def _implicit_key(value: ContextValue) -> str:
    """The lookup key of the ImplicitlyCreated context for an inline @context value."""
    return "implicit:" + context_key(value)
