"""A real NGSI-LD client from PyPI (ngsildclient, Orange-OpenSource) against ``thudo serve``."""

from __future__ import annotations

from collections.abc import Iterator

import ngsildclient
import pytest

from tests.support import ServeProcess, serving

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serving(tmp_path_factory.mktemp("client") / "client.db") as proc:
        yield proc


@pytest.fixture
def client(server: ServeProcess) -> Iterator[object]:
    c = ngsildclient.Client(hostname="127.0.0.1", port=server.port, verbose=False)
    yield c
    c.close()


def _observation(n: int, no2: float) -> object:
    e = ngsildclient.Entity("AirQualityObserved", f"Hanoi:{n}")
    e.prop("NO2", no2, unitcode="GQ", observedat="2024-05-01T10:00:00Z")
    e.gprop("location", (21.03, 105.85))
    return e


def test_create_get_query_delete(client) -> None:
    first, second = _observation(1, 22.0), _observation(2, 48.5)
    assert client.create(first) is not None
    assert client.create(second) is not None
    got = client.get(first.id)
    assert got["NO2"]["value"] == 22.0
    assert got["NO2"]["unitCode"] == "GQ"
    assert got["location"]["value"]["coordinates"] == [105.85, 21.03]
    polluted = client.query(type="AirQualityObserved", q="NO2>40")
    assert [e.id for e in polluted] == [second.id]
    assert client.count(type="AirQualityObserved") == 2
    assert client.delete(first) is True
    assert client.exists(first.id) is False
    assert client.exists(second.id) is True
    assert client.delete(second) is True


def test_batch_create_and_delete(client) -> None:
    """ngsildclient calls /entityOperations/create/ and /delete/ with a trailing slash."""
    batch = [_observation(n, float(n)) for n in range(10, 15)]
    result = client.create(batch)
    assert result.ok, result
    assert client.count(type="AirQualityObserved", q="NO2>=10") == 5
    deleted = client.delete(batch)
    assert deleted.ok, deleted
    assert client.count(type="AirQualityObserved", q="NO2>=10") == 0
