"""Aggregations answered from the hourly and daily rollups agree with the raw instances,
also after instances are added, modified and deleted."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.support import API
from thudo.ngsild.temporal import Aggregation, TimeFilter
from thudo.store.sqlite.rollups import covers

TEMPORAL = f"{API}/temporal/entities"
EID = "urn:ngsi-ld:AirQualityObserved:hk-1"
T0 = datetime(2025, 6, 1, tzinfo=UTC)
DAYS = 3
STEP = timedelta(minutes=37)
METHODS = ("totalCount", "sum", "avg", "min", "max", "stddev", "sumsq")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _series(seed: int) -> list[tuple[datetime, float]]:
    rng = random.Random(seed)
    out = []
    moment = T0 + timedelta(minutes=rng.randrange(0, 30))
    while moment < T0 + timedelta(days=DAYS):
        out.append((moment, round(rng.uniform(5, 150), 2)))
        moment += STEP
    return out


def _expected(
    series: list[tuple[datetime, float]], period: timedelta
) -> dict[str, list[tuple[float, str, str]]]:
    groups: dict[int, list[float]] = {}
    for moment, value in series:
        groups.setdefault(int((moment - T0) / period), []).append(value)
    out: dict[str, list[tuple[float, str, str]]] = {m: [] for m in METHODS}
    for index in sorted(groups):
        values = groups[index]
        start, end = _iso(T0 + index * period), _iso(T0 + (index + 1) * period)
        computed = {
            "totalCount": float(len(values)),
            "sum": math.fsum(values),
            "avg": statistics.fmean(values),
            "min": min(values),
            "max": max(values),
            "stddev": statistics.pstdev(values),
            "sumsq": math.fsum(v * v for v in values),
        }
        for method in METHODS:
            out[method].append((computed[method], start, end))
    return out


async def _aggregate(client: httpx.AsyncClient, duration: str) -> dict[str, Any]:
    resp = await client.get(
        f"{TEMPORAL}/{EID}",
        params={
            "attrs": "pm25",
            "options": "aggregatedValues",
            "aggrMethods": ",".join(METHODS),
            "aggrPeriodDuration": duration,
            "timerel": "between",
            "timeAt": _iso(T0),
            "endTimeAt": _iso(T0 + timedelta(days=DAYS)),
        },
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _check(body: dict[str, Any], series: list[tuple[datetime, float]], period: timedelta) -> None:
    want = _expected(series, period)
    got = body["pm25"]
    for method in METHODS:
        rows = [(float(v), s, e) for v, s, e in got[method]]
        assert [(s, e) for _, s, e in rows] == [(s, e) for _, s, e in want[method]], method
        for (value, start, _), (expected, _, _) in zip(rows, want[method], strict=True):
            assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-6), (
                method,
                start,
                value,
                expected,
            )


PERIODS = {
    "P1D": timedelta(days=1),
    "PT1H": timedelta(hours=1),
    "PT6H": timedelta(hours=6),
    "PT90M": timedelta(minutes=90),  # not whole hours: computed from the instances
}


@pytest.fixture
async def loaded(make_client: ClientFactory) -> tuple[httpx.AsyncClient, list[Any]]:
    client = await make_client(temporal_max_instances=10_000)
    series = _series(7)
    body = {
        "id": EID,
        "type": "AirQualityObserved",
        "pm25": [
            {"type": "Property", "value": v, "observedAt": _iso(m), "unitCode": "GQ"}
            for m, v in series
        ],
    }
    resp = await client.post(TEMPORAL, json=body)
    assert resp.status_code == 201, resp.text
    return client, series


@pytest.mark.parametrize("duration", list(PERIODS))
async def test_aggregates_match_the_instances(
    loaded: tuple[httpx.AsyncClient, list[Any]], duration: str
) -> None:
    client, series = loaded
    _check(await _aggregate(client, duration), series, PERIODS[duration])


async def test_appended_instances_count_in_the_rollups(
    loaded: tuple[httpx.AsyncClient, list[Any]],
) -> None:
    client, series = loaded
    extra = [(T0 + timedelta(hours=5, minutes=1), 500.0), (T0 + timedelta(days=2), -3.5)]
    resp = await client.post(
        f"{TEMPORAL}/{EID}/attrs",
        json={"pm25": [{"type": "Property", "value": v, "observedAt": _iso(m)} for m, v in extra]},
    )
    assert resp.status_code == 204, resp.text
    series = sorted([*series, *extra])
    for duration in ("P1D", "PT1H"):
        _check(await _aggregate(client, duration), series, PERIODS[duration])


async def test_modified_and_deleted_instances_leave_the_rollups(
    loaded: tuple[httpx.AsyncClient, list[Any]],
) -> None:
    client, series = loaded
    resp = await client.get(f"{TEMPORAL}/{EID}", params={"attrs": "pm25"})
    assert resp.status_code == 200, resp.text
    instances = resp.json()["pm25"]
    assert len(instances) == len(series)
    changed, removed = instances[3], instances[40]
    resp = await client.patch(
        f"{TEMPORAL}/{EID}/attrs/pm25/{changed['instanceId']}",
        json={"type": "Property", "value": 999.0, "observedAt": changed["observedAt"]},
    )
    assert resp.status_code == 204, resp.text
    resp = await client.delete(f"{TEMPORAL}/{EID}/attrs/pm25/{removed['instanceId']}")
    assert resp.status_code == 204, resp.text
    series = [(m, v) for m, v in series]
    series[3] = (series[3][0], 999.0)
    del series[40]
    for duration in ("P1D", "PT1H", "PT90M"):
        _check(await _aggregate(client, duration), series, PERIODS[duration])


async def test_history_of_core_updates_is_rolled_up(make_client: ClientFactory) -> None:
    """Instances recorded from the core API (create, then attribute updates) are counted."""
    client = await make_client(temporal_max_instances=10_000)
    series = _series(11)[::3]
    (first, value), rest = series[0], series[1:]
    pm25 = {"type": "Property", "value": value, "observedAt": _iso(first)}
    resp = await client.post(
        f"{API}/entities", json={"id": EID, "type": "AirQualityObserved", "pm25": pm25}
    )
    assert resp.status_code == 201, resp.text
    for moment, value in rest:
        resp = await client.patch(
            f"{API}/entities/{EID}/attrs/pm25",
            json={"type": "Property", "value": value, "observedAt": _iso(moment)},
        )
        assert resp.status_code == 204, resp.text
    for duration in PERIODS:
        _check(await _aggregate(client, duration), series, PERIODS[duration])


def _between(start: str, end: str) -> TimeFilter:
    return TimeFilter(timerel="between", time_at=start, end_time_at=end)


@pytest.mark.parametrize(
    ("aggregation", "time", "origin", "period"),
    [
        (
            Aggregation(("avg",), 86400),
            _between("2025-06-01T00:00:00Z", "2025-06-04T00:00:00Z"),
            "2025-06-01T00:00:00Z",
            "P1D",
        ),
        (
            Aggregation(("max",), 7 * 86400),
            _between("2025-06-01T00:00:00Z", "2025-07-01T00:00:00Z"),
            "2025-06-01T00:00:00Z",
            "P1D",
        ),
        (
            Aggregation(("avg",), 3600),
            _between("2025-06-01T00:00:00Z", "2025-06-04T00:00:00Z"),
            "2025-06-01T00:00:00Z",
            "PT1H",
        ),
        # A day that starts at 01:00 is covered by the hourly rollups only.
        (
            Aggregation(("sum",), 86400),
            _between("2025-06-01T01:00:00Z", "2025-06-04T01:00:00Z"),
            "2025-06-01T01:00:00Z",
            "PT1H",
        ),
        (
            Aggregation(("avg",), 5400),
            _between("2025-06-01T00:00:00Z", "2025-06-04T00:00:00Z"),
            "2025-06-01T00:00:00Z",
            None,
        ),
        (
            Aggregation(("avg",), 3600),
            _between("2025-06-01T00:30:00Z", "2025-06-04T00:00:00Z"),
            "2025-06-01T00:30:00Z",
            None,
        ),
        (
            Aggregation(("distinctCount",), 3600),
            _between("2025-06-01T00:00:00Z", "2025-06-04T00:00:00Z"),
            "2025-06-01T00:00:00Z",
            None,
        ),
        (
            Aggregation(("avg",), 3600),
            TimeFilter(
                timerel="between",
                time_at="2025-06-01T00:00:00Z",
                end_time_at="2025-06-04T00:00:00Z",
                timeproperty="modifiedAt",
            ),
            "2025-06-01T00:00:00Z",
            None,
        ),
    ],
)
def test_which_rollup_answers(
    aggregation: Aggregation, time: TimeFilter, origin: str, period: str | None
) -> None:
    assert covers(aggregation, time, origin) == period
