"""Smoke tests: a real ``thudo serve`` process on a free port, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ENTITIES, ServeProcess, room, serving

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serving(tmp_path_factory.mktemp("smoke") / "smoke.db") as proc:
        yield proc


def test_health(server: ServeProcess) -> None:
    resp = httpx.get(server.url + "/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_create_then_get(server: ServeProcess) -> None:
    entity = room("urn:ngsi-ld:Room:smoke", temperature=21)
    created = httpx.post(server.url + ENTITIES, json=entity)
    assert created.status_code == 201
    assert created.headers["location"] == f"{ENTITIES}/urn:ngsi-ld:Room:smoke"
    got = httpx.get(server.url + created.headers["location"])
    assert got.status_code == 200
    assert got.json() == entity


def test_errors_are_problem_json_over_the_wire(server: ServeProcess) -> None:
    resp = httpx.get(server.url + f"{ENTITIES}/urn:ngsi-ld:Room:none")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert "server" not in resp.headers


def test_graceful_stop_and_restart_keep_the_data(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    first = ServeProcess(db)
    first.start()
    try:
        assert httpx.post(first.url + ENTITIES, json=room(temperature=5)).status_code == 201
    finally:
        graceful = first.stop()
    assert graceful, first.log()
    with serving(db) as second:
        got = httpx.get(second.url + f"{ENTITIES}/urn:ngsi-ld:Room:1")
        assert got.status_code == 200
        assert got.json()["temperature"]["value"] == 5
