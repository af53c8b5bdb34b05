"""Sending a notification to an endpoint: HTTP(S) POST, or an MQTT publish.

A sender returns normally on success and raises ``DeliveryError`` otherwise; whether to
retry is the dispatcher's decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from thudo import __version__
from thudo.ngsild.jsonld import context_link

__all__ = ["DeliveryError", "HttpSender", "MqttSender"]

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A notification could not be delivered; ``permanent`` ones are not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _headers(endpoint: dict[str, Any], accept: str, context_url: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json" if accept == "application/json" else accept}
    if accept == "application/json" and context_url:
        headers["Link"] = context_link(context_url)
    for kv in endpoint.get("receiverInfo", []):
        headers[kv["key"]] = kv["value"]
    return headers


class HttpSender:
    """POSTs notifications with one pooled client and a timeout.

    aiohttp rather than httpx here: on the delivery hot path httpx (with anyio) cost
    several times the CPU per request, which capped notifications per second.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
                headers={"User-Agent": f"thudo/{__version__}"},
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, endpoint: dict[str, Any], body: dict[str, Any], context_url: str | None, tenant: str
    ) -> None:
        """POST the notification; any 2xx is success."""
        accept = endpoint.get("accept", "application/json")
        headers = _headers(endpoint, accept, context_url)
        if tenant:
            headers["NGSILD-Tenant"] = tenant
        uri = endpoint["uri"]
        try:
            async with self._client().post(
                uri, data=orjson.dumps(body), headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
        except TimeoutError:
            raise DeliveryError(f"{uri} did not answer in time") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise DeliveryError(f"{uri} is unreachable: {type(exc).__name__}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"{uri} answered HTTP {status}")


def _mqtt_options(endpoint: dict[str, Any]) -> tuple[int, str]:
    info = {kv["key"]: kv["value"] for kv in endpoint.get("notifierInfo", [])}
    qos = int(info.get("MQTT-QoS", "0")) if info.get("MQTT-QoS", "0") in ("0", "1", "2") else 0
    return qos, info.get("MQTT-Version", "mqtt3.1.1")


class MqttSender:
    """Publishes notifications to MQTT brokers (``mqtt://host:port/topic``), one client per
    broker and protocol version, kept open between notifications."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._clients: dict[tuple[str, int, str, str], Any] = {}
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        """Disconnect from every broker."""
        for key in list(self._clients):
            await self._disconnect(key)

    async def _client(self, uri: str, version: str) -> tuple[Any, str]:
        try:
            import aiomqtt
        except ImportError:
            raise DeliveryError(
                "MQTT endpoints need the mqtt extra: pip install 'thudo[mqtt]'", permanent=True
            ) from None
        parts = urlsplit(uri)
        host = parts.hostname or "localhost"
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        topic = parts.path.lstrip("/")
        key = (host, port, version, parts.username or "")
        async with self._lock:
            client = self._clients.get(key)
            if client is None:
                protocol = (
                    aiomqtt.ProtocolVersion.V5
                    if version.startswith("mqtt5")
                    else aiomqtt.ProtocolVersion.V311
                )
                client = aiomqtt.Client(
                    host,
                    port,
                    username=parts.username,
                    password=parts.password,
                    protocol=protocol,
                    timeout=self._timeout,
                )
                await client.__aenter__()
                self._clients[key] = client
        return client, topic

    async def send(
        self, endpoint: dict[str, Any], body: dict[str, Any], context_url: str | None, tenant: str
    ) -> None:
        """Publish ``{"metadata": headers, "body": notification}`` (clause 7.4.2)."""
        qos, version = _mqtt_options(endpoint)
        accept = endpoint.get("accept", "application/json")
        metadata = _headers(endpoint, accept, context_url)
        if tenant:
            metadata["NGSILD-Tenant"] = tenant
        message = orjson.dumps({"metadata": metadata, "body": body})
        try:
            client, topic = await self._client(endpoint["uri"], version)
            async with asyncio.timeout(self._timeout):
                await client.publish(topic, message, qos=qos)
        except DeliveryError:
            raise
        except Exception as exc:
            await self._drop(endpoint["uri"], version)
            raise DeliveryError(
                f"MQTT publish to {endpoint['uri']} failed: {type(exc).__name__}"
            ) from None

    async def _drop(self, uri: str, version: str) -> None:
        parts = urlsplit(uri)
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        key = (parts.hostname or "localhost", port, version, parts.username or "")
        async with self._lock:
            await self._disconnect(key)

    async def _disconnect(self, key: tuple[str, int, str, str]) -> None:
        client = self._clients.pop(key, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
