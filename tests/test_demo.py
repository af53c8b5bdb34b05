"""``thudo demo`` headless: within 60 s it shows 30 stations with a current VN_AQI, 20 water
gauges and an alert raised by the simulated storm; killed and restarted, it loses nothing it
stored and repeats no alert."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port

pytestmark = pytest.mark.smoke

NGSI = "/ngsi-ld/v1/entities"


class Demo:
    """A ``thudo demo`` subprocess (HTTP measures, so no broker is needed)."""

    def __init__(self, db: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = db.with_suffix(f".{self.port}.log")
        cmd = [sys.executable, "-m", "thudo", "demo", "--port", str(self.port),
               "--database-url", f"sqlite:///{db}", "--transport", "http",
               "--duration", "90"]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        self.started = time.monotonic()

    def get(self, path: str, **params: str) -> Any:
        r = httpx.get(self.url + path, params=params, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, check: Callable[[], bool], within_s: float) -> bool:
        while time.monotonic() - self.started < within_s:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            try:
                if check():
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)


def _stations_with_index(demo: Demo) -> int:
    found = demo.get(NGSI, type="AirQualityObserved", attrs="airQualityIndex", limit="1000")
    return sum(1 for e in found if isinstance(e.get("airQualityIndex", {}).get("value"), int))


def _gauges(demo: Demo) -> int:
    found = demo.get(NGSI, type="FloodMonitoring", attrs="currentLevel", limit="1000")
    return sum(1 for e in found if "currentLevel" in e)


def _storm_alerts(demo: Demo) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = demo.get("/alerts")
    return [a for a in alerts if a["rule_id"] in ("street-flood", "heavy-rain-2h")]


def test_demo_shows_stations_gauges_and_a_storm_alert(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo.db")
    try:
        assert demo.wait(lambda: _stations_with_index(demo) >= 30, 60), demo.log.read_text()
        assert demo.wait(lambda: _gauges(demo) >= 20, 60)
        assert demo.wait(lambda: len(_storm_alerts(demo)) >= 1, 60), demo.get("/alerts")
        alert = _storm_alerts(demo)[0]
        r = httpx.get(f"{demo.url}/alerts/{alert['id']}/cap", timeout=10)
        assert r.status_code == 200 and b"<msgType>Alert</msgType>" in r.content
    finally:
        assert demo.stop() == 0, demo.log.read_text(errors="replace")
    assert "thudo demo stopped" in demo.log.read_text()


def _history_count(demo: Demo, entity_id: str) -> int:
    answer = demo.get(
        f"/ngsi-ld/v1/temporal/entities/{entity_id}",
        attrs="pm25", options="aggregatedValues", aggrMethods="totalCount",
        aggrPeriodDuration="P30D", timerel="after", timeAt="2000-01-01T00:00:00Z",
    )  # fmt: skip
    return int(sum(row[0] for row in answer["pm25"]["totalCount"]))


def test_demo_killed_and_restarted_keeps_data_and_alerts(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    demo = Demo(db)
    try:
        assert demo.wait(lambda: len(_storm_alerts(demo)) >= 3, 60), demo.log.read_text()
        stations = demo.get(NGSI, type="AirQualityObserved", limit="1000")
        before = {e["id"]: _history_count(demo, e["id"]) for e in stations[:5]}
        alerts_before = {a["id"] for a in demo.get("/alerts")}
    finally:
        demo.stop(signal.SIGKILL)
    again = Demo(db)
    try:
        assert again.wait(lambda: "resuming" in again.log.read_text(), 30), again.log.read_text()
        time.sleep(5)
        after = {eid: _history_count(again, eid) for eid in before}
        alerts = again.get("/alerts")
    finally:
        assert again.stop() == 0
    assert all(after[eid] >= before[eid] for eid in before), (before, after)
    assert alerts_before <= {a["id"] for a in alerts}
    open_per_source = Counter(
        (a["rule_id"], a["entity_id"]) for a in alerts if a["status"] != "resolved"
    )
    assert max(open_per_source.values()) == 1, open_per_source
