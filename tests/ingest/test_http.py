"""Device ingestion over HTTP (/iot/json) and the provisioning API (/iot/services, /iot/devices)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.ingest.support import APIKEY, ENTITY, measure, provision, station
from tests.support import assert_problem

NGSI = "/ngsi-ld/v1"


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def _entity(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    r = await client.get(f"{NGSI}/entities/{ENTITY}", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_measures_become_attributes_with_observed_at(client: httpx.AsyncClient) -> None:
    await provision(client, station())
    at = _ago(5)
    r = await measure(client, {"p25": 48.2, "t": 21.5, "TimeInstant": at})
    assert r.status_code == 200, r.text
    assert r.json() == {"measures": 2}
    entity = await _entity(client)
    assert entity["type"] == "AirQualityObserved"
    assert entity["pm25"]["value"] == 48.2
    assert entity["pm25"]["unitCode"] == "GQ"
    assert entity["pm25"]["observedAt"] == at
    assert entity["temperature"]["value"] == 21.5
    assert entity["location"]["value"]["coordinates"] == [105.85, 21.03]


async def _pm25_history(client: httpx.AsyncClient) -> list[float]:
    """The station's pm25 values of the last hour, in ascending order."""
    params = {"attrs": "pm25", "options": "temporalValues", "timerel": "after", "timeAt": _ago(60)}
    r = await client.get(f"{NGSI}/temporal/entities/{ENTITY}", params=params)
    assert r.status_code == 200, r.text
    return sorted(v[0] for v in r.json()["pm25"]["values"])


async def test_every_measure_lands_in_history(client: httpx.AsyncClient) -> None:
    await provision(client, station())
    times = [_ago(30), _ago(20), _ago(10)]
    # Two in one payload (a list) and one alone: each is a history instance.
    r = await measure(
        client, [{"p25": 10, "TimeInstant": times[0]}, {"p25": 20, "TimeInstant": times[1]}]
    )
    assert r.status_code == 200, r.text
    await measure(client, {"p25": 30, "TimeInstant": times[2]})
    assert await _pm25_history(client) == [10, 20, 30]


async def test_duplicates_are_ignored_and_late_measures_go_to_history(
    client: httpx.AsyncClient,
) -> None:
    await provision(client, station())
    new, old = _ago(5), _ago(15)
    await measure(client, {"p25": 40, "TimeInstant": new})
    await measure(client, {"p25": 99, "TimeInstant": new})  # same device, attribute, time
    await measure(client, {"p25": 7, "TimeInstant": old})  # late: history only
    entity = await _entity(client)
    assert entity["pm25"]["value"] == 40
    r = await client.get("/iot/about")
    stats = r.json()["ingestion"]
    assert stats["duplicates"] == 1
    assert stats["late"] == 1
    assert await _pm25_history(client) == [7, 40]


async def test_bad_measures_are_rejected_and_counted_the_rest_stored(
    client: httpx.AsyncClient,
) -> None:
    await provision(client, station())
    r = await measure(client, {"p25": "abc", "t": 20.0, "nope": 1, "st": "ok"})
    assert r.status_code == 200, r.text
    assert r.json() == {"measures": 2}
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    await measure(client, {"p25": 5, "TimeInstant": future})
    await measure(client, {"p25": 5, "TimeInstant": "1999-01-01T00:00:00Z"})
    await measure(client, {"p25": 5, "TimeInstant": "yesterday"})
    stats = (await client.get("/iot/about")).json()["ingestion"]
    assert stats["rejected"] == {
        "bad_value": 1,
        "unknown_attribute": 1,
        "future_timestamp": 1,
        "old_timestamp": 1,
        "bad_timestamp": 1,
    }
    entity = await _entity(client)
    assert entity["temperature"]["value"] == 20.0
    assert entity["status"]["value"] == "ok"
    assert "pm25" not in entity


async def test_malformed_payload_is_a_400(client: httpx.AsyncClient) -> None:
    await provision(client, station())
    assert_problem(await measure(client, b"{not json"), 400, "BadRequestData")
    assert_problem(await measure(client, b"[1, 2]"), 400, "BadRequestData")
    assert (await client.get("/iot/about")).json()["ingestion"]["rejected"] == {"malformed": 2}


async def test_missing_or_wrong_apikey(client: httpx.AsyncClient) -> None:
    await provision(client, station())
    r = await client.post("/iot/json?i=aq-1", json={"p25": 1})
    assert_problem(r, 401, "Unauthorized")
    assert_problem(await measure(client, {"p25": 1}, key="wrong"), 403, "Forbidden")


async def test_unknown_device_rejected_unless_autoprovisioned(client: httpx.AsyncClient) -> None:
    await provision(client)
    assert_problem(await measure(client, {"p25": 1}, device="ghost"), 404, "ResourceNotFound")
    body = {"services": [{"apikey": "auto", "entity_type": "WaterObserved", "autoprovision": True}]}
    assert (await client.post("/iot/services", json=body)).status_code == 201
    r = await measure(client, {"waterLevel": 3.2}, device="gauge-9", key="auto")
    assert r.status_code == 200, r.text
    r = await client.get(f"{NGSI}/entities/urn:ngsi-ld:WaterObserved:gauge-9")
    assert r.json()["waterLevel"]["value"] == 3.2
    r = await client.get("/iot/devices/gauge-9")
    assert r.status_code == 200 and r.json()["entity_type"] == "WaterObserved"


async def test_out_of_range_reading_is_flagged_not_averaged(client: httpx.AsyncClient) -> None:
    await provision(client, station())
    await measure(client, {"p25": 30, "TimeInstant": _ago(3)})
    await measure(client, {"p25": -5, "TimeInstant": _ago(2)})
    r = await client.get(f"{NGSI}/entities/{ENTITY}", params={"attrs": "pm25"})
    instances = r.json()["pm25"]
    assert isinstance(instances, list) and len(instances) == 2
    good = next(i for i in instances if "datasetId" not in i)
    bad = next(i for i in instances if "datasetId" in i)
    assert good["value"] == 30
    assert bad["value"] == -5 and bad["qualityFlag"]["value"] == "out_of_range"


async def test_provisioning_lifecycle_and_errors(client: httpx.AsyncClient) -> None:
    await provision(client, station())
    r = await client.post(
        "/iot/services", json={"services": [{"apikey": APIKEY, "entity_type": "X"}]}
    )
    assert_problem(r, 409, "AlreadyExists")
    r = await client.post("/iot/devices", json={"devices": [station()]})
    assert_problem(r, 409, "AlreadyExists")
    r = await client.post("/iot/devices", json={"devices": [station("d2", apikey="nokey")]})
    assert_problem(r, 400, "BadRequestData")
    bad_geo = station(
        "d3",
        static_attributes=[{"name": "location", "type": "geo:json", "value": {"type": "Point"}}],
    )
    assert_problem(await client.post("/iot/devices", json={"devices": [bad_geo]}), 400)
    r = await client.get("/iot/devices")
    assert r.json()["count"] == 1
    assert (await client.delete("/iot/devices/aq-1")).status_code == 204
    assert_problem(await client.get("/iot/devices/aq-1"), 404)
    assert_problem(await measure(client, {"p25": 1}), 404)
    assert (await client.delete(f"/iot/services?apikey={APIKEY}")).status_code == 204
    assert (await client.get("/iot/services")).json() == {"count": 0, "services": []}


async def test_tenant_from_fiware_service(client: httpx.AsyncClient) -> None:
    headers = {"Fiware-Service": "hanoi"}
    await provision(client, station(), headers=headers)
    r = await measure(client, {"p25": 12})
    assert r.status_code == 200, r.text
    r = await client.get(f"{NGSI}/entities/{ENTITY}", headers={"NGSILD-Tenant": "hanoi"})
    assert r.json()["pm25"]["value"] == 12
    assert_problem(await client.get(f"{NGSI}/entities/{ENTITY}"), 404)
    assert (await client.get("/iot/devices")).json()["count"] == 0


async def test_a_stuck_sensor_is_flagged_as_flat_line(client: httpx.AsyncClient) -> None:
    await provision(client, station())
    for k, minutes in enumerate(range(30, 23, -1)):
        value = 42.0 if k < 6 else 43.0
        await measure(client, {"p25": value, "TimeInstant": _ago(minutes)})
    # Readings 1-5 are good; the 6th identical one completes a flat line; the 7th moves on.
    r = await client.get(f"{NGSI}/entities/{ENTITY}", params={"attrs": "pm25"})
    instances = r.json()["pm25"]
    suspect = next(i for i in instances if i.get("datasetId"))
    assert suspect["value"] == 42.0 and suspect["qualityFlag"]["value"] == "flatline"
    good = next(i for i in instances if "datasetId" not in i)
    assert good["value"] == 43.0
    assert (await client.get("/iot/about")).json()["ingestion"]["flagged"] == 1


async def test_autoprovisioning_refuses_ids_that_provisioning_would(
    client: httpx.AsyncClient,
) -> None:
    """A device id with a space was once provisioned automatically; the stored device then
    failed every later reading of the registry, and the broker's start."""
    body = {"services": [{"apikey": "auto", "entity_type": "WaterObserved", "autoprovision": True}]}
    assert (await client.post("/iot/services", json=body)).status_code == 201
    for bad in ("a b", "x" * 65, "dé"):
        r = await client.post("/iot/json", params={"k": "auto", "i": bad}, json={"level": 1})
        assert_problem(r, 400, "BadRequestData")
    assert (await client.get("/iot/devices")).json()["count"] == 0
    r = await measure(client, {"level": 2}, device="gauge:1", key="auto")
    assert r.status_code == 200, r.text
    # A device id is percent-decoded in the path, as any other.
    assert (await client.get("/iot/devices/gauge%3A1")).status_code == 200
    assert (await client.delete("/iot/devices/gauge%3A1")).status_code == 204


async def test_a_point_with_coordinates_that_are_not_a_list_is_dropped(
    client: httpx.AsyncClient,
) -> None:
    loc = {"object_id": "loc", "name": "location", "type": "geo:json"}
    await provision(client, station(attributes=[loc, *station()["attributes"]]))
    for coordinates in (5, True, "1,2", {"a": 1}):
        payload = {"loc": {"type": "Point", "coordinates": coordinates}, "p25": 7}
        r = await measure(client, payload)
        assert r.status_code == 200, r.text
    body = await _entity(client)
    assert body["pm25"]["value"] == 7
    assert body["location"]["value"]["coordinates"] == [105.85, 21.03]  # the static one


async def test_a_refused_provisioning_request_stores_nothing(client: httpx.AsyncClient) -> None:
    twice = {
        "services": [{"apikey": "s2", "entity_type": "T"}, {"apikey": "s2", "entity_type": "T"}]
    }
    assert_problem(await client.post("/iot/services", json=twice), 400, "BadRequestData")
    assert (await client.get("/iot/services")).json()["count"] == 0
    await provision(client, station())
    # The second device of the request exists: the first is not stored either.
    body = {"devices": [station("new-1", entity="urn:ngsi-ld:X:new-1"), station()]}
    assert_problem(await client.post("/iot/devices", json=body), 409, "AlreadyExists")
    body = {"devices": [station("new-1", entity="urn:ngsi-ld:X:new-1"), station("new-1")]}
    assert_problem(await client.post("/iot/devices", json=body), 400, "BadRequestData")
    assert_problem(await client.get("/iot/devices/new-1"), 404)
    assert (await client.get(f"{NGSI}/entities/urn:ngsi-ld:X:new-1")).status_code == 404


async def test_static_attributes_take_the_rules_of_attributes(client: httpx.AsyncClient) -> None:
    await provision(client)
    for static in (
        {"name": "type", "value": "Q"},
        {"name": "id", "value": "Q"},
        {"name": "nn", "value": None},
    ):
        device = station("d9", static_attributes=[static])
        assert_problem(await client.post("/iot/devices", json={"devices": [device]}), 400)
    assert_problem(await client.get("/iot/devices/d9"), 404)
