"""Watching thudo while the ingestion benchmark runs, and the record of one stage.

- ``about``: the ingestion counters of ``GET /iot/about``.
- ``Watcher``: a thread that GETs every station's ``airQualityIndex`` every ``poll_s`` (and
  /iot/about every second) and records each time a station's index moved, with the
  ``observedAt`` it moved to, so that lag = time seen - observedAt.
- ``Stage``: what one stage published, what the receiving side accounted for, and its CPU.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
from mqttload import PublishResult, Received
from servers import CpuUse

__all__ = ["INDICES", "Stage", "Watcher", "about", "fetch_indices", "wait_accounted"]

#: Every station's index, one page (at most 1,000 stations).
INDICES = "/ngsi-ld/v1/entities?type=AirQualityObserved&attrs=airQualityIndex&limit=1000"


def fetch_indices(client: httpx.Client, ids: list[str] | None = None) -> dict[str, float]:
    """{entity id: observedAt of its airQualityIndex, as seconds since the epoch}, of every
    station or of the ``ids`` given."""
    url = INDICES + ("&id=" + ",".join(ids) if ids else "")  # params= would replace the query
    resp = client.get(url)
    resp.raise_for_status()
    out: dict[str, float] = {}
    for doc in orjson.loads(resp.content):
        index = doc.get("airQualityIndex")
        at = index.get("observedAt") if isinstance(index, dict) else None
        if at:
            out[doc["id"]] = datetime.fromisoformat(at).timestamp()
    return out


# --- polling thudo --------------------------------------------------------------------------


def about(client: httpx.Client) -> dict[str, Any]:
    """The ingestion counters of /iot/about, with ``accounted`` (every measure thudo is done
    with: stored, duplicate, late or rejected)."""
    resp = client.get("/iot/about")
    resp.raise_for_status()
    doc: dict[str, Any] = orjson.loads(resp.content)
    stats: dict[str, Any] = dict(doc["ingestion"])
    rejected = sum(stats.get("rejected", {}).values())
    stats["accounted"] = stats["stored"] + stats["duplicates"] + stats["late"] + rejected
    stats["connected"] = bool((doc.get("mqtt") or {}).get("connected"))
    return stats


@dataclass
class Watcher:
    """Polls every station's index every ``poll_s`` and /iot/about every second, in a thread.

    ``updates``: (time seen, index observedAt) each time a station's index moved;
    ``ages``: (poll time, poll time - index observedAt) of every station at every poll;
    ``gets``: how long each index GET took; ``samples``: (time, /iot/about counters)."""

    url: str
    poll_s: float
    #: The stations watched (None: all). A sample keeps the polling's own load on the server
    #: small; every station's lag has the same distribution.
    ids: list[str] | None = None
    updates: list[tuple[float, float]] = field(default_factory=list)
    ages: list[tuple[float, float]] = field(default_factory=list)
    gets: list[float] = field(default_factory=list)
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling."""
        self._thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        last: dict[str, float] = {}
        start = time.time()
        tick = 0
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                self._poll(client, last)
                if tick % max(1, round(1 / self.poll_s)) == 0:
                    with contextlib.suppress(httpx.HTTPError):
                        self.samples.append((time.time(), about(client)))
                tick = max(tick + 1, int((time.time() - start) / self.poll_s))
                self._stop.wait(max(0.0, start + tick * self.poll_s - time.time()))

    def _poll(self, client: httpx.Client, last: dict[str, float]) -> None:
        sent = time.time()
        try:
            found = fetch_indices(client, self.ids)
        except (httpx.HTTPError, ValueError):
            self.errors += 1
            return
        now = time.time()
        self.gets.append(now - sent)
        for entity, at in found.items():
            if entity in last and at != last[entity]:
                self.updates.append((now, at))
            last[entity] = at
            self.ages.append((now, now - at))


def wait_accounted(
    progress: Callable[[], int], target: int, timeout: float, stall_s: float = 10.0
) -> tuple[float, int]:
    """Poll ``progress`` every 50 ms until it reaches ``target``, stops moving for
    ``stall_s`` or time runs out; (the time.time() it last moved, its last value)."""
    start = time.monotonic()
    value, moved = progress(), time.time()
    while value < target and time.monotonic() - start < timeout:
        if time.time() - moved > stall_s:
            break
        time.sleep(0.05)
        new = progress()
        if new != value:
            value, moved = new, time.time()
    return moved, value


# --- the record of a stage ---------------------------------------------------------------


@dataclass
class Stage:
    """One stage against thudo or the bare subscriber."""

    system: str
    kind: str  # rate | max
    messages: int
    pubs: list[PublishResult]
    cpu: CpuUse
    broker_cpu: CpuUse | None
    done_at: float
    accounted: int
    counters: dict[str, int] = field(default_factory=dict)
    watcher: Watcher | None = None
    received: Received | None = None
    peak_rss_mb: float = 0.0

    @property
    def first(self) -> float:
        """When the first message left."""
        return min(p.first for p in self.pubs)

    @property
    def last(self) -> float:
        """When the last message left."""
        return max(p.last for p in self.pubs)
