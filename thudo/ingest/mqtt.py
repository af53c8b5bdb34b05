"""The MQTT southbound: device measures from a broker (Mosquitto), acknowledged after commit.

Devices publish on ``/{apikey}/{device_id}/attrs`` (or ``/json/{apikey}/{device_id}/attrs``),
as with FIWARE's IoT Agent JSON. thudo subscribes with QoS 1 in a persistent MQTT 5 session and
acknowledges a message only once its measures are committed (paho-mqtt's manual
acknowledgement), so a message the process had not stored when it died is delivered again
when it comes back. paho runs its own network thread; messages cross into the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from thudo.errors import SettingsError

__all__ = ["TOPICS", "MqttSouthbound", "parse_topic"]

log = logging.getLogger(__name__)

TOPICS = ("/+/+/attrs", "/json/+/+/attrs")
#: Handles one message; True when it is done with (stored or rejected for good).
Handler = Callable[[str, str, bytes], Awaitable[bool]]


def parse_topic(topic: str) -> tuple[str, str] | None:
    """(apikey, device_id) of a measure topic, or None."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == "" and parts[1] == "json" and parts[4] == "attrs":
        return parts[2], parts[3]
    if len(parts) == 4 and parts[0] == "" and parts[3] == "attrs":
        return parts[1], parts[2]
    return None


def _paho() -> Any:
    try:
        import paho.mqtt.client as paho
    except ImportError:
        raise SettingsError("MQTT ingestion needs paho-mqtt: pip install 'thudo[mqtt]'") from None
    return paho


class MqttSouthbound:
    """Subscribes to device topics and hands each message to ``handler`` in the event loop."""

    def __init__(
        self,
        url: str,
        handler: Handler,
        client_id: str = "thudo-ingest",
        inflight: int = 1000,
        session_expiry_s: int = 7 * 86400,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise SettingsError(f"ingest_mqtt_url={url!r} is not mqtt://host:port")
        self._host = parts.hostname
        self._port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._tls = parts.scheme == "mqtts"
        self._auth = (parts.username, parts.password)
        self._handler = handler
        self._client_id = client_id
        self._inflight = inflight
        self._session_expiry_s = session_expiry_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Connect in the background (paho reconnects by itself when the broker goes away)."""
        paho = _paho()
        self._loop = asyncio.get_running_loop()
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=paho.MQTTv5
        )
        client.manual_ack_set(True)
        if self._auth[0]:
            client.username_pw_set(self._auth[0], self._auth[1])
        if self._tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        self._client = client
        client.connect_async(
            self._host,
            self._port,
            keepalive=30,
            clean_start=False,
            properties=self._connect_props(),
        )
        client.loop_start()

    def _connect_props(self) -> Any:
        """MQTT 5: the session outlives a crash, and the broker may send ``inflight``
        unacknowledged messages at once (MQTT 3.1.1 left that to the broker: 20 in Mosquitto)."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._inflight
        return props

    async def close(self) -> None:
        """Disconnect; messages not yet acknowledged are redelivered to the next session."""
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.to_thread(client.disconnect)
            await asyncio.to_thread(client.loop_stop)
        for task in list(self._tasks):
            task.cancel()

    # --- paho's thread ------------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s:%s refused ingestion: %s", self._host, self._port, reason)
            return
        client.subscribe([(topic, 1) for topic in TOPICS])
        log.info("MQTT ingestion subscribed on %s:%s", self._host, self._port)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, p: Any) -> None:
        log.warning("MQTT ingestion disconnected from %s:%s (%s)", self._host, self._port, reason)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.connected.clear)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, msg.topic, msg.payload, msg.mid, msg.qos)

    # --- the event loop ------------------------------------------------------------------
    def _spawn(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        task = asyncio.create_task(self._handle(topic, payload, mid, qos))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        parsed = parse_topic(topic)
        try:
            done = parsed is None or await self._handler(parsed[0], parsed[1], payload)
        except Exception:
            # Not a store outage (the handler answers False for those, and the message comes
            # again): this message itself fails, and would fail on every redelivery for the
            # life of the session. It is acknowledged, so dropped, and logged.
            log.exception("MQTT measure on %.200s could not be handled; dropped", topic)
            done = True
        client = self._client
        if done and client is not None and qos > 0:
            client.ack(mid, qos)
