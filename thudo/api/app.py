"""The ASGI application: life cycle, dispatch to the routes, and /health."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from thudo import __version__
from thudo.api.alerts import ALERTS_PREFIX, handle_alerts
from thudo.api.call import AppState, Call
from thudo.api.iot import IOT_PREFIX, handle_iot
from thudo.api.problems import problem_response
from thudo.api.reply import Reply
from thudo.api.routes import PREFIX, resolve
from thudo.config import Settings
from thudo.contexts.registry import ContextRegistry
from thudo.errors import NgsiError, ResourceNotFound
from thudo.housekeeping import Housekeeper
from thudo.ingest.service import IngestService
from thudo.notify.dispatcher import Dispatcher
from thudo.notify.matcher import Matcher
from thudo.pipeline.runner import Pipeline
from thudo.store import open_store
from thudo.store.base import Store

__all__ = ["ThudoApp", "create_app"]

log = logging.getLogger(__name__)


class ThudoApp:
    """The broker as an ASGI application."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        after_startup: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._after_startup = after_startup
        self.store = store if store is not None else open_store(settings)
        contexts = ContextRegistry(settings, self.store)
        self.dispatcher = Dispatcher(settings, self.store, contexts, Matcher())
        self.housekeeper = Housekeeper(settings, self.store)
        self.ingest = IngestService(settings, self.store)
        self.pipeline = Pipeline(settings, self.store) if settings.analytics_enabled else None
        self.state = AppState(
            settings,
            self.store,
            contexts,
            self._subscriptions_changed,
            self.dispatcher.wait_settled,
        )
        self.started = False

    async def _subscriptions_changed(self) -> None:
        await self.dispatcher.refresh()

    async def startup(self) -> None:
        """Open the store and load the stored @contexts."""
        if not self.started:
            await self.store.start()
            await self.state.contexts.start()
            await self.dispatcher.start()
            self.housekeeper.start()
            if self.pipeline is not None:
                await self.pipeline.start()
            await self.ingest.start()
            self.started = True
            if self._after_startup is not None:
                self._after_startup()
            log.info("thudo %s ready on %s", __version__, self.settings.database_url)

    async def shutdown(self) -> None:
        """Flush what is pending and close the store."""
        if self.started:
            await self.ingest.close()
            if self.pipeline is not None:
                await self.pipeline.close()
            await self.housekeeper.close()
            await self.dispatcher.close()
            await self.state.contexts.close()
            await self.store.close()
            self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            response = await self._handle(Request(scope, receive))
            await response(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        start = time.perf_counter()
        try:
            if path.startswith(PREFIX):
                route = resolve(request.method, path)
                response = await route.run(Call(request, self.state))
            elif path.startswith(IOT_PREFIX):
                response = await handle_iot(Call(request, self.state), path, self.ingest)
            elif path == ALERTS_PREFIX or path.startswith(ALERTS_PREFIX + "/"):
                keeper = self.pipeline.alerts if self.pipeline is not None else None
                response = await handle_alerts(Call(request, self.state), path, keeper)
            elif path in ("/health", "/health/"):
                response = await self._health()
            else:
                raise ResourceNotFound(f"there is nothing at {path!r}; the API is under {PREFIX}")
        except Exception as exc:
            response = problem_response(exc)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s",
                request.method,
                path,
                response.status_code,
                extra={"duration_ms": round((time.perf_counter() - start) * 1000, 3)},
            )
        return response

    async def _health(self) -> Response:
        body: dict[str, Any] = {"status": "ok", "version": __version__}
        try:
            await self.store.ping()
            body["notifications"] = await self.store.outbox_counts()
        except NgsiError as exc:
            body = {"status": "unavailable", "version": __version__, "detail": exc.detail}
            return Reply(orjson.dumps(body), 503, media_type="application/json")
        return Reply(orjson.dumps(body), 200, media_type="application/json")


def create_app(settings: Settings, after_startup: Callable[[], None] | None = None) -> ThudoApp:
    """Build the application for these settings (the store is opened at start-up);
    ``after_startup`` runs once it is ready."""
    return ThudoApp(settings, after_startup=after_startup)
