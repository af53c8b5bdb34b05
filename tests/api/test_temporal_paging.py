"""Temporal paging (clause 6.3.10): a client that follows the Content-Range of 206 answers,
forwards with timerel=after or backwards with lastN and timerel=before, gets every
instance exactly once, whatever the observedAt values."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ClientFactory
from tests.support import API

TEMPORAL = f"{API}/temporal/entities"
BASE = datetime(2024, 5, 1, tzinfo=UTC)
START = "2000-01-01T00:00:00Z"
RANGE = re.compile(r"^date-time (\S+Z)-(\S+Z)/(\*|\d+)$")
ATTRS = ("temperature", "humidity")

# Minutes after BASE, unique per attribute; attributes may share time stamps.
_minutes = st.lists(st.integers(0, 90), min_size=1, max_size=25, unique=True)


def _stamp(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entity(eid: str, series: dict[str, list[int]]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": eid, "type": "Room"}
    for attr, minutes in series.items():
        body[attr] = [{"type": "Property", "value": m, "observedAt": _stamp(m)} for m in minutes]
    return body


def _instances(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for attr in ATTRS:
        found = body.get(attr, [])
        for inst in found if isinstance(found, list) else [found]:
            out.append((attr, inst["observedAt"], inst["instanceId"]))
    return out


async def _page_through(
    client: httpx.AsyncClient, eid: str, budget: int, last_n: int | None = None
) -> list[Any]:
    """Follow the Content-Range of the 206 answers until a 200: forwards with
    timerel=after, or backwards with timerel=before when asking for the lastN."""
    seen: list[tuple[str, str, str]] = []
    params: dict[str, Any] = {"timerel": "after", "timeAt": START}
    if last_n is not None:
        params = {"lastN": last_n}
    for _ in range(budget):
        resp = await client.get(f"{TEMPORAL}/{eid}", params=params)
        assert resp.status_code in (200, 206), resp.text
        seen.extend(_instances(resp.json()))
        if resp.status_code == 200:
            assert "content-range" not in resp.headers
            return seen
        match = RANGE.match(resp.headers["content-range"])
        assert match is not None, resp.headers["content-range"]
        end = match.group(2)
        if last_n is None:
            assert end > params["timeAt"], (params, resp.headers["content-range"])
            params = {"timerel": "after", "timeAt": end}
        else:
            assert match.group(3) == str(last_n)
            assert "timeAt" not in params or end < params["timeAt"], params
            params = {"timerel": "before", "timeAt": end, "lastN": last_n}
    raise AssertionError(f"paging did not end within {budget} requests: {seen}")


def _check(seen: list[tuple[str, str, str]], series: dict[str, list[int]]) -> None:
    ids = [s[2] for s in seen]
    repeated = sorted({s[:2] for s in seen if ids.count(s[2]) > 1})
    assert not repeated, f"repeated: {repeated}"
    expected = sorted((a, _stamp(m)) for a, minutes in series.items() for m in minutes)
    assert sorted(s[:2] for s in seen) == expected


@pytest.fixture(params=[1, 3], ids=lambda n: f"page{n}")
async def paged(request: pytest.FixtureRequest, make_client: ClientFactory) -> httpx.AsyncClient:
    """A broker answering at most ``page`` instances per attribute."""
    return await make_client(temporal_max_instances=request.param)


_PROPERTY = settings(
    max_examples=25,
    deadline=None,
    # The broker serves every example; each example has its own entity.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


async def _store(client: httpx.AsyncClient, series: dict[str, list[int]]) -> str:
    eid = f"urn:ngsi-ld:Room:{uuid.uuid4()}"
    resp = await client.post(TEMPORAL, json=_entity(eid, series))
    assert resp.status_code == 201, resp.text
    return eid


def _series(temperature: list[int], humidity: list[int]) -> dict[str, list[int]]:
    return {"temperature": temperature, **({"humidity": humidity} if humidity else {})}


@_PROPERTY
@given(temperature=_minutes, humidity=st.one_of(st.just([]), _minutes))
async def test_paging_forwards_loses_and_repeats_nothing(
    paged: httpx.AsyncClient, temperature: list[int], humidity: list[int]
) -> None:
    series = _series(temperature, humidity)
    eid = await _store(paged, series)
    _check(await _page_through(paged, eid, len(temperature) + len(humidity) + 2), series)


@_PROPERTY
@given(temperature=_minutes, humidity=st.one_of(st.just([]), _minutes))
async def test_paging_backwards_with_last_n_loses_and_repeats_nothing(
    paged: httpx.AsyncClient, temperature: list[int], humidity: list[int]
) -> None:
    series = _series(temperature, humidity)
    eid = await _store(paged, series)
    budget = len(temperature) + len(humidity) + 2
    _check(await _page_through(paged, eid, budget, last_n=100), series)
