"""How measures leave a device: MQTT (``/{apikey}/{device_id}/attrs``, QoS 1) or HTTP
(``POST /iot/json?k={apikey}&i={device_id}``), as in the FIWARE IoT Agent JSON."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from thudo.simulate.client import JSON, SimulateError
from thudo.simulate.fleet import Device
from thudo.simulate.payloads import RESOURCE, topic

__all__ = ["HttpTransport", "MqttTransport", "Transport", "mqtt_available", "open_mqtt"]

log = logging.getLogger(__name__)

MQTT_HINT = "MQTT needs the mqtt extra: pip install 'thudo[mqtt]'"


class Transport(Protocol):
    """Sends one device's measure; ``send`` answers whether it was accepted."""

    name: str

    async def send(self, device: Device, body: bytes) -> bool:
        """Send ``body`` (a JSON measure) for ``device``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class HttpTransport:
    """Measures over HTTP with keep-alive and at most ``concurrency`` requests in flight."""

    name = "http"

    def __init__(self, client: httpx.AsyncClient, concurrency: int = 16) -> None:
        self._client = client
        self._slots = asyncio.Semaphore(concurrency)

    async def send(self, device: Device, body: bytes) -> bool:
        """POST the measure; any 2xx answer is success. A dropped keep-alive connection is
        retried once."""
        params = {"k": device.type.apikey, "i": device.device_id}
        async with self._slots:
            for attempt in (1, 2):
                try:
                    response = await self._client.post(
                        RESOURCE, content=body, params=params, headers={"Content-Type": JSON}
                    )
                    break
                except httpx.HTTPError as exc:
                    log.debug("measure of %s failed (%s): %s", device.device_id, attempt, exc)
            else:
                return False
        if not response.is_success:
            log.debug("measure of %s: HTTP %s", device.device_id, response.status_code)
        return response.is_success

    async def close(self) -> None:
        """Nothing to do: the HTTP client belongs to the simulator."""


def mqtt_available() -> bool:
    """Whether the MQTT extra (aiomqtt) is installed."""
    try:
        import aiomqtt  # noqa: F401
    except ImportError:
        return False
    return True


class MqttTransport:
    """Measures over MQTT at QoS 1, reconnecting (at most every 5 s) after a failure.

    At most 10 publishes wait for their PUBACK at once: aiomqtt warns beyond that.
    """

    name = "mqtt"

    def __init__(self, url: str, timeout: float = 10.0, concurrency: int = 10) -> None:
        self.url = url
        self._timeout = timeout
        self._client: Any = None
        self._retry_at = 0.0
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(concurrency)

    async def connect(self, timeout: float | None = None) -> None:
        """Connect to the broker; raises ``SimulateError`` when it cannot."""
        try:
            import aiomqtt
        except ImportError:
            raise SimulateError(MQTT_HINT) from None
        parts = urlsplit(self.url)
        client = aiomqtt.Client(
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            username=parts.username,
            password=parts.password,
            timeout=timeout or self._timeout,
        )
        try:
            async with asyncio.timeout(timeout or self._timeout):
                await client.__aenter__()
        except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
            raise SimulateError(
                f"cannot connect to MQTT broker {self.url}: {exc or 'timeout'}"
            ) from None
        self._client = client

    async def send(self, device: Device, body: bytes) -> bool:
        """Publish on ``/{apikey}/{device_id}/attrs`` and wait for the broker's PUBACK."""
        client = await self._connected()
        if client is None:
            return False
        async with self._slots:
            try:
                await client.publish(topic(device), body, qos=1, timeout=self._timeout)
            except Exception as exc:  # aiomqtt raises MqttError, paho may raise others
                log.warning("MQTT publish failed, reconnecting: %s", exc)
                await self._drop()
                return False
        return True

    async def _connected(self) -> Any:
        async with self._lock:
            if self._client is None and time.monotonic() >= self._retry_at:
                try:
                    await self.connect()
                except SimulateError as exc:
                    log.warning("%s", exc)
                    self._retry_at = time.monotonic() + 5.0
        return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        self._retry_at = time.monotonic() + 1.0
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except Exception as exc:  # already broken: nothing more to do
                log.debug("MQTT disconnect: %s", exc)

    async def close(self) -> None:
        """Disconnect from the broker."""
        await self._drop()


async def open_mqtt(url: str, timeout: float = 2.0) -> MqttTransport:
    """A connected MQTT transport, or ``SimulateError`` (no extra, or no broker in ``timeout``)."""
    transport = MqttTransport(url)
    await transport.connect(timeout)
    return transport
