"""History at the edges of the calendar and of double precision: years before 1000 sort
before later ones, the last instant of year 9999 has periods, and values too large to
square are kept but not aggregated (both backends)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import API
from thudo.store.history import END_OF_TIME, MAX_AGGREGATED

TEMPORAL = f"{API}/temporal/entities"
EID = "urn:ngsi-ld:WaterLevel:edge-1"


async def _create(client: httpx.AsyncClient, instances: list[tuple[str, float]]) -> None:
    body = {
        "id": EID,
        "type": "WaterLevel",
        "level": [{"type": "Property", "value": v, "observedAt": at} for at, v in instances],
    }
    resp = await client.post(TEMPORAL, json=body)
    assert resp.status_code == 201, resp.text


async def _values(client: httpx.AsyncClient, **params: str) -> list[Any]:
    resp = await client.get(
        f"{TEMPORAL}/{EID}", params={"attrs": "level", "options": "temporalValues", **params}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return [v for v, _ in body["level"]["values"]] if "level" in body else []


async def _aggregated(client: httpx.AsyncClient, period: str, **params: str) -> Any:
    resp = await client.get(
        f"{TEMPORAL}/{EID}",
        params={
            "attrs": "level",
            "options": "aggregatedValues",
            "aggrMethods": "sum,max,totalCount",
            "aggrPeriodDuration": period,
            **params,
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["level"]


async def test_years_before_1000_sort_before_later_years(client: httpx.AsyncClient) -> None:
    await _create(client, [("0999-01-01T00:30:00Z", 1.0), ("2024-01-01T00:30:00Z", 2.0)])
    assert await _values(client, timerel="before", timeAt="1000-01-01T00:00:00Z") == [1.0]
    assert await _values(client, timerel="after", timeAt="0999-06-01T00:00:00Z") == [2.0]
    hourly = await _aggregated(
        client,
        "PT1H",
        timerel="between",
        timeAt="0999-01-01T00:00:00Z",
        endTimeAt="0999-01-01T02:00:00Z",
    )
    assert hourly["sum"] == [[1.0, "0999-01-01T00:00:00Z", "0999-01-01T01:00:00Z"]]


async def test_the_last_instant_of_the_calendar_has_periods(client: httpx.AsyncClient) -> None:
    await _create(client, [("9999-12-31T23:59:59.999999Z", 3.0)])
    after = {"timerel": "after", "timeAt": "9999-12-31T00:00:00Z"}
    for period in ("PT1H", "P1D", "PT7H"):
        sums = (await _aggregated(client, period, **after))["sum"]
        assert [value for value, _, _ in sums] == [3.0], (period, sums)
        assert sums[0][2] == END_OF_TIME, (period, sums)


async def test_values_too_large_to_square_are_kept_but_not_aggregated(
    client: httpx.AsyncClient,
) -> None:
    huge = MAX_AGGREGATED * 1e200  # 1e300: its square overflows a double
    await _create(
        client,
        [
            ("2025-03-01T10:05:00Z", huge),
            ("2025-03-01T10:10:00Z", 5.0),
            ("2025-03-01T10:20:00Z", -huge),
        ],
    )
    assert await _values(client) == [huge, 5.0, -huge]
    window = {
        "timerel": "between",
        "timeAt": "2025-03-01T00:00:00Z",
        "endTimeAt": "2025-03-02T00:00:00Z",
    }
    for period in ("PT1H", "P1D", "PT20M"):
        aggregated = await _aggregated(client, period, **window)
        # A period with only such values has no sum, as one with only texts.
        sums = [v for v, _, _ in aggregated["sum"] if v is not None]
        assert sums == [5.0], (period, aggregated)
        maxima = [v for v, _, _ in aggregated["max"] if v is not None]
        assert maxima == [5.0], (period, aggregated)
    # The plain write path (an entity with observedAt) stores such values too.
    body = {"type": "Property", "value": huge, "observedAt": "2025-03-01T11:00:00Z"}
    resp = await client.patch(f"{API}/entities/{EID}/attrs", json={"level": body})
    assert resp.status_code == 204, resp.text


async def test_min_and_max_order_numbers_and_texts_only(client: httpx.AsyncClient) -> None:
    """Booleans, arrays and objects have no place among numbers and texts: both backends
    once turned them into texts (or 1 for true), each its own way."""
    at = "2020-01-01T00:00:00Z"
    values: dict[str, Any] = {"b": True, "arr": [1, 2], "obj": {"a": 1}, "s": "abc", "n": 4}
    body: dict[str, Any] = {"id": EID, "type": "WaterLevel"}
    for name, value in values.items():
        body[name] = {"type": "Property", "value": value, "observedAt": at}
    body["location"] = {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [105.8, 21.0]},
        "observedAt": at,
    }
    resp = await client.post(f"{API}/entities", json=body)
    assert resp.status_code == 201, resp.text
    resp = await client.get(
        f"{TEMPORAL}/{EID}",
        params={
            "options": "aggregatedValues",
            "aggrMethods": "min,max",
            "aggrPeriodDuration": "PT20M",  # not whole hours: from the instances themselves
            "timerel": "after",
            "timeAt": "2019-12-31T00:00:00Z",
        },
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()
    extremes = {
        name: (got[name]["min"][0][0], got[name]["max"][0][0]) for name in (*values, "location")
    }
    assert extremes == {
        "b": (None, None),
        "arr": (None, None),
        "obj": (None, None),
        "location": (None, None),
        "s": ("abc", "abc"),
        "n": (4, 4),
    }
