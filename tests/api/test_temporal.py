"""The temporal API (clauses 5.6.11-5.6.16, 5.7.3-5.7.4): temporal entities and their
instances, time filters, lastN, temporalValues, aggregatedValues, history by default."""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.support import API, ENTITIES, assert_problem, room

TEMPORAL = f"{API}/temporal/entities"
RID = "urn:ngsi-ld:Room:1"
T0 = datetime(2024, 3, 1, tzinfo=UTC)
VALUES = [20, 20, 21, 25, 24, 19]  # one an hour from T0


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _series(values: list[Any], start: float = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"type": "Property", "value": v, "observedAt": _at(start + i), **extra}
        for i, v in enumerate(values)
    ]


def _temporal(eid: str = RID, **attrs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": eid, "type": "Room", **attrs}


@pytest.fixture
async def history(make_client: ClientFactory) -> httpx.AsyncClient:
    """A broker holding Room:1 with six hourly temperatures and three humidities."""
    client = await make_client(temporal_max_instances=1000)
    body = _temporal(temperature=_series(VALUES), humidity=_series([60, 61, 62]))
    resp = await client.post(TEMPORAL, json=body)
    assert resp.status_code == 201, resp.text
    return client


async def _get(client: httpx.AsyncClient, eid: str = RID, **params: Any) -> dict[str, Any]:
    resp = await client.get(f"{TEMPORAL}/{eid}", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _values(body: dict[str, Any], attr: str = "temperature") -> list[Any]:
    instances = body.get(attr, [])
    instances = instances if isinstance(instances, list) else [instances]
    return [i["value"] for i in instances]


async def test_create_answers_201_with_location(history: httpx.AsyncClient) -> None:
    body = await _get(history)
    assert body["id"] == RID
    assert body["type"] == "Room"
    assert _values(body) == VALUES
    assert [i["observedAt"] for i in body["temperature"]] == [_at(h) for h in range(6)]
    ids = [i["instanceId"] for i in body["temperature"] + body["humidity"]]
    assert len(set(ids)) == len(ids) == 9
    resp = await history.post(TEMPORAL, json=_temporal("urn:ngsi-ld:Room:2", t=_series([1])))
    assert resp.status_code == 201
    assert resp.headers["location"] == f"{TEMPORAL}/urn:ngsi-ld:Room:2"


async def test_upsert_of_an_existing_temporal_entity_answers_204(
    history: httpx.AsyncClient,
) -> None:
    resp = await history.post(TEMPORAL, json=_temporal(temperature=_series([30, 31], start=10)))
    assert resp.status_code == 204, resp.text
    assert _values(await _get(history)) == [*VALUES, 30, 31]


async def test_append_attribute_instances(history: httpx.AsyncClient) -> None:
    body = {"temperature": _series([40], start=20), "pressure": _series([1000, 1001])}
    resp = await history.post(f"{TEMPORAL}/{RID}/attrs", json=body)
    assert resp.status_code == 204, resp.text
    got = await _get(history)
    assert _values(got) == [*VALUES, 40]
    assert _values(got, "pressure") == [1000, 1001]


async def test_append_to_an_unknown_entity_is_404(history: httpx.AsyncClient) -> None:
    resp = await history.post(
        f"{TEMPORAL}/urn:ngsi-ld:Room:none/attrs", json={"temperature": _series([1])}
    )
    assert_problem(resp, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("params", "hours"),
    [
        ({"timerel": "before", "timeAt": _at(2.5)}, [0, 1, 2]),
        ({"timerel": "after", "timeAt": _at(2.5)}, [3, 4, 5]),
        ({"timerel": "between", "timeAt": _at(1.5), "endTimeAt": _at(3.5)}, [2, 3]),
        ({"timerel": "after", "timeAt": _at(-10)}, [0, 1, 2, 3, 4, 5]),
    ],
)
async def test_timerel(
    history: httpx.AsyncClient, params: dict[str, str], hours: list[int]
) -> None:
    body = await _get(history, attrs="temperature", **params)
    assert _values(body) == [VALUES[h] for h in hours]
    assert [i["observedAt"] for i in body["temperature"]] == [_at(h) for h in hours]


async def test_timerel_with_nothing_in_range(history: httpx.AsyncClient) -> None:
    resp = await history.get(f"{TEMPORAL}/{RID}", params={"timerel": "after", "timeAt": _at(100)})
    assert resp.status_code in (200, 404)
    if resp.status_code == 200:
        assert _values(resp.json()) == []


async def test_last_n(history: httpx.AsyncClient) -> None:
    body = await _get(history, lastN=2)
    assert sorted(i["observedAt"] for i in body["temperature"]) == [_at(4), _at(5)]
    assert sorted(i["observedAt"] for i in body["humidity"]) == [_at(1), _at(2)]
    body = await _get(history, lastN=2, timerel="before", timeAt=_at(3.5))
    assert sorted(i["observedAt"] for i in body["temperature"]) == [_at(2), _at(3)]


async def test_attrs_selects_attributes(history: httpx.AsyncClient) -> None:
    body = await _get(history, attrs="humidity")
    assert "temperature" not in body
    assert _values(body, "humidity") == [60, 61, 62]


async def test_temporal_values(history: httpx.AsyncClient) -> None:
    body = await _get(history, options="temporalValues")
    assert body["temperature"] == {
        "type": "Property",
        "values": [[v, _at(h)] for h, v in enumerate(VALUES)],
    }


def _expected_aggregates(values: Sequence[float]) -> dict[str, float]:
    return {
        "totalCount": len(values),
        "distinctCount": len(set(values)),
        "sum": sum(values),
        "avg": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "stddev": statistics.pstdev(values),
        "sumsq": sum(v * v for v in values),
    }


METHODS = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"


async def test_aggregated_values_per_period(history: httpx.AsyncClient) -> None:
    body = await _get(
        history,
        options="aggregatedValues",
        aggrMethods=METHODS,
        aggrPeriodDuration="PT2H",
        timerel="between",
        timeAt=_at(0),
        endTimeAt=_at(6),
        attrs="temperature",
    )
    aggregated = body["temperature"]
    assert aggregated["type"] == "Property"
    periods = [(_at(h), _at(h + 2)) for h in (0, 2, 4)]
    groups = [VALUES[0:2], VALUES[2:4], VALUES[4:6]]
    for method in METHODS.split(","):
        got = aggregated[method]
        assert [(g[1], g[2]) for g in got] == periods, method
        for (value, _, _), group in zip(got, groups, strict=True):
            assert math.isclose(value, _expected_aggregates(group)[method]), (method, value)


@pytest.mark.parametrize("duration", [None, "P0D", "PT0S"])
async def test_aggregated_values_over_the_whole_range(
    history: httpx.AsyncClient, duration: str | None
) -> None:
    params = {
        "options": "aggregatedValues",
        "aggrMethods": METHODS,
        "timerel": "between",
        "timeAt": _at(0),
        "endTimeAt": _at(6),
    }
    if duration is not None:
        params["aggrPeriodDuration"] = duration
    body = await _get(history, **params)
    expected = _expected_aggregates([float(v) for v in VALUES])
    for method, want in expected.items():
        [[value, start, end]] = body["temperature"][method]
        assert math.isclose(value, want), (method, value, want)
        assert (start, end) == (_at(0), _at(6))
    [[count, _, _]] = body["humidity"]["totalCount"]
    assert count == 3


async def test_aggregated_values_respect_the_time_filter(history: httpx.AsyncClient) -> None:
    body = await _get(
        history,
        options="aggregatedValues",
        aggrMethods="sum,totalCount",
        timerel="between",
        timeAt=_at(1),
        endTimeAt=_at(3),
        attrs="temperature",
    )
    [[total, _, _]] = body["temperature"]["sum"]
    [[count, _, _]] = body["temperature"]["totalCount"]
    assert (total, count) == (sum(VALUES[1:3]), 2)


async def _instance_ids(client: httpx.AsyncClient, attr: str = "temperature") -> list[str]:
    return [i["instanceId"] for i in (await _get(client))[attr]]


async def test_modify_an_instance(history: httpx.AsyncClient) -> None:
    ids = await _instance_ids(history)
    url = f"{TEMPORAL}/{RID}/attrs/temperature/{ids[2]}"
    resp = await history.patch(url, json={"type": "Property", "value": 99, "observedAt": _at(2)})
    assert resp.status_code == 204, resp.text
    body = await _get(history)
    assert _values(body) == [*VALUES[:2], 99, *VALUES[3:]]
    assert [i["instanceId"] for i in body["temperature"]] == ids


async def test_modify_an_unknown_instance_is_404(history: httpx.AsyncClient) -> None:
    url = f"{TEMPORAL}/{RID}/attrs/temperature/urn:ngsi-ld:attribute:instance:none"
    resp = await history.patch(url, json={"type": "Property", "value": 1, "observedAt": _at(0)})
    assert_problem(resp, 404, "ResourceNotFound")


async def test_delete_an_instance(history: httpx.AsyncClient) -> None:
    ids = await _instance_ids(history)
    url = f"{TEMPORAL}/{RID}/attrs/temperature/{ids[0]}"
    assert (await history.delete(url)).status_code == 204
    body = await _get(history)
    assert _values(body) == VALUES[1:]
    assert ids[0] not in [i["instanceId"] for i in body["temperature"]]
    assert_problem(await history.delete(url), 404, "ResourceNotFound")


async def test_delete_an_attribute(history: httpx.AsyncClient) -> None:
    resp = await history.delete(f"{TEMPORAL}/{RID}/attrs/temperature")
    assert resp.status_code == 204, resp.text
    body = await _get(history)
    assert "temperature" not in body
    assert _values(body, "humidity") == [60, 61, 62]
    resp = await history.delete(f"{TEMPORAL}/{RID}/attrs/temperature")
    assert_problem(resp, 404, "ResourceNotFound")


async def test_delete_an_attribute_by_dataset_id(history: httpx.AsyncClient) -> None:
    ds = "urn:ngsi-ld:Dataset:outdoor"
    resp = await history.post(
        f"{TEMPORAL}/{RID}/attrs", json={"temperature": _series([5, 6], datasetId=ds)}
    )
    assert resp.status_code == 204, resp.text
    assert len((await _get(history))["temperature"]) == 8
    resp = await history.delete(f"{TEMPORAL}/{RID}/attrs/temperature", params={"datasetId": ds})
    assert resp.status_code == 204, resp.text
    body = await _get(history)
    assert _values(body) == VALUES
    assert all("datasetId" not in i for i in body["temperature"])


async def test_delete_all_instances_of_an_attribute(history: httpx.AsyncClient) -> None:
    ds = "urn:ngsi-ld:Dataset:outdoor"
    await history.post(f"{TEMPORAL}/{RID}/attrs", json={"temperature": _series([5], datasetId=ds)})
    resp = await history.delete(f"{TEMPORAL}/{RID}/attrs/temperature", params={"deleteAll": "true"})
    assert resp.status_code == 204, resp.text
    assert "temperature" not in await _get(history)


async def test_delete_a_temporal_entity(history: httpx.AsyncClient) -> None:
    assert (await history.delete(f"{TEMPORAL}/{RID}")).status_code == 204
    assert_problem(await history.get(f"{TEMPORAL}/{RID}"), 404, "ResourceNotFound")
    assert_problem(await history.delete(f"{TEMPORAL}/{RID}"), 404, "ResourceNotFound")


async def test_query_temporal_entities(history: httpx.AsyncClient) -> None:
    other = _temporal("urn:ngsi-ld:Room:2", temperature=_series([1, 2], start=3))
    assert (await history.post(TEMPORAL, json=other)).status_code == 201
    building = {"id": "urn:ngsi-ld:Building:1", "type": "Building", "floors": _series([3])}
    assert (await history.post(TEMPORAL, json=building)).status_code == 201
    resp = await history.get(
        TEMPORAL,
        params={"type": "Room", "timerel": "after", "timeAt": _at(2.5), "attrs": "temperature"},
    )
    assert resp.status_code == 200, resp.text
    found = {e["id"]: _values(e) for e in resp.json()}
    assert found == {RID: VALUES[3:], "urn:ngsi-ld:Room:2": [1, 2]}


async def test_history_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.post(ENTITIES, json=room(temperature=20))).status_code == 201
    for value in (21, 22):
        resp = await client.patch(f"{ENTITIES}/{RID}/attrs", json={"temperature": value})
        assert resp.status_code == 204
    body = await _get(client)
    assert _values(body) == [20, 21, 22]
    assert all(i["instanceId"] for i in body["temperature"])


async def test_timeproperty_selects_the_time_stamp(history: httpx.AsyncClient) -> None:
    # Observed earlier than everything else, but recorded last.
    await asyncio.sleep(0.02)
    between = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await asyncio.sleep(0.02)
    resp = await history.post(f"{TEMPORAL}/{RID}/attrs", json={"temperature": _series([7], -24)})
    assert resp.status_code == 204
    for prop in ("modifiedAt", "createdAt"):
        body = await _get(history, timeproperty=prop, timerel="after", timeAt=between)
        assert _values(body) == [7], prop
        body = await _get(history, timeproperty=prop, timerel="before", timeAt=between)
        assert _values(body) == VALUES, prop
    body = await _get(history, timeproperty="observedAt", timerel="before", timeAt=_at(0))
    assert _values(body) == [7]


@pytest.mark.parametrize(
    "params",
    [
        {"timerel": "sometime", "timeAt": _at(0)},
        {"timerel": "after"},
        {"timerel": "after", "timeAt": "yesterday"},
        {"timeAt": _at(0)},
        {"timerel": "between", "timeAt": _at(0)},
        {"timerel": "between", "timeAt": _at(3), "endTimeAt": _at(1)},
        {"timeproperty": "seenAt"},
        {"lastN": "0"},
        {"lastN": "many"},
        {"options": "aggregatedValues"},
        {"options": "aggregatedValues", "aggrMethods": "median"},
        {"options": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "PT"},
        {"options": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "1 hour"},
        {"options": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "PT-1H"},
    ],
)
async def test_bad_temporal_parameters_are_400(
    history: httpx.AsyncClient, params: dict[str, str]
) -> None:
    assert_problem(await history.get(f"{TEMPORAL}/{RID}", params=params), 400)


async def test_bad_time_filter_on_a_query_is_400(history: httpx.AsyncClient) -> None:
    resp = await history.get(TEMPORAL, params={"type": "Room", "timerel": "later"})
    assert_problem(resp, 400)


async def test_temporal_query_without_a_filter_is_400(history: httpx.AsyncClient) -> None:
    assert_problem(await history.get(TEMPORAL), 400, "BadRequestData")


async def test_unknown_temporal_entity_is_404(history: httpx.AsyncClient) -> None:
    resp = await history.get(f"{TEMPORAL}/urn:ngsi-ld:Room:none")
    assert_problem(resp, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    "body",
    [
        {"id": RID, "temperature": _series([1])},
        {"id": "not a uri", "type": "Room"},
        {"type": "Room", "temperature": _series([1])},
        {"id": RID, "type": "Room", "temperature": [{"type": "Property"}]},
        {"id": RID, "type": "Room", "temperature": _series([1], observedAt="noon")},
    ],
)
async def test_invalid_temporal_entities_are_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_problem(await client.post(TEMPORAL, json=body), 400)


async def test_format_temporal_values(history: httpx.AsyncClient) -> None:
    body = await _get(history, format="temporalValues", attrs="humidity")
    assert body["humidity"] == {
        "type": "Property",
        "values": [[60, _at(0)], [61, _at(1)], [62, _at(2)]],
    }


async def test_sys_attrs_on_instances(history: httpx.AsyncClient) -> None:
    plain = await _get(history, attrs="humidity")
    assert all("createdAt" not in i for i in plain["humidity"])
    body = await _get(history, attrs="humidity", options="sysAttrs")
    assert all("createdAt" in i and "modifiedAt" in i for i in body["humidity"])


async def test_query_by_post(history: httpx.AsyncClient) -> None:
    query = {
        "type": "Query",
        "entities": [{"type": "Room"}],
        "attrs": ["temperature"],
        "temporalQ": {"timerel": "before", "timeAt": _at(1.5)},
    }
    resp = await history.post(f"{API}/temporalOperations/query", json=query)
    assert resp.status_code == 200, resp.text
    [entity] = resp.json()
    assert entity["id"] == RID
    assert _values(entity) == VALUES[:2]
    assert "humidity" not in entity


async def test_temporal_answer_as_json_ld(history: httpx.AsyncClient) -> None:
    resp = await history.get(f"{TEMPORAL}/{RID}", headers={"Accept": "application/ld+json"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].split(";")[0] == "application/ld+json"
    assert "@context" in resp.json()


async def test_scope_changes_are_part_of_the_history(client: httpx.AsyncClient) -> None:
    eid = "urn:ngsi-ld:Room:scoped"
    resp = await client.post(ENTITIES, json={**room(eid, temperature=1), "scope": "/hanoi/ba-dinh"})
    assert resp.status_code == 201, resp.text
    resp = await client.patch(f"{ENTITIES}/{eid}/attrs", json={"scope": ["/hanoi/tay-ho", "/x"]})
    assert resp.status_code == 204, resp.text
    resp = await client.delete(f"{ENTITIES}/{eid}/attrs/scope")
    assert resp.status_code == 204, resp.text
    body = await _get(client, eid, timeproperty="modifiedAt")
    assert [i["value"] for i in body["scope"]] == [["/hanoi/ba-dinh"], ["/hanoi/tay-ho", "/x"]]
    deleted = await _get(client, eid, timeproperty="deletedAt")
    [marker] = deleted["scope"]
    assert marker["value"] == [] and "deletedAt" in marker
    simplified = await _get(client, eid, timeproperty="deletedAt", options="temporalValues")
    assert simplified["scope"]["values"] == [[[], marker["deletedAt"]]]


async def test_scope_of_a_temporal_entity_is_recorded_once(client: httpx.AsyncClient) -> None:
    eid = "urn:ngsi-ld:Room:scoped-t"
    body = {**_temporal(eid, temperature=_series([20, 21])), "scope": ["/a"]}
    for _ in range(2):  # the second time changes nothing about the scope
        resp = await client.post(TEMPORAL, json=body)
        assert resp.status_code in (201, 204), resp.text
    got = await _get(client, eid)
    assert [i["value"] for i in got["scope"]] == [["/a"]]


@pytest.mark.parametrize("method", METHODS.split(","))
async def test_each_aggregation_method_alone(history: httpx.AsyncClient, method: str) -> None:
    # 30 minutes off the hour, so the raw instances are aggregated (not the rollups), and
    # only the method asked for is computed.
    start, end = _at(0).replace(":00:00", ":30:00"), _at(6).replace(":00:00", ":30:00")
    assert start != _at(0)
    body = await _get(
        history,
        options="aggregatedValues",
        aggrMethods=method,
        aggrPeriodDuration="PT2H",
        timerel="between",
        timeAt=start,
        endTimeAt=end,
        attrs="temperature",
    )
    aggregated = body["temperature"]
    assert aggregated["type"] == "Property"
    assert set(aggregated) == {"type", method}
    groups = [VALUES[1:3], VALUES[3:5], VALUES[5:6]]
    got = aggregated[method]
    assert len(got) == len(groups)
    for (value, _, _), group in zip(got, groups, strict=True):
        assert math.isclose(value, _expected_aggregates(group)[method]), (method, value)


async def test_query_by_type_returns_only_that_type(client: httpx.AsyncClient) -> None:
    """A temporal query by type leaves other types out (it did not on PostgreSQL, whose type
    condition shadowed the outer table alias)."""
    for eid, kind in (("urn:ngsi-ld:Vehicle:A", "Vehicle"), ("urn:ngsi-ld:Bus:A", "Bus")):
        speed = {"type": "Property", "value": 30, "observedAt": "2020-08-01T12:05:00Z"}
        body = {"id": eid, "type": kind, "speed": [speed]}
        assert (await client.post(TEMPORAL, json=body)).status_code == 201
    for types, expected in (("Vehicle", ["urn:ngsi-ld:Vehicle:A"]), ("Bus", ["urn:ngsi-ld:Bus:A"])):
        r = await client.get(
            TEMPORAL, params={"type": types, "timerel": "after", "timeAt": "2020-08-01T12:04:00Z"}
        )
        assert r.status_code == 200, r.text
        assert [e["id"] for e in r.json()] == expected
